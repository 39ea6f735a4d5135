//! [`RequestRecord`]: one request, for recording by hand.

use std::time::Duration;

use http::{Method, StatusCode};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A response was sent; `failed` as the classifier decided (5xx by default).
    Response {
        /// Its status.
        status: StatusCode,
        /// Whether it counts as a failure.
        failed: bool,
    },
    /// The service returned an error instead of a response (a failure).
    Error,
    /// The request was dropped before it ended: the client went away.
    Cancelled,
}

impl Outcome {
    /// A response, failed when it is a 5xx.
    pub fn status(status: StatusCode) -> Self {
        Self::Response {
            status,
            failed: status.is_server_error(),
        }
    }
}

/// One request for [`MetricsCollector::record`](super::MetricsCollector::record).
///
/// ```
/// use std::time::Duration;
/// use http::{Method, StatusCode};
/// use tower_vitals::metrics::{MetricsCollector, Outcome, RequestRecord};
///
/// let collector = MetricsCollector::new();
/// collector.record(&RequestRecord {
///     route: Some("/jobs/{id}"),
///     method: &Method::GET,
///     outcome: Outcome::status(StatusCode::OK),
///     duration: Duration::from_millis(12),
///     time_to_headers: Some(Duration::from_millis(3)),
/// });
/// assert_eq!(collector.snapshot().totals.requests, 1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    /// A bounded route label (a route template, never the raw path); `None` is `unmatched`.
    /// Pass text that lives as long as the route (a `&'static str`, or the router's own): it is
    /// recognised by its address first, by its text only once.
    pub route: Option<&'a str>,
    /// The method.
    pub method: &'a Method,
    /// How it ended.
    pub outcome: Outcome,
    /// From the start to the end of the response body (or the error, or the cancellation).
    pub duration: Duration,
    /// From the start to the response head, when there was one.
    pub time_to_headers: Option<Duration>,
}
