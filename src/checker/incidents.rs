//! The incident log: each time a component stops being healthy, an incident opens — what it
//! went to, from what, why (the redacted reason at the start), its runs and worst status — and
//! it closes when the component is healthy again. It stays after that; the log keeps the last
//! closed ones (200 by default) and every open one, however old: an open incident is never
//! evicted, so a long outage keeps its true start and worst status. As a component has at most
//! one open incident, the log holds at most its capacity plus the number of checks.
//!
//! Times are kept as monotonic instants and dated on the crate's one time base when read.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use serde::Serialize;

use crate::health_report::HealthStatus;

/// One incident of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Incident {
    /// The component.
    pub component: String,
    /// The status before (`None`: the component's first result was not healthy).
    pub from: Option<HealthStatus>,
    /// The status it went to.
    pub to: HealthStatus,
    /// The worst status during it.
    pub worst: HealthStatus,
    /// When it began.
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    pub start: SystemTime,
    /// When the component was healthy again; `None` while it lasts.
    #[serde(serialize_with = "rfc3339_or_null")]
    pub end: Option<SystemTime>,
    /// How long it lasted, or has lasted so far.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// The check's message when it began (redacted).
    pub reason: Option<String>,
    /// The message of its worst run (redacted).
    pub worst_message: Option<String>,
    /// Runs during it, the first and the recovering one included.
    pub runs: u64,
}

fn rfc3339_or_null<S: serde::Serializer>(at: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => crate::health_report::rfc3339(at, s),
        None => s.serialize_none(),
    }
}

fn millis<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration.as_millis() as u64)
}

/// One kept incident, in monotonic time.
#[derive(Debug)]
struct Kept {
    component: String,
    from: Option<HealthStatus>,
    to: HealthStatus,
    worst: HealthStatus,
    start: Instant,
    end: Option<Instant>,
    reason: Option<String>,
    worst_message: Option<String>,
    runs: u64,
}

/// The last closed incidents and every open one, oldest first.
#[derive(Debug)]
pub(crate) struct IncidentLog {
    incidents: VecDeque<Kept>,
    /// How many closed incidents are kept.
    capacity: usize,
}

impl IncidentLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            incidents: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    /// A run of `component` finished at `at` with `status` (shown, after thresholds), having
    /// shown `previous` before.
    pub(crate) fn run(
        &mut self,
        component: &str,
        previous: Option<HealthStatus>,
        status: HealthStatus,
        message: Option<&str>,
        at: Instant,
    ) {
        if self.capacity == 0 {
            return;
        }
        let open = self
            .incidents
            .iter_mut()
            .rev()
            .find(|incident| incident.end.is_none() && incident.component == component);
        match open {
            Some(incident) => {
                incident.runs += 1;
                if status == HealthStatus::Healthy {
                    incident.end = Some(at);
                    self.evict();
                } else if status > incident.worst {
                    incident.worst = status;
                    incident.worst_message = message.map(str::to_owned);
                }
            }
            None if status != HealthStatus::Healthy => {
                self.incidents.push_back(Kept {
                    component: component.to_owned(),
                    from: previous,
                    to: status,
                    worst: status,
                    start: at,
                    end: None,
                    reason: message.map(str::to_owned),
                    worst_message: message.map(str::to_owned),
                    runs: 1,
                });
            }
            None => {}
        }
    }

    /// Drops the oldest closed incidents past the capacity; open ones stay.
    fn evict(&mut self) {
        let mut closed = self.incidents.iter().filter(|i| i.end.is_some()).count();
        while closed > self.capacity {
            if let Some(oldest) = self.incidents.iter().position(|i| i.end.is_some()) {
                self.incidents.remove(oldest);
            }
            closed -= 1;
        }
    }

    /// The incidents of `component` (or all) that lasted into `since` or began after it,
    /// oldest first; an open one's duration counted up to `now`; dated by `wall`.
    pub(crate) fn since(
        &self,
        component: Option<&str>,
        since: Instant,
        now: Instant,
        wall: impl Fn(Instant) -> SystemTime,
    ) -> Vec<Incident> {
        self.incidents
            .iter()
            .filter(|incident| component.is_none_or(|c| incident.component == c))
            .filter(|incident| incident.end.is_none_or(|end| end >= since))
            .map(|kept| Incident {
                component: kept.component.clone(),
                from: kept.from,
                to: kept.to,
                worst: kept.worst,
                start: wall(kept.start),
                end: kept.end.map(&wall),
                duration: kept
                    .end
                    .unwrap_or(now)
                    .saturating_duration_since(kept.start),
                reason: kept.reason.clone(),
                worst_message: kept.worst_message.clone(),
                runs: kept.runs,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::{Degraded, Healthy, Unhealthy};

    fn origin() -> Instant {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now)
    }

    fn at(seconds: u64) -> Instant {
        origin() + Duration::from_secs(seconds)
    }

    fn wall(at: Instant) -> SystemTime {
        SystemTime::UNIX_EPOCH + at.duration_since(origin())
    }

    fn epoch(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn an_incident_opens_worsens_and_stays_after_recovery() {
        let mut log = IncidentLog::new(200);
        log.run("db", None, Healthy, None, at(0));
        log.run("db", Some(Healthy), Degraded, Some("slow"), at(10));
        log.run("db", Some(Degraded), Unhealthy, Some("refused"), at(20));
        log.run("db", Some(Unhealthy), Unhealthy, Some("refused"), at(30));
        log.run("cache", None, Healthy, None, at(30));
        log.run("db", Some(Unhealthy), Healthy, None, at(70));
        log.run("db", Some(Healthy), Healthy, None, at(80));
        let incidents = log.since(None, at(0), at(100), wall);
        assert_eq!(incidents.len(), 1);
        let db = &incidents[0];
        assert_eq!(
            (db.from, db.to, db.worst),
            (Some(Healthy), Degraded, Unhealthy)
        );
        assert_eq!((db.start, db.end), (epoch(10), Some(epoch(70))));
        assert_eq!(db.duration, Duration::from_secs(60));
        assert_eq!(db.reason.as_deref(), Some("slow"));
        assert_eq!(db.worst_message.as_deref(), Some("refused"));
        assert_eq!(db.runs, 4);
        assert!(
            log.since(None, at(71), at(100), wall).is_empty(),
            "ended before"
        );
        assert!(log.since(Some("cache"), at(0), at(100), wall).is_empty());
    }

    #[test]
    fn open_incidents_last_until_now_and_are_kept_beyond_the_capacity() {
        let mut log = IncidentLog::new(3);
        for i in 0..5u64 {
            log.run(&format!("c{i}"), None, Unhealthy, Some("down"), at(i));
        }
        // Five components down at once: all five open incidents are kept.
        let incidents = log.since(None, at(0), at(100), wall);
        let names: Vec<&str> = incidents.iter().map(|i| i.component.as_str()).collect();
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
        assert_eq!(incidents[4].duration, Duration::from_secs(96));
        assert_eq!(incidents[4].from, None);
        // As they close, the log shrinks to its three newest closed ones.
        for i in 0..5u64 {
            log.run(
                &format!("c{i}"),
                Some(Unhealthy),
                Healthy,
                None,
                at(200 + i),
            );
        }
        let incidents = log.since(None, at(0), at(300), wall);
        let names: Vec<&str> = incidents.iter().map(|i| i.component.as_str()).collect();
        assert_eq!(names, ["c2", "c3", "c4"]);
    }

    #[test]
    fn a_day_long_incident_beside_a_flapping_one_keeps_its_start_and_worst() {
        let mut log = IncidentLog::new(200);
        log.run("db", Some(Healthy), Degraded, Some("slow"), at(0));
        log.run("db", Some(Degraded), Unhealthy, Some("refused"), at(5));
        // A day of a flapping cache: 8 640 incidents, far past the 200 kept.
        for i in 0..8640u64 {
            let t = 10 + i * 10;
            log.run("cache", Some(Healthy), Unhealthy, Some("timeout"), at(t));
            log.run("cache", Some(Unhealthy), Healthy, None, at(t + 5));
            log.run("db", Some(Unhealthy), Unhealthy, Some("refused"), at(t));
        }
        let now = at(86_410);
        let db = log.since(Some("db"), at(0), now, wall);
        assert_eq!(db.len(), 1, "the open incident was kept");
        let db = &db[0];
        assert_eq!((db.start, db.end), (epoch(0), None));
        assert_eq!((db.from, db.worst), (Some(Healthy), Unhealthy));
        assert_eq!(db.reason.as_deref(), Some("slow"));
        assert_eq!(db.runs, 8642);
        assert_eq!(db.duration, Duration::from_secs(86_410));
        assert_eq!(log.since(Some("cache"), at(0), now, wall).len(), 200);
    }
}
