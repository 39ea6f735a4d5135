//! `/health/incidents`: the incident log — each time a component stopped being healthy, from
//! what, to what, why, for how long (an incident stays after recovery) — for clients the
//! detail policy allows (others get 401). `?component=db&since=-24h`.

use std::time::Duration;

use http::StatusCode;

use super::range;
use super::{Access, Answer, Ask, Descriptor, GET_HEAD, unauthorized};
use crate::render;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "incidents",
    default_path: Some("/health/incidents"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: false,
    answer,
};

const KEYS: &[&str] = &["component", "since"];

fn answer(ask: &Ask<'_>) -> Answer {
    if !ask.details {
        return Answer::Now(unauthorized(ask.head));
    }
    let checker = ask.checker;
    let day = Duration::from_secs(24 * 3600);
    let range = match range::parse(ask.request.uri.query(), checker.now(), day, KEYS) {
        Ok(range) => range,
        Err(error) => {
            return Answer::Now(ask.frame(StatusCode::BAD_REQUEST, render::bad_query(&error)));
        }
    };
    if let Some(name) = &range.component
        && !checker.check_names().any(|n| n == name)
    {
        return Answer::Now(ask.frame(StatusCode::NOT_FOUND, render::no_component(name)));
    }
    let incidents = checker.incidents(range.component.as_deref(), range.since);
    Answer::Now(ask.frame(StatusCode::OK, render::incidents(range.since, &incidents)))
}
