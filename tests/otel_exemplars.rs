//! Exemplars from the current OpenTelemetry context, set up as applications do: `tracing` with
//! `tracing-opentelemetry` over the OpenTelemetry SDK, a span entered around each request.
#![cfg(all(feature = "opentelemetry", feature = "axum"))]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::routing::get;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use parking_lot::Mutex;
use tower_vitals::{MetricsCollector, MetricsLayer};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// What the handler saw as its span: (trace id, span id), in hex.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Enters a span around the rest of the request, as tower-http's `TraceLayer` does.
async fn in_a_span(request: Request, next: Next) -> axum::response::Response {
    next.run(request)
        .instrument(tracing::info_span!("request"))
        .await
}

fn app(collector: &MetricsCollector, seen: &Seen) -> Router {
    let seen = seen.clone();
    Router::new()
        .route(
            "/work",
            get(move || {
                let context = tracing::Span::current().context();
                let span = context.span();
                let ids = span.span_context();
                seen.lock()
                    .push((ids.trace_id().to_string(), ids.span_id().to_string()));
                async { "done" }
            }),
        )
        .layer(MetricsLayer::new(collector.clone()))
        .layer(from_fn(in_a_span))
}

/// The exemplars kept for `/work`: (trace id, span id).
fn exemplars(collector: &MetricsCollector) -> Vec<(String, String)> {
    collector
        .snapshot()
        .series
        .iter()
        .filter(|series| &*series.route == "/work")
        .flat_map(|series| series.exemplars.iter().flatten())
        .map(|exemplar| (exemplar.trace.trace_id_hex(), exemplar.trace.span_id_hex()))
        .collect()
}

async fn run(
    sampler: Sampler,
    traceparent: Option<&str>,
) -> (Vec<(String, String)>, Seen, MetricsCollector) {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    // The current-thread runtime runs the server's tasks on this thread.
    let _default = tracing::subscriber::set_default(subscriber);
    let collector = MetricsCollector::new();
    let seen = Seen::default();
    let server = common::serve_router(app(&collector, &seen)).await;
    let mut request = server.client.get(server.url("/work"));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    let kept = exemplars(&collector);
    (kept, seen, collector)
}

const HEADER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn a_sampled_span_leaves_its_trace_and_span_as_the_exemplar() {
    let (kept, seen, _) = run(Sampler::AlwaysOn, None).await;
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0].0, "00000000000000000000000000000000");
    assert_eq!(kept, seen, "the server span's ids");
}

#[tokio::test]
async fn the_servers_span_comes_before_the_callers_header() {
    let (kept, seen, _) = run(Sampler::AlwaysOn, Some(HEADER)).await;
    assert_eq!(kept, seen.lock().clone());
    assert_ne!(kept[0].0, "0af7651916cd43dd8448eb211c80319c");
}

#[tokio::test]
async fn an_unsampled_span_leaves_the_header_to_decide() {
    let (kept, _, _) = run(Sampler::AlwaysOff, None).await;
    assert!(kept.is_empty(), "{kept:?}");
    let (kept, _, _) = run(Sampler::AlwaysOff, Some(HEADER)).await;
    assert_eq!(
        kept,
        [(
            "0af7651916cd43dd8448eb211c80319c".to_owned(),
            "b7ad6b7169203331".to_owned()
        )]
    );
}
