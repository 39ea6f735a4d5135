//! [`HealthLayer::around`]: the layer once around a whole Axum router (feature `axum`).

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use std::future::Future;
use std::pin::Pin;

use tower_layer::Layer;
use tower_service::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::layer::HealthLayer;
use super::service::Health;

/// A whole Axum app behind a [`HealthLayer`], made by [`HealthLayer::around`]: health requests
/// are answered, every other one goes to the router with its response passed back as it is —
/// no wrapping per route, no body re-boxed.
#[derive(Debug, Clone)]
pub struct AroundRouter(Health<axum::Router>);

pin_project_lite::pin_project! {
    /// The future of [`AroundRouter`]: the layer's, its body made an Axum body.
    #[derive(Debug)]
    pub struct AroundFuture {
        #[pin]
        inner: ResponseFuture<axum::routing::future::RouteFuture<Infallible>>,
    }
}

impl Future for AroundFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(ResponseBody::into_axum)))
    }
}

impl HealthLayer {
    /// This layer once around a whole Axum `router`. `Router::layer(health)` works too, but
    /// Axum then wraps every route (and the fallback) with it, so each request of the app pays
    /// for it; around the router, a request the layer does not answer costs one test of its
    /// path. Serve it with `axum::serve(listener, app.into_make_service())`.
    ///
    /// ```no_run
    /// use axum::{Router, routing::get};
    /// use tower_vitals::{HealthChecker, HealthLayer};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let checker = HealthChecker::builder().check("db", || async {}).build()?;
    /// let router = Router::new().route("/", get(|| async { "hello" }));
    /// let app = HealthLayer::new(checker).around(router);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// axum::serve(listener, app.into_make_service()).await?;
    /// # Ok(()) }
    /// ```
    pub fn around(self, router: axum::Router) -> AroundRouter {
        AroundRouter(self.layer(router))
    }
}

impl AroundRouter {
    /// A make-service for `axum::serve`.
    pub fn into_make_service(self) -> axum::routing::IntoMakeService<Self> {
        axum::ServiceExt::<Request>::into_make_service(self)
    }
}

impl Service<Request> for AroundRouter {
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // `poll_ready` polled the router, which is always ready (it has no back-pressure):
        // passed-on requests go to it directly, health requests never wait on it.
        AroundFuture {
            inner: self.0.call_ready(request),
        }
    }
}

impl ResponseBody<Body> {
    /// An Axum body: the app's own as it was, or the health answer.
    pub fn into_axum(self) -> Body {
        match self.into_inner() {
            Ok(body) => body,
            Err(answer) => Body::new(answer),
        }
    }
}
