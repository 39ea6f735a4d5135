//! Checks run once per fleet: on a replica that does not hold the check's lease, a run takes
//! the result the holder published instead of running the check.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use tokio::time::Instant;

use super::run::Outcome;
use crate::health_report::{CheckResult, HealthStatus};

/// Decides, for a [once-per-fleet](super::Check::once_per_fleet) check, whether this replica
/// runs it (`None`) or shows another's result (the fleet implements it).
pub(crate) trait Gate: Send + Sync {
    fn borrow(&self, check: &str) -> Option<Borrowed>;
}

/// Another replica's published result of a once-per-fleet check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Borrowed {
    /// Its status (`None` before the holder's first result).
    pub(crate) status: Option<HealthStatus>,
    /// How old that result is.
    pub(crate) age: Duration,
    /// The id of the replica that ran it.
    pub(crate) by: String,
}

/// The checker's gate, installed once a fleet exists (weakly: the fleet holds the checker).
#[derive(Default)]
pub(crate) struct GateCell(RwLock<Option<Weak<dyn Gate>>>);

impl GateCell {
    pub(crate) fn set(&self, gate: Weak<dyn Gate>) {
        *self.0.write() = Some(gate);
    }

    /// The outcome of a run that borrows `check`'s result, if this replica does not run it.
    pub(crate) fn borrowed(&self, check: &str) -> Option<Outcome> {
        let gate: Arc<dyn Gate> = self.0.read().as_ref()?.upgrade()?;
        let borrowed = gate.borrow(check)?;
        let age_ms = crate::round::millis(borrowed.age);
        let result = match borrowed.status {
            Some(status) => CheckResult::new(status).with_message(format!(
                "run once per fleet by {}, {} s ago",
                borrowed.by,
                crate::round::round3(borrowed.age.as_secs_f64())
            )),
            None => CheckResult::new(HealthStatus::Unknown).with_message(format!(
                "run once per fleet by {}: no result from it yet",
                borrowed.by
            )),
        };
        let result = result
            .with_metadata("run_by", borrowed.by)
            .with_metadata("result_age_ms", age_ms);
        Some(Outcome {
            result: Ok(result),
            attempts: 0,
            duration: Duration::ZERO,
            finished: Instant::now(),
            polled: Duration::ZERO,
            borrowed: true,
        })
    }
}
