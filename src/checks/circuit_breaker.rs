//! [`CircuitBreakerCheck`]: the app's circuit breakers as health (feature `tower-resilience`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::json;
use tower_resilience_circuitbreaker::{CircuitBreakerHandle, CircuitMetrics, CircuitState};

use crate::checker::{CheckFuture, HealthCheck};
use crate::health_report::{CheckResult, HealthStatus};
use crate::round::{millis, readable, round3};

/// At most this many breakers in one check.
pub const MAX_BREAKERS: usize = 64;

type Read = dyn Fn() -> Pin<Box<dyn Future<Output = CircuitMetrics> + Send>> + Send + Sync;

/// The circuit breakers of [tower-resilience](https://docs.rs/tower-resilience-circuitbreaker)
/// as one component: healthy while every breaker is closed; **degraded** while any is open or
/// half-open (`payments open for 12s`), so readiness holds — a breaker that
/// opened is already shielding the app; failing readiness too would take the pod out of
/// rotation for a dependency it copes without. [`open_status`](Self::open_status) makes an
/// open breaker unhealthy instead, for a dependency the service is useless without.
///
/// Metadata per breaker, under its name: `state` (`closed`, `open`, `half_open`),
/// `failure_rate` and `slow_call_rate` (0 to 1, over the breaker's sliding window), `calls`
/// and `failures` in the window, `in_state_ms` (time since its last transition: how long it
/// has been open, or since it recovered). tower-resilience clears the window when a breaker
/// opens, so an open breaker's figures count the calls since, not those that opened it. Figures on
/// `/metrics`: `open` and `half_open`, how many breakers are in each state.
///
/// Breakers are read through their `CircuitBreakerHandle` (`build_with_handle()`), which sees
/// every service the breaker's layer made.
///
/// ```
/// use std::time::Duration;
/// use tower_resilience_circuitbreaker::CircuitBreakerLayer;
/// use tower_vitals::checks::CircuitBreakerCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let (payments_layer, payments) = CircuitBreakerLayer::builder()
///     .failure_rate_threshold(0.5)
///     .wait_duration_in_open(Duration::from_secs(30))
///     .build_with_handle()
///     .unwrap();
/// // tower::ServiceBuilder::new().layer(payments_layer).service(payments_client) …
/// # drop(payments_layer);
/// let checker = HealthChecker::builder()
///     .register(Check::new("circuit-breakers", CircuitBreakerCheck::new().breaker("payments", payments)))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone, Default)]
pub struct CircuitBreakerCheck {
    breakers: Vec<(String, Arc<Read>)>,
    open: Option<HealthStatus>,
}

impl std::fmt::Debug for CircuitBreakerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.breakers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("CircuitBreakerCheck")
            .field("breakers", &names)
            .field("open_status", &self.when_open())
            .finish()
    }
}

impl CircuitBreakerCheck {
    /// A check of no breakers yet (healthy).
    pub fn new() -> Self {
        Self::default()
    }

    /// Watches the breaker `handle` under `name` (at most [`MAX_BREAKERS`]; past them, more are
    /// left out, with a warning).
    #[must_use]
    pub fn breaker<C>(mut self, name: impl Into<String>, handle: CircuitBreakerHandle<C>) -> Self
    where
        C: Send + Sync + 'static,
    {
        let name = name.into();
        if self.breakers.len() >= MAX_BREAKERS {
            tracing::warn!(breaker = %name, "more than {MAX_BREAKERS} circuit breakers in one check: left out");
            return self;
        }
        let handle = Arc::new(handle);
        let read: Arc<Read> = Arc::new(move || {
            let handle = handle.clone();
            Box::pin(async move { handle.metrics().await })
        });
        self.breakers.push((name, read));
        self
    }

    /// The status while a breaker is open (default [`HealthStatus::Degraded`]); half-open is
    /// degraded either way.
    #[must_use]
    pub fn open_status(mut self, status: HealthStatus) -> Self {
        self.open = Some(status);
        self
    }

    fn judge(&self, read: &[(&str, CircuitMetrics)]) -> CheckResult {
        let mut worst = HealthStatus::Healthy;
        let mut notes = Vec::new();
        let (mut open, mut half_open) = (0u32, 0u32);
        let mut result = CheckResult::healthy();
        for (name, metrics) in read {
            let (state, status) = match metrics.state {
                CircuitState::Closed => ("closed", HealthStatus::Healthy),
                CircuitState::Open => {
                    open += 1;
                    ("open", self.when_open())
                }
                CircuitState::HalfOpen => {
                    half_open += 1;
                    ("half_open", HealthStatus::Degraded)
                }
            };
            if status != HealthStatus::Healthy {
                let since = humantime::format_duration(readable(metrics.time_since_state_change));
                let mut note = format!("{name} {} for {since}", state.replace('_', "-"));
                // tower-resilience clears the window as a breaker opens: an open breaker's
                // rate would read 0 %. A half-open one's is that of its trial calls.
                if metrics.state == CircuitState::HalfOpen && metrics.total_calls > 0 {
                    let rate = (metrics.failure_rate * 100.0).round();
                    note.push_str(&format!(
                        ", failure rate {rate}% of {} trial calls",
                        metrics.total_calls
                    ));
                }
                notes.push(note);
            }
            worst = worst.max(status);
            result = result.with_metadata(
                *name,
                json!({
                    "state": state,
                    "failure_rate": round3(metrics.failure_rate),
                    "slow_call_rate": round3(metrics.slow_call_rate),
                    "calls": metrics.total_calls,
                    "failures": metrics.failure_count,
                    "in_state_ms": millis(metrics.time_since_state_change),
                }),
            );
        }
        result = result
            .with_figure("open", f64::from(open))
            .with_figure("half_open", f64::from(half_open));
        if notes.is_empty() {
            return result;
        }
        result.with_status(worst).with_message(notes.join("; "))
    }

    fn when_open(&self) -> HealthStatus {
        self.open.unwrap_or(HealthStatus::Degraded)
    }
}

impl HealthCheck for CircuitBreakerCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut read = Vec::with_capacity(self.breakers.len());
            for (name, metrics) in &self.breakers {
                read.push((name.as_str(), metrics().await));
            }
            Ok(self.judge(&read))
        })
    }
}

#[cfg(test)]
mod tests {
    use tower_resilience_circuitbreaker::CircuitBreakerLayer;

    use super::*;

    #[tokio::test]
    async fn an_open_breaker_degrades_unless_told_to_fail() {
        let (_payments_layer, payments) =
            CircuitBreakerLayer::builder().build_with_handle().unwrap();
        let (_search_layer, search) = CircuitBreakerLayer::builder().build_with_handle().unwrap();
        let check = CircuitBreakerCheck::new()
            .breaker("payments", payments.clone())
            .breaker("search", search);
        let closed = check.check().await.unwrap();
        assert_eq!(closed.status(), HealthStatus::Healthy);
        assert_eq!(closed.metadata()["payments"]["state"], "closed");
        assert_eq!(closed.metadata()["open"], 0.0);

        payments.force_open().await;
        let open = check.check().await.unwrap();
        assert_eq!(open.status(), HealthStatus::Degraded);
        let message = open.message().unwrap();
        assert!(message.starts_with("payments open for "), "{message}");
        assert!(!message.contains("failure rate"), "{message}");
        assert_eq!(open.metadata()["payments"]["state"], "open");
        assert_eq!(open.metadata()["search"]["state"], "closed");
        assert_eq!(open.metadata()["open"], 1.0);
        let strict = check.clone().open_status(HealthStatus::Unhealthy);
        assert_eq!(
            strict.check().await.unwrap().status(),
            HealthStatus::Unhealthy
        );

        payments.force_closed().await;
        assert_eq!(check.check().await.unwrap().status(), HealthStatus::Healthy);
    }
}
