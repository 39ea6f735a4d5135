//! Where the service is in its life — serving, draining, shutting down — and whether the
//! application has declared it broken (liveness fails).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;

use crate::redact::redact;

/// The phase of the service's life, as a drain moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Taking traffic.
    Serving,
    /// A shutdown signal came: readiness answers 503 while load balancers catch up; requests
    /// are still served.
    Draining,
    /// Graceful shutdown has begun: no new connections, in-flight requests finish.
    ShuttingDown,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 3] = [Self::Serving, Self::Draining, Self::ShuttingDown];

    /// The snake-case name used in JSON and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Serving => "serving",
            Self::Draining => "draining",
            Self::ShuttingDown => "shutting_down",
        }
    }
}

/// The service's phase and its timings, from [`HealthChecker::lifecycle`].
///
/// [`HealthChecker::lifecycle`]: super::HealthChecker::lifecycle
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Lifecycle {
    /// The phase.
    pub phase: Phase,
    /// When the drain began (the signal came), if it did.
    #[serde(
        serialize_with = "crate::health_report::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub draining_since: Option<SystemTime>,
    /// The drain's propagation delay, in milliseconds, if a drain began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The drain's budget for in-flight requests, in milliseconds, if a drain began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct LifecycleState {
    phase: AtomicU8,
    drain: Mutex<Option<(SystemTime, Duration, Duration)>>,
    broken: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl LifecycleState {
    pub(crate) fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.phase.load(Ordering::Acquire)).min(2)]
    }

    pub(crate) fn snapshot(&self) -> Lifecycle {
        let drain = *self.drain.lock();
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Lifecycle {
            phase: self.phase(),
            draining_since: drain.map(|(since, _, _)| since),
            delay_ms: drain.map(|(_, delay, _)| millis(delay)),
            budget_ms: drain.map(|(_, _, budget)| millis(budget)),
        }
    }

    /// Moves to `phase`; the first move to draining records when and with which timings.
    pub(crate) fn enter(&self, phase: Phase, delay: Duration, budget: Duration) {
        if phase == Phase::Draining {
            self.drain
                .lock()
                .get_or_insert((crate::clock::now(), delay, budget));
        }
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
    }

    pub(crate) fn break_with(&self, reason: &str) -> bool {
        *self.reason.lock() = Some(redact(reason));
        !self.broken.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn mend(&self) -> bool {
        let was = self.broken.swap(false, Ordering::AcqRel);
        *self.reason.lock() = None;
        was
    }

    /// The reason, while broken (redacted).
    pub(crate) fn broken(&self) -> Option<String> {
        if !self.broken.load(Ordering::Acquire) {
            return None;
        }
        self.reason.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward_and_the_drain_start_is_kept() {
        let state = LifecycleState::default();
        assert_eq!(state.snapshot().phase, Phase::Serving);
        assert_eq!(state.snapshot().draining_since, None);
        state.enter(
            Phase::Draining,
            Duration::from_secs(5),
            Duration::from_secs(20),
        );
        let draining = state.snapshot();
        assert_eq!(draining.phase, Phase::Draining);
        assert_eq!(
            (draining.delay_ms, draining.budget_ms),
            (Some(5000), Some(20_000))
        );
        state.enter(Phase::ShuttingDown, Duration::ZERO, Duration::ZERO);
        state.enter(Phase::Draining, Duration::ZERO, Duration::ZERO);
        let later = state.snapshot();
        assert_eq!(later.phase, Phase::ShuttingDown);
        assert_eq!(later.draining_since, draining.draining_since);
        assert_eq!(later.delay_ms, Some(5000));
    }

    #[test]
    fn a_broken_reason_is_redacted_and_cleared() {
        let state = LifecycleState::default();
        assert!(state.break_with("pool lost: password=hunter2"));
        assert!(!state.break_with("again"));
        assert!(state.broken().is_some_and(|r| !r.contains("hunter2")));
        assert!(state.mend());
        assert_eq!(state.broken(), None);
    }
}
