//! Liveness: the process answering is the answer, unless the application marked it broken
//! (`HealthChecker::mark_broken`): then 503 with the reason. Runs no checks.

use http::StatusCode;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD};
use crate::render;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "live",
    default_path: Some("/health/live"),
    methods: GET_HEAD,
    access: Access::Public,
    runs_checks: false,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    match ask.checker.broken() {
        None => Answer::Now(ask.frame(StatusCode::OK, render::live())),
        Some(reason) => {
            let body = render::broken(&reason);
            Answer::Now(ask.frame(StatusCode::SERVICE_UNAVAILABLE, body))
        }
    }
}
