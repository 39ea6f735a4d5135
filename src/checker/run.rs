//! Running one check: attempts with a timeout each, retries with backoff, panics caught, and
//! the time the check's own code held its thread measured: an attempt that finishes past its
//! timeout (which a check that blocks its thread does, as the timer cannot fire while it
//! blocks) is a failure that says so.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::check::CheckSpec;
use crate::health_report::CheckResult;
use crate::redact::redact;

/// What a run of a check ended with.
pub(crate) struct Outcome {
    pub(crate) result: Result<CheckResult, Failure>,
    pub(crate) attempts: u32,
    pub(crate) duration: Duration,
    pub(crate) finished: Instant,
    /// Time spent inside the check's own `poll` (creating its future included), every attempt.
    pub(crate) polled: Duration,
    /// Another replica's published result, not a run here (see `borrow.rs`).
    pub(crate) borrowed: bool,
}

/// Why an attempt produced no status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Error(String),
    Panic(String),
    Timeout(Duration),
    /// The attempt finished, but after its timeout: it held its thread (`longest` in one
    /// poll) so the timer could not stop it.
    Overran {
        took: Duration,
        limit: Duration,
        longest: Duration,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(message) => f.write_str(message),
            Self::Panic(message) => write!(f, "check panicked: {message}"),
            Self::Timeout(limit) => write!(f, "timed out after {} ms", limit.as_millis()),
            Self::Overran {
                took,
                limit,
                longest,
            } => write!(
                f,
                "took {} ms, over its {} ms timeout, {} ms of it in one poll: it blocks its thread? (blocking work belongs in spawn_blocking)",
                took.as_millis(),
                limit.as_millis(),
                longest.as_millis()
            ),
        }
    }
}

/// Runs `spec`'s check until an attempt answers or the retries are used up.
pub(crate) async fn execute(spec: &CheckSpec) -> Outcome {
    let started = Instant::now();
    let mut attempts = 0;
    let polls = Polls::default();
    let result = loop {
        if attempts > 0 {
            tokio::time::sleep(spec.backoff(attempts)).await;
        }
        attempts += 1;
        let result = attempt(spec, &polls).await;
        if result.is_ok() || attempts > spec.retries {
            break result;
        }
        tracing::debug!(check = %spec.name, attempt = attempts, error = %result.as_ref().err().unwrap(), "health check attempt failed; retrying");
    };
    let finished = Instant::now();
    Outcome {
        result,
        attempts,
        duration: finished - started,
        finished,
        polled: polls.total(),
        borrowed: false,
    }
}

/// Time spent inside a check's code: in all, and the longest stretch (real time, so a paused
/// test clock does not hide it).
#[derive(Default)]
struct Polls {
    total_ns: AtomicU64,
    longest_ns: AtomicU64,
}

impl Polls {
    fn add(&self, took: std::time::Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.longest_ns.fetch_max(ns, Ordering::Relaxed);
    }

    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = f();
        self.add(started.elapsed());
        out
    }

    fn total(&self) -> Duration {
        Duration::from_nanos(self.total_ns.load(Ordering::Relaxed))
    }

    fn longest(&self) -> Duration {
        Duration::from_nanos(self.longest_ns.load(Ordering::Relaxed))
    }
}

/// A (boxed, so `Unpin`) check future whose polls are timed into `polls`.
struct Timed<'a, F> {
    future: F,
    polls: &'a Polls,
}

impl<F: Future + Unpin> Future for Timed<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.polls.timed(|| Pin::new(&mut this.future).poll(cx))
    }
}

async fn attempt(spec: &CheckSpec, polls: &Polls) -> Result<CheckResult, Failure> {
    let started = Instant::now();
    let before = polls.total();
    // Building the future may panic too, not only polling it.
    let future = polls
        .timed(|| std::panic::catch_unwind(AssertUnwindSafe(|| spec.check.check())))
        .map_err(|panic| Failure::Panic(redact(&panic_message(&*panic))))?;
    let deadline = started + spec.timeout;
    let future = Timed { future, polls };
    let future = super::time_left::until(deadline, AssertUnwindSafe(future).catch_unwind());
    let result = tokio::time::timeout_at(deadline, future).await;
    // A check that blocks finishes before the timer can fire: past the deadline all the same.
    let took = started.elapsed().max(polls.total() - before);
    let overran = || Failure::Overran {
        took,
        limit: spec.timeout,
        longest: polls.longest(),
    };
    match result {
        Ok(Ok(_)) if took > spec.timeout => Err(overran()),
        Ok(Ok(Ok(result))) => Ok(result),
        Ok(Ok(Err(error))) => Err(Failure::Error(redact(&error.to_string()))),
        Ok(Err(panic)) => Err(Failure::Panic(redact(&panic_message(&*panic)))),
        Err(_) => Err(Failure::Timeout(spec.timeout)),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::checker::Check;
    use crate::checker::defaults::Defaults;
    use crate::health_report::HealthStatus;

    fn spec(check: Check) -> CheckSpec {
        check.resolve(&Defaults::default()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_attempt_is_retried_after_backoff() {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let spec = spec(
            Check::new("flaky", move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move { if n == 0 { Err("refused") } else { Ok(()) } }
            })
            .retries(2),
        );
        let outcome = execute(&spec).await;
        assert_eq!(outcome.result.unwrap().status(), HealthStatus::Healthy);
        assert_eq!(outcome.attempts, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(outcome.duration >= Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_limit_and_keep_the_last_failure() {
        let spec = spec(Check::new("down", || async { Err::<(), _>("refused") }).retries(3));
        let outcome = execute(&spec).await;
        assert_eq!(outcome.result, Err(Failure::Error("refused".into())));
        assert_eq!(outcome.attempts, 4);
        // 50 + 100 + 200 ms of backoff
        assert_eq!(outcome.duration, Duration::from_millis(350));
    }

    #[tokio::test(start_paused = true)]
    async fn hanging_attempts_time_out() {
        let spec = spec(
            Check::new("hang", std::future::pending::<()>)
                .timeout(Duration::from_millis(300))
                .retries(0),
        );
        let outcome = execute(&spec).await;
        assert_eq!(
            outcome.result.unwrap_err().to_string(),
            "timed out after 300 ms"
        );
    }

    #[tokio::test]
    async fn panics_while_building_or_polling_are_caught() {
        let building = spec(
            Check::new("build", || -> std::future::Ready<()> { panic!("no pool") }).retries(0),
        );
        assert_eq!(
            execute(&building).await.result.unwrap_err(),
            Failure::Panic("no pool".into())
        );
        let polling = spec(
            Check::new("poll", || async {
                let shards: Vec<u8> = Vec::new();
                shards[3] == 0
            })
            .retries(0),
        );
        let failure = execute(&polling).await.result.unwrap_err();
        assert!(
            failure
                .to_string()
                .starts_with("check panicked: index out of bounds")
        );
    }
}
