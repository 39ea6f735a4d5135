//! [`TaskCheck`]: a supervised Tokio task.

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::task::{AbortHandle, JoinError, JoinHandle};
use tokio::time::Instant;

use crate::checker::{CheckFuture, HealthCheck};
use crate::clock::{Rfc3339, wall_of};
use crate::health_report::CheckResult;
use crate::redact::redact;
use crate::round::millis;

/// What a supervised task's output says about how it ended: `()` ended normally (which, for a
/// task that should run as long as the app, is still an end), `Err(e)` failed with `e`.
pub trait TaskOutcome: Send + 'static {
    /// The failure's text, or `None` when the task ended normally.
    fn failure(&self) -> Option<String>;
}

impl TaskOutcome for () {
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T: Send + 'static, E: std::fmt::Display + Send + 'static> TaskOutcome for Result<T, E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(ToString::to_string)
    }
}

/// A task that must keep running as long as the app — a queue consumer, a cache refresher, a
/// listener — supervised: healthy while it runs; once it ends, errs, panics or is cancelled,
/// unhealthy with how and when (`panicked 3s ago: index out of bounds`, the text redacted).
/// Watch its restarted successor with the same check and it is healthy again; `starts` counts
/// them. Metadata: `running`, `starts`, and once it ended `ended_at` and `ended_ms` (how long
/// ago).
///
/// A cheap `Clone` handle; watching needs a Tokio runtime (a small task awaits the watched
/// one).
///
/// ```
/// use tower_vitals::checks::TaskCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_vitals::ConfigError> {
/// let consumer = TaskCheck::new();
/// let checker = HealthChecker::builder()
///     .register(Check::new("orders-consumer", consumer.clone()))
///     .build()?;
/// consumer.spawn(async {
///     // loop { take a message, handle it }
///     Ok::<(), std::io::Error>(())
/// });
/// # drop(checker);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct TaskCheck {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Watched tasks started, and of those, still running.
    starts: u64,
    running: u64,
    /// How the last one ended, and when.
    ended: Option<(Instant, &'static str, Option<String>)>,
}

impl TaskCheck {
    /// A check that watches nothing yet (unhealthy until a task is watched).
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task` on the current runtime and watches it; the handle aborts it.
    pub fn spawn<F>(&self, task: F) -> AbortHandle
    where
        F: Future + Send + 'static,
        F::Output: TaskOutcome,
    {
        let handle = tokio::spawn(task);
        let abort = handle.abort_handle();
        self.watch(handle);
        abort
    }

    /// Watches a task the app spawned itself.
    pub fn watch<T: TaskOutcome>(&self, task: JoinHandle<T>) {
        {
            let mut state = self.state.lock();
            state.starts += 1;
            state.running += 1;
        }
        let state = self.state.clone();
        tokio::spawn(async move {
            let (how, why) = describe(task.await);
            let mut state = state.lock();
            state.running = state.running.saturating_sub(1);
            state.ended = Some((Instant::now(), how, why));
        });
    }

    fn judge(&self) -> CheckResult {
        let state = self.state.lock();
        let mut result = match (&state.ended, state.running) {
            (_, running) if running > 0 => CheckResult::healthy(),
            (None, _) => CheckResult::unhealthy("no task is watched yet"),
            (Some((at, how, why)), _) => {
                let ago = humantime::format_duration(std::time::Duration::from_secs(
                    at.elapsed().as_secs(),
                ));
                let why = why
                    .as_ref()
                    .map(|why| format!(": {why}"))
                    .unwrap_or_default();
                let restarts = match state.starts {
                    0 | 1 => String::new(),
                    n => format!(" (started {n} times)"),
                };
                CheckResult::unhealthy(format!("{how} {ago} ago{why}{restarts}"))
            }
        };
        if let Some((at, _, _)) = &state.ended {
            result = result
                .with_metadata("ended_at", Rfc3339::millis(wall_of(*at)).to_string())
                .with_metadata("ended_ms", millis(at.elapsed()));
        }
        result
            .with_metadata("running", state.running > 0)
            .with_metadata("starts", state.starts)
    }
}

/// How a task ended: what happened ("ended", "failed", "panicked", "was cancelled") and the
/// error or panic text, redacted.
fn describe<T: TaskOutcome>(joined: Result<T, JoinError>) -> (&'static str, Option<String>) {
    match joined {
        Ok(output) => match output.failure() {
            None => ("ended", None),
            Some(error) => ("failed", Some(redact(&error))),
        },
        Err(error) if error.is_panic() => {
            let payload = error.into_panic();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            ("panicked", Some(redact(&text)))
        }
        Err(_) => ("was cancelled", None),
    }
}

impl HealthCheck for TaskCheck {
    fn check(&self) -> CheckFuture<'_> {
        let result = self.judge();
        Box::pin(async move { Ok(result) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health_report::HealthStatus;

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_task_that_panics_errs_or_ends_is_unhealthy_with_how() {
        let check = TaskCheck::new();
        assert_eq!(check.judge().message(), Some("no task is watched yet"));

        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        check.spawn(async move {
            let _ = wait.await;
            if true {
                panic!("queue closed: token=sk_live_abcdefghijklmnop1234");
            }
        });
        settle().await;
        assert_eq!(check.judge().status(), HealthStatus::Healthy, "running");
        go.send(()).unwrap();
        settle().await;
        let panicked = check.judge();
        assert_eq!(panicked.status(), HealthStatus::Unhealthy);
        let message = panicked.message().unwrap();
        assert!(
            message.starts_with("panicked 0s ago: queue closed: token=***"),
            "{message}"
        );
        assert!(!message.contains("sk_live"), "{message}");
        assert!(
            panicked.metadata()["ended_at"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );

        // Restarted by the app: healthy again, then it fails with an error.
        check.spawn(async { Err::<(), _>("broker refused the connection") });
        settle().await;
        let failed = check.judge();
        assert_eq!(
            failed.message(),
            Some("failed 0s ago: broker refused the connection (started 2 times)")
        );
        assert_eq!(failed.metadata()["starts"], 2);

        let abort = check.spawn(std::future::pending::<()>());
        settle().await;
        assert_eq!(check.judge().status(), HealthStatus::Healthy);
        abort.abort();
        settle().await;
        assert!(
            check
                .judge()
                .message()
                .unwrap()
                .starts_with("was cancelled 0s ago")
        );

        check.spawn(async {});
        settle().await;
        assert!(check.judge().message().unwrap().starts_with("ended 0s ago"));
    }
}
