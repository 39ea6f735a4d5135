//! [`ResponseFuture`]: times the response head, hands the measurement to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tower_http::classify::{ClassifiedResponse, ClassifyResponse};

use super::body::{BodyState, Classified, ResponseBody};
use super::collector::Tracker;
use super::record::Outcome;

pin_project! {
    /// Response future of [`Metrics`](super::Metrics). Dropped before the response, the request
    /// counts as cancelled.
    pub struct ResponseFuture<F, C> {
        #[pin]
        future: F,
        state: Option<Pending<C>>,
    }
}

struct Pending<C> {
    tracker: Tracker,
    classifier: C,
    /// HEAD: the body is never sent, the request ends with the head.
    no_body: bool,
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn tracked(future: F, tracker: Tracker, classifier: C, no_body: bool) -> Self {
        Self {
            future,
            state: Some(Pending {
                tracker,
                classifier,
                no_body,
            }),
        }
    }

    pub(crate) fn untracked(future: F) -> Self {
        Self {
            future,
            state: None,
        }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: ClassifyResponse,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B, C::ClassifyEos>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        let Some(pending) = this.state.take() else {
            return Poll::Ready(result.map(|response| response.map(ResponseBody::untracked)));
        };
        let Pending {
            mut tracker,
            classifier,
            no_body,
        } = pending;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                tracker.end(Outcome::Error, None, None);
                return Poll::Ready(Err(error));
            }
        };
        let headers_nanos = tracker.elapsed();
        let status = response.status();
        let classified = match classifier.classify_response(&response) {
            ClassifiedResponse::Ready(result) => Classified::Done {
                failed: result.is_err(),
            },
            ClassifiedResponse::RequiresEos(eos) => Classified::Eos(eos),
        };
        let state = BodyState::new(tracker, status, headers_nanos, classified);
        let ends_with_head = no_body
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || response.body().is_end_stream();
        let state = if ends_with_head {
            state.finish(None, Some(headers_nanos));
            None
        } else {
            Some(state)
        };
        Poll::Ready(Ok(response.map(|body| ResponseBody::tracked(body, state))))
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("measuring", &self.state.is_some())
            .finish_non_exhaustive()
    }
}
