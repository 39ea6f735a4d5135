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
    /// The collector's [request label](super::MetricsCollectorBuilder::request_label), if it
    /// has one.
    pub request_label: Option<RequestLabelStats>,
    /// What the collector records: everything, or the [lean](super::MetricsCollectorBuilder::lean)
    /// preset's counts and histogram (no time to headers, in-flight count or window
    /// percentiles).
    pub preset: Preset,
}

/// What a [`MetricsCollector`](super::MetricsCollector) records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Preset {
    /// Everything (the default).
    #[default]
    Full,
    /// Counts and one histogram: [`MetricsCollectorBuilder::lean`](super::MetricsCollectorBuilder::lean).
    Lean,
}

/// A bounded request label: its name, how full it is, and what fell to `other`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLabelStats {
    /// The label's name.
    pub name: Arc<str>,
    /// Distinct values given series of their own so far (`none` and `other` left out).
    pub values: usize,
    /// The most there can be.
    pub max_values: usize,
    /// Requests counted under `other`: their value came after the first `max_values`, was
    /// longer than [`MAX_VALUE_LEN`](super::MAX_VALUE_LEN), or was spelled `other`.
    pub overflow: u64,
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
    /// The request label's value (`none`, `other`), when the collector has a
    /// [request label](super::MetricsCollectorBuilder::request_label).
    pub label: Option<Arc<str>>,
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
    /// The same requests in exponential buckets, when the collector keeps them
    /// ([`native_histograms`](super::MetricsCollectorBuilder::native_histograms)).
    pub native: Option<NativeBuckets>,
}

/// A native (exponential) histogram of latencies, as Prometheus and OpenTelemetry define one:
/// at scale `s`, bucket `i` holds the latencies in `(2^((i-1)/2^s), 2^(i/2^s)]` seconds; those
/// of at most `zero_threshold` seconds are in the zero bucket. Histograms of any scale add up
/// (across replicas, say) by merging buckets down to the coarsest scale, which is what makes
/// their quantiles exact to a bucket across a fleet.
///
/// ```
/// use http::{Method, StatusCode};
/// use std::time::Duration;
/// use tower_vitals::metrics::{MetricsCollector, Outcome, RequestRecord};
///
/// let collector = MetricsCollector::builder().native_histograms().build()?;
/// for millis in 1..=100 {
///     collector.record(&RequestRecord {
///         route: Some("/orders"),
///         method: &Method::GET,
///         outcome: Outcome::status(StatusCode::OK),
///         duration: Duration::from_millis(millis),
///         time_to_headers: None,
///     });
/// }
/// let native = collector.snapshot().series[0].native.clone().unwrap();
/// assert_eq!((native.scale, native.count()), (4, 100));
/// let p95 = native.quantile(0.95).unwrap();
/// assert!((p95 - 0.095).abs() / 0.095 < 0.023, "{p95}"); // half a bucket at scale 4
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NativeBuckets {
    /// The resolution: `2^scale` buckets per doubling (−4 to 8).
    pub scale: i8,
    /// The upper bound of the zero bucket, in seconds.
    pub zero_threshold: f64,
    /// Latencies in the zero bucket.
    pub zero_count: u64,
    /// The index of `counts[0]`'s bucket.
    pub offset: i32,
    /// Counts of consecutive buckets from `offset` (not cumulative; some may be 0).
    pub counts: Vec<u64>,
}

impl NativeBuckets {
    /// Every latency counted, the zero bucket's included.
    pub fn count(&self) -> u64 {
        self.zero_count + self.counts.iter().sum::<u64>()
    }

    /// The upper bound of bucket `index`, in seconds: `2^(index / 2^scale)`.
    pub fn upper_bound(&self, index: i32) -> f64 {
        super::native::upper_bound(self.scale, index)
    }

    /// The `q` quantile (0–1) in seconds: the bucket holding that rank, interpolated
    /// exponentially within it (as Prometheus does for native histograms); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total as f64;
        if rank <= self.zero_count as f64 {
            return Some(0.0);
        }
        let mut below = self.zero_count as f64;
        for (position, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let index = self.offset + position as i32;
            if below + count as f64 >= rank {
                let (lower, upper) = (self.upper_bound(index - 1), self.upper_bound(index));
                let fraction = (rank - below) / count as f64;
                return Some(lower * (upper / lower).powf(fraction));
            }
            below += count as f64;
        }
        let last = self.offset + self.counts.len() as i32 - 1;
        Some(self.upper_bound(last))
    }
}
