//! `MetricsLayer` and `MetricsCollector`: request latency and outcomes, at a few hundred
//! nanoseconds per request (figures in `benches/README.md`).
//!
//! [`MetricsLayer`] measures every request it wraps from `call()` to the end of the response
//! body (and to the response head, separately) and records it into a [`MetricsCollector`].
//! What "the end" is depends on the body:
//!
//! - **Finished at the head** — no body (HEAD, 1xx, 204, 304), an empty one, or one of an
//!   exact size of at most 16 KiB (a `String`, JSON, `Bytes` answer: already in memory and
//!   within a socket's send buffer): the latency is the time to the response head, recorded
//!   then, and the app's body is handed on untouched (a client that leaves before reading it
//!   does not make the request cancelled). On an Axum router,
//!   [`MetricsLayer::for_axum`] keeps Axum's own `Body`, so Axum does not box it again.
//! - **Streaming** — any other body (a stream, a file, a body over 16 KiB, a gRPC response,
//!   whose outcome is in its trailers): the latency runs to the frame after which the body
//!   reports its end (or to its trailers or error), the body wrapped to see it.
//!
//! - **Outcome**: 5xx responses and service errors are failures, gRPC responses (a `POST`
//!   with an `application/grpc…` `content-type`) are judged by `grpc-status` in the headers or
//!   trailers ([`HttpOrGrpc`],
//!   built on tower-http's classifiers; any tower-http classifier can replace it). A request
//!   whose future or body is dropped before the end counts as cancelled.
//! - **Route**: Axum's `MatchedPath` (feature `axum`, on by default), else `unmatched`; never
//!   the raw path. Past the route cap, `other`. Put the layer on the Axum `Router` (with
//!   `Router::layer`, which runs after routing) so the matched route is known. For Tonic, layer
//!   the Axum router inside `tonic::service::Routes` (`into_axum_router().layer(...)`): gRPC
//!   calls are then labelled per service, `/shop.Orders/{*rest}`.
//! - **Left out**: `/health…` and `/metrics` by default ([`MetricsLayer::exclude_path`],
//!   [`MetricsLayer::exclude_prefix`], [`MetricsLayer::include_all_paths`]).
//!
//! The collector keeps a rolling window (default 6 × 10 s) of HDR histograms for avg, p50, p95,
//! p99 and max; since-start totals; cumulative histogram buckets per route, method and status
//! class on fixed bounds (OpenTelemetry's by default) and, when asked, in exponential buckets
//! (Prometheus native histograms, [`NativeBuckets`]); an in-flight gauge; cache figures fed by
//! the application; and uptime. With the `opentelemetry` feature it also records into the
//! application's `Meter` (`MetricsCollectorBuilder::opentelemetry`).
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_vitals::metrics::{MetricsCollector, MetricsLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let collector = MetricsCollector::new();
//! let service = ServiceBuilder::new()
//!     .layer(MetricsLayer::new(collector.clone()))
//!     .service(service_fn(|_req: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!     }));
//!
//! let response = service.oneshot(Request::get("/hello").body(()).unwrap()).await.unwrap();
//! assert_eq!(collector.in_flight(), 0); // a finished body: recorded at the head
//! response.into_body().collect().await.unwrap();
//!
//! let snapshot = collector.snapshot();
//! assert_eq!((snapshot.in_flight, snapshot.window.count), (0, 1));
//! assert_eq!(snapshot.series[0].route.as_ref(), "unmatched");
//! # }
//! ```
#![cfg_attr(feature = "axum", doc = include_str!("../../docs/metrics.md"))]
#![cfg_attr(feature = "opentelemetry", doc = include_str!("../../docs/opentelemetry.md"))]

mod body;
mod buckets;
mod cells;
mod classify;
mod collector;
mod decide;
mod exemplar;
mod future;
mod labels;
mod layer;
mod native;
#[cfg(feature = "opentelemetry")]
mod otel;
mod record;
mod request_label;
mod routes;
mod service;
mod shard;
mod snapshot;
mod statuses;
mod traffic;
mod window;

#[cfg(feature = "axum")]
pub use body::AxumBody;
pub use body::{AnyBody, BodyOutput, ResponseBody};
pub use classify::{Classifier, Eos, FailureClass, HttpOrGrpc};
pub use collector::{MetricsCollector, MetricsCollectorBuilder, OTEL_DURATION_BOUNDS};
pub use exemplar::{Exemplar, TraceIds};
pub use future::ResponseFuture;
pub use layer::MetricsLayer;
pub use record::{Outcome, RequestRecord};
pub use request_label::MAX_VALUE_LEN;
pub use service::Metrics;
pub use snapshot::{
    CacheStats, LatencyStats, MetricsSnapshot, NativeBuckets, Preset, RequestLabelStats,
    SeriesStats, Totals, WindowStats,
};
pub use traffic::{TrafficPoint, TrafficTimeline};
