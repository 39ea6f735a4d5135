//! [`ResponseBody`]: ends the measurement at the end of the body, exactly once.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_http::classify::ClassifyEos;

use super::collector::Tracker;
use super::record::Outcome;

pin_project! {
    /// Response body of [`Metrics`](super::Metrics): the inner body, measured. The request
    /// ends with the frame after which the inner body reports its end (or with its trailers,
    /// or an error). Dropped before that, the request counts as cancelled.
    pub struct ResponseBody<B, E> {
        #[pin]
        inner: B,
        state: Option<BodyState<E>>,
    }
}

/// Whether the response failed, known at its head or only at its end (gRPC trailers).
pub(crate) enum Classified<E> {
    Done { failed: bool },
    Eos(E),
}

pub(crate) struct BodyState<E> {
    tracker: Tracker,
    /// The response's status.
    status: StatusCode,
    headers_nanos: u64,
    classified: Classified<E>,
}

impl<E> BodyState<E> {
    pub(crate) fn new(
        tracker: Tracker,
        status: StatusCode,
        headers_nanos: u64,
        classified: Classified<E>,
    ) -> Self {
        Self {
            tracker,
            status,
            headers_nanos,
            classified,
        }
    }

    fn fail(mut self) {
        let outcome = Outcome::Response {
            status: self.status,
            failed: true,
        };
        self.tracker.end(outcome, Some(self.headers_nanos), None);
    }
}

impl<E: ClassifyEos> BodyState<E> {
    /// Records the request as ended (now, or `at` nanoseconds after its start).
    pub(crate) fn finish(mut self, trailers: Option<&HeaderMap>, at: Option<u64>) {
        let failed = match self.classified {
            Classified::Done { failed } => failed,
            Classified::Eos(eos) => eos.classify_eos(trailers).is_err(),
        };
        let outcome = Outcome::Response {
            status: self.status,
            failed,
        };
        self.tracker.end(outcome, Some(self.headers_nanos), at);
    }
}

impl<B, E> ResponseBody<B, E> {
    pub(crate) fn tracked(inner: B, state: Option<BodyState<E>>) -> Self {
        Self { inner, state }
    }

    pub(crate) fn untracked(inner: B) -> Self {
        Self { inner, state: None }
    }
}

impl<B: Body, E: ClassifyEos> Body for ResponseBody<B, E> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(state) = this.state.take() {
            match &frame {
                Some(Ok(frame)) => match frame.trailers_ref() {
                    Some(trailers) => state.finish(Some(trailers), None),
                    None if this.inner.is_end_stream() => state.finish(None, None),
                    None => *this.state = Some(state),
                },
                Some(Err(_)) => state.fail(),
                None => state.finish(None, None),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: std::fmt::Debug, E> std::fmt::Debug for ResponseBody<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("measuring", &self.state.is_some())
            .finish()
    }
}
