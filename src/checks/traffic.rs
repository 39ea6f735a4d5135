//! [`TrafficCheck`]: health judged from the requests the service actually serves.

use crate::checker::{CheckFuture, HealthCheck};
use crate::health_report::{CheckResult, HealthStatus};
use crate::metrics::MetricsCollector;

use super::Limit;

/// Judges the error rate and the p95 latency over the collector's rolling window: health from
/// real traffic, with no extra load on any dependency. Defaults: error rate degraded from 5 %,
/// unhealthy from 25 %; p95 degraded from 1 s, unhealthy from 5 s; with fewer than 20 requests
/// in the window it says healthy (too few to judge).
#[derive(Debug, Clone)]
pub struct TrafficCheck {
    collector: MetricsCollector,
    error_rate: Limit,
    p95_ms: Limit,
    min_requests: u64,
}

impl TrafficCheck {
    /// The check over `collector`'s window.
    pub fn new(collector: MetricsCollector) -> Self {
        Self {
            collector,
            error_rate: Limit::above(0.05, 0.25).expect("ordered"),
            p95_ms: Limit::above(1000.0, 5000.0).expect("ordered"),
            min_requests: 20,
        }
    }

    /// Limits on failures / requests.
    #[must_use]
    pub fn error_rate(mut self, limit: Limit) -> Self {
        self.error_rate = limit;
        self
    }

    /// Limits on the p95 latency, in milliseconds.
    #[must_use]
    pub fn p95_ms(mut self, limit: Limit) -> Self {
        self.p95_ms = limit;
        self
    }

    /// Requests the window needs before the check judges.
    #[must_use]
    pub fn min_requests(mut self, requests: u64) -> Self {
        self.min_requests = requests;
        self
    }
}

impl HealthCheck for TrafficCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let window = self.collector.window();
            let p95 = window.latency.p95.as_secs_f64() * 1e3;
            let rate = window.error_rate.unwrap_or(0.0);
            let base = CheckResult::healthy()
                .with_metadata("requests", window.count)
                .with_metadata("error_rate", rate)
                .with_metadata("p95_ms", p95)
                .with_metadata("window_seconds", window.span.as_secs_f64());
            if window.count < self.min_requests {
                return Ok(base.with_message(format!(
                    "{} requests in the window: too few to judge (at least {})",
                    window.count, self.min_requests
                )));
            }
            let judged = [
                (
                    self.error_rate.status(rate),
                    self.error_rate.describe("error rate", rate, ""),
                ),
                (
                    self.p95_ms.status(p95),
                    self.p95_ms.describe("p95 latency", p95, "ms"),
                ),
            ];
            let worst = judged
                .iter()
                .map(|(status, _)| *status)
                .max()
                .unwrap_or_default();
            if worst == HealthStatus::Healthy {
                return Ok(base);
            }
            let message: Vec<&str> = judged
                .iter()
                .filter(|(status, _)| *status != HealthStatus::Healthy)
                .map(|(_, text)| text.as_str())
                .collect();
            Ok(base.with_status(worst).with_message(message.join("; ")))
        })
    }
}
