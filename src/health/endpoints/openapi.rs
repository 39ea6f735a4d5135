//! The health endpoints' OpenAPI document (feature `openapi`), at the paths this layer serves;
//! for clients the detail policy shows details, 401 for others.

use http::StatusCode;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, unauthorized};
use crate::render::Rendered;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "openapi",
    default_path: Some("/health/openapi.json"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: false,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    if !ask.details {
        return Answer::Now(unauthorized(ask.head, &ask.settings.policies.details()));
    }
    let document = crate::health::openapi::document(ask.settings);
    let body = serde_json::to_vec(&document).expect("the document serialises");
    Answer::Now(ask.frame(StatusCode::OK, Rendered::openapi(body)))
}
