//! `/health/info` (on once the layer is given an [`AppInfo`](crate::AppInfo)): the
//! application's build and runtime information in full for clients the detail policy allows,
//! its name and version for the others.

use http::StatusCode;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD};
use crate::render;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "info",
    default_path: None,
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: false,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let Some(info) = &ask.settings.info else {
        return Answer::Now(ask.frame(StatusCode::NOT_FOUND, render::no_info()));
    };
    Answer::Now(ask.frame(StatusCode::OK, render::info(info, ask.details)))
}
