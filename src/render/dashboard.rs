//! The dashboard: one self-contained HTML page (`dashboard.html`: inline styles, inline SVG
//! charts, one inline script; nothing fetched from elsewhere). The server fills in the current
//! status — and, for clients shown details, each component with its reason — so it reads
//! without scripts; the script then refreshes it every 5 s from the layer's own endpoints
//! (the detailed report, history, incidents, the reliability report), sending a bearer token
//! given once in the URL's fragment (`#token=…`, kept in the tab's session storage).

use std::fmt::Write;
use std::time::SystemTime;

use super::Rendered;
use crate::fleet::FleetView;
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
    /// `/health/fleet`, when the layer has a fleet and the client is shown details.
    pub(crate) fleet: Option<&'a str>,
}

/// The page with `status` and, when shown, the components and the fleet filled in.
pub(crate) fn page(
    status: HealthStatus,
    (components, off): (Option<&[ComponentStatus]>, bool),
    (sources, fleet): (&Sources<'_>, Option<&FleetView>),
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
    let (replicas, fleet_checks) = fleet.map(fleet_rows).unwrap_or_default();
    let fleet_name = fleet.map(|view| escape(&view.fleet)).unwrap_or_default();
    let body = fill(PAGE, |name| match name {
        "status" => Some(status.as_str()),
        "at" => Some(&at),
        "components" => Some(&rows),
        "config" => Some(&config),
        "fleet_hidden" => Some(if fleet.is_some() { "" } else { "hidden" }),
        "fleet_name" => Some(&fleet_name),
        "replicas" => Some(&replicas),
        "fleet_checks" => Some(&fleet_checks),
        _ => None,
    });
    Rendered {
        content_type: "text/html; charset=utf-8",
        headers: HEADERS,
        body: body.into(),
    }
}

/// The fleet's replicas as table rows (this one first, stale ones marked), and a list item per
/// shared or once-per-fleet check: what the page's script draws, for a reader without it.
fn fleet_rows(view: &FleetView) -> (String, String) {
    let mut rows = String::new();
    for replica in &view.replicas {
        let checks = replica
            .checks
            .iter()
            .fold(String::new(), |mut out, (name, status)| {
                let status = status.map_or("unknown", HealthStatus::as_str);
                let _ = write!(
                    out,
                    "<span class=\"badge {status}\" title=\"{status}\">{}</span> ",
                    escape(name)
                );
                out
            });
        let figure = |v: Option<f64>, unit: &str| {
            v.map_or("—".to_owned(), |v| {
                format!("{} {unit}", crate::round::round3(v))
            })
        };
        let _ = write!(
            rows,
            "<tr class=\"replica\" data-id=\"{id}\" data-fresh=\"{fresh}\" data-status=\"{status}\"><td>{id}{this}{stale}{twin}</td>\
             <td>{version}</td><td>{phase}</td><td><span class=\"badge {status}\">{status}</span></td><td>{checks}</td>\
             <td>{rps}</td><td>{errors}</td><td>{p95}</td><td>{seen} ms ago</td></tr>",
            id = escape(&replica.id),
            this = if replica.this {
                " <span class=\"muted\">(this one)</span>"
            } else {
                ""
            },
            stale = if replica.fresh {
                ""
            } else {
                " <span class=\"badge stale\">stale</span>"
            },
            twin = if replica.duplicate {
                " <span class=\"badge unhealthy\">duplicate id</span>"
            } else {
                ""
            },
            fresh = replica.fresh,
            version = escape(&replica.version),
            phase = escape(&replica.phase),
            status = replica.status.as_str(),
            rps = figure(replica.requests_per_second, "req/s"),
            errors = figure(replica.error_rate.map(|e| e * 100.0), "%"),
            p95 = figure(replica.p95_ms, "ms"),
            seen = replica.last_seen_ms.round(),
        );
    }
    let mut checks = String::new();
    for shared in &view.shared {
        let _ = write!(
            checks,
            "<li class=\"shared\" data-check=\"{name}\" data-judgement=\"{judgement}\">{name}: {said}</li>",
            name = escape(&shared.check),
            judgement = shared.judgement.as_str(),
            said = shared.reason.as_deref().map_or_else(
                || {
                    let (failing, of) = (shared.failing, shared.replicas);
                    format!("passes here; fails on {failing} of {of} replicas")
                },
                escape
            ),
        );
    }
    for once in &view.once_per_fleet {
        let by = once
            .run_by
            .as_deref()
            .map_or("every replica (no lease known)".to_owned(), escape);
        let _ = write!(
            checks,
            "<li class=\"once\" data-check=\"{name}\">{name}: run once per fleet by {by}</li>",
            name = escape(&once.check)
        );
    }
    (rows, checks)
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
            fleet: None,
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
            (&sources(), None),
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
            (&sources(), None),
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
            (&sources(), None),
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
    fn the_fleet_shows_every_replica_stale_ones_marked_and_escaped() {
        use crate::fleet::{FleetView, Replica, StoreState};
        let replica = |id: &str, this: bool, fresh: bool| Replica {
            id: id.to_owned(),
            this,
            fresh,
            duplicate: false,
            version: "1.2.0".to_owned(),
            phase: "serving".to_owned(),
            status: HealthStatus::Healthy,
            checks: vec![("db".to_owned(), Some(HealthStatus::Healthy))],
            uptime_seconds: 3.0,
            requests_per_second: Some(12.5),
            error_rate: Some(0.02),
            p95_ms: Some(4.0),
            last_seen: SystemTime::UNIX_EPOCH,
            last_seen_ms: 250.0,
        };
        let view = FleetView {
            fleet: "shop".to_owned(),
            this: "a".to_owned(),
            store: StoreState {
                reachable: true,
                error: None,
                since: None,
            },
            replicas: vec![replica("a", true, true), replica("<b>", false, false)],
            shared: Vec::new(),
            once_per_fleet: Vec::new(),
        };
        let rendered = page(
            HealthStatus::Healthy,
            (Some(&[]), false),
            (&sources(), Some(&view)),
            SystemTime::UNIX_EPOCH,
        );
        let html = String::from_utf8(rendered.body.to_vec()).unwrap();
        assert!(html.contains("<section id=\"fleet\" >"), "shown");
        assert!(html.contains("<tr class=\"replica\" data-id=\"a\" data-fresh=\"true\""));
        assert!(html.contains("data-id=\"&lt;b&gt;\" data-fresh=\"false\""));
        assert!(html.contains("<span class=\"badge stale\">stale</span>"));
        assert!(html.contains("<td>12.5 req/s</td><td>2 %</td><td>4 ms</td>"));
        let without = page(
            HealthStatus::Healthy,
            (Some(&[]), false),
            (&sources(), None),
            SystemTime::UNIX_EPOCH,
        );
        let without = String::from_utf8(without.body.to_vec()).unwrap();
        assert!(without.contains("<section id=\"fleet\" hidden>"));
    }

    #[test]
    fn fill_replaces_known_names_once_and_leaves_the_rest() {
        let value = |name: &str| (name == "a").then_some("{{a}}");
        assert_eq!(fill("x{{a}}y{{b}}z{{", value), "x{{a}}y{{b}}z{{");
        assert_eq!(fill("{{a}}{{a}}", value), "{{a}}{{a}}");
        assert_eq!(fill("", value), "");
    }
}
