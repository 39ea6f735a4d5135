//! A check's recent runs: a bounded ring, summarised for reports.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::health_report::HistorySummary;

/// One finished run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) at: Instant,
    /// Healthy before thresholds.
    pub(crate) passed: bool,
    pub(crate) duration: Duration,
}

/// The last `capacity` runs and the times of the last status changes.
#[derive(Debug)]
pub(crate) struct History {
    runs: VecDeque<Entry>,
    changes: VecDeque<Instant>,
    capacity: usize,
    /// Status changes since start.
    pub(crate) transitions: u64,
}

/// Status changes remembered (for flap counts), whatever the run capacity.
const CHANGES: usize = 32;

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            runs: VecDeque::with_capacity(capacity),
            changes: VecDeque::with_capacity(CHANGES),
            capacity,
            transitions: 0,
        }
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        if self.runs.len() == self.capacity {
            self.runs.pop_front();
        }
        self.runs.push_back(entry);
    }

    pub(crate) fn changed(&mut self, at: Instant) {
        self.transitions += 1;
        if self.changes.len() == CHANGES {
            self.changes.pop_front();
        }
        self.changes.push_back(at);
    }

    /// Status changes within `window` before `now`.
    pub(crate) fn changes_within(&self, window: Duration, now: Instant) -> usize {
        self.changes
            .iter()
            .filter(|at| now.saturating_duration_since(**at) <= window)
            .count()
    }

    pub(crate) fn summary(&self) -> HistorySummary {
        let runs = self.runs.len();
        let passed = self.runs.iter().filter(|entry| entry.passed).count();
        let total: Duration = self.runs.iter().map(|entry| entry.duration).sum();
        let oldest = self.runs.front().map(|entry| entry.at);
        HistorySummary {
            runs,
            availability_percent: (runs > 0)
                .then(|| (passed as f64 * 100.0 / runs as f64 * 10.0).round() / 10.0),
            avg_duration_ms: (runs > 0)
                .then(|| crate::round::millis(total / u32::try_from(runs).unwrap_or(u32::MAX))),
            flaps: oldest.map_or(0, |oldest| {
                self.changes.iter().filter(|at| **at >= oldest).count()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_runs_and_summarises_them() {
        let start = Instant::now();
        let mut history = History::new(4);
        for (i, passed) in [false, true, true, false, true, true]
            .into_iter()
            .enumerate()
        {
            let at = start + Duration::from_secs(i as u64);
            history.push(Entry {
                at,
                passed,
                duration: Duration::from_millis(10 * (i as u64 + 1)),
            });
            if i == 1 || i == 4 {
                history.changed(at);
            }
        }
        let summary = history.summary();
        assert_eq!(summary.runs, 4);
        assert_eq!(summary.availability_percent, Some(75.0));
        assert_eq!(summary.avg_duration_ms, Some(45.0), "(30+40+50+60)/4");
        assert_eq!(summary.flaps, 1, "only the change within the kept runs");
        assert_eq!(history.transitions, 2);
        assert_eq!(
            history.changes_within(Duration::from_secs(10), start + Duration::from_secs(5)),
            2
        );
    }

    #[test]
    fn an_empty_history_says_nothing() {
        let summary = History::new(0).summary();
        assert_eq!(
            (summary.runs, summary.availability_percent, summary.flaps),
            (0, None, 0)
        );
    }
}
