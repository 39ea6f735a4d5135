//! Renderers: a [`Vitals`] (or the [reliability report](crate::reliability) made from one) in,
//! bytes out. No HTTP in here: [`HealthLayer`](crate::HealthLayer) frames what these return,
//! and an application can call them itself, like `metrics-exporter-prometheus`'s
//! `PrometheusHandle::render()`.
//!
//! ```
//! use tower_vitals::{HealthChecker, HealthStatus};
//! use tower_vitals::vitals::VitalsGatherer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_vitals::ConfigError> {
//! let checker = HealthChecker::builder().check("db", || async {}).build()?;
//! let vitals = VitalsGatherer::builder(checker).build()?.gather().await;
//!
//! let text = tower_vitals::render::prometheus(&vitals);
//! assert!(text.contains("vitals_health_status{state=\"healthy\"} 1"));
//!
//! let json = tower_vitals::render::health(&vitals);
//! assert_eq!(json.content_type, "application/json");
//! let body: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
//! assert_eq!(body["components"][0]["name"], "db");
//! # Ok(())
//! # }
//! ```
//!
//! A new format is one file here taking a [`Vitals`]; text formats share the writer and the
//! escaping in `text.rs`.
#![doc = include_str!("../../docs/render.md")]

mod accept;
pub(crate) mod dashboard;
mod health_json;
mod json;
mod merge;
mod openmetrics;
#[cfg(feature = "opentelemetry")]
mod otel;
mod prometheus;
#[cfg(feature = "protobuf")]
mod protobuf;
mod text;

use bytes::Bytes;

use crate::health_report::HealthStatus;
use crate::reliability::ReliabilityReport;
use crate::vitals::Vitals;

pub(crate) use health_json::{Answer as HealthJsonAnswer, Shown};
pub use health_json::{CONTENT_TYPE as HEALTH_JSON_CONTENT_TYPE, accepts_health_json};
pub use merge::AppendedMetrics;
pub use openmetrics::{CONTENT_TYPE as OPENMETRICS_CONTENT_TYPE, TextFormat};
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use otel::OtelReader;
pub(crate) use prometheus::ScrapeFormat;
pub use prometheus::{CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE, Prometheus};
#[cfg(feature = "protobuf")]
#[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
pub use protobuf::{CONTENT_TYPE as PROTOBUF_CONTENT_TYPE, accepts_protobuf};

/// Version of the JSON bodies' layout, sent as `X-Health-Version`.
pub const HEALTH_VERSION: &str = "1";

/// Version of the reliability report's layout, sent as `X-Reliability-Version`.
pub const RELIABILITY_VERSION: &str = "1";

/// The `Content-Type` of the JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json";

const JSON_HEADERS: &[(&str, &str)] = &[("x-health-version", HEALTH_VERSION)];
const RELIABILITY_HEADERS: &[(&str, &str)] = &[
    ("x-health-version", HEALTH_VERSION),
    ("x-reliability-version", RELIABILITY_VERSION),
];

/// A rendered body with what an HTTP answer needs to frame it: its content type and the
/// format's version headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rendered {
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Headers that version the format, e.g. `("x-health-version", "1")`.
    pub headers: &'static [(&'static str, &'static str)],
    /// The body.
    pub body: Bytes,
}

impl Rendered {
    /// An OpenAPI document (JSON), with the health format's version header.
    #[cfg(feature = "openapi")]
    pub(crate) fn openapi(body: impl Into<Bytes>) -> Self {
        Self::json(body)
    }

    fn json(body: impl Into<Bytes>) -> Self {
        Self {
            content_type: JSON_CONTENT_TYPE,
            headers: JSON_HEADERS,
            body: body.into(),
        }
    }
}

/// The Prometheus text exposition (format 0.0.4) of `vitals`, names prefixed `vitals_`; see
/// [`Prometheus`] for another prefix.
pub fn prometheus(vitals: &Vitals) -> String {
    Prometheus::default().render(vitals)
}

/// The detailed health report as `/health` shows it: status, components, and `performance`
/// and `cache` sections when `vitals` has request figures.
pub fn health(vitals: &Vitals) -> Rendered {
    Rendered::json(json::report(vitals))
}

/// The reliability report as `/health/reliability` shows it.
pub fn reliability(report: &ReliabilityReport) -> Rendered {
    Rendered {
        headers: RELIABILITY_HEADERS,
        ..Rendered::json(json::reliability(report))
    }
}

/// `{"status":…}`: what clients not shown details get.
pub fn status_only(status: HealthStatus) -> Rendered {
    Rendered::json(json::status_only(status))
}

/// `{"status":…}` with the reliability report's version header.
pub(crate) fn reliability_status_only(status: HealthStatus) -> Rendered {
    Rendered {
        headers: RELIABILITY_HEADERS,
        ..status_only(status)
    }
}

/// The liveness body.
pub(crate) fn live() -> Rendered {
    Rendered::json(Bytes::from_static(json::LIVE))
}

/// A health group's full answer: its name and the checks' report over its checks.
pub(crate) fn group(name: &str, report: &crate::health_report::SystemHealthStatus) -> Rendered {
    #[derive(serde::Serialize)]
    struct Group<'a> {
        group: &'a str,
        #[serde(flatten)]
        report: &'a crate::health_report::SystemHealthStatus,
    }
    let body = Group {
        group: name,
        report,
    };
    Rendered::json(serde_json::to_vec(&body).expect("group serialises"))
}

/// One component in full.
pub(crate) fn component(component: &crate::health_report::ComponentStatus) -> Rendered {
    Rendered::json(serde_json::to_vec(component).expect("component serialises"))
}

/// `/health/info`: everything for clients shown details, name and version for the others.
pub(crate) fn info(info: &crate::info::AppInfo, details: bool) -> Rendered {
    let body = if details {
        serde_json::to_value(info).expect("info serialises")
    } else {
        serde_json::json!({ "name": info.name(), "version": info.version() })
    };
    let mut body = body;
    if details {
        body["uptime_seconds"] =
            serde_json::json!(crate::round::round3(info.uptime().as_secs_f64()));
    }
    Rendered::json(serde_json::to_vec(&body).expect("info serialises"))
}

/// The 404 body when no `AppInfo` was given.
pub(crate) fn no_info() -> Rendered {
    Rendered::json(Bytes::from_static(
        br#"{"error":"no application information: give the layer an AppInfo (HealthLayer::info)"}"#,
    ))
}

/// The 404 body of `/health/fleet` moved to a path of its own but given no fleet.
pub(crate) fn no_fleet() -> Rendered {
    Rendered::json(Bytes::from_static(
        br#"{"error":"no fleet: give the layer a Fleet (HealthLayer::fleet)"}"#,
    ))
}

/// The fleet as this replica last saw it (`GET /health/fleet`).
pub fn fleet(view: &crate::fleet::FleetView) -> Rendered {
    Rendered::json(serde_json::to_vec(view).expect("a fleet view serialises"))
}

/// The 404 body for a component name no check has.
pub(crate) fn no_component(name: &str) -> Rendered {
    let body = serde_json::json!({ "error": "no component of this name", "component": name });
    Rendered::json(serde_json::to_vec(&body).expect("error serialises"))
}

/// The body of a 401 answer: `off` when the policy shows nobody, so the message says how to
/// turn details on rather than to send a token that does not exist.
pub(crate) fn unauthorized(off: bool) -> Rendered {
    let body = if off {
        json::DETAILS_OFF
    } else {
        json::UNAUTHORIZED
    };
    Rendered::json(Bytes::from_static(body))
}

/// `{"status":…,"components":[{"name":…,"status":…}]}`: what clients shown components but not
/// details get.
pub(crate) fn components_only(report: &crate::health_report::SystemHealthStatus) -> Rendered {
    Rendered::json(json::components_only(report))
}

/// The liveness body of a process marked broken.
pub(crate) fn broken(reason: &str) -> Rendered {
    Rendered::json(json::broken(reason))
}

/// A `/health` or readiness answer in the IETF draft's `application/health+json`.
pub(crate) fn health_json(answer: &HealthJsonAnswer<'_>) -> Rendered {
    health_json::render(answer)
}

/// The readiness body.
pub(crate) fn readiness(
    status: HealthStatus,
    ready: bool,
    reason: Option<&str>,
    components: Option<&[crate::health_report::ComponentStatus]>,
) -> Rendered {
    let body = json::Readiness {
        status,
        ready,
        reason,
        components,
    };
    Rendered::json(body.to_vec())
}

/// The startup probe's body: started, or the startup checks' status and why it waits.
pub(crate) fn startup(starting: Option<(HealthStatus, Option<&str>)>) -> Rendered {
    match starting {
        None => Rendered::json(Bytes::from_static(json::STARTED)),
        Some((status, reason)) => Rendered::json(json::starting(status, reason)),
    }
}

/// A JSON error body (a 400 answer's).
pub(crate) fn error(body: Vec<u8>) -> Rendered {
    Rendered::json(body)
}

/// The body of a 400 answer to a query that cannot be read: what is wrong with it.
pub(crate) fn bad_query(error: &str) -> Rendered {
    let body = serde_json::json!({ "error": error });
    Rendered::json(serde_json::to_vec(&body).expect("error serialises"))
}

/// Which components of how many an answer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Page {
    /// Components in all.
    #[serde(rename = "components_total")]
    pub(crate) total: usize,
    /// The first one shown.
    pub(crate) offset: usize,
    /// The `offset` of the next page, when there is one.
    #[serde(rename = "next_offset", skip_serializing_if = "Option::is_none")]
    pub(crate) next: Option<usize>,
}

/// `/health/history`: each component's timeline from `since` to `until`.
pub(crate) fn history(
    span: (std::time::SystemTime, std::time::SystemTime),
    timelines: &[(&str, crate::checker::StatusTimeline)],
    traffic: Option<&crate::metrics::TrafficTimeline>,
    process: Option<&crate::vitals::ProcessTimeline>,
    page: &Page,
) -> Rendered {
    Rendered::json(json::history(span, timelines, traffic, process, page))
}

/// `/health/incidents`: the incidents since `since`, and how many older ones were left out.
pub(crate) fn incidents(
    since: std::time::SystemTime,
    incidents: &[crate::checker::Incident],
    omitted: usize,
) -> Rendered {
    Rendered::json(json::incidents(since, incidents, omitted))
}

/// The body of a 500 answer, when answering panicked.
pub(crate) fn internal_error() -> Rendered {
    Rendered::json(Bytes::from_static(json::INTERNAL_ERROR))
}

/// The body of a 405 answer.
pub(crate) fn method_not_allowed() -> Rendered {
    Rendered::json(Bytes::from_static(json::METHOD_NOT_ALLOWED))
}
