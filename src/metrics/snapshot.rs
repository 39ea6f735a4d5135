//! What the collector reports: plain data, taken by [`MetricsCollector::snapshot`].
//!
//! [`MetricsCollector::snapshot`]: super::MetricsCollector::snapshot

use std::sync::Arc;
use std::time::Duration;

/// Everything the collector knows, at one moment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Time since the collector was made.
    pub uptime: Duration,
    /// Requests started through [`MetricsLayer`](super::MetricsLayer) and not yet ended.
    pub in_flight: u64,
    /// Figures over the rolling window.
    pub window: WindowStats,
    /// Figures since start.
    pub totals: Totals,
    /// Cache figures the application fed.
    pub cache: CacheStats,
    /// Per label set (route, method, status class) since start, those with requests only.
    pub series: Vec<SeriesStats>,
    /// Upper bounds of the cumulative histogram buckets (the last bucket, +Inf, is implied).
    pub bucket_bounds: Vec<Duration>,
}

/// Figures over the rolling window (default 6 slots of 10 s: between 50 and 60 s of data).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct WindowStats {
    /// How much time the window's data covers (shorter than the window just after start).
    pub span: Duration,
    /// Requests that ended with a response or an error.
    pub count: u64,
    /// Of those, failures (5xx, errors, gRPC errors by default).
    pub failures: u64,
    /// Requests cancelled before they ended (client went away).
    pub cancelled: u64,
    /// Requests (ended or cancelled) per second over the span.
    pub request_rate: f64,
    /// `failures / count`; `None` without requests.
    pub error_rate: Option<f64>,
    /// From `call()` to the end of the response body.
    pub latency: LatencyStats,
    /// From `call()` to the response head.
    pub time_to_headers: LatencyStats,
}

/// A latency distribution. Quantiles come from an HDR histogram (within 1%); `avg` and `max`
/// are exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyStats {
    /// Samples.
    pub count: u64,
    /// Mean, from the exact sum.
    pub avg: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

/// Counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// All requests recorded: successes, failures and cancelled.
    pub requests: u64,
    /// Requests that ended and were not failures.
    pub successes: u64,
    /// Requests classified as failures.
    pub failures: u64,
    /// Requests cancelled before they ended.
    pub cancelled: u64,
    /// Sum of the latencies of ended requests.
    pub latency_sum: Duration,
    /// Requests whose response headers came (not cancelled or failed before them).
    pub headers_count: u64,
    /// Sum of their times to headers.
    pub headers_sum: Duration,
    /// Latencies outside 1 µs..1 h, recorded at the nearest bound.
    pub clamped: u64,
}

/// Cache figures the application fed with [`MetricsCollector::cache_hits`] and friends.
///
/// [`MetricsCollector::cache_hits`]: super::MetricsCollector::cache_hits
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found an entry.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Entries evicted.
    pub evictions: u64,
    /// `hits / (hits + misses)`; `None` before the first lookup.
    pub hit_rate: Option<f64>,
}

/// Figures of one label set since start.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SeriesStats {
    /// The route label: Axum's `MatchedPath`, `unmatched`, or `other` past the route cap.
    pub route: Arc<str>,
    /// The method, or `OTHER`.
    pub method: &'static str,
    /// `1xx`…`5xx`, `error` (the service failed) or `cancelled`.
    pub status_class: &'static str,
    /// The exact status code, when the collector keeps them
    /// ([`status_codes`](super::MetricsCollectorBuilder::status_codes)) and this one was among
    /// the first seen.
    pub status_code: Option<u16>,
    /// Requests.
    pub count: u64,
    /// Of those, failures.
    pub failures: u64,
    /// Sum of their latencies.
    pub latency_sum: Duration,
    /// Cumulative bucket counts, one per bound plus +Inf (the last equals `count`).
    pub cumulative_buckets: Vec<u64>,
    /// This series' own bounds, when its route has them
    /// ([`route_buckets`](super::MetricsCollectorBuilder::route_buckets)); else the
    /// snapshot's [`bucket_bounds`](MetricsSnapshot::bucket_bounds).
    pub bucket_bounds: Option<Arc<[Duration]>>,
    /// The last traced request that fell in each bucket (not cumulative), where one did.
    pub exemplars: Vec<Option<super::Exemplar>>,
}
