//! Readiness and startup (liveness needs no code: the process answering is the answer).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::query::Query;
use super::{Answer, json};
use crate::export::json::{self as body, Readiness};
use crate::health::layer::Settings;
use crate::{HealthChecker, HealthStatus, SystemHealthStatus};

pub(super) fn ready(
    query: Query,
    details: bool,
    head: bool,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
) -> Answer {
    let selector = query.select(&settings.readiness);
    let verbose = query.verbose && details;
    if !verbose {
        if let Some(status) = checker.cached_status(&selector) {
            return Answer::Now(readiness(status, None, checker, settings, head));
        }
    } else if let Some(report) = checker.cached_report(&selector) {
        return Answer::Now(readiness(
            report.status,
            Some(&report),
            checker,
            settings,
            head,
        ));
    }
    let selector = selector.into_owned();
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&selector).await;
        let components = verbose.then_some(&report);
        readiness(report.status, components, &checker, &settings, head)
    }))
}

fn readiness(
    status: HealthStatus,
    report: Option<&SystemHealthStatus>,
    checker: &HealthChecker,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    let accepting = checker.accepting_traffic();
    let code = if accepting {
        settings.code(status)
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let readiness = Readiness {
        status,
        ready: code.is_success(),
        reason: (!accepting).then_some("marked not ready"),
        components: report.map(|report| report.components.as_slice()),
    };
    json(code, readiness.to_vec().into(), head)
}

pub(super) fn startup(head: bool, checker: &HealthChecker, settings: &Arc<Settings>) -> Answer {
    if settings.started.load(Ordering::Acquire) {
        return Answer::Now(started(HealthStatus::Healthy, settings, head));
    }
    if let Some(status) = checker.cached_status(&settings.startup) {
        return Answer::Now(started(status, settings, head));
    }
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&settings.startup).await;
        started(report.status, &settings, head)
    }))
}

/// The startup answer: latches once the startup checks are neither unhealthy nor unknown.
fn started(status: HealthStatus, settings: &Settings, head: bool) -> Response<Bytes> {
    let done = settings.started.load(Ordering::Acquire) || status <= HealthStatus::Degraded;
    if done {
        settings.started.store(true, Ordering::Release);
        json(StatusCode::OK, Bytes::from_static(body::STARTED), head)
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            body::starting(status).into(),
            head,
        )
    }
}
