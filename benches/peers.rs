//! `bash benches/callgrind.sh` runs this under callgrind: one variant per process, a fixed
//! number of requests through an Axum router of 20 `/users/{id}`-style routes with state, each
//! request's body read to the end, round-robin over the routes. The script subtracts two runs
//! of different lengths, so what is left is instructions per request.
//!
//! Variants: `bare` (the router alone); `floor` (the least a layer timing to the end of the
//! body does: `support/timed.rs`); `tower-vitals` (`MetricsLayer::for_axum`, as `Setup::around`
//! wires it); `tower-vitals-any` (`MetricsLayer` for any body type); `tower-vitals-lean` (the
//! same on a `lean()` collector); `health` (`HealthLayer`
//! through `Router::layer`, on an ordinary request) and `health-around`
//! (`HealthLayer::around`: the same layer once around the whole router); `tikv` and `prometheus-client` (hand-written
//! layers, a histogram by method, route and status, timed to the end of the body as ours);
//! `axum-prometheus` (its `PrometheusMetricLayer`); `tower-vitals-traced` and `bare-traced`: the
//! same with every request carrying a sampled `traceparent` (an exemplar kept per request);
//! `tower-vitals-label` and `bare-label`: the same with every request carrying an `x-tenant`
//! header, one of 24 tenants in turn, and the collector labelling requests by it with a bound
//! of 16 values (so a third of the requests are `other`);
//! with the `opentelemetry` feature, `tower-vitals-otel`: every request inside a sampled
//! OpenTelemetry context.
//!
//! `cargo bench --bench peers -- <variant> <requests>`.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, State};
use axum::routing::get;
use futures_util::FutureExt;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tower::ServiceExt;
use tower_vitals::{HealthChecker, HealthLayer, MetricsCollector, MetricsLayer};

#[path = "support/timed.rs"]
mod timed;

use timed::{Floor, Recorder, TimedLayer};

const ROUTES: usize = 20;
/// A sampled W3C trace context.
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/// A header every request carries: its name and the values taken in turn.
type Header = Option<(&'static str, &'static [&'static str])>;
const TRACED: Header = Some(("traceparent", &[TRACEPARENT]));
/// 24 tenants, for a label bounded to 16 values.
const TENANTS: Header = Some((
    "x-tenant",
    &[
        "acme",
        "globex",
        "initech",
        "umbrella",
        "hooli",
        "stark",
        "wayne",
        "wonka",
        "tyrell",
        "cyberdyne",
        "soylent",
        "aperture",
        "oscorp",
        "massive",
        "vandelay",
        "pied-piper",
        "gringotts",
        "monsters",
        "duff",
        "krusty",
        "nakatomi",
        "weyland",
        "dunder",
        "bluth",
    ],
));
const WARM_UP: usize = 2_000;

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

async fn user(State(state): State<AppState>, Path(id): Path<u32>) -> String {
    let _ = id;
    state.greeting.to_owned()
}

fn router() -> Router {
    let mut router = Router::new();
    for route in 0..ROUTES {
        router = router.route(&format!("/api/r{route}/users/{{id}}"), get(user));
    }
    router.with_state(AppState { greeting: "ok" })
}

fn checker() -> HealthChecker {
    HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap()
}

/// One request to `uri`, its body read to the end; never inlined, so every variant runs the
/// same harness code around its service.
#[inline(never)]
fn request<S, B>(service: &S, uri: &str, header: Option<(&'static str, &'static str)>)
where
    S: tower::Service<
            Request<Body>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone,
    B: http_body::Body<Error: std::fmt::Debug>,
{
    let mut request = Request::builder().uri(uri);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let request = request.body(Body::empty()).unwrap();
    let response = service
        .clone()
        .oneshot(request)
        .now_or_never()
        .expect("ready")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .now_or_never()
        .expect("ready")
        .unwrap();
    std::hint::black_box(body);
}

/// The measured part: callgrind counts only inside this function (`--toggle-collect`), so
/// set-up — quanta's clock calibration, whose length varies — is left out.
#[inline(never)]
fn measured<S, B>(service: &S, requests: usize, header: Header)
where
    S: tower::Service<
            Request<Body>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone,
    B: http_body::Body<Error: std::fmt::Debug>,
{
    let uris: Vec<String> = (0..ROUTES)
        .map(|r| format!("/api/r{r}/users/{}", 1000 + r))
        .collect();
    for i in 0..WARM_UP + requests {
        let header = header.map(|(name, values)| (name, values[i % values.len()]));
        request(service, &uris[i % ROUTES], header);
    }
}

/// `MetricsLayer` (`native`: its collector keeps native histograms too), the fold after the
/// requests counted as well.
fn tower_vitals(requests: usize, native: bool) {
    let builder = MetricsCollector::builder();
    let builder = if native {
        builder.native_histograms()
    } else {
        builder
    };
    let collector = builder.build().unwrap();
    measured(
        &router().layer(MetricsLayer::new(collector.clone()).for_axum()),
        requests,
        None,
    );
    measured_fold(&collector);
}

/// Folds what the collector holds (counted too): the native histograms' pending latencies are
/// put in their buckets here, or when a shard's list fills, so every request's share is in.
#[inline(never)]
fn measured_fold(collector: &MetricsCollector) {
    drop(collector.snapshot());
}

/// A histogram by method, route and status in the tikv `prometheus` crate, as written by hand.
#[derive(Clone)]
struct Tikv(prometheus::HistogramVec);

/// What a hand-written layer takes in `call()`: the start time, the method and the route Axum
/// matched.
type Labelled = (Instant, Method, Option<MatchedPath>);

fn labelled<B>(request: &Request<B>) -> Labelled {
    (
        Instant::now(),
        request.method().clone(),
        request.extensions().get::<MatchedPath>().cloned(),
    )
}

fn route_of(route: Option<&MatchedPath>) -> &str {
    route.map_or("unmatched", MatchedPath::as_str)
}

impl Recorder for Tikv {
    type Started = Labelled;

    fn start<B>(&self, request: &Request<B>) -> Labelled {
        labelled(request)
    }

    fn finish(&self, (start, method, route): Labelled, status: StatusCode) {
        let route = route_of(route.as_ref());
        self.0
            .with_label_values(&[method.as_str(), route, status.as_str()])
            .observe(start.elapsed().as_secs_f64());
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    method: String,
    route: String,
    status: u16,
}

/// The same in `prometheus-client`: a `Family` of histograms keyed by a label struct.
#[derive(Clone)]
struct PrometheusClient(Family<Labels, Histogram, fn() -> Histogram>);

impl Recorder for PrometheusClient {
    type Started = Labelled;

    fn start<B>(&self, request: &Request<B>) -> Labelled {
        labelled(request)
    }

    fn finish(&self, (start, method, route): Labelled, status: StatusCode) {
        let labels = Labels {
            method: method.as_str().to_owned(),
            route: route_of(route.as_ref()).to_owned(),
            status: status.as_u16(),
        };
        self.0
            .get_or_create(&labels)
            .observe(start.elapsed().as_secs_f64());
    }
}

fn tikv() -> Tikv {
    let options =
        prometheus::HistogramOpts::new("http_request_duration_seconds", "Request latency");
    let histogram = prometheus::HistogramVec::new(options, &["method", "route", "status"]).unwrap();
    prometheus::Registry::new()
        .register(Box::new(histogram.clone()))
        .unwrap();
    Tikv(histogram)
}

fn prometheus_client() -> PrometheusClient {
    fn histogram() -> Histogram {
        Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.005, 2.0, 12,
        ))
    }
    let family: Family<Labels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(histogram);
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register(
        "http_request_duration_seconds",
        "Request latency",
        family.clone(),
    );
    PrometheusClient(family)
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let variant = args.next().unwrap_or_else(|| "bare".to_owned());
    let requests: usize = args
        .next()
        .map_or(10_000, |n| n.parse().expect("a number of requests"));
    match variant.as_str() {
        "bare" => measured(&router(), requests, None),
        "floor" => measured(
            &router().layer(TimedLayer(Floor::default())),
            requests,
            None,
        ),
        "tower-vitals" => tower_vitals(requests, false),
        "tower-vitals-native" => tower_vitals(requests, true),
        "tower-vitals-lean" => {
            let collector = MetricsCollector::builder().lean().build().unwrap();
            measured(
                &router().layer(MetricsLayer::new(collector.clone()).for_axum()),
                requests,
                None,
            );
            measured_fold(&collector);
        }
        "tower-vitals-any" => measured(
            &router().layer(MetricsLayer::new(MetricsCollector::new())),
            requests,
            None,
        ),
        "tower-vitals-traced" => measured(
            &router().layer(MetricsLayer::new(MetricsCollector::new()).for_axum()),
            requests,
            TRACED,
        ),
        "bare-traced" => measured(&router(), requests, TRACED),
        "tower-vitals-label" => {
            let collector = MetricsCollector::builder()
                .request_label("tenant", 16, |headers, _| {
                    headers.get("x-tenant")?.to_str().ok()
                })
                .max_series(2048)
                .build()
                .unwrap();
            measured(
                &router().layer(MetricsLayer::new(collector.clone()).for_axum()),
                requests,
                TENANTS,
            );
            measured_fold(&collector);
        }
        "bare-label" => measured(&router(), requests, TENANTS),
        #[cfg(feature = "opentelemetry")]
        "tower-vitals-otel" | "tower-vitals-meter" => opentelemetry_variant(&variant, requests),
        "health" => measured(&router().layer(HealthLayer::new(checker())), requests, None),
        "health-around" => measured(
            &HealthLayer::new(checker()).around(router()),
            requests,
            None,
        ),
        "tikv" => measured(&router().layer(TimedLayer(tikv())), requests, None),
        "prometheus-client" => measured(
            &router().layer(TimedLayer(prometheus_client())),
            requests,
            None,
        ),
        "axum-prometheus" => {
            // Its handle spawns an upkeep task: a runtime to spawn it on (never driven here).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let _entered = runtime.enter();
            let (layer, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
            measured(&router().layer(layer), requests, None);
        }
        other => panic!("unknown variant {other}"),
    }
}

/// With the `opentelemetry` feature: `MetricsLayer` with a sampled span current
/// (`tower-vitals-otel`), or bridged to an SDK `Meter` (`tower-vitals-meter`).
#[cfg(feature = "opentelemetry")]
fn opentelemetry_variant(variant: &str, requests: usize) {
    if variant == "tower-vitals-otel" {
        // A sampled span current for every request, as tracing-opentelemetry makes it.
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
        };
        let span = SpanContext::new(
            TraceId::from_bytes([7; 16]),
            SpanId::from_bytes([9; 8]),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let _current = opentelemetry::Context::new()
            .with_remote_span_context(span)
            .attach();
        measured(
            &router().layer(MetricsLayer::new(MetricsCollector::new()).for_axum()),
            requests,
            None,
        );
        return;
    }
    // Every request also recorded into an SDK meter (a periodic reader that does not
    // fire within the run): the bridge's attributes and the SDK's aggregation.
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};
    let reader = PeriodicReader::builder(InMemoryMetricExporter::default()).build();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build();
    let collector = MetricsCollector::builder()
        .opentelemetry(&provider.meter("bench"), "http")
        .build()
        .unwrap();
    measured(
        &router().layer(MetricsLayer::new(collector).for_axum()),
        requests,
        None,
    );
}
