//! [`ResponseFuture`]: times the response head, hands the measurement to the body.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tower_http::classify::{ClassifiedResponse, ClassifyResponse};

use super::body::{AnyBody, BodyOutput, BodyState, Classified, ResponseBody};
use super::collector::Tracker;
use super::record::Outcome;

pin_project! {
    /// Response future of [`Metrics`](super::Metrics). Dropped before the response, the request
    /// counts as cancelled.
    pub struct ResponseFuture<F, C, O = AnyBody> {
        #[pin]
        future: F,
        state: Option<Pending<C>>,
        output: PhantomData<fn() -> O>,
    }
}

/// The most bytes a body may hold to count as finished at the response head: one whose exact
/// size is known and at most this is in memory and fits a socket's send buffer, so its
/// request is recorded at the head and the body handed on untouched.
pub(crate) const FINISHED_BYTES: u64 = 16 * 1024;

struct Pending<C> {
    tracker: Tracker,
    classifier: C,
    /// HEAD: the body is never sent, the request ends with the head.
    no_body: bool,
}

impl<F, C, O> ResponseFuture<F, C, O> {
    // Inlined into `call()`, so the inner future is built in place rather than copied in.
    #[inline(always)]
    pub(crate) fn tracked(future: F, tracker: Tracker, classifier: C, no_body: bool) -> Self {
        Self {
            future,
            state: Some(Pending {
                tracker,
                classifier,
                no_body,
            }),
            output: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn untracked(future: F) -> Self {
        Self {
            future,
            state: None,
            output: PhantomData,
        }
    }
}

impl<F, C, B, E, O> Future for ResponseFuture<F, C, O>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: ClassifyResponse,
    B: http_body::Body,
    O: BodyOutput<B, C::ClassifyEos>,
{
    type Output = Result<Response<O::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        let Some(pending) = this.state.take() else {
            return Poll::Ready(result.map(|response| response.map(O::untouched)));
        };
        let Pending {
            mut tracker,
            classifier,
            no_body,
        } = pending;
        // Looked at in place: the response is moved once, into the output.
        let response = match &result {
            Ok(response) => response,
            Err(_) => {
                tracker.end(Outcome::Error, None, None);
                return Poll::Ready(result.map(|response| response.map(O::untouched)));
            }
        };
        let status = response.status();
        let classified = match classifier.classify_response(response) {
            ClassifiedResponse::Ready(result) => Classified::Done {
                failed: result.is_err(),
            },
            ClassifiedResponse::RequiresEos(eos) => Classified::Eos(eos),
        };
        let body = response.body();
        let finished = matches!(classified, Classified::Done { .. })
            && body
                .size_hint()
                .exact()
                .is_some_and(|bytes| bytes <= FINISHED_BYTES);
        let ends_with_head = finished
            || no_body
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || body.is_end_stream();
        if ends_with_head {
            let nanos = tracker.elapsed();
            let headers = tracker.times_headers().then_some(nanos);
            let failed = classified.failed(None);
            tracker.end(Outcome::Response { status, failed }, headers, Some(nanos));
            return Poll::Ready(result.map(|response| response.map(O::untouched)));
        }
        // Streaming: the head's time kept (unless lean), the end timed by the body.
        let headers = tracker.times_headers().then(|| tracker.elapsed());
        let state = BodyState::new(tracker, status, headers, classified);
        let measured = |body| O::measured(ResponseBody::tracked(body, Some(state)));
        Poll::Ready(result.map(|response| response.map(measured)))
    }
}

impl<F, C, O> std::fmt::Debug for ResponseFuture<F, C, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("measuring", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "axum")]
    #[test]
    fn the_future_for_axum_bodies_is_debug_too() {
        use crate::metrics::AxumBody;
        use std::future::Ready;

        type Inner = Ready<Result<Response<axum::body::Body>, std::convert::Infallible>>;
        let future: ResponseFuture<Inner, (), AxumBody> = ResponseFuture::untracked(
            std::future::ready(Ok(Response::new(axum::body::Body::empty()))),
        );
        assert_eq!(
            format!("{future:?}"),
            "ResponseFuture { measuring: false, .. }"
        );
    }
}
