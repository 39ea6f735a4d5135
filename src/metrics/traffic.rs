//! Request traffic over time: the same two fixed rings of intervals as the checker's status
//! timelines (10 s for an hour, 1 min for a day by default), filled whenever the collector
//! folds its shards (at every window slot by its maintenance task, and on reads): requests,
//! failures and cancellations in the interval, the latencies of the requests that ended in it
//! (a [`Sketch`]: counts in buckets two per doubling, so the percentiles of any step are those
//! of its requests, merged from its intervals) and the most requests in flight.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::cells::LatencyCells;
use super::shard::Counts;
use crate::checker::TimelineSettings;
use crate::clock::Mapping;
use crate::ring::{RoundRobin, pick, widen};

/// Buckets of a [`Sketch`]: below 32 µs, then two per doubling up to 2^26 µs (67 s), then
/// above.
const BUCKETS: usize = 44;

/// Latencies counted in buckets two per doubling (each √2 wide: a percentile read from it is
/// within 19 % of the true one).
/// Sketches add up, so a step of many intervals has the percentiles of all its requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sketch([u32; BUCKETS]);

impl Default for Sketch {
    fn default() -> Self {
        Self([0; BUCKETS])
    }
}

impl Sketch {
    /// The bucket of `micros`: below 32 µs → 0; `[2^((i+9)/2), 2^((i+10)/2))` µs → `i`.
    fn bucket(micros: u64) -> usize {
        if micros < 32 {
            return 0;
        }
        let doublings = u64::from(63 - micros.leading_zeros());
        // Past the half-doubling: micros² ≥ 2^(2·doublings + 1).
        let half = u128::from(micros) * u128::from(micros) >= 1u128 << (2 * doublings + 1);
        let halves = 2 * doublings + u64::from(half);
        usize::try_from(halves - 9).map_or(BUCKETS - 1, |i| i.min(BUCKETS - 1))
    }

    /// The bounds of bucket `i`, in microseconds.
    fn bounds(i: usize) -> (f64, f64) {
        if i == 0 {
            return (0.0, 32.0);
        }
        let low = 2f64.powf((i as f64 + 9.0) / 2.0);
        (low, low * std::f64::consts::SQRT_2)
    }

    fn add_n(&mut self, micros: u64, n: u64) {
        let bucket = &mut self.0[Self::bucket(micros)];
        *bucket = bucket.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds: the geometric middle of the bucket it
    /// falls in (16 µs in the first, the least value in the last), so within 19 % of the true
    /// one; `None` when nothing was counted.
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.0.iter().map(|&n| u64::from(n)).sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0);
        let mut below = 0u64;
        for (i, &n) in self.0.iter().enumerate() {
            below += u64::from(n);
            if n > 0 && below as f64 >= rank {
                let (low, high) = Self::bounds(i);
                let micros = match i {
                    0 => high / 2.0,
                    i if i == BUCKETS - 1 => low,
                    _ => (low * high).sqrt(),
                };
                return Some(micros.round() / 1e3);
            }
        }
        None
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Interval {
    requests: u64,
    failures: u64,
    cancelled: u64,
    latency: Sketch,
    in_flight_max: u32,
}

type Ring = RoundRobin<Interval>;

/// One point of the traffic timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TrafficPoint {
    /// When it starts.
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    pub start: SystemTime,
    /// Requests that ended with a response or an error during it.
    pub requests: u64,
    /// Of those, failures.
    pub failures: u64,
    /// Requests cancelled during it.
    pub cancelled: u64,
    /// Requests (ended or cancelled) per second over it.
    pub request_rate: f64,
    /// `failures / requests`; `None` without requests.
    pub error_rate: Option<f64>,
    /// The median latency of the requests that ended during it, in milliseconds (from counts
    /// in buckets two per doubling: within 19 %); `None` without any.
    pub p50_ms: Option<f64>,
    /// The 95th percentile.
    pub p95_ms: Option<f64>,
    /// The 99th percentile.
    pub p99_ms: Option<f64>,
    /// The most requests in flight seen during it.
    pub in_flight_max: u32,
}

/// Traffic over a time range: a point per `step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TrafficTimeline {
    /// The time each point covers.
    #[serde(rename = "step_seconds", serialize_with = "seconds")]
    pub step: Duration,
    /// The points, oldest first.
    pub points: Vec<TrafficPoint>,
}

fn seconds<S: serde::Serializer>(step: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(step.as_secs_f64())
}

/// The rings, and the totals at the last record (what the next one adds to).
#[derive(Debug)]
pub(crate) struct Traffic {
    fine: Ring,
    coarse: Ring,
    last: Counts,
    /// When the last record was made, since the origin.
    last_at: Duration,
    /// Latencies folded since the last record, for the interval it fills.
    pending: Sketch,
}

impl Traffic {
    pub(crate) fn new(settings: &TimelineSettings) -> Self {
        let (fine, coarse) = settings.lengths();
        Self {
            fine: Ring::new(settings.fine.0, fine),
            coarse: Ring::new(settings.coarse.0, coarse),
            last: Counts::default(),
            last_at: Duration::ZERO,
            pending: Sketch::default(),
        }
    }

    /// Counts the latencies a shard gathered (before the window takes them), for the next
    /// record's interval.
    pub(crate) fn absorb(&mut self, latencies: &LatencyCells) {
        latencies.for_each_counted(|micros, n| self.pending.add_n(micros, n));
    }

    /// Bytes of the rings for `settings`.
    pub(crate) fn bytes(settings: &TimelineSettings) -> usize {
        let (fine, coarse) = settings.lengths();
        Ring::bytes(fine) + Ring::bytes(coarse)
    }

    /// Adds what the totals gained since the last record, the latencies absorbed since, and
    /// the requests in flight now, to the interval of the time halfway between that record and
    /// `at` (since the origin): a fold just after a boundary holds the interval that ended.
    pub(crate) fn record(&mut self, at: Duration, totals: &Counts, in_flight: u64) {
        let now = at;
        let at = (self.last_at.min(now) + now) / 2;
        self.last_at = self.last_at.max(now);
        let latency = std::mem::take(&mut self.pending);
        let gained = (
            totals.completed.saturating_sub(self.last.completed),
            totals.failures.saturating_sub(self.last.failures),
            totals.cancelled.saturating_sub(self.last.cancelled),
        );
        self.last = *totals;
        for ring in [&mut self.fine, &mut self.coarse] {
            let interval = ring.at(ring.number(at));
            interval.requests += gained.0;
            interval.failures += gained.1;
            interval.cancelled += gained.2;
            interval.latency.merge(&latency);
            let in_flight = u32::try_from(in_flight).unwrap_or(u32::MAX);
            interval.in_flight_max = interval.in_flight_max.max(in_flight);
        }
    }

    /// Points from `since` to `until` (since the origin), per `step`: the fine ring when it
    /// reaches back to `since` and the step is under the coarse one's, else the coarse ring;
    /// dated by `clock`.
    pub(crate) fn timeline(
        &self,
        (since, until): (Duration, Duration),
        clock: &Mapping,
        step: Option<Duration>,
        max_points: usize,
    ) -> TrafficTimeline {
        let now = clock.now;
        let (fine, merge) = pick(&self.fine, &self.coarse, now.saturating_sub(since), step);
        let ring = if fine { &self.fine } else { &self.coarse };
        let merge = widen(ring, since, until, merge, max_points);
        let step = ring
            .step()
            .saturating_mul(u32::try_from(merge).unwrap_or(u32::MAX));
        let first = ring.number(since) / merge * merge;
        let last = ring.number(until);
        let mut points = Vec::new();
        let mut number = first;
        while number <= last {
            let mut merged = Interval::default();
            for n in number..(number + merge).min(last + 1) {
                let Some(interval) = ring.get(n) else {
                    continue;
                };
                merged.requests += interval.requests;
                merged.failures += interval.failures;
                merged.cancelled += interval.cancelled;
                merged.latency.merge(&interval.latency);
                merged.in_flight_max = merged.in_flight_max.max(interval.in_flight_max);
            }
            points.push(TrafficPoint {
                start: clock.wall_of(ring.start(number)),
                requests: merged.requests,
                failures: merged.failures,
                cancelled: merged.cancelled,
                request_rate: (merged.requests + merged.cancelled) as f64 / step.as_secs_f64(),
                error_rate: (merged.requests > 0)
                    .then(|| merged.failures as f64 / merged.requests as f64),
                p50_ms: merged.latency.quantile_ms(0.5),
                p95_ms: merged.latency.quantile_ms(0.95),
                p99_ms: merged.latency.quantile_ms(0.99),
                in_flight_max: merged.in_flight_max,
            });
            number += merge;
        }
        TrafficTimeline { step, points }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const MS: u64 = 1_000_000;

    /// `n` latencies of `nanos` each, as a shard would hand them over.
    fn cells(n: u64, nanos: u64) -> LatencyCells {
        let mut cells = LatencyCells::new();
        for _ in 0..n {
            cells.record(nanos);
        }
        cells
    }

    #[test]
    fn buckets_are_two_per_doubling_and_every_value_falls_within_its_own() {
        assert_eq!(Sketch::bucket(0), 0);
        assert_eq!(Sketch::bucket(31), 0);
        assert_eq!(Sketch::bucket(32), 1);
        assert_eq!(Sketch::bucket(45), 1, "below 32·√2");
        assert_eq!(Sketch::bucket(46), 2);
        assert_eq!(Sketch::bucket(64), 3);
        assert_eq!(Sketch::bucket(u64::MAX), BUCKETS - 1);
        for micros in (1..100_000_000u64).step_by(9_973) {
            let (low, high) = Sketch::bounds(Sketch::bucket(micros));
            let v = micros as f64;
            assert!(
                (low <= v && v < high) || Sketch::bucket(micros) == BUCKETS - 1,
                "{micros} in [{low}, {high})"
            );
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let mut sketch = Sketch::default();
        // 1..=1000 ms, one request each: p50 500 ms, p95 950 ms, p99 990 ms.
        for ms in 1..=1000u64 {
            sketch.add_n(ms * 1000, 1);
        }
        for (q, truth) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let read = sketch.quantile_ms(q).unwrap();
            assert!(
                (read / truth - 1.0).abs() < 0.19,
                "p{q}: {read} against {truth}"
            );
        }
        assert_eq!(Sketch::default().quantile_ms(0.5), None);
    }

    #[test]
    fn records_add_what_the_totals_gained_and_minutes_sum_their_intervals() {
        let mut traffic = Traffic::new(&TimelineSettings::default());
        let mut totals = Counts::default();
        for i in 0..36u64 {
            totals.completed += 100;
            totals.failures += i % 3;
            totals.cancelled += 1;
            traffic.absorb(&cells(100, (20 + i) * MS));
            // As the maintenance task: just after each 10 s boundary, for the interval that ended.
            traffic.record(10 * SECOND * (i as u32 + 1) + SECOND / 100, &totals, i);
        }
        let now = 360 * SECOND;
        let fine = traffic.timeline(
            (Duration::ZERO, now - SECOND),
            &Mapping::at(now),
            None,
            10_000,
        );
        assert_eq!((fine.step, fine.points.len()), (10 * SECOND, 36));
        assert_eq!(fine.points[5].requests, 100);
        assert_eq!(fine.points[5].request_rate, 10.1);
        let p95 = fine.points[5].p95_ms.unwrap();
        assert!((p95 / 25.0 - 1.0).abs() < 0.19, "{p95}");
        let minutes = traffic.timeline(
            (Duration::ZERO, now - SECOND),
            &Mapping::at(now),
            Some(60 * SECOND),
            10_000,
        );
        assert_eq!((minutes.step, minutes.points.len()), (60 * SECOND, 6));
        assert_eq!(minutes.points[0].requests, 600);
        assert_eq!(minutes.points[0].failures, 6, "i % 3 over i = 0..6");
        // The minute's 600 requests took 20 to 25 ms, 100 each: its median is about 22 ms.
        let p50 = minutes.points[0].p50_ms.unwrap();
        assert!((p50 / 22.0 - 1.0).abs() < 0.19, "{p50}");
        assert_eq!(minutes.points[0].in_flight_max, 5);
        let total: u64 = minutes.points.iter().map(|p| p.requests).sum();
        assert_eq!(total, 3600);
    }

    #[test]
    fn a_minute_of_fast_requests_after_slow_ones_has_a_fast_median() {
        // What a rolling window's highest value showed as "p50 2007 ms": 2 s requests in the
        // interval before, 3 501 requests around 1 ms in the minute after.
        let mut traffic = Traffic::new(&TimelineSettings::default());
        let mut totals = Counts::default();
        traffic.record(50 * SECOND + SECOND / 100, &totals, 0);
        totals.completed += 10;
        traffic.absorb(&cells(10, 2_000 * MS));
        traffic.record(60 * SECOND + SECOND / 100, &totals, 0); // the interval [50 s, 60 s)
        for i in 0..6u32 {
            let n = if i == 5 { 586 } else { 583 };
            totals.completed += n;
            traffic.absorb(&cells(n, MS));
            traffic.record(10 * SECOND * (i + 7) + SECOND / 100, &totals, 0);
        }
        let now = 130 * SECOND;
        let minute = traffic.timeline(
            (60 * SECOND, 119 * SECOND),
            &Mapping::at(now),
            Some(60 * SECOND),
            10_000,
        );
        let point = &minute.points[0];
        assert_eq!(point.requests, 3_501, "{minute:?}");
        let p50 = point.p50_ms.unwrap();
        assert!((p50 - 1.0).abs() < 0.19, "p50 {p50} ms");
        assert!(point.p99_ms.unwrap() < 1.2, "{point:?}");
    }
}
