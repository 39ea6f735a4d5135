//! [`Metrics`]: the service [`MetricsLayer`](super::MetricsLayer) wraps around yours.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use tower_http::classify::MakeClassifier;
use tower_service::Service;

use std::marker::PhantomData;

use super::body::{AnyBody, BodyOutput};
use super::collector::Tracker;
use super::exemplar::TraceIds;
use super::future::ResponseFuture;
use super::labels::method_index;
use super::layer::Shared;

/// Measures each request from `call()` to the end of its response body. Made by
/// [`MetricsLayer`](super::MetricsLayer).
#[derive(Debug)]
pub struct Metrics<S, M, O = AnyBody> {
    inner: S,
    /// One reference count to bump per clone (services are cloned per request).
    shared: Arc<Shared<M>>,
    output: PhantomData<fn() -> O>,
}

impl<S: Clone, M, O> Clone for Metrics<S, M, O> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            output: PhantomData,
        }
    }
}

impl<S, M, O> Metrics<S, M, O> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<M>>) -> Self {
        Self {
            inner,
            shared,
            output: PhantomData,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, M, O, ReqBody, ResBody> Service<Request<ReqBody>> for Metrics<S, M, O>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: MakeClassifier,
    ResBody: http_body::Body,
    O: BodyOutput<ResBody, M::ClassifyEos>,
{
    type Response = Response<O::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, M::Classifier, O>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &*self.shared;
        let Some(route) = shared.route_of(&request) else {
            return ResponseFuture::untracked(self.inner.call(request));
        };
        let method = request.method();
        let no_body = method == Method::HEAD;
        let classifier = shared.make_classifier.make_classifier(&request);
        let trace = if shared.collector.is_lean() {
            None
        } else {
            current_trace().or_else(|| {
                request
                    .headers()
                    .get(&TRACEPARENT)
                    .and_then(|value| TraceIds::from_traceparent(value.as_bytes()))
            })
        };
        let label = shared.collector.label_id(&request);
        let tracker = Tracker::start(
            &shared.collector,
            (route, method_index(method), label),
            trace,
        );
        ResponseFuture::tracked(self.inner.call(request), tracker, classifier, no_body)
    }
}

/// W3C Trace Context's header.
static TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// The trace of the current OpenTelemetry context, which names the server's own span.
#[cfg(feature = "opentelemetry")]
#[inline]
fn current_trace() -> Option<TraceIds> {
    TraceIds::from_current_context()
}

#[cfg(not(feature = "opentelemetry"))]
#[inline]
fn current_trace() -> Option<TraceIds> {
    None
}
