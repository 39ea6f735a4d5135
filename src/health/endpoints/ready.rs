//! Readiness: 200 when no gating check is unhealthy (and the service was not marked not
//! ready), else 503; `?verbose` lists the components for clients shown details.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
use crate::checker::HealthChecker;
use crate::health::layer::Settings;
use crate::health_report::{HealthStatus, SystemHealthStatus};
use crate::render;

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
    let (checker, settings, head) = (ask.checker, ask.settings, ask.head);
    if !verbose {
        if let Some(status) = checker.cached_status(&selector) {
            return Answer::Now(readiness(checker, settings, head, status, None));
        }
    } else if let Some(report) = checker.cached_report(&selector) {
        let response = readiness(checker, settings, head, report.status, Some(&report));
        return Answer::Now(response);
    }
    let selector = selector.into_owned();
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&selector).await;
        let components = verbose.then_some(&report);
        readiness(&checker, &settings, head, report.status, components)
    }))
}

fn readiness(
    checker: &HealthChecker,
    settings: &Settings,
    head: bool,
    status: HealthStatus,
    report: Option<&SystemHealthStatus>,
) -> Response<Bytes> {
    let reason = match checker.accepting_traffic() {
        true => None,
        false => checker.not_ready_reason(),
    };
    let code = match reason {
        None => settings.code(status),
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = render::readiness(
        status,
        code.is_success(),
        reason.as_deref(),
        report.map(|report| report.components.as_slice()),
    );
    frame(code, body, head)
}
