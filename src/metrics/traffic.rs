//! Request traffic over time: the same two fixed rings of intervals as the checker's status
//! timelines (10 s for an hour, 1 min for a day by default), filled whenever the collector
//! folds its shards (at every window slot by its maintenance task, and on reads): requests,
//! failures and cancellations in the interval, the window's p50/p95/p99 (the highest seen in
//! the interval) and the most requests in flight.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::shard::Counts;
use super::snapshot::WindowStats;
use crate::checker::TimelineSettings;
use crate::clock::Mapping;
use crate::ring::{RoundRobin, pick, widen};

#[derive(Debug, Clone, Copy, Default)]
struct Interval {
    requests: u64,
    failures: u64,
    cancelled: u64,
    p50_us: u32,
    p95_us: u32,
    p99_us: u32,
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
    /// The rolling window's quantiles, in milliseconds: the highest seen during it.
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
}

impl Traffic {
    pub(crate) fn new(settings: &TimelineSettings) -> Self {
        let (fine, coarse) = settings.lengths();
        Self {
            fine: Ring::new(settings.fine.0, fine),
            coarse: Ring::new(settings.coarse.0, coarse),
            last: Counts::default(),
            last_at: Duration::ZERO,
        }
    }

    /// Bytes of the rings for `settings`.
    pub(crate) fn bytes(settings: &TimelineSettings) -> usize {
        let (fine, coarse) = settings.lengths();
        Ring::bytes(fine) + Ring::bytes(coarse)
    }

    /// Adds what the totals gained since the last record, with the window's quantiles and the
    /// requests in flight now, to the interval of the time halfway between that record and
    /// `at` (since the origin): a fold just after a boundary holds the interval that ended.
    pub(crate) fn record(
        &mut self,
        at: Duration,
        totals: &Counts,
        window: &WindowStats,
        in_flight: u64,
    ) {
        let now = at;
        let at = (self.last_at.min(now) + now) / 2;
        self.last_at = self.last_at.max(now);
        let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        let gained = (
            totals.completed.saturating_sub(self.last.completed),
            totals.failures.saturating_sub(self.last.failures),
            totals.cancelled.saturating_sub(self.last.cancelled),
        );
        self.last = *totals;
        let latency = &window.latency;
        for ring in [&mut self.fine, &mut self.coarse] {
            let interval = ring.at(ring.number(at));
            interval.requests += gained.0;
            interval.failures += gained.1;
            interval.cancelled += gained.2;
            if latency.count > 0 {
                interval.p50_us = interval.p50_us.max(micros(latency.p50));
                interval.p95_us = interval.p95_us.max(micros(latency.p95));
                interval.p99_us = interval.p99_us.max(micros(latency.p99));
            }
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
                merged.p50_us = merged.p50_us.max(interval.p50_us);
                merged.p95_us = merged.p95_us.max(interval.p95_us);
                merged.p99_us = merged.p99_us.max(interval.p99_us);
                merged.in_flight_max = merged.in_flight_max.max(interval.in_flight_max);
            }
            let ms = |us: u32| (us > 0).then(|| f64::from(us) / 1e3);
            points.push(TrafficPoint {
                start: clock.wall_of(ring.start(number)),
                requests: merged.requests,
                failures: merged.failures,
                cancelled: merged.cancelled,
                request_rate: (merged.requests + merged.cancelled) as f64 / step.as_secs_f64(),
                error_rate: (merged.requests > 0)
                    .then(|| merged.failures as f64 / merged.requests as f64),
                p50_ms: ms(merged.p50_us),
                p95_ms: ms(merged.p95_us),
                p99_ms: ms(merged.p99_us),
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
    use crate::metrics::snapshot::LatencyStats;

    const SECOND: Duration = Duration::from_secs(1);

    fn window(p95_ms: u64) -> WindowStats {
        WindowStats {
            latency: LatencyStats {
                count: 1,
                p50: Duration::from_millis(p95_ms / 2),
                p95: Duration::from_millis(p95_ms),
                p99: Duration::from_millis(p95_ms * 2),
                ..LatencyStats::default()
            },
            ..WindowStats::default()
        }
    }

    #[test]
    fn records_add_what_the_totals_gained_and_minutes_sum_their_intervals() {
        let mut traffic = Traffic::new(&TimelineSettings::default());
        let mut totals = Counts::default();
        for i in 0..36u64 {
            totals.completed += 100;
            totals.failures += i % 3;
            totals.cancelled += 1;
            // As the maintenance task: just after each 10 s boundary, for the interval that ended.
            traffic.record(
                10 * SECOND * (i as u32 + 1) + SECOND / 100,
                &totals,
                &window(20 + i),
                i,
            );
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
        assert_eq!(fine.points[5].p95_ms, Some(25.0));
        let minutes = traffic.timeline(
            (Duration::ZERO, now - SECOND),
            &Mapping::at(now),
            Some(60 * SECOND),
            10_000,
        );
        assert_eq!((minutes.step, minutes.points.len()), (60 * SECOND, 6));
        assert_eq!(minutes.points[0].requests, 600);
        assert_eq!(minutes.points[0].failures, 6, "i % 3 over i = 0..6");
        assert_eq!(
            minutes.points[0].p95_ms,
            Some(25.0),
            "the highest of the minute"
        );
        assert_eq!(minutes.points[0].in_flight_max, 5);
        let total: u64 = minutes.points.iter().map(|p| p.requests).sum();
        assert_eq!(total, 3600);
    }
}
