//! Recording shards: each a small lock around the data recorded since the last fold.
//!
//! A thread records into its home shard (threads are spread over shards round-robin) or, when
//! that one is busy, into the next free one: any shard will do, since they are merged on read.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

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
    }
}

/// Per-series cumulative figures: bucket counts on fixed bounds, latency sum, failures.
pub(crate) struct SeriesData {
    width: usize,
    pub(crate) buckets: Box<[u64]>,
    pub(crate) sum_nanos: Box<[u64]>,
    pub(crate) failures: Box<[u64]>,
}

impl SeriesData {
    /// `series` label sets with `width` buckets each (the bounds plus +Inf).
    pub(crate) fn new(series: usize, width: usize) -> Self {
        Self {
            width,
            buckets: vec![0; series * width].into(),
            sum_nanos: vec![0; series].into(),
            failures: vec![0; series].into(),
        }
    }

    pub(crate) fn bytes(series: usize, width: usize) -> usize {
        (series * width + 2 * series) * std::mem::size_of::<u64>()
    }

    fn record(&mut self, sample: &Sample) {
        let series = sample.series as usize;
        self.buckets[series * self.width + sample.bucket as usize] += 1;
        self.sum_nanos[series] += sample.nanos;
        self.failures[series] += u64::from(sample.failed);
    }

    pub(crate) fn add(&mut self, other: &SeriesData) {
        add_all(&mut self.buckets, &other.buckets);
        add_all(&mut self.sum_nanos, &other.sum_nanos);
        add_all(&mut self.failures, &other.failures);
    }

    fn reset(&mut self) {
        self.buckets.fill(0);
        self.sum_nanos.fill(0);
        self.failures.fill(0);
    }

    /// The bucket counts of one series (not cumulative).
    pub(crate) fn buckets_of(&self, series: usize) -> &[u64] {
        &self.buckets[series * self.width..(series + 1) * self.width]
    }
}

fn add_all(into: &mut [u64], from: &[u64]) {
    for (into, from) in into.iter_mut().zip(from) {
        *into += from;
    }
}

/// What a shard holds between folds.
pub(crate) struct ShardData {
    pub(crate) latency: Histogram<u64>,
    pub(crate) headers: Histogram<u64>,
    pub(crate) counts: Counts,
    pub(crate) series: SeriesData,
}

impl ShardData {
    pub(crate) fn new(series: usize, width: usize) -> Self {
        Self {
            latency: histogram(),
            headers: histogram(),
            counts: Counts::default(),
            series: SeriesData::new(series, width),
        }
    }

    pub(crate) fn record(&mut self, sample: &Sample) {
        let counts = &mut self.counts;
        counts.finished += u64::from(sample.tracked);
        if sample.cancelled {
            counts.cancelled += 1;
        } else {
            counts.completed += 1;
            counts.failures += u64::from(sample.failed);
            counts.sum_nanos += sample.nanos;
            counts.max_nanos = counts.max_nanos.max(sample.nanos);
            record_clamped(&mut self.latency, sample.nanos, &mut counts.clamped);
            if let Some(headers) = sample.headers_nanos {
                counts.headers_count += 1;
                counts.headers_sum_nanos += headers;
                counts.headers_max_nanos = counts.headers_max_nanos.max(headers);
                record_clamped(&mut self.headers, headers, &mut counts.clamped);
            }
        }
        self.series.record(sample);
    }

    pub(crate) fn reset(&mut self) {
        self.latency.reset();
        self.headers.reset();
        self.counts = Counts::default();
        self.series.reset();
    }
}

fn record_clamped(histogram: &mut Histogram<u64>, nanos: u64, clamped: &mut u64) {
    let micros = nanos / 1000;
    let value = micros.clamp(LOWEST_US, HIGHEST_US);
    *clamped += u64::from(value != micros);
    histogram.saturating_record(value);
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
    pub(crate) fn new(series: usize, width: usize) -> Self {
        Self {
            data: Mutex::new(Box::new(ShardData::new(series, width))),
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
        }
    }

    #[test]
    fn out_of_range_latencies_are_clamped_and_counted() {
        let mut data = ShardData::new(1, 2);
        data.record(&sample(10)); // 10 ns: below 1 µs
        data.record(&sample(2 * 3_600_000_000_000)); // 2 h
        data.record(&sample(5_000)); // in range
        assert_eq!(data.counts.clamped, 2);
        assert_eq!(data.latency.len(), 3);
        assert!(data.latency.max() >= HIGHEST_US);
        assert_eq!(
            data.counts.max_nanos,
            2 * 3_600_000_000_000,
            "the exact max is kept"
        );
    }

    #[test]
    fn cancelled_requests_count_but_have_no_latency() {
        let mut data = ShardData::new(1, 2);
        data.record(&Sample {
            cancelled: true,
            tracked: true,
            ..sample(1_000_000)
        });
        assert_eq!(data.counts.cancelled, 1);
        assert_eq!(data.counts.completed, 0);
        assert_eq!(data.latency.len(), 0);
        assert_eq!(data.counts.finished, 1);
        assert_eq!(data.series.buckets_of(0), [1, 0]);
    }
}
