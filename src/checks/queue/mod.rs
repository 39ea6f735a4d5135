//! [`QueueCheck`]: a queue's backlog — how many items wait and how long the oldest has.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::health_report::{CheckResult, HealthStatus};
use crate::round::millis;

use super::Limit;
use super::budget::budget;

#[cfg(feature = "redis")]
mod redis;

/// What a queue holds now, as a [`QueueCheck`] reads it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct QueueFigures {
    /// Items waiting (for a stream's consumer group: delivered but unacknowledged, plus not yet
    /// delivered).
    pub depth: u64,
    /// How long the oldest waiting item has waited, when the queue can tell.
    pub oldest: Option<Duration>,
    /// More figures of the queue's own (`pending`, `lag`, `consumers`), shown beside them.
    pub figures: Vec<(&'static str, f64)>,
}

impl QueueFigures {
    /// `depth` items waiting.
    pub fn depth(depth: u64) -> Self {
        Self {
            depth,
            ..Self::default()
        }
    }

    /// The oldest has waited `age`.
    #[must_use]
    pub fn oldest(mut self, age: Duration) -> Self {
        self.oldest = Some(age);
        self
    }

    /// Another figure (a name of `[a-z_][a-z0-9_]*`), shown in the metadata and on `/metrics`.
    #[must_use]
    pub fn figure(mut self, name: &'static str, value: f64) -> Self {
        self.figures.push((name, value));
        self
    }
}

type Read = dyn Fn() -> Pin<Box<dyn Future<Output = Result<QueueFigures, CheckError>> + Send>>
    + Send
    + Sync;

/// A queue's backlog judged against [`Limit`]s: its depth, and the age of its oldest item in
/// seconds — degraded from the first threshold, unhealthy from the second (`depth 1500 is at
/// or above 1000; oldest 95 s is at or above 60 s`). Without limits it is healthy and only
/// shows the figures. Metadata: `depth`, `oldest_ms` and the queue's own figures; on
/// `/metrics`, `depth`, `oldest_age_seconds` and those figures as
/// `vitals_health_component_figure`.
///
/// Ready-made for Redis (feature `redis`): `redis_list` (`LLEN`) and
/// `redis_stream` (a consumer group's pending entries and lag, and
/// their age by Redis' own clock). Any other queue through [`new`](Self::new) and a closure
/// that reads it.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::checks::{Limit, QueueCheck, QueueFigures};
/// use tower_vitals::{Check, HealthChecker};
///
/// let jobs = QueueCheck::new(|| async {
///     // e.g. SELECT count(*), now() - min(created_at) FROM jobs WHERE state = 'ready'
///     Ok::<_, std::io::Error>(QueueFigures::depth(42).oldest(Duration::from_secs(3)))
/// })
/// .depth(Limit::above(1_000.0, 10_000.0)?)
/// .oldest_seconds(Limit::above(60.0, 300.0)?);
/// let checker = HealthChecker::builder()
///     .register(Check::new("jobs-queue", jobs).critical(false))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct QueueCheck {
    read: Arc<Read>,
    depth: Option<Limit>,
    oldest: Option<Limit>,
}

impl std::fmt::Debug for QueueCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueCheck")
            .field("depth", &self.depth)
            .field("oldest", &self.oldest)
            .finish_non_exhaustive()
    }
}

impl QueueCheck {
    /// A check of the queue `read` reads; an `Err` is the check's failure, with its text.
    pub fn new<F, Fut, E>(read: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<QueueFigures, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        Self::reading(move || {
            let future = read();
            Box::pin(async move { future.await.map_err(|e| CheckError::new(e.to_string())) })
        })
    }

    fn reading(
        read: impl Fn() -> Pin<Box<dyn Future<Output = Result<QueueFigures, CheckError>> + Send>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            read: Arc::new(read),
            depth: None,
            oldest: None,
        }
    }

    /// Limits on the number of items waiting.
    #[must_use]
    pub fn depth(mut self, limit: Limit) -> Self {
        self.depth = Some(limit);
        self
    }

    /// Limits on the age of the oldest waiting item, in seconds.
    #[must_use]
    pub fn oldest_seconds(mut self, limit: Limit) -> Self {
        self.oldest = Some(limit);
        self
    }

    fn judge(&self, queue: QueueFigures) -> CheckResult {
        let depth = queue.depth as f64;
        let oldest = queue.oldest.map(|age| age.as_secs_f64());
        let mut judged = Vec::new();
        if let Some(limit) = &self.depth {
            judged.push((limit.status(depth), limit.describe("depth", depth, "")));
        }
        if let (Some(limit), Some(age)) = (&self.oldest, oldest) {
            judged.push((limit.status(age), limit.describe("oldest", age, "s")));
        }
        let worst = HealthStatus::worst(judged.iter().map(|(status, _)| *status));
        let mut result = CheckResult::healthy().with_figure("depth", depth);
        if let (Some(age), Some(seconds)) = (queue.oldest, oldest) {
            result = result
                .with_metadata("oldest_ms", millis(age))
                .with_figure("oldest_age_seconds", seconds);
        }
        for (name, value) in queue.figures {
            result = result.with_figure(name, value);
        }
        if worst == HealthStatus::Healthy {
            return result;
        }
        let message: Vec<&str> = judged
            .iter()
            .filter(|(status, _)| *status != HealthStatus::Healthy)
            .map(|(_, text)| text.as_str())
            .collect();
        result.with_status(worst).with_message(message.join("; "))
    }
}

impl HealthCheck for QueueCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let limit = budget(None);
            let queue = tokio::time::timeout(limit, (self.read)())
                .await
                .map_err(|_| {
                    CheckError::new(format!(
                        "the queue was not read within {} ms",
                        limit.as_millis()
                    ))
                })??;
            Ok(self.judge(queue))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn depth_and_age_are_judged_against_their_limits() {
        let check = QueueCheck::new(|| async { Ok::<_, String>(QueueFigures::depth(1)) })
            .depth(Limit::above(1_000.0, 10_000.0).unwrap())
            .oldest_seconds(Limit::above(60.0, 300.0).unwrap());
        let calm = check.judge(QueueFigures::depth(12).oldest(Duration::from_secs(2)));
        assert_eq!(calm.status(), HealthStatus::Healthy);
        assert_eq!(calm.metadata()["depth"], 12.0);
        assert_eq!(calm.metadata()["oldest_ms"], 2_000.0);
        let backlog = check.judge(
            QueueFigures::depth(1_500)
                .oldest(Duration::from_secs(95))
                .figure("consumers", 0.0),
        );
        assert_eq!(backlog.status(), HealthStatus::Degraded);
        assert_eq!(
            backlog.message(),
            Some("depth 1500 is at or above 1000; oldest 95 s is at or above 60 s")
        );
        assert!(backlog.figures().contains(&("consumers".to_owned(), 0.0)));
        let stuck = check.judge(QueueFigures::depth(3).oldest(Duration::from_secs(400)));
        assert_eq!(stuck.status(), HealthStatus::Unhealthy);
        assert_eq!(stuck.message(), Some("oldest 400 s is at or above 300 s"));
        assert_eq!(check.check().await.unwrap().status(), HealthStatus::Healthy);
        let unread = QueueCheck::new(|| async { Err::<QueueFigures, _>("broker refused") });
        assert_eq!(
            unread.check().await.unwrap_err().message(),
            "broker refused"
        );
    }
}
