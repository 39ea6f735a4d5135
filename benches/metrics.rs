//! `cargo bench --bench metrics`: what `MetricsLayer` adds to a request, against the bare
//! service and against a peer layer recording into `metrics` + `metrics-exporter-prometheus`
//! (the backend of axum-prometheus), all in the same run, single-threaded.
//!
//! `floor` is the least any layer measuring what `MetricsLayer` measures can do: it carries a
//! shared handle and the start time from `call()` to the end of the body, reads the clock three
//! times (start, head, end) and appends one entry to a locked ring. No classification, no
//! routes, no histograms: what it adds is the cost of measuring at all in this harness.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use divan::Bencher;
use futures_util::FutureExt;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_vitals::metrics::{MetricsCollector, MetricsLayer};

#[path = "support/timed.rs"]
mod timed;

use timed::{Floor, TimedLayer};

fn main() {
    metrics::set_global_recorder(PrometheusBuilder::new().build_recorder())
        .expect("no recorder installed yet");
    divan::main();
}

fn app()
-> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send> + Clone
{
    service_fn(|_request: Request<()>| async {
        Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
}

/// One request through `service`, its body read to the end: the same work for every variant.
fn request<S, B>(service: &S, uri: &Uri)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible> + Clone,
    B: Body + Unpin,
{
    let mut request = Request::new(());
    *request.uri_mut() = uri.clone();
    let response = service
        .clone()
        .oneshot(request)
        .now_or_never()
        .unwrap()
        .unwrap();
    let mut body = response.into_body();
    while let Some(Some(frame)) = body.frame().now_or_never() {
        divan::black_box(frame.ok());
    }
}

/// The same request from 8 threads at once on one service and one collector: per-request time
/// on each thread, so bare ÷ layered is the in-process throughput ratio under contention.
#[divan::bench(args = ["bare", "tower-vitals"], threads = [8], sample_size = 1000, sample_count = 100)]
fn per_request_8_threads(bencher: Bencher<'_, '_>, variant: &str) {
    let uri = Uri::from_static("/orders");
    match variant {
        "bare" => {
            let service = app();
            bencher.bench(|| request(&service, &uri));
        }
        _ => {
            let service = MetricsLayer::new(MetricsCollector::new()).layer(app());
            bencher.bench(|| request(&service, &uri));
        }
    }
}

#[divan::bench(args = ["bare", "floor", "tower-vitals", "tower-vitals-excluded", "metrics+prometheus"], sample_size = 1000, sample_count = 300)]
fn per_request(bencher: Bencher<'_, '_>, variant: &str) {
    let uri = Uri::from_static("/orders");
    match variant {
        "bare" => {
            let service = app();
            bencher.bench_local(|| request(&service, &uri));
        }
        "floor" => {
            let service = TimedLayer(Floor::default()).layer(app());
            bencher.bench_local(|| request(&service, &uri));
        }
        "tower-vitals" => {
            let service = MetricsLayer::new(MetricsCollector::new()).layer(app());
            bencher.bench_local(|| request(&service, &uri));
        }
        "tower-vitals-excluded" => {
            // The same layer on a path it leaves out: the cost of wrapping alone.
            let service = MetricsLayer::new(MetricsCollector::new()).layer(app());
            let uri = Uri::from_static("/health/live");
            bencher.bench_local(|| request(&service, &uri));
        }
        _ => {
            let service = PeerLayer.layer(app());
            bencher.bench_local(|| request(&service, &uri));
        }
    }
}

/// What axum-prometheus records per request: a pending gauge (endpoint, method), and at the
/// response a counter and a duration histogram (endpoint, method, status), through the global
/// `metrics` recorder (metrics-exporter-prometheus). Recording at the response head rather than
/// the end of the body makes it, if anything, cheaper than ours.
#[derive(Clone)]
struct PeerLayer;

impl<S> Layer<S> for PeerLayer {
    type Service = Peer<S>;
    fn layer(&self, inner: S) -> Peer<S> {
        Peer(inner)
    }
}

#[derive(Clone)]
struct Peer<S>(S);

impl<S, B> Service<Request<()>> for Peer<S>
where
    S: Service<Request<()>, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = PeerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let endpoint = request.uri().path().to_owned();
        let method = request.method().to_string();
        metrics::gauge!("http_requests_pending", "endpoint" => endpoint.clone(), "method" => method.clone())
            .increment(1.0);
        PeerFuture {
            inner: self.0.call(request),
            start: Instant::now(),
            endpoint,
            method,
        }
    }
}

pin_project_lite::pin_project! {
    struct PeerFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        endpoint: String,
        method: String,
    }
}

impl<F: Future<Output = Result<Response<B>, E>>, B, E> Future for PeerFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let status = result
            .as_ref()
            .map_or(500, |r| r.status().as_u16())
            .to_string();
        let labels = [
            ("endpoint", this.endpoint.clone()),
            ("method", this.method.clone()),
            ("status", status),
        ];
        metrics::counter!("http_requests_total", &labels).increment(1);
        metrics::histogram!("http_requests_duration_seconds", &labels)
            .record(this.start.elapsed().as_secs_f64());
        metrics::gauge!("http_requests_pending", "endpoint" => this.endpoint.clone(), "method" => this.method.clone())
            .decrement(1.0);
        Poll::Ready(result)
    }
}
