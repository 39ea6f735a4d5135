//! The endpoints as a table: each is a [`Descriptor`] — name, default path, methods, access,
//! whether it runs checks, and its answer function — in its own file. Routing, method checks,
//! the detail policy and framing are done here once for all of them.
//!
//! Adding an endpoint: a new file with a `Descriptor` and its answer function, one line in
//! [`TABLE`], and a builder method on `HealthLayer` if it has a path of its own to set.

pub(crate) mod component;
mod dashboard;
mod detail;
mod fleet;
pub(crate) mod group;
mod history;
mod incidents;
mod info;
mod live;
mod metrics;
#[cfg(feature = "openapi")]
mod openapi;
mod range;
mod ready;
mod reliability;
mod startup;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};

use super::future::Checking;
use super::layer::Settings;
use super::policy::DetailPolicy;
use super::query::Query;
use crate::checker::HealthChecker;
use crate::render::{self, Rendered};

/// Who may see an endpoint's full answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Everybody, in full.
    Public,
    /// Everybody; the full answer only for clients the detail policy allows, components'
    /// names and statuses for clients the components policy allows, the bare status for others.
    Details,
    /// Only clients the endpoint's own policy allows (`/metrics`); others get 401.
    Guarded,
}

/// One endpoint.
#[derive(Debug)]
pub(crate) struct Descriptor {
    /// The name the layer's settings use.
    pub(crate) name: &'static str,
    /// Its path when the layer is made (`None`: off until given one).
    pub(crate) default_path: Option<&'static str>,
    /// The methods it answers; others get 405 with `Allow`.
    pub(crate) methods: &'static [Method],
    pub(crate) access: Access,
    /// Whether it may run checks (and so reads `?exclude=`).
    pub(crate) runs_checks: bool,
    pub(crate) answer: fn(&Ask<'_>) -> Answer,
}

/// GET and HEAD: what every health endpoint answers.
pub(crate) const GET_HEAD: &[Method] = &[Method::GET, Method::HEAD];

/// How many endpoints there are: the OpenAPI document's with the `openapi` feature.
const ENDPOINTS: usize = if cfg!(feature = "openapi") { 12 } else { 11 };

/// Every endpoint, in the order paths are matched.
pub(crate) const TABLE: [&Descriptor; ENDPOINTS] = [
    &live::ENDPOINT,
    &ready::ENDPOINT,
    &detail::ENDPOINT,
    &reliability::ENDPOINT,
    &metrics::ENDPOINT,
    &startup::ENDPOINT,
    &info::ENDPOINT,
    &history::ENDPOINT,
    &incidents::ENDPOINT,
    &dashboard::ENDPOINT,
    &fleet::ENDPOINT,
    #[cfg(feature = "openapi")]
    &openapi::ENDPOINT,
];

/// What a routed path names beyond its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    None,
    /// A health group, by index in the layer's settings.
    Group(usize),
    /// A component, by (decoded) name.
    Component(String),
}

/// What an answer function is given.
pub(crate) struct Ask<'a> {
    pub(crate) request: &'a Parts,
    pub(crate) target: Target,
    /// HEAD: the same headers, no body.
    pub(crate) head: bool,
    pub(crate) query: Query,
    /// Whether the client is shown details (always `false` for a public endpoint).
    pub(crate) details: bool,
    /// Whether the client is shown components' names and statuses (true with details).
    pub(crate) components: bool,
    pub(crate) checker: &'a HealthChecker,
    pub(crate) settings: &'a Arc<Settings>,
}

impl Ask<'_> {
    /// `rendered` framed with `status`.
    pub(crate) fn frame(&self, status: StatusCode, rendered: Rendered) -> Response<Bytes> {
        frame(status, rendered, self.head)
    }

    /// Whether the client's `Accept` asks for `application/health+json`.
    pub(crate) fn wants_health_json(&self) -> bool {
        let accept = self.request.headers.get(header::ACCEPT);
        render::accepts_health_json(accept.and_then(|value| value.to_str().ok()))
    }
}

/// `response` marked as chosen by the request's `Accept` (the crate's JSON or
/// `application/health+json`), so caches keep the two apart.
pub(crate) fn negotiated(mut response: Response<Bytes>) -> Response<Bytes> {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// A response ready now, or one that waits for checks or sources.
pub(crate) enum Answer {
    Now(Response<Bytes>),
    Later(Checking),
}

/// What one request to `endpoint` gets, a panic while answering included: a 500 with a short
/// body (and one log line per endpoint a minute), never a dropped connection.
pub(crate) fn answer_safely(
    (endpoint, target): (&'static Descriptor, Target),
    request: &Parts,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
) -> Answer {
    let head = request.method == Method::HEAD;
    let answered = std::panic::catch_unwind(AssertUnwindSafe(|| {
        answer((endpoint, target), request, checker, settings)
    }));
    match answered {
        Ok(Answer::Now(response)) => Answer::Now(response),
        Ok(Answer::Later(future)) => {
            Answer::Later(Box::pin(AssertUnwindSafe(future).catch_unwind().map(
                move |answered| answered.unwrap_or_else(|_| panicked(endpoint, head)),
            )))
        }
        Err(_) => Answer::Now(panicked(endpoint, head)),
    }
}

/// The 500 answer to a panic while answering `endpoint`, logged at most once a minute for it.
fn panicked(endpoint: &Descriptor, head: bool) -> Response<Bytes> {
    // One per endpoint of the table, one for groups and components.
    static LOGGED: [AtomicU64; TABLE.len() + 1] = [const { AtomicU64::new(0) }; TABLE.len() + 1];
    let index = TABLE
        .iter()
        .position(|e| e.name == endpoint.name)
        .unwrap_or(TABLE.len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LOGGED[index].load(Ordering::Relaxed);
    if now >= last + 60
        && LOGGED[index]
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::error!(
            endpoint = endpoint.name,
            "answering a health request panicked: answered 500 (logged once a minute)"
        );
    }
    frame(
        StatusCode::INTERNAL_SERVER_ERROR,
        render::internal_error(),
        head,
    )
}

/// What one request to `endpoint` gets.
pub(crate) fn answer(
    (endpoint, target): (&Descriptor, Target),
    request: &Parts,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
) -> Answer {
    if !endpoint.methods.contains(&request.method) {
        return Answer::Now(method_not_allowed(endpoint.methods));
    }
    let query = match endpoint.runs_checks {
        true => Query::parse(request.uri.query()),
        false => Query::default(),
    };
    let head = request.method == Method::HEAD;
    if endpoint.access == Access::Guarded && !settings.metrics_access.allows(request) {
        return Answer::Now(unauthorized(head, &settings.metrics_access));
    }
    let shown = endpoint.access == Access::Details;
    let details = shown && settings.policies.allows_details(request);
    let components = details || (shown && settings.policies.allows_components(request));
    let ask = Ask {
        request,
        target,
        head,
        query,
        details,
        components,
        checker,
        settings,
    };
    (endpoint.answer)(&ask)
}

/// 401 with `WWW-Authenticate: Bearer`, for an endpoint `policy` does not let the client see;
/// the body says what to do under that policy.
pub(crate) fn unauthorized(head: bool, policy: &DetailPolicy) -> Response<Bytes> {
    let off = matches!(policy, DetailPolicy::Never);
    let mut response = frame(StatusCode::UNAUTHORIZED, render::unauthorized(off), head);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn method_not_allowed(methods: &[Method]) -> Response<Bytes> {
    let mut response = frame(
        StatusCode::METHOD_NOT_ALLOWED,
        render::method_not_allowed(),
        false,
    );
    let allow = methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// A response with the renderer's content type and version headers, never cached; for HEAD,
/// the same headers (`Content-Length` included) and no body.
pub(crate) fn frame(status: StatusCode, rendered: Rendered, head: bool) -> Response<Bytes> {
    let length = HeaderValue::from(rendered.body.len());
    let mut response = Response::new(if head { Bytes::new() } else { rendered.body });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in rendered.headers {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers.insert(header::CONTENT_LENGTH, length);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_keeps_the_length_of_the_body_it_leaves_out() {
        let response = frame(StatusCode::OK, render::live(), true);
        assert!(response.body().is_empty());
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "20");
        assert_eq!(response.headers()["x-health-version"], "1");
    }

    fn explode(_: &Ask<'_>) -> Answer {
        panic!("a bug in an answer")
    }

    fn explode_later(_: &Ask<'_>) -> Answer {
        Answer::Later(Box::pin(async { panic!("a bug after waiting") }))
    }

    #[tokio::test]
    async fn a_panic_while_answering_is_a_500_with_a_short_body() {
        static NOW: Descriptor = Descriptor {
            name: "exploding",
            default_path: None,
            methods: GET_HEAD,
            access: Access::Public,
            runs_checks: false,
            answer: explode,
        };
        static LATER: Descriptor = Descriptor {
            answer: explode_later,
            ..NOW
        };
        let checker = HealthChecker::builder().build().unwrap();
        let settings = crate::health::HealthLayer::new(checker.clone()).settings;
        let (parts, ()) = http::Request::get("/x").body(()).unwrap().into_parts();
        for endpoint in [&NOW, &LATER] {
            let response =
                match answer_safely((endpoint, Target::None), &parts, &checker, &settings) {
                    Answer::Now(response) => response,
                    Answer::Later(future) => future.await,
                };
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("internal error")
            );
        }
    }

    #[test]
    fn names_are_unique_and_default_paths_distinct() {
        for (i, endpoint) in TABLE.iter().enumerate() {
            assert!(TABLE[..i].iter().all(|e| e.name != endpoint.name));
            if let Some(path) = endpoint.default_path {
                assert!(TABLE[..i].iter().all(|e| e.default_path != Some(path)));
            }
        }
    }
}
