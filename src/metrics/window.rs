//! The rolling window: a ring of slots, each the merged shards of one slot period.
//!
//! Recording never touches the window: folds (by the collector's maintenance task at every slot
//! boundary, and before every read) move what the shards gathered into the current slot, and
//! rotation clears the oldest slot.

use std::time::Duration;

use hdrhistogram::Histogram;
use quanta::Instant;

use super::shard::{Counts, ShardData, histogram, histogram_bytes};
use super::snapshot::{LatencyStats, WindowStats};

struct Slot {
    latency: Histogram<u64>,
    headers: Histogram<u64>,
    counts: Counts,
}

pub(crate) struct Window {
    slots: Box<[Slot]>,
    current: usize,
    current_start: Instant,
    slot_len: Duration,
    origin: Instant,
    /// Reused to merge the slots on read.
    scratch: [Histogram<u64>; 2],
}

impl Window {
    pub(crate) fn new(slots: usize, slot_len: Duration, origin: Instant) -> Self {
        Self {
            slots: (0..slots)
                .map(|_| Slot {
                    latency: histogram(),
                    headers: histogram(),
                    counts: Counts::default(),
                })
                .collect(),
            current: 0,
            current_start: origin,
            slot_len,
            origin,
            scratch: [histogram(), histogram()],
        }
    }

    /// Bytes allocated for a window of `slots` slots.
    pub(crate) fn bytes(slots: usize) -> usize {
        slots * std::mem::size_of::<Slot>() + (2 * slots + 2) * histogram_bytes()
    }

    /// Adds a shard's data to the current slot.
    pub(crate) fn absorb(&mut self, data: &mut ShardData, counts: &Counts) {
        let slot = &mut self.slots[self.current];
        data.latency.drain_into(&mut slot.latency);
        data.headers.drain_into(&mut slot.headers);
        slot.counts.add(counts);
    }

    /// Moves to the slot that contains `now`, clearing the slots passed over.
    pub(crate) fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.current_start);
        let steps = (elapsed.as_nanos() / self.slot_len.as_nanos()) as u64;
        if steps == 0 {
            return;
        }
        for _ in 0..steps.min(self.slots.len() as u64) {
            self.current = (self.current + 1) % self.slots.len();
            let slot = &mut self.slots[self.current];
            slot.latency.reset();
            slot.headers.reset();
            slot.counts = Counts::default();
        }
        self.current_start += self.slot_len * u32::try_from(steps).unwrap_or(u32::MAX);
    }

    /// When the next slot begins.
    pub(crate) fn next_boundary(&self) -> Instant {
        self.current_start + self.slot_len
    }

    /// Statistics over every slot, as of `now` (after [`advance`](Self::advance)).
    pub(crate) fn stats(&mut self, now: Instant) -> WindowStats {
        let [latency, headers] = &mut self.scratch;
        latency.reset();
        headers.reset();
        let mut counts = Counts::default();
        for slot in self.slots.iter() {
            latency.add(&slot.latency).expect("same histogram layout");
            headers.add(&slot.headers).expect("same histogram layout");
            counts.add(&slot.counts);
        }
        let oldest = self.slot_len * (self.slots.len() as u32 - 1);
        let covered_from = self
            .current_start
            .checked_sub(oldest)
            .map_or(self.origin, |start| start.max(self.origin));
        let span = now.saturating_duration_since(covered_from);
        let seconds = span.as_secs_f64();
        WindowStats {
            span,
            count: counts.completed,
            failures: counts.failures,
            cancelled: counts.cancelled,
            request_rate: if seconds > 0.0 {
                (counts.completed + counts.cancelled) as f64 / seconds
            } else {
                0.0
            },
            error_rate: (counts.completed > 0)
                .then(|| counts.failures as f64 / counts.completed as f64),
            latency: latency_stats(
                latency,
                counts.completed,
                counts.sum_nanos,
                counts.max_nanos,
            ),
            time_to_headers: latency_stats(
                headers,
                counts.headers_count,
                counts.headers_sum_nanos,
                counts.headers_max_nanos,
            ),
        }
    }
}

fn latency_stats(
    histogram: &Histogram<u64>,
    count: u64,
    sum_nanos: u64,
    max_nanos: u64,
) -> LatencyStats {
    let quantile = |q| Duration::from_micros(histogram.value_at_quantile(q));
    if count == 0 {
        return LatencyStats::default();
    }
    LatencyStats {
        count,
        avg: Duration::from_nanos(sum_nanos / count),
        p50: quantile(0.50),
        p95: quantile(0.95),
        p99: quantile(0.99),
        max: Duration::from_nanos(max_nanos),
    }
}

#[cfg(test)]
mod tests {
    use super::super::shard::Sample;
    use super::*;

    fn record(data: &mut ShardData, micros: u64) {
        data.record(&Sample {
            series: 0,
            bucket: 0,
            nanos: micros * 1000,
            headers_nanos: Some(micros * 500),
            failed: micros.is_multiple_of(10),
            cancelled: false,
            tracked: false,
            label_overflow: false,
            full: true,
        });
    }

    fn absorb(window: &mut Window, data: &mut ShardData) {
        let counts = data.counts();
        window.absorb(data, &counts);
        data.reset();
    }

    fn window() -> (Window, Instant, ShardData) {
        let (clock, _mock) = quanta::Clock::mock();
        let origin = clock.now();
        (
            Window::new(6, Duration::from_secs(10), origin),
            origin,
            ShardData::new(1, 1, false),
        )
    }

    #[test]
    fn quantiles_of_a_uniform_distribution_are_within_one_percent() {
        let (mut window, origin, mut data) = window();
        for micros in 1..=100_000 {
            record(&mut data, micros);
        }
        absorb(&mut window, &mut data);
        let stats = window.stats(origin + Duration::from_secs(5));
        let within = |got: Duration, want_micros: f64| {
            let got = got.as_micros() as f64;
            assert!(
                (got - want_micros).abs() / want_micros < 0.01,
                "{got} vs {want_micros}"
            );
        };
        within(stats.latency.p50, 50_000.0);
        within(stats.latency.p95, 95_000.0);
        within(stats.latency.p99, 99_000.0);
        assert_eq!(
            stats.latency.avg,
            Duration::from_nanos(50_000_500),
            "exact, from sum/count"
        );
        assert_eq!(stats.latency.max, Duration::from_millis(100));
        within(stats.time_to_headers.p95, 47_500.0);
        assert_eq!(stats.count, 100_000);
        assert_eq!(stats.failures, 10_000);
        assert_eq!(stats.error_rate, Some(0.1));
        assert_eq!(stats.span, Duration::from_secs(5));
        assert_eq!(stats.request_rate, 20_000.0);
    }

    #[test]
    fn quantiles_of_a_skewed_distribution_are_within_one_percent() {
        let (mut window, origin, mut data) = window();
        // 95% fast (1 ms), 5% slow (1..=500 ms spread): p99 lies in the slow tail.
        for i in 0..95_000 {
            record(&mut data, 1_000 + i % 7);
        }
        for i in 1..=5_000u64 {
            record(&mut data, i * 100);
        }
        absorb(&mut window, &mut data);
        let stats = window.stats(origin + Duration::from_secs(1));
        let p99 = stats.latency.p99.as_micros() as f64;
        // The 99th percentile is the 4000th of the 5000 slow values: 400 ms.
        assert!((p99 - 400_000.0).abs() / 400_000.0 < 0.01, "{p99}");
        assert!(stats.latency.p50 <= Duration::from_micros(1_010));
    }

    #[test]
    fn rotation_drops_samples_older_than_the_window() {
        let (mut window, origin, mut data) = window();
        record(&mut data, 900_000); // a slow request in the first slot
        absorb(&mut window, &mut data);
        let mut fast = ShardData::new(1, 1, false);
        for second in 1..=70u64 {
            let now = origin + Duration::from_secs(second);
            window.advance(now);
            fast.reset();
            record(&mut fast, 1_000);
            absorb(&mut window, &mut fast);
            let stats = window.stats(now);
            let has_slow = stats.latency.max >= Duration::from_millis(900);
            // The slow sample's slot (0..10 s) leaves the 6-slot ring when the 7th slot begins.
            assert_eq!(has_slow, second < 60, "at {second} s");
        }
        let stats = window.stats(origin + Duration::from_secs(70));
        assert_eq!(
            stats.count, 51,
            "slots 20..70 s: 50 full seconds plus the current one"
        );
        assert_eq!(
            stats.span,
            Duration::from_secs(50),
            "from the oldest slot (20 s) to now"
        );
    }

    #[test]
    fn a_long_pause_clears_every_slot() {
        let (mut window, origin, mut data) = window();
        record(&mut data, 5_000);
        absorb(&mut window, &mut data);
        let later = origin + Duration::from_secs(3600);
        window.advance(later);
        let stats = window.stats(later);
        assert_eq!(stats.count, 0);
        assert_eq!(stats.latency, LatencyStats::default());
        assert_eq!(stats.error_rate, None);
        assert_eq!(stats.span, Duration::from_secs(50));
    }
}
