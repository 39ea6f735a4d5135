//! `/health/fleet` (on once the layer is given a [`Fleet`](crate::fleet::Fleet)): every replica
//! of the fleet as this one last saw it — id, version, phase, status, each check's status,
//! request rate, error rate, p95, when last seen, stale ones marked — and the store's state,
//! for clients the detail policy allows (others get 401). Answered from the last exchange: it
//! never waits on the store. At most the fleet's `max_replicas` (64 by default) peers.

use http::StatusCode;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, unauthorized};
use crate::render;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "fleet",
    default_path: None,
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: false,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let Some(fleet) = &ask.settings.fleet else {
        return Answer::Now(ask.frame(StatusCode::NOT_FOUND, render::no_fleet()));
    };
    if !ask.details {
        return Answer::Now(unauthorized(ask.head, &ask.settings.policies.details()));
    }
    Answer::Now(ask.frame(StatusCode::OK, render::fleet(&fleet.view())))
}
