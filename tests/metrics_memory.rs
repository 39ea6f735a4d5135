//! The collector's memory is fixed when it is built, and recording allocates nothing: counted
//! by dhat's heap profiler, which replaces the global allocator of this test binary.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use tower::{Layer, ServiceExt, service_fn};
use tower_vitals::metrics::{MetricsCollector, MetricsLayer, Outcome, RequestRecord};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const ROUTES: [&str; 5] = [
    "/",
    "/users/{id}",
    "/orders",
    "/orders/{id}/items",
    "/search",
];
const METHODS: [Method; 3] = [Method::GET, Method::POST, Method::DELETE];

fn record(collector: &MetricsCollector, i: u64) {
    let outcome = match i % 50 {
        0 => Outcome::Error,
        1 => Outcome::Cancelled,
        2 => Outcome::status(StatusCode::SERVICE_UNAVAILABLE),
        _ => Outcome::status(StatusCode::OK),
    };
    collector.record(&RequestRecord {
        route: Some(ROUTES[(i % 5) as usize]),
        method: &METHODS[(i % 3) as usize],
        outcome,
        // 1 µs … ~17 min, and a few beyond the 1 h bound
        duration: Duration::from_micros(
            (i * 7919) % 1_000_000_000
                + if i.is_multiple_of(997) {
                    5_000_000_000
                } else {
                    1
                },
        ),
        time_to_headers: Some(Duration::from_micros(i % 5000)),
    });
}

/// dhat allows one profiler per process at a time, so the checks run in one test, in turn.
#[test]
fn memory_is_fixed_and_recording_allocates_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    collector_memory_is_fixed();
    the_layer_adds_no_allocation_per_request();
    a_flood_of_odd_requests_grows_nothing();
    ten_thousand_tenants_keep_seventeen_values_and_allocate_nothing();
    layering_allocates_nothing();
    exact_status_codes_keep_memory_fixed();
    native_histograms_keep_memory_fixed();
    a_day_of_status_history_keeps_memory_fixed();
}

/// Native histograms: the buckets of every series and each shard's list are allocated at
/// build; a million records over 30 label sets, from 1 µs to beyond the hour (the scale goes
/// down), allocate nothing, and the native counts add up to the classic ones.
fn native_histograms_keep_memory_fixed() {
    let (without, _) = built_as_stated(MetricsCollector::builder().shards(4).max_series(64));
    let (collector, built) = built_as_stated(
        MetricsCollector::builder()
            .shards(4)
            .max_series(64)
            .native_histograms(),
    );
    drop(without.snapshot());
    let warm = a_million_records_allocate_nothing(&collector, |i| record(&collector, i));
    let snapshot = collector.snapshot();
    for series in &snapshot.series {
        let native = series.native.as_ref().expect("kept");
        assert_eq!(native.count(), series.count);
        assert!(native.counts.len() <= 160);
    }
    drop(snapshot);
    assert_eq!(dhat::HeapStats::get().curr_bytes, warm);
    // A list of 4 096 words per shard and the spare one swapped in on fold.
    let per_series = (collector.memory_bytes() - without.memory_bytes() - 5 * 32_768) / 64;
    assert_eq!(per_series, 8 * 160 + 24, "as documented");
    println!(
        "native histograms: {built} bytes ({per_series} per series of 160 buckets, 32 KB per \
         shard and one more), unchanged after 1,000,000 records"
    );
}

/// A check run every 10 s for a simulated day (Tokio's paused clock), with an incident in the
/// warm-up: the timeline's rings and the incident log were allocated at build, so the heap is
/// the same size after the day; the day is all there.
fn a_day_of_status_history_keeps_memory_fixed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower_vitals::{CheckResult, HealthChecker};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let up = Arc::new(AtomicBool::new(false));
        let flag = up.clone();
        let checker = HealthChecker::builder()
            .check("db", move || {
                let up = flag.load(Ordering::SeqCst);
                async move {
                    if up {
                        CheckResult::healthy()
                    } else {
                        CheckResult::unhealthy("down")
                    }
                }
            })
            .cache_ttl(Duration::ZERO)
            .build()
            .unwrap();
        let step = Duration::from_secs(10);
        for i in 0..60 {
            up.store(i >= 30, Ordering::SeqCst);
            drop(checker.report().await);
            tokio::time::advance(step).await;
        }
        let warm = dhat::HeapStats::get().curr_bytes;
        for _ in 0..24 * 360 {
            drop(checker.report().await);
            tokio::time::advance(step).await;
        }
        assert_eq!(
            dhat::HeapStats::get().curr_bytes,
            warm,
            "a day of runs kept nothing"
        );
        let now = checker.now();
        let day = checker
            .timeline(
                "db",
                now - Duration::from_secs(24 * 3600),
                now,
                Some(Duration::from_secs(60)),
            )
            .unwrap();
        assert_eq!(
            day.points.len(),
            1441,
            "every minute of the day, and the one begun"
        );
        assert_eq!(day.availability_percent(), Some(100.0));
        let incidents = checker.incidents(Some("db"), now - Duration::from_secs(25 * 3600));
        assert_eq!(incidents.len(), 1, "the warm-up's incident is still there");
        assert_eq!(incidents[0].duration, Duration::from_secs(300));
    });
    println!("status history: heap unchanged over a simulated day of runs every 10 s");
}

/// Forty distinct status codes over five routes and three methods with exact codes kept for
/// eight and 64 label sets: memory as stated at build, nothing allocated over a million
/// records, eight codes labelled, the rest under their class, the label sets past the cap in
/// the overflow series.
fn exact_status_codes_keep_memory_fixed() {
    const CODES: [u16; 40] = [
        200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408,
        409, 410, 412, 413, 415, 422, 425, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 507,
        508, 510, 511, 599,
    ];
    let (collector, built) = built_as_stated(
        MetricsCollector::builder()
            .shards(2)
            .status_codes(8)
            .max_series(64),
    );
    let record = |i: u64| {
        let i = i as usize;
        let code = StatusCode::from_u16(CODES[i % CODES.len()]).unwrap();
        collector.record(&RequestRecord {
            route: Some(ROUTES[(i / CODES.len()) % ROUTES.len()]),
            method: &METHODS[(i / 7) % METHODS.len()],
            outcome: Outcome::status(code),
            duration: Duration::from_micros(100 + (i % 10_000) as u64),
            time_to_headers: None,
        });
    };
    let warm = a_million_records_allocate_nothing(&collector, record);

    let snapshot = collector.snapshot();
    assert_eq!(snapshot.totals.requests, 1_015_000);
    let mut labelled: Vec<u16> = snapshot
        .series
        .iter()
        .filter_map(|s| s.status_code)
        .collect();
    labelled.sort_unstable();
    labelled.dedup();
    assert_eq!(labelled, CODES[..8], "the first eight codes seen");
    let unlabelled = |class: &str| {
        snapshot
            .series
            .iter()
            .filter(|s| s.status_code.is_none() && s.status_class == class)
            .map(|s| s.count)
            .sum::<u64>()
    };
    assert!(
        unlabelled("4xx") > 0 && unlabelled("5xx") > 0,
        "later codes under their class"
    );
    // 64 label sets, the seven overflow ones (one per class) among them; those of 1xx, error
    // and cancelled got no request, and a snapshot leaves out empty series.
    assert_eq!(snapshot.series.len(), 64 - 3, "the cap");
    assert!(
        snapshot
            .series
            .iter()
            .any(|s| &*s.route == "other" && s.count > 0),
        "label sets past the cap share the overflow series"
    );
    drop((snapshot, labelled));
    assert_eq!(dhat::HeapStats::get().curr_bytes, warm);
    println!("exact status codes: {built} bytes, unchanged after 1,000,000 records");
}

/// Axum calls `layer()` for every route, and per request on a router without state: after the
/// first call (which tells the collector the health paths), neither layer allocates.
fn layering_allocates_nothing() {
    let collector = MetricsCollector::new();
    let metrics = MetricsLayer::new(collector.clone())
        .exclude_path("/internal/ping")
        .exclude_prefix("/admin");
    let checker = tower_vitals::HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let health = tower_vitals::HealthLayer::new(checker).metrics(collector);
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    drop(health.layer(metrics.layer(app)));
    let warm = dhat::HeapStats::get();
    for _ in 0..1_000 {
        drop(health.layer(metrics.layer(app)));
    }
    let after = dhat::HeapStats::get();
    assert_eq!(
        after.total_blocks, warm.total_blocks,
        "allocations in layer()"
    );
}

/// Builds a collector and checks that `memory_bytes()` is what building allocated (within 2 %);
/// the collector and those bytes.
fn built_as_stated(
    builder: tower_vitals::metrics::MetricsCollectorBuilder,
) -> (MetricsCollector, usize) {
    let before = dhat::HeapStats::get();
    let collector = builder.build().unwrap();
    let built = dhat::HeapStats::get().curr_bytes - before.curr_bytes;
    let stated = collector.memory_bytes();
    let off = built.abs_diff(stated) as f64 / built as f64;
    assert!(
        off < 0.02,
        "memory_bytes() says {stated}, building allocated {built}"
    );
    (collector, built)
}

/// Records 15 000 requests (every label set seen once: route names are interned on first
/// sight) and folds, then 1 000 000 more: none allocates and the heap stays the same size.
/// The heap after the warm-up, to compare with later.
fn a_million_records_allocate_nothing(collector: &MetricsCollector, record: impl Fn(u64)) -> usize {
    for i in 0..15_000 {
        record(i);
    }
    drop(collector.snapshot());
    let warm = dhat::HeapStats::get();
    for i in 0..1_000_000 {
        record(i);
    }
    let after = dhat::HeapStats::get();
    assert_eq!(
        after.total_blocks, warm.total_blocks,
        "allocations while recording"
    );
    assert_eq!(after.curr_bytes, warm.curr_bytes);
    warm.curr_bytes
}

fn collector_memory_is_fixed() {
    // The documented figure matches what building really allocates.
    let (collector, built) = built_as_stated(MetricsCollector::builder().shards(4));
    let warm = a_million_records_allocate_nothing(&collector, |i| record(&collector, i));

    // Reading folds into buffers allocated up front: memory is the same after it.
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.totals.requests, 1_015_000);
    assert!(
        snapshot.totals.clamped > 0,
        "out-of-range latencies were clamped, not lost"
    );
    drop(snapshot);
    assert_eq!(dhat::HeapStats::get().curr_bytes, warm);
    println!("collector: {built} bytes with 4 shards, unchanged after 1,000,000 records");
}

fn the_layer_adds_no_allocation_per_request() {
    let collector = MetricsCollector::builder().shards(2).build().unwrap();
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let service = MetricsLayer::new(collector.clone()).layer(app);
    let uri = Uri::from_static("/orders");
    let run = |n: usize| {
        for _ in 0..n {
            let mut request = Request::new(());
            *request.uri_mut() = uri.clone();
            let response = service
                .clone()
                .oneshot(request)
                .now_or_never()
                .unwrap()
                .unwrap();
            drop(response.into_body().collect().now_or_never());
        }
    };
    run(100);
    let warm = dhat::HeapStats::get();
    run(100_000);
    let after = dhat::HeapStats::get();
    assert_eq!(
        after.total_blocks, warm.total_blocks,
        "allocations per request"
    );
    assert_eq!(collector.snapshot().totals.requests, 100_100);
}

/// A request label bounded to 16 values: 10 000 tenants over 100 000 requests (each tenant
/// ten times, in a scrambled order) through both layers allocate exactly what the bare app
/// does — the first sight of a value included, since values are kept inline — and leave the
/// heap as it was; `/metrics` then shows 17 values (the first 16 and `other`) and counts the
/// 99 840 requests that fell to `other`.
fn ten_thousand_tenants_keep_seventeen_values_and_allocate_nothing() {
    use tower_vitals::{HealthChecker, HealthLayer};
    const REQUESTS: usize = 100_000;
    const TENANTS: usize = 10_000;
    let (collector, _) = built_as_stated(
        MetricsCollector::builder()
            .shards(2)
            .max_series(64)
            .request_label("tenant", 16, |headers, _| {
                headers.get("x-tenant")?.to_str().ok()
            }),
    );
    let checker = HealthChecker::builder().build().unwrap();
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let layered = tower::ServiceBuilder::new()
        .layer(HealthLayer::new(checker).metrics(collector.clone()))
        .layer(MetricsLayer::new(collector.clone()))
        .service(app);
    let request = |i: usize| {
        let mut request = Request::new(());
        *request.uri_mut() = Uri::from_static("/orders");
        let tenant = (i * 7919) % TENANTS;
        let value = http::HeaderValue::from_str(&format!("tenant-{tenant}")).unwrap();
        request.headers_mut().insert("x-tenant", value);
        request
    };
    let before = dhat::HeapStats::get();
    for i in 0..REQUESTS {
        let response = app.oneshot(request(i)).now_or_never().unwrap().unwrap();
        drop(response.into_body().collect().now_or_never());
    }
    let bare = dhat::HeapStats::get();
    for i in 0..REQUESTS {
        let response = layered
            .clone()
            .oneshot(request(i))
            .now_or_never()
            .unwrap()
            .unwrap();
        drop(response.into_body().collect().now_or_never());
    }
    let after = dhat::HeapStats::get();
    assert_eq!(
        after.total_blocks - bare.total_blocks,
        bare.total_blocks - before.total_blocks,
        "the layers and the label allocate nothing of their own"
    );
    assert_eq!(after.curr_bytes, before.curr_bytes, "memory as before");

    let scrape = Request::get("/metrics").body(()).unwrap();
    let response = layered
        .clone()
        .oneshot(scrape)
        .now_or_never()
        .unwrap()
        .unwrap();
    let body = response
        .into_body()
        .collect()
        .now_or_never()
        .unwrap()
        .unwrap();
    let text = String::from_utf8(body.to_bytes().to_vec()).unwrap();
    let values: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|line| line.starts_with("vitals_http_server_requests_total{"))
        .filter_map(|line| line.split("tenant=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(values.len(), 17, "{values:?}");
    assert!(values.contains("other") && values.contains("tenant-0"));
    let overflow = REQUESTS - 16 * (REQUESTS / TENANTS);
    assert!(
        text.lines().any(|line| line
            == format!(
                "vitals_http_server_request_label_overflow_total{{label=\"tenant\"}} {overflow}"
            )),
        "{text}"
    );
    assert_eq!(collector.snapshot().totals.requests, REQUESTS as u64);
    println!(
        "request label: {REQUESTS} requests of {TENANTS} tenants, 16 values: {} values on /metrics, \
         {overflow} requests counted as other, {} allocations of the layers, heap unchanged",
        values.len(),
        (after.total_blocks - bare.total_blocks) - (bare.total_blocks - before.total_blocks),
    );
}

/// 20 000 requests with distinct paths and queries, made-up methods and big headers, through
/// both layers: the same allocations as through the bare app, and no memory kept afterwards.
fn a_flood_of_odd_requests_grows_nothing() {
    use tower_vitals::{HealthChecker, HealthLayer};
    let collector = MetricsCollector::builder().shards(2).build().unwrap();
    let checker = HealthChecker::builder().build().unwrap();
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let layered = tower::ServiceBuilder::new()
        .layer(HealthLayer::new(checker))
        .layer(MetricsLayer::new(collector.clone()))
        .service(app);
    let methods: Vec<Method> = ["GET", "BREW", "PURGE", "X-ODD", "POST"]
        .iter()
        .map(|m| Method::from_bytes(m.as_bytes()).unwrap())
        .collect();
    let big = http::HeaderValue::from_str(&"v".repeat(8 * 1024)).unwrap();
    let requests = |n: usize| {
        (0..n).map(|i| {
            let uri: Uri = format!("/items/{i}/{}?q={}", i * 7919, "x".repeat(i % 300))
                .parse()
                .unwrap();
            let mut request = Request::new(());
            *request.uri_mut() = uri;
            *request.method_mut() = methods[i % methods.len()].clone();
            request.headers_mut().insert("x-big", big.clone());
            request
        })
    };
    let drive = |service: &dyn Fn(Request<()>)| {
        for request in requests(20_000) {
            service(request);
        }
    };
    let through_layers = |request: Request<()>| {
        let response = layered
            .clone()
            .oneshot(request)
            .now_or_never()
            .unwrap()
            .unwrap();
        drop(response.into_body().collect().now_or_never());
    };
    let through_app = |request: Request<()>| {
        let response = app.oneshot(request).now_or_never().unwrap().unwrap();
        drop(response.into_body().collect().now_or_never());
    };
    drive(&through_layers); // warm: the label sets of these methods exist from here on
    let before = dhat::HeapStats::get();
    drive(&through_app);
    let bare = dhat::HeapStats::get();
    drive(&through_layers);
    let layered_stats = dhat::HeapStats::get();
    assert_eq!(
        layered_stats.total_blocks - bare.total_blocks,
        bare.total_blocks - before.total_blocks,
        "the layers allocate nothing of their own"
    );
    assert_eq!(layered_stats.curr_bytes, before.curr_bytes, "nothing kept");
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.totals.requests, 40_000);
    assert!(snapshot.series.iter().all(|s| &*s.route == "unmatched"));
    assert_eq!(
        snapshot.series.len(),
        3,
        "GET, POST and one OTHER bucket for the made-up methods"
    );
}
