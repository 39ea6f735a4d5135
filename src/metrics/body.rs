//! [`ResponseBody`]: ends the measurement at the end of the body, exactly once; and what
//! [`Metrics`](super::Metrics) hands on as the body ([`BodyOutput`]).

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
    /// The time to the response head, when it is kept.
    headers_nanos: Option<u64>,
    classified: Classified<E>,
}

impl<E> BodyState<E> {
    pub(crate) fn new(
        tracker: Tracker,
        status: StatusCode,
        headers_nanos: Option<u64>,
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
        self.tracker.end(outcome, self.headers_nanos, None);
    }
}

impl<E: ClassifyEos> Classified<E> {
    /// Whether the response failed, given its trailers (if any) at its end.
    pub(crate) fn failed(self, trailers: Option<&HeaderMap>) -> bool {
        match self {
            Self::Done { failed } => failed,
            Self::Eos(eos) => eos.classify_eos(trailers).is_err(),
        }
    }
}

impl<E: ClassifyEos> BodyState<E> {
    /// Records the request as ended (now, or `at` nanoseconds after its start).
    pub(crate) fn finish(mut self, trailers: Option<&HeaderMap>, at: Option<u64>) {
        let outcome = Outcome::Response {
            status: self.status,
            failed: self.classified.failed(trailers),
        };
        self.tracker.end(outcome, self.headers_nanos, at);
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

/// What [`Metrics`](super::Metrics) hands on as a response body: the app's body untouched when
/// it was finished at the response head (recorded then), or measured to its end. Chosen by
/// the layer: [`AnyBody`] (the default), or [`AxumBody`] with
/// [`MetricsLayer::for_axum`](super::MetricsLayer::for_axum). Sealed.
pub trait BodyOutput<B, E>: sealed::Sealed {
    /// The body handed on.
    type Body;
    /// A body finished at the head, or one not measured.
    fn untouched(body: B) -> Self::Body;
    /// A body measured to its end.
    fn measured(body: ResponseBody<B, E>) -> Self::Body;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::AnyBody {}
    #[cfg(feature = "axum")]
    impl Sealed for super::AxumBody {}
}

/// Any body type: handed on inside a [`ResponseBody`], which measures only a body that still
/// streams. For any Tower service (Tonic, Hyper).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyBody;

impl<B, E> BodyOutput<B, E> for AnyBody {
    type Body = ResponseBody<B, E>;

    #[inline]
    fn untouched(body: B) -> Self::Body {
        ResponseBody::untracked(body)
    }

    #[inline]
    fn measured(body: ResponseBody<B, E>) -> Self::Body {
        body
    }
}

/// Axum's `Body`, handed on as Axum's `Body`: one finished at the head is the app's own body,
/// so Axum does not box it again; one that streams is boxed once, measured to its end. Made by
/// [`MetricsLayer::for_axum`](super::MetricsLayer::for_axum).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct AxumBody;

#[cfg(feature = "axum")]
impl<E> BodyOutput<axum::body::Body, E> for AxumBody
where
    E: ClassifyEos + Send + 'static,
{
    type Body = axum::body::Body;

    #[inline]
    fn untouched(body: axum::body::Body) -> Self::Body {
        body
    }

    #[inline]
    fn measured(body: ResponseBody<axum::body::Body, E>) -> Self::Body {
        axum::body::Body::new(body)
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
