//! `/health/incidents`: the incident log — each time a component stopped being healthy, from
//! what, to what, why, for how long (an incident stays after recovery) — for clients the
//! detail policy allows (others get 401). `?component=db&since=-24h`; `since` is clamped to
//! what is kept, an answer holds the newest [`MAX_INCIDENTS`] (messages are capped at 512
//! characters).

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

/// The most incidents of one answer: the newest; `omitted` says how many older ones matched.
pub(crate) const MAX_INCIDENTS: usize = 1_000;

fn answer(ask: &Ask<'_>) -> Answer {
    if !ask.details {
        return Answer::Now(unauthorized(ask.head, &ask.settings.policies.details()));
    }
    let checker = ask.checker;
    let day = Duration::from_secs(24 * 3600);
    let bounds = range::Bounds {
        now: checker.now(),
        retention: checker.timeline_settings().coarse.1.max(day),
        back: day,
    };
    let range = match range::parse(ask.request.uri.query(), bounds, KEYS) {
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
    let mut incidents = checker.incidents(range.component.as_deref(), range.since);
    let omitted = incidents.len().saturating_sub(MAX_INCIDENTS);
    incidents.drain(..omitted);
    let rendered = render::incidents(range.since, &incidents, omitted);
    Answer::Now(ask.frame(StatusCode::OK, rendered))
}
