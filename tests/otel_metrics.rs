//! The app's OpenTelemetry instruments on `/metrics` (`OtelReader`, `HealthLayer::otel_metrics`),
//! over a real server: counters, up-down counters, gauges, histograms and exponential
//! histograms with attributes, a Resource and a scope with a version and attributes. promtool
//! accepts the text, Python's OpenMetrics parser the OpenMetrics, and every figure equals what
//! the SDK's in-memory exporter reports for the same instruments at the same moment.
#![cfg(all(feature = "opentelemetry", feature = "axum"))]

mod common;
#[path = "support/exposition_tools.rs"]
mod exposition_tools;
#[path = "support/skip.rs"]
mod skip;

use std::collections::HashMap;

use exposition_tools::{SCRAPE_ACCEPT, openmetrics_parser, promtool};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{
    Aggregation, InMemoryMetricExporter, Instrument, PeriodicReader, SdkMeterProvider, Stream,
};
use tower_vitals::render::OtelReader;
use tower_vitals::{HealthChecker, HealthLayer};

/// The provider, read by `reader` and by an in-memory exporter; `shop.payload.size` kept as
/// an exponential histogram.
fn provider(reader: &OtelReader) -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "shop"),
            KeyValue::new("deployment.environment", "test"),
        ])
        .build();
    let exponential = |instrument: &Instrument| {
        let name = instrument.name();
        (name == "shop.payload.size" || name == "shop.balance.change").then(|| {
            Stream::builder()
                .with_aggregation(Aggregation::Base2ExponentialHistogram {
                    max_size: 160,
                    max_scale: 4,
                    record_min_max: true,
                })
                .build()
                .unwrap()
        })
    };
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader.clone())
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .with_view(exponential)
        .build();
    (provider, exporter)
}

/// Records on every kind of instrument.
fn record(provider: &SdkMeterProvider) {
    let scope = InstrumentationScope::builder("shop")
        .with_version("1.2.0")
        .with_attributes([KeyValue::new("team", "checkout")])
        .build();
    let meter = provider.meter_with_scope(scope);
    let card = [KeyValue::new("payment.method", "card")];
    let cash = [KeyValue::new("payment.method", "cash")];
    let orders = meter
        .u64_counter("shop.orders")
        .with_unit("{order}")
        .with_description("Orders placed.")
        .build();
    orders.add(3, &card);
    orders.add(2, &cash);
    orders.add(4, &card);
    let queue = meter
        .i64_up_down_counter("shop.queue.depth")
        .with_unit("{job}")
        .build();
    queue.add(7, &[]);
    queue.add(-3, &[]);
    let temperature = meter
        .f64_gauge("shop.oven.temperature")
        .with_unit("Cel")
        .with_description("Oven temperature.")
        .build();
    temperature.record(211.5, &[KeyValue::new("oven", 2)]);
    let checkout = meter
        .f64_histogram("shop.checkout.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    for seconds in [0.05, 0.2, 0.3, 0.7, 2.5] {
        checkout.record(seconds, &card);
    }
    let payload = meter
        .u64_histogram("shop.payload.size")
        .with_unit("By")
        .build();
    for bytes in [100, 200, 400, 800, 1_600, 3_200, 6_400] {
        payload.record(bytes, &[]);
    }
}

/// The samples of an exposition: `name{labels}` as written → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let line = line.split(" # ").next().unwrap();
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The in-memory exporter's last figures: metric name → its data.
fn exported(exporter: &InMemoryMetricExporter) -> ResourceMetrics {
    let mut all = exporter.get_finished_metrics().unwrap();
    all.pop().expect("an export")
}

fn find<'a>(metrics: &'a ResourceMetrics, name: &str) -> &'a AggregatedMetrics {
    metrics
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .find(|metric| metric.name() == name)
        .map(|metric| metric.data())
        .unwrap_or_else(|| panic!("{name} exported"))
}

const SCOPE: &str = "otel_scope_name=\"shop\",otel_scope_version=\"1.2.0\"";

#[tokio::test]
async fn the_apps_instruments_are_scraped_as_the_compatibility_specification_says() {
    let reader = OtelReader::new();
    let (provider, exporter) = provider(&reader);
    record(&provider);
    let checker = HealthChecker::builder().build().unwrap();
    let server = common::serve(HealthLayer::new(checker).otel_metrics(&reader)).await;

    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let openmetrics =
        String::from_utf8(server.get_accepting("/metrics", SCRAPE_ACCEPT).await.body).unwrap();
    provider.force_flush().unwrap();
    let truth = exported(&exporter);

    // The metadata, as the specification names things.
    for line in [
        "# HELP shop_orders_total Orders placed.",
        "# TYPE shop_orders_total counter",
        "# TYPE shop_queue_depth gauge",
        "# TYPE shop_oven_temperature_celsius gauge",
        "# TYPE shop_checkout_duration_seconds histogram",
        "# TYPE shop_payload_size_bytes histogram",
        "# TYPE target_info gauge",
        "target_info{deployment_environment=\"test\",service_name=\"shop\"} 1",
        "otel_scope_info{otel_scope_name=\"shop\",otel_scope_version=\"1.2.0\",team=\"checkout\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    for line in [
        "# TYPE shop_orders counter",
        "# TYPE shop_checkout_duration_seconds histogram",
        "# UNIT shop_checkout_duration_seconds seconds",
        "# UNIT shop_oven_temperature_celsius celsius",
        "# TYPE target info",
        "# TYPE otel_scope info",
    ] {
        assert!(
            openmetrics.lines().any(|l| l == line),
            "{line:?} in\n{openmetrics}"
        );
    }

    // Every figure equals the in-memory exporter's.
    let scraped = samples(&text);
    let at = |series: String| -> f64 {
        *scraped
            .get(&series)
            .unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    let AggregatedMetrics::U64(MetricData::Sum(orders)) = find(&truth, "shop.orders") else {
        panic!("a u64 sum");
    };
    let mut points = 0;
    for point in orders.data_points() {
        let method = point
            .attributes()
            .next()
            .unwrap()
            .value
            .as_str()
            .into_owned();
        let series = format!("shop_orders_total{{{SCOPE},payment_method=\"{method}\"}}");
        assert_eq!(at(series), point.value() as f64);
        points += 1;
    }
    assert_eq!(points, 2);
    let AggregatedMetrics::I64(MetricData::Sum(queue)) = find(&truth, "shop.queue.depth") else {
        panic!("an i64 sum");
    };
    let depth = queue.data_points().next().unwrap().value();
    assert_eq!(
        (at(format!("shop_queue_depth{{{SCOPE}}}")), depth),
        (4.0, 4)
    );
    let AggregatedMetrics::F64(MetricData::Gauge(oven)) = find(&truth, "shop.oven.temperature")
    else {
        panic!("an f64 gauge");
    };
    let series = format!("shop_oven_temperature_celsius{{{SCOPE},oven=\"2\"}}");
    assert_eq!(at(series), oven.data_points().next().unwrap().value());

    let AggregatedMetrics::F64(MetricData::Histogram(checkout)) =
        find(&truth, "shop.checkout.duration")
    else {
        panic!("an f64 histogram");
    };
    let point = checkout.data_points().next().unwrap();
    let labels = format!("{SCOPE},payment_method=\"card\"");
    let mut cumulative = 0;
    let les = ["0.1", "0.5", "1", "+Inf"];
    for (le, count) in les.iter().zip(point.bucket_counts()) {
        cumulative += count;
        let series = format!("shop_checkout_duration_seconds_bucket{{{labels},le=\"{le}\"}}");
        assert_eq!(at(series), cumulative as f64, "le {le}");
    }
    let name = "shop_checkout_duration_seconds";
    assert_eq!(
        at(format!("{name}_count{{{labels}}}")),
        point.count() as f64
    );
    assert_eq!(at(format!("{name}_sum{{{labels}}}")), point.sum());
    assert_eq!(point.count(), 5);

    let AggregatedMetrics::U64(MetricData::ExponentialHistogram(payload)) =
        find(&truth, "shop.payload.size")
    else {
        panic!("a u64 exponential histogram");
    };
    let point = payload.data_points().next().unwrap();
    let name = "shop_payload_size_bytes";
    assert_eq!(at(format!("{name}_count{{{SCOPE}}}")), point.count() as f64);
    assert_eq!(at(format!("{name}_sum{{{SCOPE}}}")), point.sum() as f64);
    // Each value is counted at or below the first bucket bound that holds it.
    let buckets: Vec<(f64, f64)> = scraped
        .iter()
        .filter_map(|(series, n)| {
            let rest = series.strip_prefix(&format!("{name}_bucket{{{SCOPE},le=\""))?;
            let le = rest.strip_suffix("\"}")?;
            Some((le.replace("+Inf", "inf").parse::<f64>().unwrap(), *n))
        })
        .collect();
    assert!(buckets.len() > 7, "{buckets:?}");
    for bytes in [100.0, 200.0, 400.0, 800.0, 1_600.0, 3_200.0, 6_400.0_f64] {
        let below = [100.0, 200.0, 400.0, 800.0, 1_600.0, 3_200.0, 6_400.0]
            .iter()
            .filter(|v| **v <= bytes)
            .count() as f64;
        let (le, n) = buckets
            .iter()
            .filter(|(le, _)| *le >= bytes)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap();
        assert_eq!(*n, below, "{bytes} under le {le}");
        // Within a bucket's width at scale 4 (2^(1/16), about 4.4 %).
        assert!(
            *le / bytes < 2f64.powf(1.0 / 16.0) + 1e-9,
            "{bytes}: le {le}"
        );
    }

    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool:\n{said}");
        assert!(
            !said.contains("shop_"),
            "promtool on the app's families:\n{said}"
        );
    }
    if let Some(families) = openmetrics_parser(&openmetrics) {
        for family in [
            "shop_orders counter",
            "shop_queue_depth gauge",
            "shop_oven_temperature_celsius gauge",
            "shop_checkout_duration_seconds histogram",
            "shop_payload_size_bytes histogram",
            "target info",
            "otel_scope info",
        ] {
            assert!(
                families.iter().any(|f| f == family),
                "{family} in {families:?}"
            );
        }
    }
    provider.shutdown().unwrap();
}

#[tokio::test]
async fn a_name_taken_by_the_layer_or_of_another_type_is_left_out() {
    let reader = OtelReader::new();
    let (provider, _exporter) = provider(&reader);
    let meter = provider.meter("shop");
    // The layer's own family, and one name as two types.
    meter
        .f64_gauge("vitals_uptime_seconds")
        .build()
        .record(1e9, &[]);
    meter.u64_counter("shop.jobs").build().add(1, &[]);
    meter.f64_gauge("shop_jobs_total").build().record(5.0, &[]);
    let checker = HealthChecker::builder().build().unwrap();
    let server = common::serve(HealthLayer::new(checker).otel_metrics(&reader)).await;
    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert_eq!(text.matches("# TYPE vitals_uptime_seconds ").count(), 1);
    assert!(!text.contains("1000000000"), "{text}");
    assert_eq!(text.matches("# TYPE shop_jobs_total ").count(), 1, "{text}");
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool:\n{said}");
    }
    provider.shutdown().unwrap();
}

#[tokio::test]
async fn an_exponential_histogram_of_negative_values_has_its_buckets_in_order_and_no_sum() {
    let reader = OtelReader::new();
    let (provider, _exporter) = provider(&reader);
    let change = provider
        .meter("shop")
        .f64_histogram("shop.balance.change")
        .build();
    // (Not on a bucket's bound: a negative value exactly on one is counted at the next `le`,
    // the OpenTelemetry bucket being closed at its far end.)
    for value in [-2.5, -0.7, 0.0, 1.5, 4.5] {
        change.record(value, &[]);
    }
    let checker = HealthChecker::builder().build().unwrap();
    let server = common::serve(HealthLayer::new(checker).otel_metrics(&reader)).await;
    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("shop_balance_change_bucket{")?;
            let (labels, n) = rest.rsplit_once("} ")?;
            let le = labels.split("le=\"").nth(1)?.trim_end_matches('"');
            let le = le.replace("+Inf", "inf").parse::<f64>().ok()?;
            Some((le, n.parse().ok()?))
        })
        .collect();
    // Bounds rising, counts cumulative: each value at or below the first bound that holds it.
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{buckets:?}"
    );
    let at_or_below = |v: f64| {
        buckets
            .iter()
            .find(|(le, _)| *le >= v)
            .map(|(_, n)| *n)
            .unwrap()
    };
    assert_eq!(at_or_below(-2.5), 1.0);
    assert_eq!(at_or_below(-0.7), 2.0);
    assert_eq!(at_or_below(0.0), 3.0);
    assert_eq!(at_or_below(1.5), 4.0);
    assert_eq!(at_or_below(4.5), 5.0);
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 5.0));
    // "Histograms": no `_sum` once a value is negative.
    assert!(!text.contains("shop_balance_change_sum"), "{text}");
    assert!(text.contains("shop_balance_change_count{otel_scope_name=\"shop\"} 5"));
    if let Some((passed, said)) = promtool(&text) {
        assert!(passed, "promtool:\n{said}");
    }
    provider.shutdown().unwrap();
}

/// The specification's "Exemplars" maps an OpenTelemetry exemplar to an OpenMetrics one; the
/// SDK this crate builds on records none, even for a measurement inside a sampled span (each
/// aggregation emits an empty list, and the list is private to the SDK), so the reader has none
/// to write. When this fails, an SDK release gives them: write them beside the buckets.
#[tokio::test]
async fn the_sdk_gives_no_exemplars_to_write() {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    let reader = OtelReader::new();
    let (provider, exporter) = provider(&reader);
    let span = SpanContext::new(
        TraceId::from_bytes([7; 16]),
        SpanId::from_bytes([9; 8]),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let _entered = opentelemetry::Context::current()
        .with_remote_span_context(span)
        .attach();
    record(&provider);
    provider.force_flush().unwrap();
    let metrics = exported(&exporter);
    let exemplars = |name: &str| -> usize {
        match find(&metrics, name) {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                h.data_points().map(|p| p.exemplars().count()).sum()
            }
            AggregatedMetrics::U64(MetricData::ExponentialHistogram(h)) => {
                h.data_points().map(|p| p.exemplars().count()).sum()
            }
            AggregatedMetrics::U64(MetricData::Sum(s)) => {
                s.data_points().map(|p| p.exemplars().count()).sum()
            }
            other => panic!("{name}: {other:?}"),
        }
    };
    for name in ["shop.checkout.duration", "shop.payload.size", "shop.orders"] {
        assert_eq!(exemplars(name), 0, "{name} has exemplars: write them");
    }
    let text = reader.render();
    assert!(!text.contains(" # {"), "{text}");
    provider.shutdown().unwrap();
}
