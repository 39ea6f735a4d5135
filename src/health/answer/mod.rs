//! The answers of the health endpoints: dispatch, the query, and the response shape.

mod exposition;
mod probes;
mod query;
mod reports;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};

use super::future::Checking;
use super::layer::Settings;
use super::paths::Endpoint;
use crate::HealthChecker;
use crate::export::json;

/// Version of the JSON bodies' layout, sent as `X-Health-Version`.
pub const HEALTH_VERSION: &str = "1";

/// Version of the reliability report's layout, sent as `X-Reliability-Version`.
pub const RELIABILITY_VERSION: &str = "1";

/// A response ready now, or one that waits for checks to run.
pub(crate) enum Answer {
    Now(Response<Bytes>),
    Later(Checking),
}

/// What one health request gets.
pub(crate) fn answer(
    endpoint: Endpoint,
    request: &Parts,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
) -> Answer {
    let head = match request.method {
        Method::GET => false,
        Method::HEAD => true,
        _ => return Answer::Now(method_not_allowed()),
    };
    let query = query::Query::parse(request.uri.query());
    let details = settings.details.allows(request);
    match endpoint {
        Endpoint::Live => Answer::Now(json(StatusCode::OK, Bytes::from_static(json::LIVE), head)),
        Endpoint::Ready => probes::ready(query, details, head, checker, settings),
        Endpoint::Startup => probes::startup(head, checker, settings),
        Endpoint::Detail => reports::detail(query, details, head, checker, settings),
        Endpoint::Reliability => reports::reliability(details, head, checker, settings),
        Endpoint::Prometheus => exposition::prometheus(head, checker, settings),
    }
}

fn method_not_allowed() -> Response<Bytes> {
    let body = Bytes::from_static(json::METHOD_NOT_ALLOWED);
    let mut response = json(StatusCode::METHOD_NOT_ALLOWED, body, false);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// A JSON response; for HEAD, the same headers (`Content-Length` included) and no body.
fn json(status: StatusCode, body: Bytes, head: bool) -> Response<Bytes> {
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(if head { Bytes::new() } else { body });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("x-health-version"),
        HeaderValue::from_static(HEALTH_VERSION),
    );
    headers.insert(header::CONTENT_LENGTH, length);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_keeps_the_length_of_the_body_it_leaves_out() {
        let response = json(StatusCode::OK, Bytes::from_static(b"{}"), true);
        assert!(response.body().is_empty());
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "2");
    }
}
