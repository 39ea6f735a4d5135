//! `application/health+json`: the IETF draft "Health Check Response Format for HTTP APIs"
//! (draft-inadarei-api-health-check-06), for `/health` and readiness when a client's `Accept`
//! asks for it. Field names and values as the draft defines them:
//!
//! - `status` (§3.1): `pass`, `warn` or `fail`. The draft ties it to the HTTP code — pass and
//!   warn are answered 2xx–3xx, fail 4xx–5xx — so `fail` whenever the answer is an error (an
//!   unhealthy service, one not ready, a status mapped to 503 by `status_code`), `pass` for a
//!   healthy one, `warn` for any other status answered with success (degraded, by default).
//! - `version` and `serviceId` (§3.2, §3.8): the [`AppInfo`](crate::AppInfo)'s version and name,
//!   when the layer has one.
//! - `notes` (§3.4): why readiness fails (not ready, a fleet's judgement).
//! - `output` (§3.5): for `fail` and `warn`, the first reason a component gives — shown only to
//!   clients the detail policy shows details, as the crate's own JSON does.
//! - `checks` (§4): one `"<component>:responseTime"` entry per component (a `:` in the name
//!   written `_`), each with
//!   `componentId`, `componentType` (`component`), `observedValue` and `observedUnit` (`ms`, the
//!   last run's duration), `status`, `time` (when it ran) and, when not passing, `output`;
//!   clients shown only components' names get `componentId` and `status`.
//! - `description` (§3.10): what the body is.

use serde::Serialize;
use serde_json::{Map, Value};

use super::Rendered;
use crate::health_report::{ComponentStatus, HealthStatus};
use crate::info::AppInfo;

/// The `Content-Type` of the IETF draft's health check responses.
pub const CONTENT_TYPE: &str = "application/health+json";

/// What a client is shown of the components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shown {
    /// Every field.
    Details,
    /// Names and statuses.
    Names,
}

/// One answer in the draft's format.
pub(crate) struct Answer<'a> {
    /// The service's overall status.
    pub(crate) status: HealthStatus,
    /// Whether the HTTP answer is a success (2xx–3xx).
    pub(crate) success: bool,
    /// Why it fails, when there is a reason besides the components'.
    pub(crate) notes: Option<&'a str>,
    pub(crate) components: Option<(&'a [ComponentStatus], Shown)>,
    pub(crate) info: Option<&'a AppInfo>,
    pub(crate) description: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_id: Option<&'a str>,
    description: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    checks: Map<String, Value>,
}

/// The draft's status of a component, or of the service answered with `success`.
fn status_word(status: HealthStatus, success: bool) -> &'static str {
    match (status, success) {
        (_, false) => "fail",
        (HealthStatus::Healthy, true) => "pass",
        (_, true) => "warn",
    }
}

/// A component's status on its own: unhealthy fails, degraded and unknown warn.
fn component_word(status: HealthStatus) -> &'static str {
    status_word(status, status != HealthStatus::Unhealthy)
}

/// The body of `answer`.
pub(crate) fn render(answer: &Answer<'_>) -> Rendered {
    let status = status_word(answer.status, answer.success);
    let mut checks = Map::new();
    let mut output = None;
    if let Some((components, shown)) = answer.components {
        for component in components {
            let word = component_word(component.status);
            let mut check = Map::new();
            check.insert("componentId".into(), component.name.clone().into());
            if shown == Shown::Details {
                check.insert("componentType".into(), "component".into());
                check.insert("observedValue".into(), component.response_time_ms.into());
                check.insert("observedUnit".into(), "ms".into());
            }
            check.insert("status".into(), word.into());
            if shown == Shown::Details {
                if let Some(at) = component.checked_at {
                    let time = crate::clock::Rfc3339::millis(at).to_string();
                    check.insert("time".into(), time.into());
                }
                let reason = component.reason.as_deref().or(component.message.as_deref());
                if word != "pass"
                    && let Some(reason) = reason
                {
                    check.insert("output".into(), reason.into());
                    output = output.or(Some(reason));
                }
            }
            // The key is `componentName:measurementName` (§4): a colon in a name would make
            // it ambiguous, so it becomes `_` there (`componentId` keeps the name).
            checks.insert(
                format!("{}:responseTime", component.name.replace(':', "_")),
                Value::Array(vec![Value::Object(check)]),
            );
        }
    }
    let body = Body {
        status,
        version: answer.info.map(AppInfo::version),
        service_id: answer.info.map(AppInfo::name),
        description: answer.description,
        notes: answer.notes.into_iter().collect(),
        output: output.filter(|_| status != "pass"),
        checks,
    };
    Rendered {
        content_type: CONTENT_TYPE,
        headers: super::JSON_HEADERS,
        body: serde_json::to_vec(&body)
            .expect("a health+json body serialises")
            .into(),
    }
}

/// Whether an `Accept` header asks for `application/health+json` at least as much as for
/// `application/json` (and any wildcard that covers it). Without the header, or without that
/// type in it, the crate's own JSON is answered.
///
/// ```
/// use tower_vitals::render::accepts_health_json;
///
/// assert!(accepts_health_json(Some("application/health+json")));
/// assert!(accepts_health_json(Some("application/health+json, application/json;q=0.9")));
/// assert!(!accepts_health_json(Some("application/json, application/health+json;q=0.5")));
/// assert!(!accepts_health_json(Some("*/*")));
/// assert!(!accepts_health_json(None));
/// ```
pub fn accepts_health_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let health = super::accept::quality(accept, &[CONTENT_TYPE]);
    let json = super::accept::quality(accept, &["application/json", "application/*", "*/*"]);
    health > 0.0 && health >= json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(name: &str, status: HealthStatus, message: Option<&str>) -> ComponentStatus {
        ComponentStatus {
            name: name.to_owned(),
            status,
            message: message.map(str::to_owned),
            response_time_ms: 12.5,
            metadata: Map::new(),
            checked_at: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)),
            fresh: true,
            age_ms: 0.0,
            critical: true,
            tags: Vec::new(),
            consecutive_failures: 0,
            since: None,
            reason: None,
            judgement: None,
            history: Default::default(),
            figures: Vec::new(),
        }
    }

    #[test]
    fn statuses_follow_the_answer_code_as_the_draft_ties_them() {
        use HealthStatus::*;
        assert_eq!(status_word(Healthy, true), "pass");
        assert_eq!(status_word(Degraded, true), "warn");
        assert_eq!(status_word(Unknown, true), "warn");
        assert_eq!(status_word(Unhealthy, false), "fail");
        assert_eq!(status_word(Healthy, false), "fail", "healthy but not ready");
        assert_eq!(component_word(Unhealthy), "fail");
        assert_eq!(component_word(Degraded), "warn");
    }

    #[test]
    fn components_become_checks_and_details_stay_with_details() {
        let components = [
            component("db", HealthStatus::Healthy, None),
            component("cache", HealthStatus::Unhealthy, Some("refused")),
        ];
        let answer = |shown| Answer {
            status: HealthStatus::Unhealthy,
            success: false,
            notes: None,
            components: Some((&components[..], shown)),
            info: None,
            description: "health of the service",
        };
        let full: Value = serde_json::from_slice(&render(&answer(Shown::Details)).body).unwrap();
        assert_eq!(full["status"], "fail");
        let cache = &full["checks"]["cache:responseTime"][0];
        assert_eq!(cache["status"], "fail");
        assert_eq!(cache["observedUnit"], "ms");
        assert_eq!(cache["observedValue"], 12.5);
        assert_eq!(cache["output"], "refused");
        assert_eq!(full["output"], "refused");
        assert!(full["checks"]["db:responseTime"][0].get("output").is_none());

        let names: Value = serde_json::from_slice(&render(&answer(Shown::Names)).body).unwrap();
        let cache = &names["checks"]["cache:responseTime"][0];
        assert_eq!(cache.as_object().unwrap().len(), 2, "{cache}");
        assert!(names.get("output").is_none());
    }

    #[test]
    fn accept_qualities_decide() {
        for (accept, expected) in [
            ("application/health+json", true),
            (
                "APPLICATION/HEALTH+JSON;q=0.8, application/json;q=0.8",
                true,
            ),
            ("application/json;q=0.9, application/health+json", true),
            ("application/json, application/health+json;q=0.5", false),
            ("application/health+json;q=0", false),
            ("application/*", false),
            ("text/html", false),
            (",,;;=", false),
        ] {
            assert_eq!(accepts_health_json(Some(accept)), expected, "{accept}");
        }
    }
}
