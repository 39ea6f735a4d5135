//! The incident log: each time a component stops being healthy, an incident opens — what it
//! went to, from what, why (the redacted reason at the start), its runs and worst status — and
//! it closes when the component is healthy again. It stays after that; the log keeps the last
//! ones (200 by default).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

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

/// The last incidents, oldest first.
#[derive(Debug)]
pub(crate) struct IncidentLog {
    incidents: VecDeque<Incident>,
    capacity: usize,
}

impl IncidentLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            incidents: VecDeque::with_capacity(capacity),
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
        at: SystemTime,
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
                incident.duration = at.duration_since(incident.start).unwrap_or_default();
                if status == HealthStatus::Healthy {
                    incident.end = Some(at);
                } else if status > incident.worst {
                    incident.worst = status;
                    incident.worst_message = message.map(str::to_owned);
                }
            }
            None if status != HealthStatus::Healthy => {
                if self.incidents.len() == self.capacity {
                    self.incidents.pop_front();
                }
                self.incidents.push_back(Incident {
                    component: component.to_owned(),
                    from: previous,
                    to: status,
                    worst: status,
                    start: at,
                    end: None,
                    duration: Duration::ZERO,
                    reason: message.map(str::to_owned),
                    worst_message: message.map(str::to_owned),
                    runs: 1,
                });
            }
            None => {}
        }
    }

    /// The incidents of `component` (or all) that lasted into `since` or began after it,
    /// oldest first; an open one's duration counted up to `now`.
    pub(crate) fn since(
        &self,
        component: Option<&str>,
        since: SystemTime,
        now: SystemTime,
    ) -> Vec<Incident> {
        self.incidents
            .iter()
            .filter(|incident| component.is_none_or(|c| incident.component == c))
            .filter(|incident| incident.end.is_none_or(|end| end >= since))
            .map(|incident| {
                let mut incident = incident.clone();
                if incident.end.is_none() {
                    incident.duration = now.duration_since(incident.start).unwrap_or_default();
                }
                incident
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::{Degraded, Healthy, Unhealthy};

    fn at(seconds: u64) -> SystemTime {
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
        let incidents = log.since(None, at(0), at(100));
        assert_eq!(incidents.len(), 1);
        let db = &incidents[0];
        assert_eq!(
            (db.from, db.to, db.worst),
            (Some(Healthy), Degraded, Unhealthy)
        );
        assert_eq!((db.start, db.end), (at(10), Some(at(70))));
        assert_eq!(db.duration, Duration::from_secs(60));
        assert_eq!(db.reason.as_deref(), Some("slow"));
        assert_eq!(db.worst_message.as_deref(), Some("refused"));
        assert_eq!(db.runs, 4);
        assert!(log.since(None, at(71), at(100)).is_empty(), "ended before");
        assert!(log.since(Some("cache"), at(0), at(100)).is_empty());
    }

    #[test]
    fn an_open_incident_lasts_until_now_and_the_log_is_bounded() {
        let mut log = IncidentLog::new(3);
        for i in 0..5u64 {
            log.run(&format!("c{i}"), None, Unhealthy, Some("down"), at(i));
        }
        let incidents = log.since(None, at(0), at(100));
        let names: Vec<&str> = incidents.iter().map(|i| i.component.as_str()).collect();
        assert_eq!(names, ["c2", "c3", "c4"]);
        assert_eq!(incidents[2].duration, Duration::from_secs(96));
        assert_eq!(incidents[2].from, None);
    }
}
