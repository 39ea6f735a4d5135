//! JSON bodies of the health endpoints.

use serde::Serialize;

use crate::metrics::{CacheStats, MetricsSnapshot};
use crate::{ComponentStatus, HealthStatus, SystemHealthStatus};

/// The liveness body: the process answers, so it is alive.
pub(crate) const LIVE: &[u8] = br#"{"status":"healthy"}"#;

/// The readiness body: `{"status":…,"ready":…}`, plus `reason` when the service was marked
/// not ready and `components` when verbose.
#[derive(Serialize)]
pub(crate) struct Readiness<'a> {
    pub(crate) status: HealthStatus,
    pub(crate) ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) components: Option<&'a [ComponentStatus]>,
}

impl Readiness<'_> {
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("readiness serialises")
    }
}

/// The detailed report body, with `performance` and `cache` sections when there are metrics.
pub(crate) fn report(report: &SystemHealthStatus, metrics: Option<&MetricsSnapshot>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Detailed<'a> {
        #[serde(flatten)]
        report: &'a SystemHealthStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        performance: Option<Performance>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache: Option<Cache>,
    }
    let body = Detailed {
        report,
        performance: metrics.map(Performance::from),
        cache: metrics.map(|m| Cache::from(&m.cache)),
    };
    serde_json::to_vec(&body).expect("report serialises")
}

/// Request figures over the metrics window.
#[derive(Serialize)]
struct Performance {
    window_seconds: f64,
    requests: u64,
    request_rate: f64,
    error_rate: Option<f64>,
    avg_latency_ms: f64,
    p95_latency_ms: f64,
    p99_latency_ms: f64,
    in_flight: u64,
}

impl From<&MetricsSnapshot> for Performance {
    fn from(metrics: &MetricsSnapshot) -> Self {
        let window = &metrics.window;
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        Self {
            window_seconds: (window.span.as_secs_f64() * 1e3).round() / 1e3,
            requests: window.count,
            request_rate: (window.request_rate * 1e3).round() / 1e3,
            error_rate: window.error_rate,
            avg_latency_ms: ms(window.latency.avg),
            p95_latency_ms: ms(window.latency.p95),
            p99_latency_ms: ms(window.latency.p99),
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

/// The body of a 405 answer.
pub(crate) const METHOD_NOT_ALLOWED: &[u8] =
    br#"{"error":"method not allowed","allow":["GET","HEAD"]}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_bodies_are_valid_json() {
        for body in [LIVE, METHOD_NOT_ALLOWED] {
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
