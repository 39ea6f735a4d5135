//! JSON bodies of the health endpoints.

use serde::Serialize;

use crate::{ComponentStatus, HealthStatus, SystemHealthStatus};

/// The liveness body: the process answers, so it is alive.
pub(crate) const LIVE: &[u8] = br#"{"status":"healthy"}"#;

/// The readiness body: `{"status":…,"ready":…}`, plus `reason` when the service was marked
/// not ready and `components` when verbose.
#[derive(Serialize)]
pub(crate) struct Readiness<'a> {
    pub(crate) status: HealthStatus,
    pub(crate) ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) components: Option<&'a [ComponentStatus]>,
}

impl Readiness<'_> {
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("readiness serialises")
    }
}

/// The detailed report body.
pub(crate) fn report(report: &SystemHealthStatus) -> Vec<u8> {
    serde_json::to_vec(report).expect("report serialises")
}

/// The body of a 405 answer.
pub(crate) const METHOD_NOT_ALLOWED: &[u8] =
    br#"{"error":"method not allowed","allow":["GET","HEAD"]}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_bodies_are_valid_json() {
        for body in [LIVE, METHOD_NOT_ALLOWED] {
            serde_json::from_slice::<serde_json::Value>(body).unwrap();
        }
    }

    #[test]
    fn readiness_leaves_out_what_it_does_not_have() {
        let body = Readiness {
            status: HealthStatus::Degraded,
            ready: true,
            reason: None,
            components: None,
        };
        assert_eq!(body.to_vec(), br#"{"status":"degraded","ready":true}"#);
    }
}
