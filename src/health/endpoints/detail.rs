//! The detailed report: in full for clients the detail policy allows, components' names and
//! statuses for clients the components policy allows, the bare status for the others; 200 or
//! 503 by the overall status.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
use crate::checker::{HealthChecker, Selector};
use crate::health::judged;
use crate::health::layer::Settings;
use crate::health_report::{HealthStatus, SystemHealthStatus};
use crate::render;
use crate::vitals::{Vitals, Want};

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "detail",
    default_path: Some("/health"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: true,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    static ALL: Selector = Selector::ALL;
    let selector = ask.query.select(&ALL);
    let (settings, head) = (ask.settings, ask.head);
    if !ask.details && ask.components {
        if let Some(report) = ask.checker.cached_report(&selector) {
            return Answer::Now(components(&report, settings, head));
        }
        let (checker, settings) = (ask.checker.clone(), settings.clone());
        let selector = selector.into_owned();
        return Answer::Later(Box::pin(async move {
            let report = checker.report_for(&selector).await;
            components(&report, &settings, head)
        }));
    }
    if !ask.details {
        if let Some(status) = ask.checker.cached_status(&selector) {
            return Answer::Now(bare(status, settings, head));
        }
        let (checker, settings) = (ask.checker.clone(), settings.clone());
        let selector = selector.into_owned();
        return Answer::Later(Box::pin(async move {
            let status = checker.report_for(&selector).await.status;
            bare(status, &settings, head)
        }));
    }
    let gatherer = settings.reporter(ask.checker).gatherer().clone();
    let want = Want {
        selector: &selector,
        ..Want::HEALTH
    };
    if let Some(vitals) = gatherer.gather_now(&want) {
        return Answer::Now(report(vitals, ask.checker, settings, head));
    }
    let checker = ask.checker.clone();
    let (selector, settings) = (selector.into_owned(), settings.clone());
    Answer::Later(Box::pin(async move {
        let want = Want {
            selector: &selector,
            ..Want::HEALTH
        };
        let vitals = gatherer.gather_with(&want).await;
        report(vitals, &checker, &settings, head)
    }))
}

/// The full report; with a fleet, failing shared checks carry the fleet's judgement.
fn report(
    mut vitals: Vitals,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
    head: bool,
) -> Response<Bytes> {
    if let Some(fleet) = &settings.fleet
        && vitals.health.status == HealthStatus::Unhealthy
    {
        judged::judge(fleet, checker, &mut vitals.health.components);
    }
    let code = settings.code(vitals.health.status);
    frame(code, render::health(&vitals), head)
}

/// Components' names and statuses, no messages or metadata.
fn components(report: &SystemHealthStatus, settings: &Settings, head: bool) -> Response<Bytes> {
    let code = settings.code(report.status);
    frame(code, render::components_only(report), head)
}

/// `{"status":…}` with the status's HTTP code: what clients without details see.
fn bare(status: HealthStatus, settings: &Settings, head: bool) -> Response<Bytes> {
    frame(settings.code(status), render::status_only(status), head)
}
