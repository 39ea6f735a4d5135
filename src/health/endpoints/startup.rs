//! The startup probe (off unless given a path): 503 until the startup checks have passed once,
//! then 200 for good.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
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
        return Answer::Now(started(HealthStatus::Healthy, settings, head));
    }
    if let Some(status) = ask.checker.cached_status(&settings.startup) {
        return Answer::Now(started(status, settings, head));
    }
    let (checker, settings) = (ask.checker.clone(), settings.clone());
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
        frame(StatusCode::OK, render::startup(None), head)
    } else {
        let body = render::startup(Some(status));
        frame(StatusCode::SERVICE_UNAVAILABLE, body, head)
    }
}
