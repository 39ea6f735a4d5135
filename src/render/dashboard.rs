//! The dashboard: one self-contained HTML page (`dashboard.html`: inline styles, inline SVG
//! charts, one inline script; nothing fetched from elsewhere). The server fills in the current
//! status — and, for clients shown details, each component with its reason — so it reads
//! without scripts; the script then refreshes it every 5 s from the layer's own endpoints
//! (the detailed report, history, incidents, the reliability report), sending a bearer token
//! given once in the URL's fragment (`#token=…`, kept in the tab's session storage).

use std::fmt::Write;
use std::time::SystemTime;

use super::Rendered;
use crate::health_report::{ComponentStatus, HealthStatus};

const PAGE: &str = include_str!("dashboard.html");

/// A strict policy for the page: nothing but itself.
pub(crate) const HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// Where the page's script reads from.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Sources<'a> {
    pub(crate) health: &'a str,
    pub(crate) history: &'a str,
    pub(crate) incidents: &'a str,
    pub(crate) reliability: Option<&'a str>,
}

/// The page with `status` and, when shown, the components filled in.
pub(crate) fn page(
    status: HealthStatus,
    (components, off): (Option<&[ComponentStatus]>, bool),
    sources: &Sources<'_>,
    at: SystemTime,
) -> Rendered {
    let rows = match components {
        Some(components) => components.iter().fold(String::new(), |mut rows, c| {
            let _ = write!(
                rows,
                "<tr class=\"component\" data-name=\"{name}\" data-status=\"{status}\"><td class=\"name\">{name}</td>\
                 <td><span class=\"badge {status}\">{status}</span></td><td class=\"timeline\"></td>\
                 <td class=\"availability\">—</td><td class=\"reason\">{reason}</td><td class=\"incident\">—</td></tr>",
                name = escape(&c.name),
                status = c.status.as_str(),
                reason = escape(c.reason.as_deref().or(c.message.as_deref()).unwrap_or("")),
            );
            rows
        }),
        None if off => "<tr><td colspan=\"6\" class=\"muted\">Component details are off for every client \
                 (DetailPolicy::Never, the default): turn them on with HealthLayer::details(..).</td></tr>"
            .to_owned(),
        None => "<tr><td colspan=\"6\" class=\"muted\">Component details are not shown to this client: \
                 where the policy is a bearer token, open the page once as …/dashboard#token=&lt;the token&gt;.</td></tr>"
            .to_owned(),
    };
    // JSON inside a <script> element: no `<` may start a closing tag.
    let config = serde_json::to_string(sources)
        .expect("paths serialise")
        .replace('<', "\\u003c");
    let at = crate::clock::Rfc3339::seconds(at).to_string();
    let body = fill(PAGE, |name| match name {
        "status" => Some(status.as_str()),
        "at" => Some(&at),
        "components" => Some(&rows),
        "config" => Some(&config),
        _ => None,
    });
    Rendered {
        content_type: "text/html; charset=utf-8",
        headers: HEADERS,
        body: body.into(),
    }
}

/// `template` with each `{{name}}` in it replaced by `value(name)`, in one pass over the
/// template alone: the values are written out, never read for placeholders again, so text a
/// component brings (its name, its message) is never template input.
fn fill<'a>(template: &str, value: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after
            .find("}}")
            .and_then(|close| Some((close, value(&after[..close])?)))
        {
            Some((close, text)) => {
                out.push_str(text);
                rest = &after[close + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` as entities.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources<'static> {
        Sources {
            health: "/health",
            history: "/health/history",
            incidents: "/health/incidents",
            reliability: Some("/health/reliability</script>"),
        }
    }

    fn component(name: &str, status: HealthStatus, message: &str) -> ComponentStatus {
        ComponentStatus {
            name: name.to_owned(),
            status,
            message: Some(message.to_owned()),
            response_time_ms: 1.0,
            metadata: serde_json::Map::new(),
            checked_at: None,
            fresh: true,
            age_ms: 0.0,
            critical: true,
            tags: Vec::new(),
            consecutive_failures: 1,
            since: None,
            reason: None,
            judgement: None,
            history: crate::health_report::HistorySummary::default(),
            figures: Vec::new(),
        }
    }

    #[test]
    fn the_page_is_small_self_contained_and_escapes_what_it_shows() {
        let component = component(
            "db \"<primary>\"",
            HealthStatus::Unhealthy,
            "<script>alert(1)</script> & more",
        );
        let rendered = page(
            HealthStatus::Unhealthy,
            (Some(&[component]), false),
            &sources(),
            SystemTime::UNIX_EPOCH,
        );
        let html = String::from_utf8(rendered.body.to_vec()).unwrap();
        assert!(html.len() < 60 * 1024, "{} bytes", html.len());
        assert!(
            html.contains("data-name=\"db &quot;&lt;primary&gt;&quot;\" data-status=\"unhealthy\"")
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
        assert!(!html.contains("<script>alert"));
        assert!(
            html.contains("/health/reliability\\u003c/script>"),
            "no early </script>"
        );
        assert!(!html.contains("{{"), "every placeholder filled");
        for external in ["http://", "https://", "src=\"", "@import", "url("] {
            let outside = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside.contains(external), "{external}");
        }
        let bare = page(
            HealthStatus::Healthy,
            (None, false),
            &sources(),
            SystemTime::UNIX_EPOCH,
        );
        let bare = String::from_utf8(bare.body.to_vec()).unwrap();
        assert!(bare.contains("not shown to this client") && !bare.contains("class=\"component\""));
    }

    #[test]
    fn placeholders_in_what_a_component_says_stay_text() {
        let mut component = component(
            "{{config}}",
            HealthStatus::Degraded,
            "{{status}} {{components}} {{at}} {{",
        );
        component.reason = component.message.clone();
        let rendered = page(
            HealthStatus::Degraded,
            (Some(&[component]), false),
            &sources(),
            SystemTime::UNIX_EPOCH,
        );
        let html = String::from_utf8(rendered.body.to_vec()).unwrap();
        assert!(
            html.contains("data-name=\"{{config}}\""),
            "the name as it is"
        );
        assert!(html.contains("<td class=\"reason\">{{status}} {{components}} {{at}} {{</td>"));
        assert_eq!(
            html.matches("\"history\":").count(),
            1,
            "the paths once, in the config"
        );
    }

    #[test]
    fn fill_replaces_known_names_once_and_leaves_the_rest() {
        let value = |name: &str| (name == "a").then_some("{{a}}");
        assert_eq!(fill("x{{a}}y{{b}}z{{", value), "x{{a}}y{{b}}z{{");
        assert_eq!(fill("{{a}}{{a}}", value), "{{a}}{{a}}");
        assert_eq!(fill("", value), "");
    }
}
