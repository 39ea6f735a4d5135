//! A component's status over time, like a round-robin database: two rings of fixed intervals
//! (fine and coarse), filled as runs finish and as time passes, so that availability is the
//! share of *time* the component was healthy, not of its runs. Memory is fixed when the
//! checker is built.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use crate::health_report::HealthStatus;
use crate::ring::{RoundRobin, pick, widen};

/// How finely and how far back each component's status is kept: a fine ring and a coarse one,
/// each a step and a span (default 10 s for an hour, 1 min for a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineSettings {
    /// The fine ring's interval and how far back it reaches.
    pub fine: (Duration, Duration),
    /// The coarse ring's interval and how far back it reaches.
    pub coarse: (Duration, Duration),
}

impl Default for TimelineSettings {
    fn default() -> Self {
        Self {
            fine: (Duration::from_secs(10), Duration::from_secs(3600)),
            coarse: (Duration::from_secs(60), Duration::from_secs(24 * 3600)),
        }
    }
}

impl TimelineSettings {
    /// Intervals in the fine and the coarse ring.
    pub(crate) fn lengths(&self) -> (usize, usize) {
        let count =
            |(step, span): (Duration, Duration)| (span.as_nanos() / step.as_nanos()) as usize;
        (count(self.fine), count(self.coarse))
    }

    /// Bytes one component's timeline takes.
    pub fn bytes_per_component(&self) -> usize {
        let (fine, coarse) = self.lengths();
        Ring::bytes(fine) + Ring::bytes(coarse)
    }
}

/// What one interval holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Interval {
    /// The worst status shown during it.
    worst: Option<HealthStatus>,
    runs: u32,
    failures: u32,
    duration_max_us: u32,
    duration_sum_us: u64,
    /// Of its time, in microseconds: spent healthy, and spent with a known status.
    healthy_us: u32,
    known_us: u32,
}

type Ring = RoundRobin<Interval>;

/// Accounts the time from `from` to `to` (since the origin) to `status`.
fn hold(ring: &mut Ring, from: Duration, to: Duration, status: HealthStatus) {
    if to <= from {
        return;
    }
    let len = ring.len() as u64;
    let (first, last) = (ring.number(from), ring.number(to));
    // Older intervals than a ring's length would be overwritten anyway.
    for number in first.max(last.saturating_sub(len - 1))..=last {
        let start = ring.start(number);
        let (lo, hi) = (from.max(start), to.min(start + ring.step()));
        if hi <= lo {
            continue;
        }
        // At most a step: 1 h is 3.6e9 µs, within a u32.
        let micros = (hi - lo).as_micros() as u32;
        let interval = ring.at(number);
        interval.worst = interval.worst.max(Some(status));
        interval.known_us += micros;
        if status == HealthStatus::Healthy {
            interval.healthy_us += micros;
        }
    }
}

fn run_in(ring: &mut Ring, at: Duration, status: HealthStatus, failed: bool, duration: Duration) {
    let interval = ring.at(ring.number(at));
    interval.worst = interval.worst.max(Some(status));
    interval.runs += 1;
    interval.failures += u32::from(failed);
    let micros = u32::try_from(duration.as_micros()).unwrap_or(u32::MAX);
    interval.duration_max_us = interval.duration_max_us.max(micros);
    interval.duration_sum_us += u64::from(micros);
}

/// One point of a component's timeline: an interval, or several merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TimelinePoint {
    /// When it starts.
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    pub start: SystemTime,
    /// The worst status shown during it; `None` while nothing was known.
    pub status: Option<HealthStatus>,
    /// The share of its known time spent healthy (0 to 1); `None` while nothing was known.
    pub availability: Option<f64>,
    /// Runs that finished during it, and how many of those failed.
    pub runs: u32,
    /// Of those, the failed runs.
    pub failures: u32,
    /// The runs' mean and longest duration, in milliseconds.
    pub mean_ms: Option<f64>,
    /// The longest run, in milliseconds.
    pub max_ms: Option<f64>,
    /// Microseconds of it with a known status, and spent healthy (what `availability` is of).
    #[serde(skip)]
    pub(crate) known_us: u64,
    #[serde(skip)]
    pub(crate) healthy_us: u64,
}

/// A component's shown status over a time range: a point per `step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatusTimeline {
    /// The time each point covers.
    #[serde(rename = "step_seconds", serialize_with = "seconds")]
    pub step: Duration,
    /// The points, oldest first.
    pub points: Vec<TimelinePoint>,
}

impl StatusTimeline {
    /// The percentage of the known time spent healthy (degraded, unknown and unhealthy are
    /// not); `None` while nothing is known.
    pub fn availability_percent(&self) -> Option<f64> {
        availability_percent(&self.points)
    }

    /// How much of the range had a known status: the time
    /// [`availability_percent`](Self::availability_percent) is of (less than the range while
    /// the process had not started yet, or before the check's first result).
    pub fn observed(&self) -> Duration {
        Duration::from_micros(self.points.iter().map(|p| p.known_us).sum())
    }
}

fn seconds<S: serde::Serializer>(step: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(step.as_secs_f64())
}

/// Which ring to read, and how many of its intervals make a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    Fine(u64),
    Coarse(u64),
}

/// A component's status over time.
#[derive(Debug)]
pub(crate) struct Timeline {
    origin: Instant,
    fine: Ring,
    coarse: Ring,
    /// The status shown since `held_since` (since the origin), once there is one.
    held: Option<HealthStatus>,
    held_since: Duration,
}

impl Timeline {
    pub(crate) fn new(settings: &TimelineSettings, origin: Instant) -> Self {
        let (fine, coarse) = settings.lengths();
        Self {
            origin,
            fine: Ring::new(settings.fine.0, fine),
            coarse: Ring::new(settings.coarse.0, coarse),
            held: None,
            held_since: Duration::ZERO,
        }
    }

    fn since_origin(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.origin)
    }

    /// Accounts the time up to `now` to the status shown since the last run.
    pub(crate) fn advance(&mut self, now: Instant) {
        let now = self.since_origin(now);
        if let Some(status) = self.held {
            hold(&mut self.fine, self.held_since, now, status);
            hold(&mut self.coarse, self.held_since, now, status);
        }
        self.held_since = self.held_since.max(now);
    }

    /// A run finished at `at`: the component shows `status` from then on.
    pub(crate) fn run(
        &mut self,
        at: Instant,
        status: HealthStatus,
        failed: bool,
        duration: Duration,
    ) {
        self.advance(at);
        let at = self.since_origin(at);
        run_in(&mut self.fine, at, status, failed, duration);
        run_in(&mut self.coarse, at, status, failed, duration);
        self.held = Some(status);
    }

    /// The resolution for points `step` apart: the fine ring when it reaches back to `since`
    /// and the step is a multiple of its own (at least one interval), else the coarse one.
    pub(crate) fn resolution(
        &self,
        since: Instant,
        now: Instant,
        step: Option<Duration>,
    ) -> Resolution {
        let back = now.saturating_duration_since(since);
        match pick(&self.fine, &self.coarse, back, step) {
            (true, merge) => Resolution::Fine(merge),
            (false, merge) => Resolution::Coarse(merge),
        }
    }

    /// `resolution` made coarser where the points from `since` to `until` would be more than
    /// `max_points`.
    pub(crate) fn widen(
        &self,
        resolution: Resolution,
        (since, until): (Instant, Instant),
        max_points: usize,
    ) -> Resolution {
        let span = (self.since_origin(since), self.since_origin(until));
        match resolution {
            Resolution::Fine(merge) => {
                Resolution::Fine(widen(&self.fine, span.0, span.1, merge, max_points))
            }
            Resolution::Coarse(merge) => {
                Resolution::Coarse(widen(&self.coarse, span.0, span.1, merge, max_points))
            }
        }
    }

    /// The time a point covers at `resolution`.
    pub(crate) fn step(&self, resolution: Resolution) -> Duration {
        match resolution {
            Resolution::Fine(merge) => self
                .fine
                .step()
                .saturating_mul(u32::try_from(merge).unwrap_or(u32::MAX)),
            Resolution::Coarse(merge) => self
                .coarse
                .step()
                .saturating_mul(u32::try_from(merge).unwrap_or(u32::MAX)),
        }
    }

    /// Points from `since` to `until` (call [`advance`](Self::advance) first to count the time
    /// up to now).
    pub(crate) fn points(
        &self,
        since: Instant,
        until: Instant,
        resolution: Resolution,
    ) -> Vec<TimelinePoint> {
        let (ring, merge) = match resolution {
            Resolution::Fine(merge) => (&self.fine, merge),
            Resolution::Coarse(merge) => (&self.coarse, merge),
        };
        let first = ring.number(self.since_origin(since)) / merge * merge;
        let last = ring.number(self.since_origin(until));
        let mut points = Vec::new();
        let mut number = first;
        while number <= last {
            let mut point = TimelinePoint {
                start: crate::clock::wall_of(self.origin + ring.start(number)),
                status: None,
                availability: None,
                runs: 0,
                failures: 0,
                mean_ms: None,
                max_ms: None,
                known_us: 0,
                healthy_us: 0,
            };
            let mut sum_us = 0;
            let mut max_us = 0;
            for n in number..(number + merge).min(last + 1) {
                let Some(interval) = ring.get(n) else {
                    continue;
                };
                point.status = point.status.max(interval.worst);
                point.runs += interval.runs;
                point.failures += interval.failures;
                point.known_us += u64::from(interval.known_us);
                point.healthy_us += u64::from(interval.healthy_us);
                sum_us += interval.duration_sum_us;
                max_us = max_us.max(interval.duration_max_us);
            }
            if point.known_us > 0 {
                point.availability = Some(point.healthy_us as f64 / point.known_us as f64);
            }
            if point.runs > 0 {
                point.mean_ms = Some(sum_us as f64 / f64::from(point.runs) / 1e3);
                point.max_ms = Some(f64::from(max_us) / 1e3);
            }
            points.push(point);
            number += merge;
        }
        points
    }
}

/// The share of known time spent healthy over `points`, as a percentage.
pub(crate) fn availability_percent(points: &[TimelinePoint]) -> Option<f64> {
    let known: u64 = points.iter().map(|p| p.known_us).sum();
    let healthy: u64 = points.iter().map(|p| p.healthy_us).sum();
    (known > 0).then(|| healthy as f64 * 100.0 / known as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);

    fn timeline() -> (Timeline, Instant) {
        let origin = Instant::now();
        let timeline = Timeline::new(&TimelineSettings::default(), origin);
        (timeline, origin)
    }

    fn run(timeline: &mut Timeline, at: Instant, status: HealthStatus) {
        timeline.run(
            at,
            status,
            status != HealthStatus::Healthy,
            Duration::from_millis(4),
        );
    }

    #[test]
    fn thirty_minutes_unhealthy_in_a_day_is_97_9_percent_available() {
        let (mut timeline, origin) = timeline();
        // A run every 10 s, healthy but for 30 minutes in the middle of the day.
        let day = 24 * 3600 / 10;
        for i in 0..=day {
            let at = origin + 10 * SECOND * i;
            let down = (6 * 3600 / 10..6 * 3600 / 10 + 180).contains(&i);
            let status = if down {
                HealthStatus::Unhealthy
            } else {
                HealthStatus::Healthy
            };
            run(&mut timeline, at, status);
        }
        let now = origin + 24 * 60 * MINUTE;
        timeline.advance(now);
        let points = timeline.points(origin, now - SECOND, Resolution::Coarse(1));
        assert_eq!(points.len(), 1440);
        let percent = availability_percent(&points).unwrap();
        assert!((percent - 97.9167).abs() < 0.01, "{percent}");
        let down: Vec<_> = points
            .iter()
            .filter(|p| p.status == Some(HealthStatus::Unhealthy))
            .collect();
        // From 06:00 to 06:30 exactly: the run at 06:30 is healthy and opens the next minute.
        assert_eq!(down.len(), 30);
    }

    #[test]
    fn a_minute_is_the_sum_of_its_six_fine_intervals() {
        let (mut timeline, origin) = timeline();
        let statuses = [
            HealthStatus::Healthy,
            HealthStatus::Degraded,
            HealthStatus::Healthy,
            HealthStatus::Unhealthy,
        ];
        for i in 0..(30 * 60 / 7) {
            run(
                &mut timeline,
                origin + 7 * SECOND * i,
                statuses[(i / 5 % 4) as usize],
            );
        }
        let now = origin + 30 * MINUTE;
        timeline.advance(now);
        let fine = timeline.points(origin, now - SECOND, Resolution::Fine(6));
        let coarse = timeline.points(origin, now - SECOND, Resolution::Coarse(1));
        assert_eq!(fine.len(), 30);
        assert_eq!(fine, coarse);
        let merged = timeline.points(origin, now - SECOND, Resolution::Coarse(5));
        assert_eq!(merged.len(), 6);
        assert_eq!(
            merged.iter().map(|p| p.runs).sum::<u32>(),
            coarse.iter().map(|p| p.runs).sum::<u32>()
        );
    }

    #[test]
    fn time_without_runs_is_held_at_the_last_status_and_before_any_is_unknown() {
        let (mut timeline, origin) = timeline();
        run(&mut timeline, origin + 5 * MINUTE, HealthStatus::Unhealthy);
        let now = origin + 15 * MINUTE;
        timeline.advance(now);
        let points = timeline.points(origin, now - SECOND, Resolution::Coarse(1));
        assert!(
            points[..5]
                .iter()
                .all(|p| p.status.is_none() && p.availability.is_none())
        );
        assert!(
            points[5..]
                .iter()
                .all(|p| p.status == Some(HealthStatus::Unhealthy))
        );
        assert_eq!(points[7].availability, Some(0.0));
        assert_eq!(points[5].runs, 1);
        assert_eq!(points[6].runs, 0, "held, not run");
    }

    #[test]
    fn memory_is_fixed_however_long_it_runs() {
        let (mut timeline, origin) = timeline();
        let bytes = TimelineSettings::default().bytes_per_component();
        assert_eq!(bytes, (360 + 1440) * (8 + std::mem::size_of::<Interval>()));
        assert_eq!(bytes, 72_000, "as documented");
        for i in 0..(3 * 24 * 360) {
            run(
                &mut timeline,
                origin + 10 * SECOND * i,
                HealthStatus::Healthy,
            );
        }
        assert_eq!(timeline.fine.len(), 360);
        assert_eq!(timeline.coarse.len(), 1440);
        // Three days in, the oldest day is gone and the last is whole.
        let now = origin + 3 * 24 * 60 * MINUTE;
        timeline.advance(now);
        let day = timeline.points(now - 24 * 60 * MINUTE, now - SECOND, Resolution::Coarse(1));
        assert_eq!(day.len(), 1440);
        assert!(day.iter().all(|p| p.availability == Some(1.0)));
        let older = timeline.points(origin, origin + MINUTE, Resolution::Coarse(1));
        assert!(older.iter().all(|p| p.status.is_none()), "overwritten");
    }
}
