//! A probe of the Tokio runtime: how late a timer task wakes up (scheduling lag), plus the
//! runtime's own worker and task counts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;
use tokio::time::Instant;

/// Figures of the runtime the report was made on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// Worker threads.
    pub workers: usize,
    /// Tasks alive.
    pub alive_tasks: usize,
    /// Tasks waiting in the global queue.
    pub global_queue_depth: usize,
    /// How late the probe's last timer fired, in milliseconds.
    pub last_lag_ms: Option<f64>,
    /// The latest wake-up since the previous reading, in milliseconds.
    pub max_lag_ms: Option<f64>,
}

struct Restart(Weak<ProbeState>);

impl Drop for Restart {
    fn drop(&mut self) {
        if let Some(state) = self.0.upgrade() {
            state.started.store(false, Ordering::Release);
        }
    }
}

/// Sleeps `interval` in a loop on the runtime and records how late each wake-up is.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeProbe {
    state: Arc<ProbeState>,
    interval: Duration,
}

#[derive(Debug)]
struct ProbeState {
    started: AtomicBool,
    /// Nanoseconds + 1 (0: no reading yet).
    last: AtomicU64,
    max: AtomicU64,
}

impl RuntimeProbe {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            state: Arc::new(ProbeState {
                started: AtomicBool::new(false),
                last: AtomicU64::new(0),
                max: AtomicU64::new(0),
            }),
            interval,
        }
    }

    /// Starts the probe task on the current runtime, once; it ends when the probe is dropped.
    pub(crate) fn ensure_started(&self) {
        if self.state.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            self.state.started.store(false, Ordering::Release);
            return;
        };
        let state: Weak<ProbeState> = Arc::downgrade(&self.state);
        let interval = self.interval;
        runtime.spawn(async move {
            // If this task is dropped (its runtime shut down), the next reading starts another.
            let _restart = Restart(state.clone());
            loop {
                let asleep = Instant::now();
                tokio::time::sleep(interval).await;
                let lag = asleep.elapsed().saturating_sub(interval);
                let Some(state) = state.upgrade() else { break };
                let nanos = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX - 1) + 1;
                state.last.store(nanos, Ordering::Relaxed);
                state.max.fetch_max(nanos, Ordering::Relaxed);
            }
        });
    }

    /// The runtime's figures; the maximum lag restarts from here.
    /// How late the probe's last timer fired, in milliseconds, leaving the largest since the
    /// last [`read`](Self::read) for that reader.
    pub(crate) fn last_lag_ms(&self) -> Option<f64> {
        let nanos = self.state.last.load(Ordering::Relaxed);
        (nanos > 0).then(|| (nanos - 1) as f64 / 1e6)
    }

    pub(crate) fn read(&self) -> Result<RuntimeStats, String> {
        let runtime = Handle::try_current().map_err(|_| "not on a Tokio runtime".to_owned())?;
        let metrics = runtime.metrics();
        let millis = |nanos: u64| (nanos > 0).then(|| (nanos - 1) as f64 / 1e6);
        Ok(RuntimeStats {
            workers: metrics.num_workers(),
            alive_tasks: metrics.num_alive_tasks(),
            global_queue_depth: metrics.global_queue_depth(),
            last_lag_ms: millis(self.state.last.load(Ordering::Relaxed)),
            max_lag_ms: millis(self.state.max.swap(0, Ordering::Relaxed)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_shows_as_lag() {
        let probe = RuntimeProbe::new(Duration::from_millis(10));
        probe.ensure_started();
        tokio::time::sleep(Duration::from_millis(15)).await; // the probe sleeps, then wakes
        std::thread::sleep(Duration::from_millis(120)); // block the only thread
        tokio::time::sleep(Duration::from_millis(30)).await;
        let stats = probe.read().unwrap();
        assert!(stats.max_lag_ms.unwrap() >= 90.0, "{stats:?}");
        assert_eq!(stats.workers, 1);
        assert!(stats.alive_tasks >= 1, "the probe task");
        let again = probe.read().unwrap();
        assert!(
            again.max_lag_ms.is_none_or(|lag| lag < 90.0),
            "max restarts after a read"
        );
    }
}
