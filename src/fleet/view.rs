//! The fleet as this replica last saw it.

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use super::judge::SharedCheck;
use super::record::Record;
use crate::health_report::HealthStatus;
use crate::round::round3;

/// The fleet as this replica last saw it, from [`Fleet::view`](super::Fleet::view): every
/// replica whose record stands in the store, and those seen lately whose record no longer does
/// (stale).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FleetView {
    /// The fleet's name.
    pub fleet: String,
    /// This replica's id.
    #[serde(rename = "self")]
    pub this: String,
    /// The store, as the last exchange found it.
    pub store: StoreState,
    /// Every replica, this one first, then by id.
    pub replicas: Vec<Replica>,
    /// Each [shared](crate::Check::shared) check: how many fresh replicas fail it, and the
    /// judgement it is under here.
    pub shared: Vec<SharedCheck>,
    /// Each [once-per-fleet](crate::Check::once_per_fleet) check and the replica that runs it.
    pub once_per_fleet: Vec<OnceCheck>,
}

/// A once-per-fleet check and who runs it, from the last exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OnceCheck {
    /// The check's name.
    pub check: String,
    /// The id of the replica holding its lease (`None`: no lease known — the store out of
    /// reach — and every replica runs it itself).
    pub run_by: Option<String>,
    /// Whether this replica holds it.
    #[serde(rename = "self")]
    pub this: bool,
}

/// Whether the store answered, from the last exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StoreState {
    /// The last exchange succeeded.
    pub reachable: bool,
    /// Why it did not (redacted), or `no exchange yet`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the store became reachable or unreachable, if it did since start.
    #[serde(
        serialize_with = "crate::health_report::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub since: Option<SystemTime>,
}

/// One replica of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Replica {
    /// Its id.
    pub id: String,
    /// Whether it is this replica.
    #[serde(rename = "self")]
    pub this: bool,
    /// Whether its record stood in the store at the last exchange (`false`: stale — it stopped
    /// publishing, or the store is out of reach).
    pub fresh: bool,
    /// Two processes publish under this id (their records alternate).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// The application's version it runs.
    pub version: String,
    /// Its lifecycle phase (`serving`, `draining`, `shutting_down`).
    pub phase: String,
    /// The overall status of its checks.
    pub status: HealthStatus,
    /// Each check's status (`None` before its first result); in JSON an object by name.
    #[serde(serialize_with = "by_name")]
    pub checks: Vec<(String, Option<HealthStatus>)>,
    /// Its uptime, in seconds.
    pub uptime_seconds: f64,
    /// Requests per second over its request window, if it counts requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
    /// Its error rate (0 to 1) over that window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// Its p95 latency over that window, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// When this replica last read its record (by this replica's clock).
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    pub last_seen: SystemTime,
    /// How long ago that was, in milliseconds.
    pub last_seen_ms: f64,
}

impl Replica {
    pub(crate) fn of(
        record: &Record,
        this: bool,
        fresh: bool,
        seen: (SystemTime, Duration),
    ) -> Self {
        Self {
            id: record.id.clone(),
            this,
            fresh,
            duplicate: false,
            version: record.ver.clone(),
            phase: record.phase.clone(),
            status: record.status,
            checks: record.checks.iter().map(|c| (c.n.clone(), c.s)).collect(),
            uptime_seconds: round3(record.up),
            requests_per_second: record.rps.map(round3),
            error_rate: record.err.map(round3),
            p95_ms: record.p95.map(|s| round3(s * 1e3)),
            last_seen: seen.0,
            last_seen_ms: crate::round::millis(seen.1),
        }
    }
}

impl FleetView {
    /// The fresh replicas.
    pub fn fresh(&self) -> impl Iterator<Item = &Replica> {
        self.replicas.iter().filter(|replica| replica.fresh)
    }

    /// The shared check named `check`, as judged at the last exchange.
    pub fn shared(&self, check: &str) -> Option<&SharedCheck> {
        self.shared.iter().find(|shared| shared.check == check)
    }
}

/// The checks as an object: `{"postgres":"healthy"}`.
fn by_name<S: Serializer>(
    checks: &[(String, Option<HealthStatus>)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(checks.iter().map(|(name, status)| (name, status)))
}
