//! [`HeartbeatCheck`]: a dead-man's switch for work outside the request path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::checker::{CheckFuture, HealthCheck};
use crate::error::ConfigError;
use crate::health_report::CheckResult;
use crate::round::{millis, readable};
use crate::validate;

/// The allowed periods and graces.
const PERIOD: validate::Range<Duration> = (
    Duration::from_millis(1)..=Duration::from_secs(7 * 24 * 3600),
    "1 ms to 7 days",
);

/// At most this many progress figures are kept with a beat.
pub const MAX_HEARTBEAT_FIGURES: usize = 16;

/// A dead-man's switch for a loop that must keep going — a queue consumer, a poller, a
/// scheduler: the loop calls [`beat`](Self::beat) each time round, and the check is unhealthy
/// once no beat came within the period and its grace (`no heartbeat for 95 s, expected every
/// 30 s`), healthy again at the next beat. Until the first beat the same window counts from
/// when the heartbeat was made, so a loop that never starts is seen too. Metadata:
/// `last_beat_ms` (how long ago), `beats`, and the figures of the last
/// [`beat_with`](Self::beat_with); on `/metrics`, `last_beat_age_seconds` and those figures
/// (see [`CheckResult::with_figure`](crate::CheckResult::with_figure)).
///
/// A cheap `Clone` handle: give one to the loop and register another.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::checks::HeartbeatCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let consumer = HeartbeatCheck::every(Duration::from_secs(30))?;
/// let checker = HealthChecker::builder()
///     .register(Check::new("orders-consumer", consumer.clone()))
///     .build()?;
/// // In the consumer's loop, once per message or per poll:
/// consumer.beat_with([("processed", 1.0)]);
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HeartbeatCheck {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    period: Duration,
    /// In nanoseconds; set by [`HeartbeatCheck::grace`], seen by every clone.
    grace: AtomicU64,
    made: Instant,
    last: Mutex<Last>,
}

#[derive(Debug, Default)]
struct Last {
    at: Option<Instant>,
    beats: u64,
    figures: Vec<(String, f64)>,
}

impl HeartbeatCheck {
    /// A heartbeat expected every `period` (1 ms to 7 days), with a grace of half the period.
    pub fn every(period: Duration) -> Result<Self, ConfigError> {
        let period = validate::duration("heartbeat period", period, PERIOD)?;
        Ok(Self {
            inner: Arc::new(Inner {
                period,
                grace: AtomicU64::new(nanos(period / 2)),
                made: Instant::now(),
                last: Mutex::default(),
            }),
        })
    }

    /// How late a beat may be before the check fails (default: half the period; up to 7
    /// days), for this heartbeat and every clone of it.
    pub fn grace(self, grace: Duration) -> Result<Self, ConfigError> {
        if !grace.is_zero() {
            validate::duration("heartbeat grace", grace, PERIOD)?;
        }
        self.inner.grace.store(nanos(grace), Ordering::Relaxed);
        Ok(self)
    }

    /// The loop is alive: now is its last beat.
    pub fn beat(&self) {
        let mut last = self.inner.last.lock();
        last.at = Some(Instant::now());
        last.beats += 1;
    }

    /// A beat with figures of the loop's progress (`processed`, `lag_seconds`…), shown as the
    /// check's metadata until the next; at most [`MAX_HEARTBEAT_FIGURES`], names of at most 64 characters,
    /// the rest left out.
    pub fn beat_with<'a>(&self, figures: impl IntoIterator<Item = (&'a str, f64)>) {
        let figures: Vec<(String, f64)> = figures
            .into_iter()
            .filter(|(name, _)| !name.is_empty() && name.len() <= 64)
            .take(MAX_HEARTBEAT_FIGURES)
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let mut last = self.inner.last.lock();
        last.at = Some(Instant::now());
        last.beats += 1;
        last.figures = figures;
    }

    /// How long ago the last beat came, if one did.
    pub fn since_last(&self) -> Option<Duration> {
        self.inner.last.lock().at.map(|at| at.elapsed())
    }

    fn judge(&self) -> CheckResult {
        let inner = &self.inner;
        let last = inner.last.lock();
        let due = inner.period + Duration::from_nanos(inner.grace.load(Ordering::Relaxed));
        let quiet = last.at.unwrap_or(inner.made).elapsed();
        let every = humantime::format_duration(readable(inner.period));
        let mut result = if quiet <= due {
            CheckResult::healthy()
        } else if last.at.is_some() {
            let quiet = humantime::format_duration(readable(quiet));
            CheckResult::unhealthy(format!("no heartbeat for {quiet}, expected every {every}"))
        } else {
            let quiet = humantime::format_duration(readable(quiet));
            CheckResult::unhealthy(format!(
                "no heartbeat yet, {quiet} after it was set up, expected every {every}"
            ))
        };
        if let Some(at) = last.at {
            result = result
                .with_metadata("last_beat_ms", millis(at.elapsed()))
                .with_figure("last_beat_age_seconds", at.elapsed().as_secs_f64());
        }
        result = result
            .with_metadata("beats", last.beats)
            .with_metadata("period_ms", millis(inner.period));
        for (name, value) in &last.figures {
            result = result.with_figure(name.clone(), *value);
        }
        result
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl HealthCheck for HeartbeatCheck {
    fn check(&self) -> CheckFuture<'_> {
        let result = self.judge();
        Box::pin(async move { Ok(result) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health_report::HealthStatus;

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_stops_beating_fails_after_the_period_and_grace_and_recovers() {
        let heartbeat = HeartbeatCheck::every(Duration::from_secs(30)).unwrap();
        assert_eq!(
            heartbeat.judge().status(),
            HealthStatus::Healthy,
            "within the window"
        );
        tokio::time::advance(Duration::from_secs(46)).await;
        let never = heartbeat.judge();
        assert_eq!(never.status(), HealthStatus::Unhealthy);
        assert_eq!(
            never.message(),
            Some("no heartbeat yet, 46s after it was set up, expected every 30s")
        );

        heartbeat.beat_with([("processed", 12.0), ("", 1.0)]);
        let alive = heartbeat.judge();
        assert_eq!(alive.status(), HealthStatus::Healthy);
        assert_eq!(alive.metadata()["processed"], 12.0);
        assert!(
            !alive.metadata().contains_key(""),
            "a nameless figure is left out"
        );
        assert_eq!(alive.metadata()["beats"], 1);

        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(
            heartbeat.judge().status(),
            HealthStatus::Healthy,
            "at period + grace"
        );
        tokio::time::advance(Duration::from_secs(50)).await;
        let stopped = heartbeat.judge();
        assert_eq!(stopped.status(), HealthStatus::Unhealthy);
        assert_eq!(
            stopped.message(),
            Some("no heartbeat for 1m 35s, expected every 30s")
        );
        assert_eq!(stopped.metadata()["last_beat_ms"], 95_000.0);
        assert!(
            stopped
                .figures()
                .contains(&("last_beat_age_seconds".to_owned(), 95.0)),
            "{:?}",
            stopped.figures()
        );
        assert!(
            stopped.figures().contains(&("processed".to_owned(), 12.0)),
            "the loop's own figures"
        );

        heartbeat.beat();
        assert_eq!(
            heartbeat.judge().status(),
            HealthStatus::Healthy,
            "the next beat"
        );
        assert_eq!(heartbeat.judge().metadata()["beats"], 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_grace_is_settable_and_periods_are_bounded() {
        let strict = HeartbeatCheck::every(Duration::from_secs(10))
            .unwrap()
            .grace(Duration::ZERO)
            .unwrap();
        strict.beat();
        tokio::time::advance(Duration::from_millis(10_001)).await;
        assert_eq!(strict.judge().status(), HealthStatus::Unhealthy);
        assert!(HeartbeatCheck::every(Duration::ZERO).is_err());
        assert!(HeartbeatCheck::every(Duration::from_secs(8 * 24 * 3600)).is_err());
        let figures = (0..40).map(|i| (["a", "b", "c", "d"][i % 4], i as f64));
        strict.beat_with(figures);
        assert!(strict.judge().metadata().len() <= MAX_HEARTBEAT_FIGURES + 3);
    }
}
