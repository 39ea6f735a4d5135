//! A layer that times a request from `call()` to the end of its response body, generic over
//! what it records: the `floor` (the least such a layer can do) and the hand-written peers of
//! `benches/peers.rs` share it, so they differ only in their recording.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use tower::{Layer, Service};

/// What a timed layer records.
pub(crate) trait Recorder: Clone {
    /// Taken in `call()`: the start time and any labels.
    type Started;
    fn start<B>(&self, request: &Request<B>) -> Self::Started;
    /// At the response head.
    fn head(&self, _started: &mut Self::Started) {}
    /// At the end of the body.
    fn finish(&self, started: Self::Started, status: StatusCode);
}

#[derive(Clone)]
pub(crate) struct TimedLayer<R>(pub(crate) R);

impl<S, R: Recorder> Layer<S> for TimedLayer<R> {
    type Service = Timed<S, R>;
    fn layer(&self, inner: S) -> Timed<S, R> {
        Timed(inner, self.0.clone())
    }
}

#[derive(Clone)]
pub(crate) struct Timed<S, R>(S, R);

impl<S, R, ReqBody, B> Service<Request<ReqBody>> for Timed<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    R: Recorder,
{
    type Response = Response<TimedBody<B, R>>;
    type Error = S::Error;
    type Future = TimedFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let started = self.1.start(&request);
        TimedFuture {
            inner: self.0.call(request),
            state: Some((self.1.clone(), started)),
        }
    }
}

pin_project_lite::pin_project! {
    pub(crate) struct TimedFuture<F, R: Recorder> {
        #[pin]
        inner: F,
        state: Option<(R, R::Started)>,
    }
}

impl<F, B, E, R> Future for TimedFuture<F, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    R: Recorder,
{
    type Output = Result<Response<TimedBody<B, R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let (recorder, mut started) = this.state.take().expect("polled after completion");
        recorder.head(&mut started);
        Poll::Ready(result.map(|response| {
            let status = response.status();
            response.map(|inner| TimedBody {
                inner,
                state: Some((recorder, started, status)),
            })
        }))
    }
}

pin_project_lite::pin_project! {
    pub(crate) struct TimedBody<B, R: Recorder> {
        #[pin]
        inner: B,
        state: Option<(R, R::Started, StatusCode)>,
    }
}

impl<B: Body, R: Recorder> Body for TimedBody<B, R> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if (frame.is_none() || this.inner.is_end_stream())
            && let Some((recorder, started, status)) = this.state.take()
        {
            recorder.finish(started, status);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    /// Passed on, as a layer must: Axum and hyper set `content-length` from it.
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The floor: a shared handle carried from `call()` to the end of the body, the clock read
/// three times (start, head, end, with quanta's TSC clock) and one entry appended to a locked
/// ring. No labels, no classification, no histograms.
#[derive(Clone, Default)]
pub(crate) struct Floor(Arc<Ring>);

#[derive(Default)]
pub(crate) struct Ring {
    clock: quanta::Clock,
    /// Next index, and the entries.
    entries: parking_lot::Mutex<(usize, [Entry; 32])>,
}

/// Duration, time to headers (ns), status.
type Entry = (u64, u64, u16);

impl Recorder for Floor {
    /// Start and head (raw clock readings).
    type Started = (u64, u64);

    fn start<B>(&self, _: &Request<B>) -> (u64, u64) {
        (self.0.clock.raw(), 0)
    }

    fn head(&self, started: &mut (u64, u64)) {
        started.1 = self.0.clock.raw();
    }

    fn finish(&self, (start, head): (u64, u64), status: StatusCode) {
        let ring = &*self.0;
        let end = ring.clock.raw();
        let mut entries = ring.entries.lock();
        let index = entries.0;
        entries.0 = (index + 1) % entries.1.len();
        entries.1[index] = (
            ring.clock.delta_as_nanos(start, end),
            ring.clock.delta_as_nanos(start, head),
            status.as_u16(),
        );
    }
}
