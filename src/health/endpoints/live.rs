//! Liveness: the process answering is the answer. Runs no checks.

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
    Answer::Now(ask.frame(StatusCode::OK, render::live()))
}
