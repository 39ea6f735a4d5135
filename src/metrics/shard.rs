//! Recording shards: each a small lock around the data recorded since the last fold.
//!
//! A thread records into its home shard (threads are spread over shards round-robin) or, when
//! that one is busy, into the next free one: any shard will do, since they are merged on read.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use super::cells::LatencyCells;
use super::native::Pending;

/// Latencies are kept in microseconds from 1 µs to 1 h, 2 significant figures (≈1% error).
pub(crate) const LOWEST_US: u64 = 1;
pub(crate) const HIGHEST_US: u64 = 3_600_000_000;
pub(crate) const SIGNIFICANT_FIGURES: u8 = 2;

pub(crate) fn histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        .expect("valid histogram bounds");
    histogram.auto(false);
    histogram
}

/// Bytes of one latency histogram's counts.
pub(crate) fn histogram_bytes() -> usize {
    histogram().distinct_values() * std::mem::size_of::<u64>()
}

/// Bytes of a shard's data (`native`: with a list of latencies pending for native histograms).
pub(crate) fn shard_data_bytes(series: usize, width: usize, native: bool) -> usize {
    std::mem::size_of::<ShardData>()
        + 2 * LatencyCells::bytes()
        + SeriesData::bytes(series, width)
        + if native { Pending::bytes() } else { 0 }
}

/// One request, resolved to ids and nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) series: u16,
    pub(crate) bucket: u8,
    pub(crate) nanos: u64,
    pub(crate) headers_nanos: Option<u64>,
    pub(crate) failed: bool,
    pub(crate) cancelled: bool,
    /// Started through [`Tracker`](super::collector::Tracker), so it counts against in-flight.
    pub(crate) tracked: bool,
    /// Its request label's value counted as `other`.
    pub(crate) label_overflow: bool,
    /// Everything kept: the window's cells, the time to headers, what is in flight (not under
    /// the lean preset).
    pub(crate) full: bool,
}

/// Plain counters, added up on fold.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Requests that ended with a response or an error (not cancelled).
    pub(crate) completed: u64,
    pub(crate) failures: u64,
    pub(crate) cancelled: u64,
    pub(crate) sum_nanos: u64,
    pub(crate) max_nanos: u64,
    pub(crate) headers_count: u64,
    pub(crate) headers_sum_nanos: u64,
    pub(crate) headers_max_nanos: u64,
    /// Latencies outside 1 µs..1 h, recorded at the nearest bound.
    pub(crate) clamped: u64,
    /// Tracked requests that ended (completed or cancelled).
    pub(crate) finished: u64,
    /// Requests whose request label's value counted as `other`.
    pub(crate) label_overflow: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, other: &Counts) {
        self.completed += other.completed;
        self.failures += other.failures;
        self.cancelled += other.cancelled;
        self.sum_nanos += other.sum_nanos;
        self.max_nanos = self.max_nanos.max(other.max_nanos);
        self.headers_count += other.headers_count;
        self.headers_sum_nanos += other.headers_sum_nanos;
        self.headers_max_nanos = self.headers_max_nanos.max(other.headers_max_nanos);
        self.clamped += other.clamped;
        self.finished += other.finished;
        self.label_overflow += other.label_overflow;
    }
}

/// Per-series cumulative figures: one row per series, its bucket counts on fixed bounds, then
/// its latency sum and failures, so that a record touches one row.
pub(crate) struct SeriesData {
    width: usize,
    rows: Box<[u64]>,
}

impl SeriesData {
    /// `series` label sets with `width` buckets each (the bounds plus +Inf).
    pub(crate) fn new(series: usize, width: usize) -> Self {
        Self {
            width,
            rows: vec![0; series * (width + 2)].into(),
        }
    }

    pub(crate) fn bytes(series: usize, width: usize) -> usize {
        series * (width + 2) * std::mem::size_of::<u64>()
    }

    #[inline]
    fn record(&mut self, sample: &Sample) {
        let stride = self.width + 2;
        let start = sample.series as usize * stride;
        let row = &mut self.rows[start..start + stride];
        row[sample.bucket as usize] += 1;
        row[stride - 2] += sample.nanos;
        row[stride - 1] += u64::from(sample.failed);
    }

    pub(crate) fn add(&mut self, other: &SeriesData) {
        for (into, from) in self.rows.iter_mut().zip(&other.rows) {
            *into += from;
        }
    }

    fn reset(&mut self) {
        self.rows.fill(0);
    }

    fn row(&self, series: usize) -> &[u64] {
        let stride = self.width + 2;
        &self.rows[series * stride..(series + 1) * stride]
    }

    /// The bucket counts of one series (not cumulative).
    pub(crate) fn buckets_of(&self, series: usize) -> &[u64] {
        &self.row(series)[..self.width]
    }

    /// The latency sum of one series, cancelled requests included.
    pub(crate) fn sum_nanos_of(&self, series: usize) -> u64 {
        self.row(series)[self.width]
    }

    /// The failures of one series.
    pub(crate) fn failures_of(&self, series: usize) -> u64 {
        self.row(series)[self.width + 1]
    }

    /// Requests recorded in every series, and the failures among them.
    fn requests_and_failures(&self) -> (u64, u64) {
        self.rows
            .chunks_exact(self.width + 2)
            .fold((0, 0), |(requests, failures), row| {
                let buckets: u64 = row[..self.width].iter().sum();
                (requests + buckets, failures + row[self.width + 1])
            })
    }
}

/// What a shard holds between folds. A record adds to one series row and the latency cells;
/// the rest of [`Counts`] is derived from them when folded.
pub(crate) struct ShardData {
    pub(crate) latency: LatencyCells,
    pub(crate) headers: LatencyCells,
    /// Requests that ended with a response or an error.
    completed: u64,
    sum_nanos: u64,
    max_nanos: u64,
    headers_sum_nanos: u64,
    headers_max_nanos: u64,
    /// Recorded by hand, not started through a tracker (so not in flight).
    untracked: u64,
    label_overflow: u64,
    pub(crate) series: SeriesData,
    /// Latencies for the native histograms, when the collector keeps them.
    pub(crate) native: Option<Pending>,
}

impl ShardData {
    pub(crate) fn new(series: usize, width: usize, native: bool) -> Self {
        Self {
            native: native.then(Pending::new),
            latency: LatencyCells::new(),
            headers: LatencyCells::new(),
            completed: 0,
            sum_nanos: 0,
            max_nanos: 0,
            headers_sum_nanos: 0,
            headers_max_nanos: 0,
            untracked: 0,
            label_overflow: 0,
            series: SeriesData::new(series, width),
        }
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, sample: &Sample) {
        self.series.record(sample);
        self.label_overflow += u64::from(sample.label_overflow);
        if !sample.cancelled {
            self.completed += 1;
            self.sum_nanos += sample.nanos;
            self.max_nanos = self.max_nanos.max(sample.nanos);
        }
        if sample.full {
            self.record_more(sample);
        }
        if let Some(native) = &mut self.native {
            native.push(sample.series, sample.nanos);
        }
    }

    /// What the lean preset leaves out: the window's cells, the time to headers, and what is
    /// not in flight.
    #[inline]
    fn record_more(&mut self, sample: &Sample) {
        self.untracked += u64::from(!sample.tracked);
        if sample.cancelled {
            return;
        }
        self.latency.record(sample.nanos);
        if let Some(headers) = sample.headers_nanos {
            self.headers.record(headers);
            self.headers_sum_nanos += headers;
            self.headers_max_nanos = self.headers_max_nanos.max(headers);
        }
    }

    /// Whether the native histograms' list is full: it must be drained before a record.
    #[inline]
    pub(crate) fn native_full(&self) -> bool {
        self.native.as_ref().is_some_and(Pending::full)
    }

    /// The plain counters of what was recorded since the last reset.
    pub(crate) fn counts(&self) -> Counts {
        let (requests, failures) = self.series.requests_and_failures();
        let completed = self.completed;
        Counts {
            completed,
            failures,
            cancelled: requests - completed,
            sum_nanos: self.sum_nanos,
            max_nanos: self.max_nanos,
            headers_count: self.headers.len_recorded(),
            headers_sum_nanos: self.headers_sum_nanos,
            headers_max_nanos: self.headers_max_nanos,
            clamped: self.latency.clamped() + self.headers.clamped(),
            finished: requests - self.untracked,
            label_overflow: self.label_overflow,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.latency.reset();
        self.headers.reset();
        self.completed = 0;
        self.sum_nanos = 0;
        self.max_nanos = 0;
        self.headers_sum_nanos = 0;
        self.headers_max_nanos = 0;
        self.untracked = 0;
        self.label_overflow = 0;
        self.series.reset();
        if let Some(native) = &mut self.native {
            native.clear();
        }
    }
}

/// One shard: the lock-protected data, and atomics for what is counted outside a record.
pub(crate) struct Shard {
    pub(crate) data: Mutex<Box<ShardData>>,
    /// Tracked requests started on this shard's threads.
    pub(crate) started: AtomicU64,
    /// Cache hits, misses and evictions fed by the application.
    pub(crate) cache: [AtomicU64; 3],
}

impl Shard {
    pub(crate) fn new(series: usize, width: usize, native: bool) -> Self {
        Self {
            data: Mutex::new(Box::new(ShardData::new(series, width, native))),
            started: AtomicU64::new(0),
            cache: Default::default(),
        }
    }
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A small number that differs between threads (round-robin), used to pick a home shard.
pub(crate) fn thread_index() -> usize {
    THREAD_INDEX.with(|index| {
        let mut value = index.get();
        if value == usize::MAX {
            value = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            index.set(value);
        }
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(nanos: u64) -> Sample {
        Sample {
            series: 0,
            bucket: 0,
            nanos,
            headers_nanos: None,
            failed: false,
            cancelled: false,
            tracked: false,
            label_overflow: false,
            full: true,
        }
    }

    #[test]
    fn out_of_range_latencies_are_clamped_and_counted() {
        let mut data = ShardData::new(1, 2, false);
        data.record(&sample(10)); // 10 ns: below 1 µs
        data.record(&sample(2 * 3_600_000_000_000)); // 2 h
        data.record(&sample(5_000)); // in range
        let counts = data.counts();
        assert_eq!(counts.clamped, 2);
        assert_eq!(counts.completed, 3);
        let mut folded = histogram();
        data.latency.drain_into(&mut folded);
        assert_eq!(folded.len(), 3);
        assert!(folded.max() >= HIGHEST_US);
        assert_eq!(
            counts.max_nanos,
            2 * 3_600_000_000_000,
            "the exact max is kept"
        );
    }

    #[test]
    fn cancelled_requests_count_but_have_no_latency() {
        let mut data = ShardData::new(1, 2, false);
        data.record(&Sample {
            cancelled: true,
            tracked: true,
            ..sample(1_000_000)
        });
        let counts = data.counts();
        assert_eq!(counts.cancelled, 1);
        assert_eq!(counts.completed, 0);
        assert_eq!(data.latency.len_recorded(), 0);
        assert_eq!(counts.finished, 1);
        assert_eq!(data.series.buckets_of(0), [1, 0]);
    }

    #[test]
    fn counts_are_derived_from_the_rows_and_cells() {
        let mut data = ShardData::new(3, 2, false);
        let failed = Sample {
            series: 1,
            bucket: 1,
            failed: true,
            tracked: true,
            headers_nanos: Some(4_000),
            ..sample(9_000)
        };
        data.record(&failed);
        data.record(&Sample {
            series: 2,
            ..sample(3_000)
        });
        data.record(&Sample {
            series: 2,
            cancelled: true,
            tracked: true,
            ..sample(50_000)
        });
        assert_eq!(
            data.counts(),
            Counts {
                completed: 2,
                failures: 1,
                cancelled: 1,
                sum_nanos: 12_000,
                max_nanos: 9_000,
                headers_count: 1,
                headers_sum_nanos: 4_000,
                headers_max_nanos: 4_000,
                clamped: 0,
                finished: 2,
                label_overflow: 0,
            }
        );
        assert_eq!(data.series.sum_nanos_of(2), 53_000);
        assert_eq!(data.series.failures_of(1), 1);
        assert_eq!(data.series.buckets_of(1), [0, 1]);
        data.reset();
        assert_eq!(data.counts(), Counts::default());
    }
}
