//! Shared checks failing here, judged against the layer's fleet: readiness holds through a
//! shared outage and fails on a local fault; `/health` says which.

use crate::checker::HealthChecker;
use crate::fleet::Fleet;
use crate::health_report::{ComponentStatus, HealthStatus};

/// Marks each [shared](crate::Check::shared) component failing here with the fleet's
/// judgement, its reason leading the component's, and returns the status readiness answers
/// by — a component whose judgement holds readiness counts as degraded — with the reasons of
/// the judgements that readiness answers by.
pub(crate) fn judge(
    fleet: &Fleet,
    checker: &HealthChecker,
    components: &mut [ComponentStatus],
) -> (HealthStatus, Option<String>) {
    let mut status = HealthStatus::Healthy;
    let mut reasons: Vec<String> = Vec::new();
    for component in components {
        let mut counted = component.status;
        if component.status == HealthStatus::Unhealthy && checker.is_shared(&component.name) {
            let (judgement, reason) = fleet.judge(&component.name);
            component.judgement = Some(judgement);
            let holds = fleet.holds_readiness(judgement);
            if holds {
                counted = HealthStatus::Degraded;
            }
            if let Some(reason) = reason {
                component.reason = Some(match component.reason.take() {
                    Some(own) => format!("{reason}; {own}"),
                    None => reason.clone(),
                });
                reasons.push(reason);
            }
        }
        status = status.max(counted);
    }
    (status, (!reasons.is_empty()).then(|| reasons.join("; ")))
}
