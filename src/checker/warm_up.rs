//! Warm-up gates: work that must finish before the service takes traffic — a cache preload, a
//! model load, a first sync. While a gate is open, readiness and the startup probe answer 503
//! naming it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::ConfigError;
use crate::health_report::WarmUpStatus;
use crate::round::{millis, readable};
use crate::validate;

/// The budgets a gate accepts.
const BUDGET: validate::Range<Duration> = (
    Duration::from_millis(1)..=Duration::from_secs(24 * 3600),
    "1 ms to 1 day",
);

/// At most this many pending gates are named in a probe's reason; the rest are counted.
pub(crate) const SHOWN: usize = 8;

/// The gates of one checker: those pending, in the order they were opened.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    pending: Mutex<Vec<Arc<Gate>>>,
    /// `pending.len()`, read without the lock on every readiness probe.
    count: AtomicUsize,
}

#[derive(Debug)]
struct Gate {
    /// A number of its own, to find it again among gates of the same name.
    id: u64,
    name: String,
    opened: Instant,
    /// In nanoseconds; 0 for none.
    budget: AtomicU64,
    /// Set once the gate's work was dropped without being done.
    abandoned: AtomicBool,
    /// Set once the over-budget line was logged.
    overdue_logged: AtomicBool,
}

impl Gates {
    pub(crate) fn open(
        self: &Arc<Self>,
        name: &str,
        changes: Arc<tokio::sync::Notify>,
    ) -> Result<WarmUp, ConfigError> {
        super::check::validate_name(name)?;
        static IDS: AtomicU64 = AtomicU64::new(0);
        let gate = Arc::new(Gate {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            name: name.to_owned(),
            opened: Instant::now(),
            budget: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
            overdue_logged: AtomicBool::new(false),
        });
        {
            let mut pending = self.pending.lock();
            pending.push(gate.clone());
            self.count.store(pending.len(), Ordering::Release);
        }
        tracing::info!(gate = %name, "warm-up gate opened: readiness answers 503 until it is done");
        changes.notify_waiters();
        Ok(WarmUp {
            gate,
            gates: self.clone(),
            changes,
            finished: false,
        })
    }

    /// Whether any gate is pending: one atomic load.
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// The pending gates, oldest first; logs once for each past its budget.
    pub(crate) fn statuses(&self) -> Vec<WarmUpStatus> {
        if !self.any() {
            return Vec::new();
        }
        let pending = self.pending.lock();
        pending
            .iter()
            .map(|gate| {
                gate.log_if_overdue();
                gate.status()
            })
            .collect()
    }

    /// Why readiness waits, while a gate is pending: `warming up: cache-preload (12s),
    /// model (3s, abandoned)` — the first [`SHOWN`], then how many more.
    pub(crate) fn reason(&self) -> Option<String> {
        let statuses = self.statuses();
        if statuses.is_empty() {
            return None;
        }
        let mut reason = String::from("warming up: ");
        for (i, status) in statuses.iter().take(SHOWN).enumerate() {
            if i > 0 {
                reason.push_str(", ");
            }
            let pending = Duration::from_secs_f64(status.pending_ms / 1e3);
            reason.push_str(&format!(
                "{} ({}{})",
                status.name,
                humantime::format_duration(readable(pending)),
                if status.abandoned { ", abandoned" } else { "" }
            ));
        }
        if statuses.len() > SHOWN {
            reason.push_str(&format!(" and {} more", statuses.len() - SHOWN));
        }
        Some(reason)
    }

    fn close(&self, id: u64) {
        let mut pending = self.pending.lock();
        pending.retain(|gate| gate.id != id);
        self.count.store(pending.len(), Ordering::Release);
    }
}

impl Gate {
    fn budget(&self) -> Option<Duration> {
        match self.budget.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    fn status(&self) -> WarmUpStatus {
        WarmUpStatus {
            name: self.name.clone(),
            pending_ms: millis(self.opened.elapsed()),
            budget_ms: self.budget().map(millis),
            abandoned: self.abandoned.load(Ordering::Relaxed),
        }
    }

    /// Logs, once, a gate pending past its budget.
    fn log_if_overdue(&self) {
        let Some(budget) = self.budget() else { return };
        let pending = self.opened.elapsed();
        if pending >= budget && !self.overdue_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                gate = %self.name,
                pending = %humantime::format_duration(readable(pending)),
                budget = %humantime::format_duration(readable(budget)),
                "warm-up gate is past its budget and still pending: readiness answers 503"
            );
        }
    }
}

/// A warm-up gate, from [`HealthChecker::warm_up`](super::HealthChecker::warm_up): readiness
/// and the startup probe answer 503 while it is pending, their body naming it and how long it
/// has waited (`warming up: cache-preload (12s)`); `/health` lists it under `warming_up` and
/// `vitals_health_accepting_traffic` is 0. [`done`](Self::done) closes it.
///
/// A gate dropped without `done` — its task failed or panicked — is **abandoned** and stays
/// pending for good (logged once): the work never finished, so the service does not take
/// traffic; a startup probe's failure threshold then has Kubernetes restart the pod.
///
/// Given a [`budget`](Self::budget), a gate still pending past it is logged once, as a
/// warning (it still holds readiness: the budget is for alerts, not a deadline).
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::HealthChecker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_vitals::ConfigError> {
/// let checker = HealthChecker::builder().check("db", || async {}).build()?;
/// let preload = checker.warm_up("cache-preload")?.budget(Duration::from_secs(60))?;
/// assert!(!checker.accepting_traffic());
/// tokio::spawn(async move {
///     // fill the cache…
///     preload.done();
/// })
/// .await
/// .unwrap();
/// assert!(checker.accepting_traffic());
/// # Ok(()) }
/// ```
#[must_use = "a gate dropped without `done` holds readiness at 503 for good"]
#[derive(Debug)]
pub struct WarmUp {
    gate: Arc<Gate>,
    gates: Arc<Gates>,
    changes: Arc<tokio::sync::Notify>,
    finished: bool,
}

impl WarmUp {
    /// A budget for the work (1 ms to 1 day): past it, a still pending gate is logged once as a
    /// warning — by a timer when made on a Tokio runtime, else at the next probe.
    /// An invalid budget is an error and the gate is closed, as if never opened.
    pub fn budget(mut self, budget: Duration) -> Result<Self, ConfigError> {
        let budget = match validate::duration("warm-up budget", budget, BUDGET) {
            Ok(budget) => budget,
            Err(error) => {
                self.finished = true;
                self.gates.close(self.gate.id);
                self.changes.notify_waiters();
                return Err(error);
            }
        };
        let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
        self.gate.budget.store(nanos, Ordering::Relaxed);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let gate = Arc::downgrade(&self.gate);
            let due = self.gate.opened + budget;
            runtime.spawn(async move {
                tokio::time::sleep_until(due).await;
                // Past the budget and still held by a WarmUp or the pending list.
                if let Some(gate) = gate.upgrade() {
                    gate.log_if_overdue();
                }
            });
        }
        Ok(self)
    }

    /// The gate's name.
    pub fn name(&self) -> &str {
        &self.gate.name
    }

    /// The work is done: the gate closes, and readiness follows the checks again.
    pub fn done(mut self) {
        self.finished = true;
        self.gates.close(self.gate.id);
        let took = self.gate.opened.elapsed();
        match self.gate.budget() {
            Some(budget) if took > budget => tracing::warn!(
                gate = %self.gate.name,
                took = %humantime::format_duration(readable(took)),
                budget = %humantime::format_duration(readable(budget)),
                "warm-up gate done, over its budget"
            ),
            _ => tracing::info!(
                gate = %self.gate.name,
                took = %humantime::format_duration(readable(took)),
                "warm-up gate done"
            ),
        }
        self.changes.notify_waiters();
    }
}

impl Drop for WarmUp {
    fn drop(&mut self) {
        if !self.finished && !self.gate.abandoned.swap(true, Ordering::Relaxed) {
            tracing::error!(
                gate = %self.gate.name,
                "warm-up gate dropped before it was done: readiness stays 503"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates() -> (Arc<Gates>, Arc<tokio::sync::Notify>) {
        (Arc::default(), Arc::default())
    }

    #[tokio::test(start_paused = true)]
    async fn gates_hold_until_done_and_name_what_is_pending() {
        let (gates, changes) = gates();
        assert!(!gates.any());
        assert_eq!(gates.reason(), None);
        let cache = gates.open("cache-preload", changes.clone()).unwrap();
        tokio::time::advance(Duration::from_secs(12)).await;
        let model = gates.open("model", changes.clone()).unwrap();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(gates.any());
        assert_eq!(
            gates.reason().as_deref(),
            Some("warming up: cache-preload (15s), model (3s)")
        );
        let statuses = gates.statuses();
        assert_eq!(statuses[0].pending_ms, 15_000.0);
        assert_eq!(statuses[1].name, "model");

        cache.done();
        assert_eq!(gates.reason().as_deref(), Some("warming up: model (3s)"));
        drop(model);
        let abandoned = gates.statuses();
        assert!(abandoned[0].abandoned, "a dropped gate stays pending");
        assert_eq!(
            gates.reason().as_deref(),
            Some("warming up: model (3s, abandoned)")
        );
    }

    #[tokio::test]
    async fn names_are_checked_and_long_lists_are_cut() {
        let (gates, changes) = gates();
        assert!(gates.open("", changes.clone()).is_err());
        assert!(gates.open(&"x".repeat(200), changes.clone()).is_err());
        let open: Vec<WarmUp> = (0..SHOWN + 3)
            .map(|i| gates.open(&format!("shard-{i}"), changes.clone()).unwrap())
            .collect();
        let reason = gates.reason().unwrap();
        assert!(reason.ends_with(" and 3 more"), "{reason}");
        assert!(reason.contains("shard-7") && !reason.contains("shard-8"));
        for gate in open {
            gate.done();
        }
        assert!(!gates.any());
        let same = gates.open("again", changes.clone()).unwrap();
        let twin = gates.open("again", changes).unwrap();
        same.done();
        assert_eq!(gates.statuses().len(), 1, "a twin of the same name stays");
        twin.done();
    }

    /// Log lines written while the subscriber is the default.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_gate_past_its_budget_is_logged_once_by_its_timer() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let (gates, changes) = gates();
        let slow = gates.open("index-build", changes.clone()).unwrap();
        let slow = slow.budget(Duration::from_secs(30)).unwrap();
        let quick = gates.open("quick", changes).unwrap();
        let quick = quick.budget(Duration::from_secs(60)).unwrap();
        let overdue = || {
            let text = String::from_utf8(log.0.lock().clone()).unwrap();
            text.matches("past its budget and still pending").count()
        };
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(overdue(), 0);
        quick.done();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(overdue(), 1, "the timer logged it");
        let _ = gates.reason();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            overdue(),
            1,
            "once, whoever looks; none for the gate done in time"
        );
        slow.done();
        let text = String::from_utf8(log.0.lock().clone()).unwrap();
        assert!(
            text.contains("warm-up gate done, over its budget"),
            "{text}"
        );
        assert!(text.contains("gate=index-build"), "{text}");
    }

    #[tokio::test]
    async fn budgets_are_bounded() {
        let (gates, changes) = gates();
        let gate = gates.open("x", changes).unwrap();
        let error = gate.budget(Duration::ZERO).unwrap_err();
        assert_eq!(
            error.to_string(),
            "warm-up budget of 0 ms is out of range (1 ms to 1 day)"
        );
        assert!(!gates.any(), "a gate whose budget was refused is closed");
    }
}
