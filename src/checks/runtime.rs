//! [`RuntimeCheck`]: is the Tokio runtime keeping up?

use crate::checker::{CheckFuture, HealthCheck};
use crate::health_report::{CheckResult, HealthStatus};
use crate::probe::RuntimeProbe;

use super::Limit;

/// Measures scheduling lag with a probe task (a 100 ms timer; how late does it fire?) and
/// reports the runtime's workers and alive tasks. Degraded from 50 ms of lag, unhealthy from
/// 250 ms by default; the lag judged is the worst since the previous run.
#[derive(Debug)]
pub struct RuntimeCheck {
    probe: RuntimeProbe,
    lag_ms: Limit,
}

impl RuntimeCheck {
    /// The check, with the default limits.
    pub fn new() -> Self {
        Self {
            probe: RuntimeProbe::new(std::time::Duration::from_millis(100)),
            lag_ms: Limit::above(50.0, 250.0).expect("ordered"),
        }
    }

    /// Where scheduling lag, in milliseconds, turns the check degraded and unhealthy.
    #[must_use]
    pub fn lag_ms(mut self, limit: Limit) -> Self {
        self.lag_ms = limit;
        self
    }
}

impl Default for RuntimeCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthCheck for RuntimeCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            self.probe.ensure_started();
            let stats = self.probe.read().map_err(crate::checker::CheckError::new)?;
            let mut result = CheckResult::healthy()
                .with_metadata("workers", stats.workers)
                .with_metadata("alive_tasks", stats.alive_tasks)
                .with_metadata("global_queue_depth", stats.global_queue_depth);
            let Some(lag) = stats.max_lag_ms else {
                return Ok(result.with_message("lag not measured yet: the probe has just started"));
            };
            result = result.with_metadata("max_lag_ms", lag);
            let status = self.lag_ms.status(lag);
            if status != HealthStatus::Healthy {
                let message = self.lag_ms.describe("scheduling lag", lag, "ms");
                result = result.with_status(status).with_message(message);
            }
            Ok(result)
        })
    }
}
