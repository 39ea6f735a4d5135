//! The startup probe (off unless given a path): 503 until the startup checks have passed once
//! with no warm-up gate pending, then 200 for good.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
use crate::checker::HealthChecker;
use crate::health::layer::Settings;
use crate::health_report::HealthStatus;
use crate::render;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "startup",
    default_path: None,
    methods: GET_HEAD,
    access: Access::Public,
    runs_checks: false,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let (settings, head) = (ask.settings, ask.head);
    if settings.started.load(Ordering::Acquire) {
        return Answer::Now(frame(StatusCode::OK, render::startup(None), head));
    }
    if let Some(status) = ask.checker.cached_status(&settings.startup) {
        return Answer::Now(started(status, ask.checker, settings, head));
    }
    let (checker, settings) = (ask.checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&settings.startup).await;
        started(report.status, &checker, &settings, head)
    }))
}

/// The startup answer: latches once the startup checks are neither unhealthy nor unknown and
/// no warm-up gate is pending.
fn started(
    status: HealthStatus,
    checker: &HealthChecker,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    if settings.started.load(Ordering::Acquire) {
        return frame(StatusCode::OK, render::startup(None), head);
    }
    let warming = checker.warming_up_reason();
    if status <= HealthStatus::Degraded && warming.is_none() {
        settings.started.store(true, Ordering::Release);
        frame(StatusCode::OK, render::startup(None), head)
    } else {
        let body = render::startup(Some((status, warming.as_deref())));
        frame(StatusCode::SERVICE_UNAVAILABLE, body, head)
    }
}
