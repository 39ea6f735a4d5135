//! Process CPU use between two readings, in percent of the available cores.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::process::ProcessStats;

#[derive(Debug)]
pub(crate) struct CpuSampler {
    previous: Mutex<Option<(Instant, f64)>>,
    cores: f64,
}

impl CpuSampler {
    pub(crate) fn new() -> Self {
        Self {
            previous: Mutex::new(None),
            cores: std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64),
        }
    }

    /// CPU use since the previous call (since the process started, the first time).
    pub(crate) fn percent(&self, stats: &ProcessStats) -> Option<f64> {
        let now = Instant::now();
        let mut previous = self.previous.lock();
        let (elapsed, used) = match previous.replace((now, stats.cpu_seconds)) {
            Some((at, cpu)) => (
                now.duration_since(at).as_secs_f64(),
                stats.cpu_seconds - cpu,
            ),
            None => {
                let since_epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .ok()?
                    .as_secs_f64();
                (since_epoch - stats.start_time_seconds, stats.cpu_seconds)
            }
        };
        (elapsed > 0.0).then(|| (used / elapsed / self.cores * 100.0).clamp(0.0, 100.0))
    }
}
