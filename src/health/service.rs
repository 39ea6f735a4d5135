//! [`Health`]: the service [`HealthLayer`](super::HealthLayer) wraps around yours.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::ResponseBody;
use super::endpoints::{self, Answer};
use super::future::ResponseFuture;
use super::layer::Settings;
use crate::checker::HealthChecker;

/// Answers the health paths itself and passes every other request to the inner service
/// untouched. Made by [`HealthLayer`](super::HealthLayer).
#[derive(Debug, Clone)]
pub struct Health<S> {
    inner: S,
    checker: HealthChecker,
    settings: Arc<Settings>,
}

impl<S> Health<S> {
    pub(crate) fn new(inner: S, checker: HealthChecker, settings: Arc<Settings>) -> Self {
        Self {
            inner,
            checker,
            settings,
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

impl<S> Health<S> {
    /// Routes `request`: a health answer, or `pass` for a request that goes to the inner
    /// service.
    fn route<ReqBody, F>(
        &mut self,
        request: Request<ReqBody>,
        pass: impl FnOnce(&mut S, Request<ReqBody>) -> F,
    ) -> ResponseFuture<F> {
        let Some(endpoint) = self.settings.route(request.uri().path()) else {
            return ResponseFuture::inner(pass(&mut self.inner, request));
        };
        // The body of a health request is not read: dropping it here lets the connection go on.
        let (parts, _body) = request.into_parts();
        match endpoints::answer_safely(endpoint, &parts, &self.checker, &self.settings) {
            Answer::Now(response) => ResponseFuture::answered(response),
            Answer::Later(future) => ResponseFuture::checking(future),
        }
    }

    /// [`call`](Service::call) for an inner service the caller has polled ready itself (one
    /// that is always ready, as an Axum `Router`): passed-on requests go to it directly.
    #[cfg(feature = "axum")]
    pub(crate) fn call_ready<ReqBody>(
        &mut self,
        request: Request<ReqBody>,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request<ReqBody>>,
    {
        self.route(request, |inner, request| inner.call(request))
    }
}

/// Health requests are answered whatever the inner service's readiness: `poll_ready` is always
/// ready, and a passed-on request waits for the inner service's readiness in its own future
/// (on a clone of the service, as tower's `Oneshot` does). So probes never queue behind a
/// back-pressuring stack (a `ConcurrencyLimit`, a load shed) that is saturated.
impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Health<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<PassThrough<S, Request<ReqBody>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.route(request, |inner, request| {
            PassThrough::new(inner.clone(), request)
        })
    }
}

pin_project! {
    /// A passed-on request: waits for the inner service to be ready, then calls it.
    pub struct PassThrough<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: State<S, R, S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, F> {
        Waiting { service: S, request: Option<R> },
        Called { #[pin] future: F },
    }
}

impl<S: Service<R>, R> PassThrough<S, R> {
    fn new(service: S, request: R) -> Self {
        Self {
            state: State::Waiting {
                service,
                request: Some(request),
            },
        }
    }
}

impl<S: Service<R>, R> Future for PassThrough<S, R> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Waiting { service, request } => {
                    ready!(service.poll_ready(cx))?;
                    let Some(request) = request.take() else {
                        return Poll::Pending;
                    };
                    let future = service.call(request);
                    state.set(State::Called { future });
                }
                StateProj::Called { future } => return future.poll(cx),
            }
        }
    }
}

impl<S: Service<R>, R> fmt::Debug for PassThrough<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "Waiting",
            State::Called { .. } => "Called",
        };
        f.debug_struct("PassThrough")
            .field("state", &state)
            .finish()
    }
}
