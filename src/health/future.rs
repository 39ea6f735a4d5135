//! [`ResponseFuture`]: the inner service's future, or a health answer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use super::body::ResponseBody;

/// A health answer that has to wait for checks to run.
pub(crate) type Checking = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

pin_project! {
    /// Response future of [`Health`](super::Health).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Answered { response: Option<Response<Bytes>> },
        Checking { future: Checking },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn answered(response: Response<Bytes>) -> Self {
        Self {
            kind: Kind::Answered {
                response: Some(response),
            },
        }
    }

    pub(crate) fn checking(future: Checking) -> Self {
        Self {
            kind: Kind::Checking { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.project().kind.project() {
            KindProj::Inner { future } => {
                return Poll::Ready(ready!(future.poll(cx)).map(|r| r.map(ResponseBody::inner)));
            }
            KindProj::Answered { response } => response
                .take()
                .expect("ResponseFuture polled after completion"),
            KindProj::Checking { future } => ready!(future.as_mut().poll(cx)),
        };
        Poll::Ready(Ok(response.map(ResponseBody::answer)))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Answered { .. } => "Answered",
            Kind::Checking { .. } => "Checking",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
