//! [`Tracker`]: one request measured from `call()` to the end of its body, recorded once.

use super::{Ending, MetricsCollector};
use crate::metrics::exemplar::TraceIds;
use crate::metrics::record::Outcome;
use crate::metrics::shard::thread_index;

/// Measures one request through the layer: started on creation, recorded once by
/// [`end`](Self::end), or as cancelled when dropped before.
pub(crate) struct Tracker {
    collector: MetricsCollector,
    start: u64,
    route: u16,
    method: u8,
    /// The request label's value id.
    label: u16,
    ended: bool,
    /// The request's trace, kept as an exemplar of its bucket.
    trace: Option<TraceIds>,
}

impl Tracker {
    #[inline]
    pub(crate) fn start(
        collector: &MetricsCollector,
        (route, method, label): (u16, u8, u16),
        trace: Option<TraceIds>,
    ) -> Self {
        let inner = &*collector.inner;
        if !inner.lean {
            inner.shards[thread_index() & inner.mask]
                .started
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Self {
            collector: collector.clone(),
            start: inner.clock.raw(),
            route,
            method,
            label,
            ended: false,
            trace,
        }
    }

    /// Whether the time to the response head is kept (not under the lean preset).
    #[inline]
    pub(crate) fn times_headers(&self) -> bool {
        !self.collector.inner.lean
    }

    /// Nanoseconds since the start.
    #[inline]
    pub(crate) fn elapsed(&self) -> u64 {
        let clock = &self.collector.inner.clock;
        clock.delta_as_nanos(self.start, clock.raw())
    }

    /// Records the request as ended now (or at `at`, nanoseconds after the start).
    #[inline]
    pub(crate) fn end(&mut self, outcome: Outcome, headers_nanos: Option<u64>, at: Option<u64>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let nanos = at.unwrap_or_else(|| self.elapsed());
        self.collector.inner.record(
            self.route,
            self.method,
            &Ending {
                outcome,
                nanos,
                headers_nanos,
                tracked: true,
                trace: self.trace,
                label: self.label,
            },
        );
    }
}

impl Drop for Tracker {
    #[inline]
    fn drop(&mut self) {
        // Tested here too, so an ended request's drop does not call into `end`.
        if !self.ended {
            self.end(Outcome::Cancelled, None, None);
        }
    }
}
