//! JSON bodies of the health endpoints.

use serde::Serialize;

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::checker::{CheckCounters, Incident, Lifecycle, Phase, StatusTimeline};
use crate::health_report::{
    ComponentStatus, HealthStatus, SettingsStatus, SystemHealthStatus, WarmUpStatus,
};
use crate::info::AppInfo;
use crate::metrics::{CacheStats, LatencyStats, MetricsSnapshot, TrafficTimeline};
use crate::probe::RuntimeStats;
use crate::reliability::{Anomaly, ReliabilityReport};
use crate::round::{millis, round3};
use crate::vitals::{ProcessFigures, ProcessTimeline, Source, Vitals};

/// The liveness body: the process answers, so it is alive.
pub(crate) const LIVE: &[u8] = br#"{"status":"healthy"}"#;

/// The readiness body: `{"status":…,"ready":…}`, plus `reason` when the service was marked
/// not ready or is warming up, and `components` when verbose.
#[derive(Serialize)]
pub(crate) struct Readiness<'a> {
    pub(crate) status: HealthStatus,
    pub(crate) ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) components: Option<&'a [ComponentStatus]>,
}

impl Readiness<'_> {
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("readiness serialises")
    }
}

/// The detailed report: the checks' report with `performance` and `cache` sections when
/// there are request figures. The reliability report is this body, its status raised by the
/// anomalies and the checks' own status as `checks_status`, plus more sections.
#[derive(Serialize)]
struct Detailed<'a> {
    status: HealthStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks_status: Option<HealthStatus>,
    accepting_traffic: bool,
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    timestamp: std::time::SystemTime,
    duration_ms: f64,
    components: &'a [ComponentStatus],
    /// The pending warm-up gates (at most [`MAX_GATES_SHOWN`]).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    warming_up: &'a [WarmUpStatus],
    #[serde(skip_serializing_if = "Option::is_none")]
    performance: Option<Performance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<Cache>,
    /// Only while not simply serving: draining, shutting down, or marked broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    lifecycle: Option<LifecycleBody<'a>>,
    /// The application's information, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a AppInfo>,
    /// Settings read at run time, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<&'a SettingsStatus>,
}

#[derive(Serialize)]
struct LifecycleBody<'a> {
    #[serde(flatten)]
    lifecycle: &'a Lifecycle,
    #[serde(skip_serializing_if = "Option::is_none")]
    broken: Option<&'a str>,
}

impl<'a> LifecycleBody<'a> {
    fn of(vitals: &'a Vitals) -> Option<Self> {
        let unusual = vitals.lifecycle.phase != Phase::Serving || vitals.broken.is_some();
        unusual.then_some(Self {
            lifecycle: &vitals.lifecycle,
            broken: vitals.broken.as_deref(),
        })
    }
}

impl<'a> Detailed<'a> {
    fn new(health: &'a SystemHealthStatus, metrics: Option<&MetricsSnapshot>) -> Self {
        Self {
            lifecycle: None,
            info: None,
            status: health.status,
            checks_status: None,
            accepting_traffic: health.accepting_traffic,
            timestamp: health.timestamp,
            duration_ms: health.duration_ms,
            components: &health.components,
            warming_up: &health.warming_up[..health.warming_up.len().min(MAX_GATES_SHOWN)],
            performance: metrics.map(Performance::from),
            cache: metrics.map(|m| Cache::from(&m.cache)),
            settings: health.settings.as_ref(),
        }
    }
}

/// The most pending warm-up gates a report lists.
const MAX_GATES_SHOWN: usize = 100;

/// The detailed report body.
pub(crate) fn report(vitals: &Vitals) -> Vec<u8> {
    let body = Detailed {
        lifecycle: LifecycleBody::of(vitals),
        info: vitals.info.as_deref(),
        ..Detailed::new(&vitals.health, vitals.requests.ready())
    };
    serde_json::to_vec(&body).expect("report serialises")
}

/// The reliability report body: the detailed report (status raised by anomalies, the checks'
/// own status as `checks_status`), `metrics` (with the application's sources after the
/// built-in ones), `anomalies`, `notes`, `generation_time_ms`.
pub(crate) fn reliability(report: &ReliabilityReport) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(flatten)]
        health: Detailed<'a>,
        metrics: Figures<'a>,
        anomalies: &'a [Anomaly],
        notes: &'a [String],
        generation_time_ms: f64,
    }
    #[derive(Serialize)]
    struct Figures<'a> {
        requests: Option<Sourced<Requests<'a>>>,
        process: Sourced<Process>,
        runtime: Sourced<&'a RuntimeStats>,
        checks: Vec<Check<'a>>,
        #[serde(flatten)]
        sources: BTreeMap<&'a str, Sourced<&'a serde_json::Value>>,
    }
    let mut health = Detailed::new(&report.health, report.requests.ready());
    health.checks_status = Some(health.status);
    health.status = report.status;
    let body = Body {
        health,
        metrics: Figures {
            requests: match &report.requests {
                Source::Off => None,
                other => Some(Sourced::from(other, Requests::from)),
            },
            process: Sourced::from(&report.process, Process::from),
            runtime: Sourced::from(&report.runtime, |r| r),
            checks: report.checks.iter().map(Check::from).collect(),
            sources: report
                .sources
                .iter()
                .map(|(name, source)| (name.as_str(), Sourced::from(source, |v| v)))
                .collect(),
        },
        anomalies: &report.anomalies,
        notes: &report.notes,
        generation_time_ms: millis(report.generation_time),
    };
    serde_json::to_vec(&body).expect("reliability report serialises")
}

/// A source's figures, or `{"error": "..."}`.
#[derive(Serialize)]
#[serde(untagged)]
enum Sourced<T> {
    Ready(T),
    Failed { error: String },
}

impl<T> Sourced<T> {
    fn from<'a, S>(source: &'a Source<S>, make: impl FnOnce(&'a S) -> T) -> Self {
        match source {
            Source::Ready(value) => Self::Ready(make(value)),
            Source::Failed(error) => Self::Failed {
                error: error.clone(),
            },
            Source::Off => Self::Failed {
                error: "not configured".to_owned(),
            },
        }
    }
}

#[derive(Serialize)]
struct Requests<'a> {
    uptime_seconds: f64,
    in_flight: u64,
    window: Window,
    totals: Totals,
    routes: Vec<Route<'a>>,
}

#[derive(Serialize)]
struct Window {
    span_seconds: f64,
    requests: u64,
    failures: u64,
    cancelled: u64,
    request_rate: f64,
    error_rate: Option<f64>,
    latency_ms: Latency,
    time_to_headers_ms: Latency,
}

/// Latency figures in milliseconds; `null` when nothing was measured.
#[derive(Serialize)]
struct Latency {
    avg: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

impl From<&LatencyStats> for Latency {
    fn from(stats: &LatencyStats) -> Self {
        let measured = |value| (stats.count > 0).then(|| millis(value));
        Self {
            avg: measured(stats.avg),
            p50: measured(stats.p50),
            p95: measured(stats.p95),
            p99: measured(stats.p99),
            max: measured(stats.max),
        }
    }
}

#[derive(Serialize)]
struct Totals {
    requests: u64,
    successes: u64,
    failures: u64,
    cancelled: u64,
    latency_sum_seconds: f64,
}

#[derive(Serialize)]
struct Route<'a> {
    route: &'a str,
    method: &'static str,
    status_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    /// The request label and this series' value of it, when the collector has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<Label<'a>>,
    requests: u64,
    failures: u64,
    avg_latency_ms: f64,
}

#[derive(Serialize)]
struct Label<'a> {
    name: &'a str,
    value: &'a str,
}

impl<'a> From<&'a MetricsSnapshot> for Requests<'a> {
    fn from(metrics: &'a MetricsSnapshot) -> Self {
        let window = &metrics.window;
        Self {
            uptime_seconds: round3(metrics.uptime.as_secs_f64()),
            in_flight: metrics.in_flight,
            window: Window {
                span_seconds: round3(window.span.as_secs_f64()),
                requests: window.count,
                failures: window.failures,
                cancelled: window.cancelled,
                request_rate: round3(window.request_rate),
                error_rate: window.error_rate,
                latency_ms: Latency::from(&window.latency),
                time_to_headers_ms: Latency::from(&window.time_to_headers),
            },
            totals: Totals {
                requests: metrics.totals.requests,
                successes: metrics.totals.successes,
                failures: metrics.totals.failures,
                cancelled: metrics.totals.cancelled,
                latency_sum_seconds: round3(metrics.totals.latency_sum.as_secs_f64()),
            },
            routes: metrics
                .series
                .iter()
                .map(|series| Route {
                    route: &series.route,
                    method: series.method,
                    status_class: series.status_class,
                    status_code: series.status_code,
                    label: metrics
                        .request_label
                        .as_ref()
                        .zip(series.label.as_deref())
                        .map(|(label, value)| Label {
                            name: &label.name,
                            value,
                        }),
                    requests: series.count,
                    failures: series.failures,
                    avg_latency_ms: millis(
                        series.latency_sum / u32::try_from(series.count.max(1)).unwrap_or(u32::MAX),
                    ),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct Process {
    cpu_percent: Option<f64>,
    cpu_seconds: f64,
    resident_memory_bytes: u64,
    virtual_memory_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
    threads: u64,
    start_time_seconds: f64,
}

impl From<&ProcessFigures> for Process {
    fn from(figures: &ProcessFigures) -> Self {
        let stats = &figures.stats;
        Self {
            cpu_percent: figures.cpu_percent.map(round3),
            cpu_seconds: round3(stats.cpu_seconds),
            resident_memory_bytes: stats.resident_memory_bytes,
            virtual_memory_bytes: stats.virtual_memory_bytes,
            open_fds: stats.open_fds,
            max_fds: stats.max_fds,
            threads: stats.threads,
            start_time_seconds: round3(stats.start_time_seconds),
        }
    }
}

#[derive(Serialize)]
struct Check<'a> {
    name: &'a str,
    runs: u64,
    failures: u64,
    transitions: u64,
    recent_transitions: usize,
    last_duration_ms: Option<f64>,
    timeout_ms: f64,
}

impl<'a> From<&'a CheckCounters> for Check<'a> {
    fn from(counters: &'a CheckCounters) -> Self {
        Self {
            name: &counters.name,
            runs: counters.runs,
            failures: counters.failures,
            transitions: counters.transitions,
            recent_transitions: counters.recent_transitions,
            last_duration_ms: counters.last_duration.map(millis),
            timeout_ms: millis(counters.timeout),
        }
    }
}

/// Request figures over the metrics window.
#[derive(Serialize)]
struct Performance {
    window_seconds: f64,
    requests: u64,
    request_rate: f64,
    error_rate: Option<f64>,
    /// `null` (as are the next two) while the window holds no request.
    avg_latency_ms: Option<f64>,
    p95_latency_ms: Option<f64>,
    p99_latency_ms: Option<f64>,
    in_flight: u64,
}

impl From<&MetricsSnapshot> for Performance {
    fn from(metrics: &MetricsSnapshot) -> Self {
        let window = &metrics.window;
        let latency = Latency::from(&window.latency);
        Self {
            window_seconds: round3(window.span.as_secs_f64()),
            requests: window.count,
            request_rate: round3(window.request_rate),
            error_rate: window.error_rate,
            avg_latency_ms: latency.avg,
            p95_latency_ms: latency.p95,
            p99_latency_ms: latency.p99,
            in_flight: metrics.in_flight,
        }
    }
}

#[derive(Serialize)]
struct Cache {
    hits: u64,
    misses: u64,
    evictions: u64,
    hit_rate: Option<f64>,
}

impl From<&CacheStats> for Cache {
    fn from(cache: &CacheStats) -> Self {
        Self {
            hits: cache.hits,
            misses: cache.misses,
            evictions: cache.evictions,
            hit_rate: cache.hit_rate,
        }
    }
}

/// `{"status":…}`: the detailed and reliability reports for clients not shown details.
pub(crate) fn status_only(status: HealthStatus) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "status": status })).expect("status serialises")
}

/// The liveness body of a process marked broken: `{"status":"unhealthy","reason":…}`.
pub(crate) fn broken(reason: &str) -> Vec<u8> {
    let body = serde_json::json!({ "status": HealthStatus::Unhealthy, "reason": reason });
    serde_json::to_vec(&body).expect("liveness serialises")
}

/// The startup probe's body once started.
pub(crate) const STARTED: &[u8] = br#"{"status":"started","started":true}"#;

/// The startup probe's body while starting, with the pending warm-up gates when there are.
pub(crate) fn starting(status: HealthStatus, reason: Option<&str>) -> Vec<u8> {
    let body = match reason {
        None => serde_json::json!({ "status": status, "started": false }),
        Some(reason) => {
            serde_json::json!({ "status": status, "started": false, "reason": reason })
        }
    };
    serde_json::to_vec(&body).expect("startup serialises")
}

/// The body of a 401 answer.
pub(crate) const UNAUTHORIZED: &[u8] =
    br#"{"error":"not allowed: this client is not shown this answer; where the policy is a bearer token, send Authorization: Bearer <token>"}"#;

/// The body of a 401 answer where the policy shows nobody (`DetailPolicy::Never`).
pub(crate) const DETAILS_OFF: &[u8] =
    br#"{"error":"details are off for every client (DetailPolicy::Never, the default): turn them on with HealthLayer::details(DetailPolicy::bearer_token(..)) or DetailPolicy::when(..)"}"#;

/// The report with components' names and statuses only: no messages, metadata or figures.
pub(crate) fn components_only(report: &SystemHealthStatus) -> Vec<u8> {
    #[derive(Serialize)]
    struct Component<'a> {
        name: &'a str,
        status: HealthStatus,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        status: HealthStatus,
        components: Vec<Component<'a>>,
    }
    let body = Body {
        status: report.status,
        components: report
            .components
            .iter()
            .map(|c| Component {
                name: &c.name,
                status: c.status,
            })
            .collect(),
    };
    serde_json::to_vec(&body).expect("components serialise")
}

/// The body of a 500 answer: answering failed (a panic, caught).
pub(crate) const INTERNAL_ERROR: &[u8] =
    br#"{"error":"internal error while answering; it is logged"}"#;

/// The body of a 405 answer.
pub(crate) const METHOD_NOT_ALLOWED: &[u8] =
    br#"{"error":"method not allowed","allow":["GET","HEAD"]}"#;

/// `{"since":…,"until":…,"components":[{"name":…,"step_seconds":…,"availability_percent":…,
/// "observed_seconds":…,"points":[…]}]}`.
pub(crate) fn history(
    (since, until): (SystemTime, SystemTime),
    timelines: &[(&str, StatusTimeline)],
    traffic: Option<&TrafficTimeline>,
    process: Option<&ProcessTimeline>,
    page: &super::Page,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(serialize_with = "crate::health_report::rfc3339")]
        since: SystemTime,
        #[serde(serialize_with = "crate::health_report::rfc3339")]
        until: SystemTime,
        #[serde(flatten)]
        page: &'a super::Page,
        components: Vec<Component<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        traffic: Option<&'a TrafficTimeline>,
        #[serde(skip_serializing_if = "Option::is_none")]
        process: Option<&'a ProcessTimeline>,
    }
    #[derive(Serialize)]
    struct Component<'a> {
        name: &'a str,
        availability_percent: Option<f64>,
        /// The known time the availability is of.
        observed_seconds: f64,
        #[serde(flatten)]
        timeline: &'a StatusTimeline,
    }
    let body = Body {
        since,
        until,
        components: timelines
            .iter()
            .map(|(name, timeline)| Component {
                name,
                availability_percent: timeline.availability_percent().map(round3),
                observed_seconds: round3(timeline.observed().as_secs_f64()),
                timeline,
            })
            .collect(),
        traffic,
        process,
        page,
    };
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
}

/// `{"since":…,"incidents":[…]}`.
pub(crate) fn incidents(since: SystemTime, incidents: &[Incident], omitted: usize) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(serialize_with = "crate::health_report::rfc3339")]
        since: SystemTime,
        incidents: &'a [Incident],
        /// Older incidents that matched and were left out (past the answer's cap).
        #[serde(skip_serializing_if = "is_zero")]
        omitted: usize,
    }
    fn is_zero(n: &usize) -> bool {
        *n == 0
    }
    let body = Body {
        since,
        incidents,
        omitted,
    };
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_bodies_are_valid_json() {
        for body in [
            LIVE,
            METHOD_NOT_ALLOWED,
            STARTED,
            UNAUTHORIZED,
            DETAILS_OFF,
            INTERNAL_ERROR,
        ] {
            serde_json::from_slice::<serde_json::Value>(body).unwrap();
        }
    }

    #[test]
    fn readiness_leaves_out_what_it_does_not_have() {
        let body = Readiness {
            status: HealthStatus::Degraded,
            ready: true,
            reason: None,
            components: None,
        };
        assert_eq!(body.to_vec(), br#"{"status":"degraded","ready":true}"#);
    }
}
