//! [`HttpOrGrpc`]: the default classifier, picking tower-http's HTTP or gRPC rules per request.

use std::fmt;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, Request, Response};
use tower_http::classify::{
    ClassifiedResponse, ClassifyEos, ClassifyResponse, GrpcEosErrorsAsFailures,
    GrpcErrorsAsFailures, GrpcFailureClass, MakeClassifier, NeverClassifyEos,
    ServerErrorsAsFailures, ServerErrorsFailureClass,
};

/// Classifies gRPC requests (`POST` with `content-type: application/grpc…`, gRPC-Web's too) by
/// `grpc-status`, in the headers or the trailers, and all others by status code: 5xx are
/// failures. Both rules are
/// tower-http's ([`GrpcErrorsAsFailures`], [`ServerErrorsAsFailures`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpOrGrpc {
    _private: (),
}

impl HttpOrGrpc {
    /// The classifier.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MakeClassifier for HttpOrGrpc {
    type Classifier = Classifier;
    type FailureClass = FailureClass;
    type ClassifyEos = Eos;

    #[inline]
    fn make_classifier<B>(&self, request: &Request<B>) -> Classifier {
        // Every gRPC call is a POST: other methods are not looked up in the headers.
        let grpc = request.method() == Method::POST
            && request
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
        if grpc {
            Classifier::Grpc(GrpcErrorsAsFailures::new())
        } else {
            Classifier::Http(ServerErrorsAsFailures::new())
        }
    }
}

/// The classifier [`HttpOrGrpc`] made for one request.
#[derive(Debug, Clone)]
pub enum Classifier {
    /// By status code.
    Http(ServerErrorsAsFailures),
    /// By `grpc-status`.
    Grpc(GrpcErrorsAsFailures),
}

/// Why [`HttpOrGrpc`] classified a response as a failure.
#[derive(Debug)]
pub enum FailureClass {
    /// An HTTP failure.
    Http(ServerErrorsFailureClass),
    /// A gRPC failure.
    Grpc(GrpcFailureClass),
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(class) => class.fmt(f),
            Self::Grpc(class) => class.fmt(f),
        }
    }
}

/// End-of-stream classification for [`HttpOrGrpc`] (gRPC trailers).
#[derive(Debug)]
pub enum Eos {
    /// HTTP responses are classified by their head.
    Http(NeverClassifyEos<ServerErrorsFailureClass>),
    /// gRPC responses by their trailers.
    Grpc(GrpcEosErrorsAsFailures),
}

impl ClassifyResponse for Classifier {
    type FailureClass = FailureClass;
    type ClassifyEos = Eos;

    fn classify_response<B>(self, response: &Response<B>) -> ClassifiedResponse<FailureClass, Eos> {
        match self {
            Self::Http(classifier) => match classifier.classify_response(response) {
                ClassifiedResponse::Ready(result) => {
                    ClassifiedResponse::Ready(result.map_err(FailureClass::Http))
                }
                ClassifiedResponse::RequiresEos(eos) => {
                    ClassifiedResponse::RequiresEos(Eos::Http(eos))
                }
            },
            Self::Grpc(classifier) => match classifier.classify_response(response) {
                ClassifiedResponse::Ready(result) => {
                    ClassifiedResponse::Ready(result.map_err(FailureClass::Grpc))
                }
                ClassifiedResponse::RequiresEos(eos) => {
                    ClassifiedResponse::RequiresEos(Eos::Grpc(eos))
                }
            },
        }
    }

    fn classify_error<E: fmt::Display + 'static>(self, error: &E) -> FailureClass {
        match self {
            Self::Http(classifier) => FailureClass::Http(classifier.classify_error(error)),
            Self::Grpc(classifier) => FailureClass::Grpc(classifier.classify_error(error)),
        }
    }
}

impl ClassifyEos for Eos {
    type FailureClass = FailureClass;

    fn classify_eos(self, trailers: Option<&HeaderMap>) -> Result<(), FailureClass> {
        match self {
            Self::Http(eos) => eos.classify_eos(trailers).map_err(FailureClass::Http),
            Self::Grpc(eos) => eos.classify_eos(trailers).map_err(FailureClass::Grpc),
        }
    }

    fn classify_error<E: fmt::Display + 'static>(self, error: &E) -> FailureClass {
        match self {
            Self::Http(eos) => FailureClass::Http(eos.classify_error(error)),
            Self::Grpc(eos) => FailureClass::Grpc(eos.classify_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(
        content_type: &str,
        status: u16,
        headers: &[(&str, &str)],
    ) -> ClassifiedResponse<FailureClass, Eos> {
        let request = Request::builder()
            .method(Method::POST)
            .header(CONTENT_TYPE, content_type)
            .body(())
            .unwrap();
        let mut response = Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(*name, *value);
        }
        HttpOrGrpc::new()
            .make_classifier(&request)
            .classify_response(&response.body(()).unwrap())
    }

    fn failed(
        classified: ClassifiedResponse<FailureClass, Eos>,
        trailers: Option<&HeaderMap>,
    ) -> bool {
        match classified {
            ClassifiedResponse::Ready(result) => result.is_err(),
            ClassifiedResponse::RequiresEos(eos) => eos.classify_eos(trailers).is_err(),
        }
    }

    #[test]
    fn only_a_post_is_taken_for_grpc() {
        for (method, grpc) in [
            (Method::POST, true),
            (Method::GET, false),
            (Method::PUT, false),
        ] {
            let request = Request::builder()
                .method(method.clone())
                .header(CONTENT_TYPE, "application/grpc")
                .body(())
                .unwrap();
            let classifier = HttpOrGrpc::new().make_classifier(&request);
            assert_eq!(matches!(classifier, Classifier::Grpc(_)), grpc, "{method}");
        }
    }

    #[test]
    fn http_failures_are_5xx() {
        assert!(failed(classify("application/json", 503, &[]), None));
        assert!(!failed(classify("text/plain", 404, &[]), None));
    }

    #[test]
    fn grpc_failures_come_from_grpc_status_in_headers_or_trailers() {
        assert!(failed(
            classify("application/grpc", 200, &[("grpc-status", "14")]),
            None
        ));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "13".parse().unwrap());
        assert!(failed(
            classify("application/grpc+proto", 200, &[]),
            Some(&trailers)
        ));
        trailers.insert("grpc-status", "0".parse().unwrap());
        assert!(!failed(
            classify("application/grpc", 200, &[]),
            Some(&trailers)
        ));
    }
}
