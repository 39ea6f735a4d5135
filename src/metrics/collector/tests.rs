use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use quanta::Mock;

use super::*;
use crate::metrics::NativeBuckets;

fn mocked() -> (MetricsCollector, Arc<Mock>) {
    let (clock, mock) = Clock::mock();
    let collector = MetricsCollector::builder()
        .clock(clock)
        .shards(4)
        .build()
        .unwrap();
    (collector, mock)
}

fn record(collector: &MetricsCollector, route: &'static str, status: u16, millis: u64) {
    collector.record(&RequestRecord {
        route: Some(route),
        method: &Method::GET,
        outcome: Outcome::status(StatusCode::from_u16(status).unwrap()),
        duration: Duration::from_millis(millis),
        time_to_headers: Some(Duration::from_millis(millis / 2)),
    });
}

#[test]
fn totals_and_series_add_up() {
    let (collector, _mock) = mocked();
    record(&collector, "/a", 200, 3);
    record(&collector, "/a", 200, 30);
    record(&collector, "/a", 503, 300);
    record(&collector, "/b", 404, 7_000);
    collector.record(&RequestRecord {
        route: None,
        method: &Method::POST,
        outcome: Outcome::Error,
        duration: Duration::from_millis(1),
        time_to_headers: None,
    });
    let snapshot = collector.snapshot();
    assert_eq!(
        snapshot.totals,
        Totals {
            requests: 5,
            successes: 3,
            failures: 2,
            cancelled: 0,
            latency_sum: Duration::from_millis(7_334),
            // The four responses, at half their durations; the error had no headers.
            headers_count: 4,
            headers_sum: Duration::from_millis(3_666),
            clamped: 0,
        }
    );
    let find = |route: &str, class: &str| {
        snapshot
            .series
            .iter()
            .find(|s| &*s.route == route && s.status_class == class)
            .unwrap()
    };
    let ok = find("/a", "2xx");
    assert_eq!((ok.count, ok.failures, ok.method), (2, 0, "GET"));
    // bounds: 5ms, 10ms, 25ms, 50ms, … → 3 ms in the 5 ms bucket, 30 ms in the 50 ms one.
    assert_eq!(&ok.cumulative_buckets[..4], [1, 1, 1, 2]);
    assert_eq!(*ok.cumulative_buckets.last().unwrap(), 2);
    assert_eq!(ok.cumulative_buckets.len(), OTEL_DURATION_BOUNDS.len() + 1);
    assert_eq!(find("/a", "5xx").failures, 1);
    let slow = find("/b", "4xx");
    assert_eq!(slow.cumulative_buckets[11], 0, "7 s is above the 5 s bound");
    assert_eq!(slow.cumulative_buckets[12], 1, "and within the 7.5 s one");
    let error = find("unmatched", "error");
    assert_eq!((error.method, error.failures), ("POST", 1));
    assert_eq!(snapshot.window.count, 5);
    assert_eq!(snapshot.window.failures, 2);
}

#[test]
fn in_flight_returns_to_zero_and_dropped_trackers_count_as_cancelled() {
    let (collector, mock) = mocked();
    let route = collector.route_id(Some("/slow"));
    let mut done = Tracker::start(&collector, (route, 0, 0), None);
    let abandoned = Tracker::start(&collector, (route, 0, 0), None);
    assert_eq!(collector.in_flight(), 2);
    mock.increment(Duration::from_millis(40));
    done.end(Outcome::status(StatusCode::OK), Some(1_000_000), None);
    assert_eq!(collector.in_flight(), 1);
    drop(abandoned);
    drop(done); // already ended: nothing more is recorded
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.in_flight, 0);
    assert_eq!(
        (snapshot.totals.requests, snapshot.totals.cancelled),
        (2, 1)
    );
    assert_eq!(snapshot.window.latency.max, Duration::from_millis(40));
    assert_eq!(
        snapshot.window.time_to_headers.max,
        Duration::from_millis(1)
    );
}

#[test]
fn the_window_forgets_what_the_totals_keep() {
    let (collector, mock) = mocked();
    record(&collector, "/a", 200, 5);
    assert_eq!(collector.window().count, 1);
    mock.increment(Duration::from_secs(30));
    record(&collector, "/a", 200, 5);
    assert_eq!(collector.window().count, 2);
    mock.increment(Duration::from_secs(31)); // the first sample's slot is now out
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.window.count, 1);
    assert_eq!(snapshot.totals.requests, 2);
    assert_eq!(snapshot.uptime, Duration::from_secs(61));
}

#[test]
fn without_maintenance_data_recorded_long_after_the_last_fold_counts_as_recent() {
    let (collector, mock) = mocked();
    mock.increment(Duration::from_secs(600));
    record(&collector, "/a", 200, 5);
    let window = collector.window();
    assert_eq!(window.count, 1);
    assert!(window.span <= Duration::from_secs(60));
}

#[test]
fn cache_figures_and_hit_rate() {
    let (collector, _mock) = mocked();
    assert_eq!(collector.cache().hit_rate, None);
    collector.cache_hits(30);
    collector.cache_misses(10);
    collector.cache_evictions(2);
    assert_eq!(
        collector.cache(),
        CacheStats {
            hits: 30,
            misses: 10,
            evictions: 2,
            hit_rate: Some(0.75)
        }
    );
}

#[test]
fn routes_past_the_cap_are_other() {
    let (clock, _mock) = Clock::mock();
    let collector = MetricsCollector::builder()
        .clock(clock)
        .max_routes(2)
        .build()
        .unwrap();
    for route in ["/a", "/b", "/c", "/d"] {
        record(&collector, route, 200, 1);
    }
    let mut routes: Vec<_> = collector
        .snapshot()
        .series
        .iter()
        .map(|s| (s.route.to_string(), s.count))
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [("/a".into(), 1), ("/b".into(), 1), ("other".into(), 2)]
    );
}

#[test]
fn concurrent_recording_loses_nothing() {
    let (collector, _mock) = mocked();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for i in 0..10_000u32 {
                    record(
                        &collector,
                        "/a",
                        if i.is_multiple_of(100) { 500 } else { 200 },
                        1,
                    );
                }
            });
        }
    });
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.totals.requests, 80_000);
    assert_eq!(snapshot.totals.failures, 800);
    assert_eq!(snapshot.window.latency.count, 80_000);
}

#[test]
fn bad_settings_are_errors() {
    let errors = [
        MetricsCollector::builder()
            .window(0, Duration::from_secs(10))
            .build(),
        MetricsCollector::builder()
            .window(6, Duration::from_millis(10))
            .build(),
        MetricsCollector::builder().max_routes(0).build(),
        MetricsCollector::builder().max_series(3).build(),
        MetricsCollector::builder().shards(0).build(),
        MetricsCollector::builder().buckets([]).build(),
        MetricsCollector::builder()
            .buckets([Duration::from_secs(1), Duration::from_secs(1)])
            .build(),
        MetricsCollector::builder().status_codes(65).build(),
        MetricsCollector::builder()
            .route_buckets("/upload", [])
            .build(),
        MetricsCollector::builder()
            .route_buckets("/upload", [Duration::from_secs(2), Duration::from_secs(1)])
            .build(),
        MetricsCollector::builder()
            .route_buckets("", [Duration::from_secs(1)])
            .build(),
        (0..16)
            .fold(MetricsCollector::builder(), |builder, i| {
                builder.route_buckets(format!("/r{i}"), [Duration::from_secs(1)])
            })
            .build(),
    ];
    for error in errors {
        assert!(error.is_err());
    }
    assert_eq!(
        MetricsCollector::builder()
            .max_routes(0)
            .build()
            .unwrap_err()
            .to_string(),
        "max routes of 0 is out of range (1 to 4096)"
    );
    // Giving a route again replaces its bounds: fifteen routes, sixteen calls.
    let again = (0..16).fold(MetricsCollector::builder(), |builder, i| {
        builder.route_buckets(format!("/r{}", i % 15), [Duration::from_secs(1)])
    });
    assert!(again.build().is_ok());
}

#[tokio::test(start_paused = true)]
async fn the_maintenance_task_stops_with_the_collector() {
    let collector = MetricsCollector::new();
    let weak = Arc::downgrade(&collector.inner);
    tokio::time::sleep(Duration::from_secs(25)).await; // two folds by the task
    drop(collector);
    assert!(
        weak.upgrade().is_none(),
        "the task holds no strong reference"
    );
    tokio::time::sleep(Duration::from_secs(20)).await; // and ends at its next tick
}

/// Native histograms fed from 8 threads (each shard's list fills and is drained many times)
/// while another thread takes snapshots: every series' native count equals its classic count.
#[test]
fn native_histograms_count_every_request_under_contention() {
    let collector = MetricsCollector::builder()
        .shards(2)
        .native_histograms()
        .build()
        .unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let snapshot = collector.snapshot();
                for series in &snapshot.series {
                    // A list is drained, when full, under the lock a snapshot folds under.
                    let native = series.native.as_ref().map_or(0, NativeBuckets::count);
                    assert_eq!(native, series.count);
                }
            }
        });
        let workers: Vec<_> = (0..8u64)
            .map(|thread| {
                let collector = &collector;
                scope.spawn(move || {
                    for i in 0..20_000u64 {
                        let route = if i % 3 == 0 { "/a" } else { "/b" };
                        let millis = 1 + (i * 7 + thread) % 300;
                        record(collector, route, 200, millis);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let snapshot = collector.snapshot();
    assert_eq!(snapshot.totals.requests, 160_000);
    for series in &snapshot.series {
        let native = series.native.as_ref().expect("kept");
        assert_eq!(native.count(), series.count, "{}", series.route);
        let p99 = native.quantile(0.99).unwrap();
        assert!((0.290..0.310).contains(&p99), "{p99}");
    }
    let off = MetricsCollector::new();
    record(&off, "/a", 200, 5);
    assert_eq!(off.snapshot().series[0].native, None, "off by default");
    for (scale, buckets) in [(9, 160), (-5, 160), (4, 7), (4, 5000)] {
        let built = MetricsCollector::builder()
            .native_histogram_limits(scale, buckets)
            .build();
        assert!(built.is_err(), "{scale} {buckets}");
    }
}
