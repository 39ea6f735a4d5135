//! [`JobCheck`]: a batch that must succeed every so often.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::checker::{CheckFuture, HealthCheck};
use crate::error::ConfigError;
use crate::health_report::CheckResult;
use crate::redact::redact;
use crate::round::{millis, readable};
use crate::validate;

/// The allowed windows.
const WINDOW: validate::Range<Duration> = (
    Duration::from_millis(1)..=Duration::from_secs(366 * 24 * 3600),
    "1 ms to 366 days",
);

/// A job that must succeed every so often — a nightly export, an hourly sync, a cron batch: it
/// reports each run's outcome with [`succeeded`](Self::succeeded) or [`failed`](Self::failed),
/// and the check is unhealthy once no success came within the window (`no success for 1d 2h,
/// expected within 1d; last failure 2h ago: upload refused`). Until the first success the
/// window counts from when the check was made. A run that failed while the last success is
/// still within the window is degraded: readiness holds, the failure shows. Metadata:
/// `last_success_ms` and `last_failure_ms` (how long ago), `successes`, `failures`,
/// `last_error` (redacted); on `/metrics`, `last_success_age_seconds`.
///
/// A cheap `Clone` handle: give one to the job and register another.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::checks::JobCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let export = JobCheck::within(Duration::from_secs(26 * 3600))?; // nightly, with 2 h to spare
/// let checker = HealthChecker::builder()
///     .register(Check::new("nightly-export", export.clone()).critical(false))
///     .build()?;
/// // In the job, after each run:
/// match std::fs::metadata("/tmp") {
///     Ok(_) => export.succeeded(),
///     Err(error) => export.failed(error),
/// }
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct JobCheck {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    window: Duration,
    made: Instant,
    runs: Mutex<Runs>,
}

#[derive(Debug, Default)]
struct Runs {
    last_success: Option<Instant>,
    last_failure: Option<(Instant, String)>,
    successes: u64,
    failures: u64,
}

impl JobCheck {
    /// A job that must succeed at least once in every `window` (1 ms to 366 days).
    pub fn within(window: Duration) -> Result<Self, ConfigError> {
        let window = validate::duration("job window", window, WINDOW)?;
        Ok(Self {
            inner: Arc::new(Inner {
                window,
                made: Instant::now(),
                runs: Mutex::default(),
            }),
        })
    }

    /// A run succeeded.
    pub fn succeeded(&self) {
        let mut runs = self.inner.runs.lock();
        runs.last_success = Some(Instant::now());
        runs.successes += 1;
    }

    /// A run failed with `error` (kept redacted and capped, like every message).
    pub fn failed(&self, error: impl std::fmt::Display) {
        let error = redact(&error.to_string());
        let mut runs = self.inner.runs.lock();
        runs.last_failure = Some((Instant::now(), error));
        runs.failures += 1;
    }

    fn judge(&self) -> CheckResult {
        let inner = &self.inner;
        let runs = inner.runs.lock();
        let ago = |at: Instant| humantime::format_duration(readable(at.elapsed()));
        let window = humantime::format_duration(readable(inner.window));
        let failure = runs
            .last_failure
            .as_ref()
            .map(|(at, error)| format!("last failure {} ago: {error}", ago(*at)));
        let since_success = runs.last_success.unwrap_or(inner.made).elapsed();
        let failed_last = match (&runs.last_failure, runs.last_success) {
            (Some((failed, _)), Some(succeeded)) => *failed > succeeded,
            (Some(_), None) => true,
            _ => false,
        };
        let mut result = if since_success > inner.window {
            let quiet = ago(runs.last_success.unwrap_or(inner.made));
            let mut message = match runs.last_success {
                Some(_) => format!("no success for {quiet}, expected within {window}"),
                None => {
                    format!("no success yet, {quiet} after it was set up, expected within {window}")
                }
            };
            if let Some(failure) = &failure {
                message.push_str("; ");
                message.push_str(failure);
            }
            CheckResult::unhealthy(message)
        } else if failed_last {
            let mut message = failure.clone().unwrap_or_default();
            if let Some(at) = runs.last_success {
                message.push_str(&format!("; last success {} ago", ago(at)));
            }
            CheckResult::degraded(message)
        } else {
            CheckResult::healthy()
        };
        if let Some(at) = runs.last_success {
            result = result
                .with_metadata("last_success_ms", millis(at.elapsed()))
                .with_figure("last_success_age_seconds", at.elapsed().as_secs_f64());
        }
        if let Some((at, error)) = &runs.last_failure {
            result = result
                .with_metadata("last_failure_ms", millis(at.elapsed()))
                .with_metadata("last_error", error.clone());
        }
        result
            .with_metadata("successes", runs.successes)
            .with_metadata("failures", runs.failures)
            .with_metadata("window_ms", millis(inner.window))
    }
}

impl HealthCheck for JobCheck {
    fn check(&self) -> CheckFuture<'_> {
        let result = self.judge();
        Box::pin(async move { Ok(result) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health_report::HealthStatus;

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn a_job_that_stops_succeeding_fails_once_its_window_passes() {
        let job = JobCheck::within(24 * HOUR).unwrap();
        assert_eq!(
            job.judge().status(),
            HealthStatus::Healthy,
            "within the first window"
        );
        job.succeeded();
        tokio::time::advance(20 * HOUR).await;
        job.failed("upload refused: password=hunter2");
        let failing = job.judge();
        assert_eq!(
            failing.status(),
            HealthStatus::Degraded,
            "the success is still recent"
        );
        assert_eq!(
            failing.message(),
            Some("last failure 0s ago: upload refused: password=***; last success 20h ago")
        );
        tokio::time::advance(6 * HOUR).await;
        let overdue = job.judge();
        assert_eq!(overdue.status(), HealthStatus::Unhealthy);
        assert_eq!(
            overdue.message(),
            Some(
                "no success for 1day 2h, expected within 1day; \
                 last failure 6h ago: upload refused: password=***"
            )
        );
        assert_eq!(overdue.metadata()["failures"], 1);
        assert_eq!(
            overdue.metadata()["last_error"],
            "upload refused: password=***"
        );
        job.succeeded();
        assert_eq!(
            job.judge().status(),
            HealthStatus::Healthy,
            "the next success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_that_never_succeeded_fails_after_one_window() {
        let job = JobCheck::within(HOUR).unwrap();
        tokio::time::advance(HOUR + Duration::from_secs(1)).await;
        assert_eq!(
            job.judge().message(),
            Some("no success yet, 1h 1s after it was set up, expected within 1h")
        );
        assert!(JobCheck::within(Duration::ZERO).is_err());
    }
}
