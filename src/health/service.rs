//! [`Health`]: the service [`HealthLayer`](super::HealthLayer) wraps around yours.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Health<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(endpoint) = self.settings.route(request.uri().path()) else {
            return ResponseFuture::inner(self.inner.call(request));
        };
        // The body of a health request is not read: dropping it here lets the connection go on.
        let (parts, _body) = request.into_parts();
        match endpoints::answer(endpoint, &parts, &self.checker, &self.settings) {
            Answer::Now(response) => ResponseFuture::answered(response),
            Answer::Later(future) => ResponseFuture::checking(future),
        }
    }
}
