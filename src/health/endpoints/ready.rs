//! Readiness: 200 when no gating check is unhealthy (and the service was not marked not
//! ready), else 503; `?verbose` lists the components for clients shown details. With a
//! fleet, a [shared](crate::Check::shared) check failing here is judged against the other
//! replicas first: a shared outage holds readiness (by default), a local fault fails it, and
//! the body's `reason` says which.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame, negotiated};
use crate::checker::HealthChecker;
use crate::health::judged;
use crate::health::layer::Settings;
use crate::health_report::{HealthStatus, SystemHealthStatus};
use crate::render::{self, HealthJsonAnswer, Shown};

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "ready",
    default_path: Some("/health/ready"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: true,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let selector = ask.query.select(&ask.settings.readiness);
    let verbose = ask.query.verbose && ask.details;
    let (checker, settings) = (ask.checker, ask.settings);
    let head = (ask.head, ask.wants_health_json());
    // Only an unhealthy status may hold a shared check to judge against the fleet.
    let judged = settings.fleet.is_some() && checker.has_shared();
    let judging = move |status| judged && status == HealthStatus::Unhealthy;
    if !verbose
        && let Some(status) = checker.cached_status(&selector)
        && !judging(status)
    {
        return Answer::Now(readiness(
            checker,
            settings,
            head,
            Judged::plain(status),
            None,
        ));
    }
    if let Some(report) = checker.cached_report(&selector) {
        return Answer::Now(of_report(checker, settings, (head, verbose), report));
    }
    let selector = selector.into_owned();
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&selector).await;
        of_report(&checker, &settings, (head, verbose), report)
    }))
}

/// The overall status shown, the one readiness answers by (a shared outage's check counted
/// as degraded), and why they differ.
struct Judged {
    shown: HealthStatus,
    answered: HealthStatus,
    reason: Option<String>,
}

impl Judged {
    fn plain(status: HealthStatus) -> Self {
        Self {
            shown: status,
            answered: status,
            reason: None,
        }
    }
}

/// Readiness from a report, its shared checks judged against the fleet when they fail.
fn of_report(
    checker: &HealthChecker,
    settings: &Settings,
    (head, verbose): ((bool, bool), bool),
    mut report: SystemHealthStatus,
) -> Response<Bytes> {
    let mut judged = Judged::plain(report.status);
    if let Some(fleet) = &settings.fleet
        && report.status == HealthStatus::Unhealthy
    {
        (judged.answered, judged.reason) = judged::judge(fleet, checker, &mut report.components);
    }
    readiness(checker, settings, head, judged, verbose.then_some(&report))
}

/// The answer; `(head, health_json)`: HEAD, and whether in `application/health+json`.
fn readiness(
    checker: &HealthChecker,
    settings: &Settings,
    (head, health_json): (bool, bool),
    judged: Judged,
    report: Option<&SystemHealthStatus>,
) -> Response<Bytes> {
    let not_ready = match checker.accepting_traffic() {
        true => None,
        false => checker.not_ready_reason(),
    };
    let code = match not_ready {
        None => settings.code(judged.answered),
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let reason = not_ready.or(judged.reason);
    let components = report.map(|report| report.components.as_slice());
    let body = if health_json {
        render::health_json(&HealthJsonAnswer {
            status: judged.shown,
            success: code.is_success(),
            notes: reason.as_deref(),
            components: components.map(|components| (components, Shown::Details)),
            info: settings.info.as_deref(),
            description: "readiness to take traffic",
        })
    } else {
        render::readiness(
            judged.shown,
            code.is_success(),
            reason.as_deref(),
            components,
        )
    };
    negotiated(frame(code, body, head))
}
