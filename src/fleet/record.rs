//! What a replica publishes about itself, and the parser every peer's record goes through: the
//! store is input like any other, so a record is bounded, validated and trusted for its fields
//! only.

use serde::{Deserialize, Serialize};

use crate::health_report::HealthStatus;

/// The format's version; a record of another is ignored.
pub(crate) const FORMAT: u32 = 1;
/// The largest record read; a larger one is ignored.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;
/// The most checks a record carries; a replica with more publishes the first ones.
pub const MAX_RECORD_CHECKS: usize = 64;
/// The longest replica id, fleet name, check name or version, in characters.
const MAX_NAME: usize = 128;
/// How far ahead of this replica's clock a record may be dated before it is refused.
const MAX_AHEAD_MS: u64 = 60_000;

/// One replica's record, as published (compact keys: it crosses the store every interval).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The format's version.
    pub(crate) v: u32,
    /// The replica's id.
    pub(crate) id: String,
    /// A number drawn when the process started: two processes claiming one id differ in it.
    pub(crate) inst: u64,
    /// The application's version.
    pub(crate) ver: String,
    /// Lifecycle phase: `serving`, `draining`, `shutting_down`.
    pub(crate) phase: String,
    /// The overall status of its checks.
    pub(crate) status: HealthStatus,
    /// Publications so far.
    pub(crate) seq: u64,
    /// When it was published, in milliseconds since the Unix epoch, by the publisher's clock.
    pub(crate) at: u64,
    /// Uptime, in seconds.
    pub(crate) up: f64,
    /// Requests per second, error rate (0 to 1) and p95 latency in seconds over the request
    /// window, when the replica counts requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) err: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) p95: Option<f64>,
    /// Each check's status and the age of its result in seconds (statuses only: no message,
    /// no metadata, nothing a secret could hide in).
    pub(crate) checks: Vec<CheckRecord>,
}

/// One check in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckRecord {
    /// The check's name.
    pub(crate) n: String,
    /// Its status; absent before its first result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) s: Option<HealthStatus>,
    /// The age of that result, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) age: Option<f64>,
    /// How long that status has stood, in seconds (since the failure began, when it fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) held: Option<f64>,
}

impl CheckRecord {
    /// When the result was made, by the publisher's clock (`at`, its record's date).
    pub(crate) fn made_at(&self, at: u64) -> Option<u64> {
        Some(at.saturating_sub(seconds_to_ms(self.age?)))
    }

    /// When its status began, by the publisher's clock.
    pub(crate) fn since(&self, at: u64) -> Option<u64> {
        Some(at.saturating_sub(seconds_to_ms(self.held?)))
    }
}

/// Seconds (finite, not negative: a record's bounds) in whole milliseconds.
fn seconds_to_ms(seconds: f64) -> u64 {
    (seconds * 1e3).round() as u64
}

/// Why a peer's record was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Over [`MAX_RECORD_BYTES`].
    TooLarge,
    /// Not JSON of this shape, or of another format version.
    Malformed,
    /// A name, number or list out of its bounds.
    OutOfBounds,
    /// Dated more than a minute ahead of this replica's clock.
    FutureDated,
}

impl Refused {
    pub(crate) const ALL: [Refused; 4] = [
        Self::TooLarge,
        Self::Malformed,
        Self::OutOfBounds,
        Self::FutureDated,
    ];

    /// The name `/metrics` labels it with.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::OutOfBounds => "out_of_bounds",
            Self::FutureDated => "future_dated",
        }
    }
}

impl Record {
    /// The record as published.
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record serialises")
    }

    /// A peer's record, if it can be trusted for its fields; `now_ms` is this replica's clock.
    pub(crate) fn decode(bytes: &[u8], now_ms: u64) -> Result<Self, Refused> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(Refused::TooLarge);
        }
        let record: Self = serde_json::from_slice(bytes).map_err(|_| Refused::Malformed)?;
        if record.v != FORMAT {
            return Err(Refused::Malformed);
        }
        if record.at > now_ms.saturating_add(MAX_AHEAD_MS) {
            return Err(Refused::FutureDated);
        }
        if !record.within_bounds() {
            return Err(Refused::OutOfBounds);
        }
        Ok(record)
    }

    fn within_bounds(&self) -> bool {
        let share = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
        let positive = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v >= 0.0);
        valid_name(&self.id)
            && (self.ver.is_empty() || valid_name(&self.ver))
            && matches!(
                self.phase.as_str(),
                "serving" | "draining" | "shutting_down"
            )
            && self.up.is_finite()
            && self.up >= 0.0
            && positive(self.rps)
            && share(self.err)
            && positive(self.p95)
            && self.checks.len() <= MAX_RECORD_CHECKS
            && self
                .checks
                .iter()
                .all(|check| valid_name(&check.n) && positive(check.age) && positive(check.held))
            && self
                .checks
                .iter()
                .enumerate()
                .all(|(i, check)| self.checks[..i].iter().all(|c| c.n != check.n))
    }
}

/// A replica id, fleet name, check name or version: 1 to 128 characters, none a control
/// character.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= MAX_NAME && !name.chars().any(char::is_control)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(id: &str) -> Record {
        Record {
            v: FORMAT,
            id: id.to_owned(),
            inst: 7,
            ver: "1.4.2".to_owned(),
            phase: "serving".to_owned(),
            status: HealthStatus::Healthy,
            seq: 3,
            at: 1_765_000_000_000,
            up: 12.5,
            rps: Some(40.0),
            err: Some(0.01),
            p95: Some(0.045),
            checks: vec![CheckRecord {
                n: "postgres".to_owned(),
                s: Some(HealthStatus::Healthy),
                age: Some(0.4),
                held: Some(3600.0),
            }],
        }
    }

    #[test]
    fn a_record_round_trips_and_stays_small() {
        let record = record("shop-7d9f-x2k4p");
        let bytes = record.encode();
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
        assert_eq!(Record::decode(&bytes, record.at).unwrap(), record);
    }

    #[test]
    fn records_out_of_bounds_are_refused() {
        let now = 1_765_000_000_000;
        let refused = |edit: fn(&mut Record)| {
            let mut record = record("a");
            edit(&mut record);
            Record::decode(&record.encode(), now).unwrap_err()
        };
        assert_eq!(refused(|r| r.v = 2), Refused::Malformed);
        assert_eq!(refused(|r| r.id = String::new()), Refused::OutOfBounds);
        assert_eq!(refused(|r| r.id = "a\nb".to_owned()), Refused::OutOfBounds);
        assert_eq!(refused(|r| r.err = Some(1.5)), Refused::OutOfBounds);
        assert_eq!(
            refused(|r| r.phase = "gone".to_owned()),
            Refused::OutOfBounds
        );
        assert_eq!(refused(|r| r.at += 120_000), Refused::FutureDated);
        assert_eq!(
            refused(|r| r.checks.push(r.checks[0].clone())),
            Refused::OutOfBounds,
            "a check named twice"
        );
        assert_eq!(
            refused(|r| r.checks = vec![r.checks[0].clone(); MAX_RECORD_CHECKS + 1]),
            Refused::OutOfBounds
        );
        assert_eq!(
            Record::decode(&vec![b' '; MAX_RECORD_BYTES + 1], now).unwrap_err(),
            Refused::TooLarge
        );
        assert_eq!(
            Record::decode(b"{\"v\":1}", now).unwrap_err(),
            Refused::Malformed
        );
        assert_eq!(
            Record::decode(b"\xff\xfe", now).unwrap_err(),
            Refused::Malformed
        );
        // A negative or NaN number is no JSON a record can hold.
        let text = String::from_utf8(record("a").encode())
            .unwrap()
            .replace("12.5", "-1");
        assert_eq!(
            Record::decode(text.as_bytes(), now).unwrap_err(),
            Refused::OutOfBounds
        );
    }
}
