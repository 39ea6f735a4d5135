//! [`MetricsCollector`]: sharded recording, folded into the window and the totals on read.

use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use quanta::Clock;
use tokio::runtime::Handle;

use super::buckets::BucketIndex;
use super::exemplar::{Exemplars, TraceIds};
use super::labels::{CANCELLED_CLASS, CLASS_NAMES, ERROR_CLASS, METHOD_NAMES, method_index};
use super::native::NativeSet;
use super::record::{Outcome, RequestRecord};
use super::request_label::{LabelValues, OTHER_VALUE};
use super::routes::{Routes, Series, SeriesKey, UNMATCHED};
use super::shard::{Counts, Sample, SeriesData, Shard, ShardData, thread_index};
use super::snapshot::{
    CacheStats, LatencyStats, MetricsSnapshot, Preset, RequestLabelStats, SeriesStats, Totals,
    WindowStats,
};
use super::statuses::Statuses;
use super::traffic::{Traffic, TrafficTimeline};
use super::window::Window;
use crate::path::PathSet;

/// The bucket bounds OpenTelemetry's HTTP semantic conventions advise for
/// `http.server.request.duration`, in seconds. No `0` bound: a request never takes no time, so
/// an `le="0"` bucket would always be empty.
pub const OTEL_DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Collects request figures: a cheap `Clone` handle, shared by [`MetricsLayer`](super::MetricsLayer),
/// the health report and the exporters.
///
/// Recording locks one of several shards (a thread's own, or the next free one), records into
/// bounded structures allocated up front, and unlocks: no allocation, no string hashing, no
/// window bookkeeping. Reads fold the shards into the rolling window and the since-start totals,
/// swapping each shard's buffer for an empty one so recorders wait at most for a pointer swap.
/// A maintenance task on the Tokio runtime (when the collector is made on one) folds at every
/// slot boundary, so window slots hold what happened in their period; without a runtime,
/// folding happens on reads only.
///
/// Memory is fixed when it is built ([`memory_bytes`](Self::memory_bytes)): with the defaults
/// (6 slots, 64 routes, 512 series, 14 bounds, a day of traffic history with its latency
/// sketches) about 1.03 MB plus 0.12 MB per shard (1.5 MB with 4 shards, measured by
/// `tests/metrics_memory.rs`), one shard
/// per CPU (rounded to a power of two, at least 2); route names add their text once each.
///
/// ```
/// use tower_vitals::metrics::MetricsCollector;
///
/// let collector = MetricsCollector::new();
/// collector.cache_hits(3);
/// collector.cache_misses(1);
/// let snapshot = collector.snapshot();
/// assert_eq!(snapshot.cache.hit_rate, Some(0.75));
/// assert_eq!(snapshot.in_flight, 0);
/// ```
#[derive(Clone)]
pub struct MetricsCollector {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Clock,
    origin: quanta::Instant,
    shards: Box<[CachePadded<Shard>]>,
    mask: usize,
    routes: Routes,
    series: Series,
    /// What a response's status becomes in a label set.
    statuses: Statuses,
    /// The label read from each request, when there is one.
    label: Option<LabelValues>,
    /// The bucket of a duration, by table.
    buckets: Box<[BucketIndex]>,
    /// The last traced request per bucket of each series.
    exemplars: Exemplars,
    /// By bucket set (0: the default; others for routes with bounds of their own).
    bounds: BoundSets,
    slot_len: Duration,
    aggregate: Mutex<Aggregate>,
    memory_bytes: usize,
    /// The lean preset: no time to headers, exemplars, in-flight count or window percentiles.
    lean: bool,
    /// The paths a `HealthLayer` given this collector serves: not application traffic.
    health_paths: OnceLock<PathSet>,
    /// Every request recorded into an OpenTelemetry `Meter` as well.
    #[cfg(feature = "opentelemetry")]
    otel: Option<super::otel::Bridge>,
}

/// What the shards were folded into.
struct Aggregate {
    window: Window,
    totals: Counts,
    series: SeriesData,
    /// An empty buffer, swapped into a shard on fold.
    spare: Box<ShardData>,
    /// Traffic over time, recorded when folded.
    traffic: Traffic,
    /// Native histograms per series, when kept.
    natives: Option<NativeSet>,
}

impl Aggregate {
    /// Sorts a shard's pending latencies into the native histograms.
    fn drain_native(&mut self, data: &mut ShardData) {
        if let (Some(natives), Some(pending)) = (&mut self.natives, &mut data.native) {
            natives.drain(pending);
        }
    }
}

impl MetricsCollector {
    /// A collector with the default settings.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default settings are valid")
    }

    /// A builder for other settings.
    pub fn builder() -> MetricsCollectorBuilder {
        MetricsCollectorBuilder::default()
    }

    /// Records one request.
    pub fn record(&self, record: &RequestRecord<'_>) {
        self.record_with_label(record, None);
    }

    /// Records one request with its value of the collector's
    /// [`request_label`](MetricsCollectorBuilder::request_label) (`None`: `none`), bounded as
    /// the layer bounds it. Without a request label the value is ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::{Method, StatusCode};
    /// use tower_vitals::metrics::{MetricsCollector, Outcome, RequestRecord};
    ///
    /// let collector = MetricsCollector::builder()
    ///     .request_label("tenant", 1, |headers, _| headers.get("x-tenant")?.to_str().ok())
    ///     .build()?;
    /// let request = RequestRecord {
    ///     route: Some("/orders"),
    ///     method: &Method::GET,
    ///     outcome: Outcome::status(StatusCode::OK),
    ///     duration: Duration::from_millis(4),
    ///     time_to_headers: None,
    /// };
    /// collector.record_with_label(&request, Some("acme"));
    /// collector.record_with_label(&request, Some("globex")); // past the one value: `other`
    /// let snapshot = collector.snapshot();
    /// let values: Vec<_> = snapshot.series.iter().map(|s| s.label.as_deref()).collect();
    /// assert_eq!(values, [Some("acme"), Some("other")]);
    /// assert_eq!(snapshot.request_label.unwrap().overflow, 1);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn record_with_label(&self, record: &RequestRecord<'_>, value: Option<&str>) {
        let label = self.inner.label.as_ref().map_or(0, |label| label.id(value));
        let route = self.route_id(record.route);
        let nanos = u64::try_from(record.duration.as_nanos()).unwrap_or(u64::MAX);
        let headers = record
            .time_to_headers
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.inner.record(
            route,
            method_index(record.method),
            &Ending {
                outcome: record.outcome,
                nanos,
                headers_nanos: headers,
                tracked: false,
                trace: None,
                label,
            },
        );
    }

    /// Counts `n` cache lookups that found their entry.
    pub fn cache_hits(&self, n: u64) {
        self.inner.cache(0, n);
    }

    /// Counts `n` cache lookups that did not.
    pub fn cache_misses(&self, n: u64) {
        self.inner.cache(1, n);
    }

    /// Counts `n` cache evictions.
    pub fn cache_evictions(&self, n: u64) {
        self.inner.cache(2, n);
    }

    /// Everything the collector knows, folded up to now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.read(true)
    }

    /// Like [`snapshot`](Self::snapshot) without the per-series figures (`series` is empty):
    /// cheaper, for a health report.
    pub fn summary(&self) -> MetricsSnapshot {
        self.read(false)
    }

    fn read(&self, with_series: bool) -> MetricsSnapshot {
        let inner = &*self.inner;
        let mut aggregate = inner.maintain();
        let now = inner.clock.now();
        let mut window = aggregate.window.stats(now);
        if inner.lean {
            // Not measured: empty, not zero.
            window.latency = LatencyStats::default();
            window.time_to_headers = LatencyStats::default();
        }
        let in_flight = inner.in_flight(&aggregate);
        let since_origin = now.saturating_duration_since(inner.origin);
        let totals = aggregate.totals;
        aggregate.traffic.record(since_origin, &totals, in_flight);
        let totals = aggregate.totals;
        let series = if with_series {
            inner
                .series
                .keys()
                .into_iter()
                .enumerate()
                .filter_map(|(id, key)| {
                    let natives = aggregate.natives.as_ref();
                    inner.series_stats(&aggregate.series, natives, id, key)
                })
                .collect()
        } else {
            Vec::new()
        };
        drop(aggregate);
        MetricsSnapshot {
            uptime: now.saturating_duration_since(inner.origin),
            in_flight,
            window,
            totals: Totals {
                requests: totals.completed + totals.cancelled,
                successes: totals.completed - totals.failures,
                failures: totals.failures,
                cancelled: totals.cancelled,
                latency_sum: Duration::from_nanos(totals.sum_nanos),
                headers_count: totals.headers_count,
                headers_sum: Duration::from_nanos(totals.headers_sum_nanos),
                clamped: totals.clamped,
            },
            cache: inner.cache_stats(),
            series,
            bucket_bounds: inner.bounds[0].to_vec(),
            request_label: inner.label.as_ref().map(|label| RequestLabelStats {
                name: label.name().clone(),
                values: label.held(),
                max_values: label.capacity() - 2,
                overflow: totals.label_overflow,
            }),
            preset: if inner.lean {
                Preset::Lean
            } else {
                Preset::Full
            },
        }
    }

    /// Request traffic from `since` to `until`: a point per interval (10 s for the last hour,
    /// 1 min for the last day by default: [`MetricsCollectorBuilder::traffic_history`]) or per
    /// `step` — requests, failures, cancellations, rate, error rate, the window's p50/p95/p99
    /// and the most requests in flight. Recorded when the collector folds its shards: at every
    /// window slot on a Tokio runtime, and on every read.
    pub fn traffic(
        &self,
        since: SystemTime,
        until: SystemTime,
        step: Option<Duration>,
    ) -> TrafficTimeline {
        self.traffic_within((since, until), step, crate::checker::MAX_TIMELINE_POINTS)
    }

    /// [`traffic`](Self::traffic) in at most `max_points` points (the step widened).
    pub(crate) fn traffic_within(
        &self,
        (since, until): (SystemTime, SystemTime),
        step: Option<Duration>,
        max_points: usize,
    ) -> TrafficTimeline {
        self.inner.record_traffic();
        let inner = &*self.inner;
        let aggregate = inner.aggregate.lock();
        let now = inner.clock.now().saturating_duration_since(inner.origin);
        let clock = crate::clock::Mapping::at(now);
        let until = clock.offset_of(until).min(now);
        let since = clock.offset_of(since).min(until);
        aggregate
            .traffic
            .timeline((since, until), &clock, step, max_points)
    }

    /// The rolling-window figures alone.
    pub fn window(&self) -> WindowStats {
        let mut aggregate = self.inner.maintain();
        aggregate.window.stats(self.inner.clock.now())
    }

    /// Requests started through the layer and not yet ended.
    pub fn in_flight(&self) -> u64 {
        let aggregate = self.inner.maintain();
        self.inner.in_flight(&aggregate)
    }

    /// Cache figures.
    pub fn cache(&self) -> CacheStats {
        self.inner.cache_stats()
    }

    /// Time since the collector was made.
    pub fn uptime(&self) -> Duration {
        self.inner
            .clock
            .now()
            .saturating_duration_since(self.inner.origin)
    }

    /// Bytes allocated for the collector's state when it was built; recording never adds to it
    /// (route names add their text, once each, up to the route cap).
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes
    }

    /// Records the paths a `HealthLayer` serves, for [`MetricsLayer`](super::MetricsLayer)'s
    /// default exclusions; the first layer given this collector decides.
    pub(crate) fn set_health_paths(&self, paths: PathSet) {
        let _ = self.inner.health_paths.set(paths);
    }

    /// The paths a `HealthLayer` given this collector serves, if one was.
    pub(crate) fn health_paths(&self) -> Option<&PathSet> {
        self.inner.health_paths.get()
    }

    /// Whether the collector is lean ([`MetricsCollectorBuilder::lean`]).
    #[inline]
    pub(crate) fn is_lean(&self) -> bool {
        self.inner.lean
    }

    /// The request label's value id of a request (0 without a label).
    #[inline]
    pub(crate) fn label_id<B>(&self, request: &http::Request<B>) -> u16 {
        match &self.inner.label {
            None => 0,
            Some(label) => label.of_request(request.headers(), request.extensions()),
        }
    }

    /// How many route ids there can be.
    pub(crate) fn route_capacity(&self) -> usize {
        self.inner.routes.capacity()
    }

    pub(crate) fn route_id(&self, label: Option<&str>) -> u16 {
        label.map_or(UNMATCHED, |label| self.inner.routes.id(label, None))
    }

    /// The id of a label the caller keeps for good (a group's): found by address alone.
    pub(crate) fn pinned_route_id(&self, label: &Arc<str>) -> u16 {
        self.inner
            .routes
            .id(label, Some(&|| Box::new(label.clone())))
    }

    /// The id of the route Axum matched; its text is pinned, so later requests find it by
    /// address alone.
    #[cfg(feature = "axum")]
    #[inline]
    pub(crate) fn matched_route_id(&self, matched: &axum::extract::MatchedPath) -> u16 {
        self.inner
            .routes
            .id(matched.as_str(), Some(&|| Box::new(matched.clone())))
    }
}

impl Default for MetricsCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MetricsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsCollector")
            .field("shards", &self.inner.shards.len())
            .field("slot_len", &self.inner.slot_len)
            .field("memory_bytes", &self.inner.memory_bytes)
            .finish_non_exhaustive()
    }
}

/// How a request ended, for [`Inner::record`].
struct Ending {
    outcome: Outcome,
    nanos: u64,
    headers_nanos: Option<u64>,
    /// Counted as started by a [`Tracker`] (a hand-made record was not).
    tracked: bool,
    trace: Option<TraceIds>,
    /// The request label's value id (0 without a label).
    label: u16,
}

impl Inner {
    #[inline]
    fn record(&self, route: u16, method: u8, ending: &Ending) {
        let &Ending {
            outcome,
            nanos,
            headers_nanos,
            tracked,
            trace,
            label,
        } = ending;
        let (status, failed, cancelled) = match outcome {
            Outcome::Response { status, failed } => (self.statuses.slot(status), failed, false),
            Outcome::Error => (ERROR_CLASS, true, false),
            Outcome::Cancelled => (CANCELLED_CLASS, false, true),
        };
        let key = SeriesKey {
            route,
            method,
            status,
            label,
        };
        #[cfg(feature = "opentelemetry")]
        if let Some(otel) = &self.otel {
            otel.record(key, outcome, nanos, &self.routes, self.label.as_ref());
        }
        let sample = Sample {
            series: self.series.id(key, &self.statuses),
            bucket: self.bucket_index(key.route).of(nanos),
            nanos,
            headers_nanos,
            failed,
            cancelled,
            tracked,
            label_overflow: label == OTHER_VALUE && self.label.is_some(),
            full: !self.lean,
        };
        if let Some(trace) = trace
            && !cancelled
        {
            self.exemplars
                .store(sample.series, sample.bucket, trace, nanos);
        }
        let home = thread_index();
        for offset in 0..self.shards.len() {
            if let Some(mut data) = self.shards[(home + offset) & self.mask].data.try_lock() {
                if data.native_full() {
                    // Drained under the aggregate's lock, taken before a shard's as a fold
                    // does; if it is busy, a fold is under way: another shard will do.
                    let Some(mut aggregate) = self.aggregate.try_lock() else {
                        continue;
                    };
                    aggregate.drain_native(&mut data);
                }
                data.record(&sample);
                return;
            }
        }
        let shard = &self.shards[home & self.mask].data;
        let mut data = shard.lock();
        if data.native_full() {
            drop(data);
            let mut aggregate = self.aggregate.lock();
            data = shard.lock();
            aggregate.drain_native(&mut data);
        }
        data.record(&sample);
    }

    /// The bucket table of a route's series.
    #[inline]
    fn bucket_index(&self, route: u16) -> &BucketIndex {
        match &*self.buckets {
            [only] => only,
            sets => &sets[usize::from(self.routes.bucket_set(route))],
        }
    }

    /// Folds the shards and records the traffic since the last record.
    fn record_traffic(&self) {
        let mut aggregate = self.maintain();
        let now = self.clock.now();
        let in_flight = self.in_flight(&aggregate);
        let totals = aggregate.totals;
        aggregate.traffic.record(
            now.saturating_duration_since(self.origin),
            &totals,
            in_flight,
        );
    }

    fn cache(&self, which: usize, n: u64) {
        let shard = &self.shards[thread_index() & self.mask];
        shard.cache[which].fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Folds every shard into the aggregate and moves the window to now.
    fn maintain(&self) -> MutexGuard<'_, Aggregate> {
        let mut guard = self.aggregate.lock();
        let aggregate = &mut *guard;
        let now = self.clock.now();
        // Folding right after a slot boundary (the maintenance task) puts the data in the slot
        // that just ended; after a longer gap (no task) the data is taken as recent.
        let behind =
            now.saturating_duration_since(aggregate.window.next_boundary()) >= self.slot_len;
        if behind {
            aggregate.window.advance(now);
        }
        for shard in self.shards.iter() {
            std::mem::swap(&mut *shard.data.lock(), &mut aggregate.spare);
            let folded = &mut aggregate.spare;
            let counts = folded.counts();
            aggregate.traffic.absorb(&folded.latency);
            aggregate.window.absorb(folded, &counts);
            aggregate.totals.add(&counts);
            aggregate.series.add(&folded.series);
            if let (Some(natives), Some(pending)) = (&mut aggregate.natives, &mut folded.native) {
                natives.drain(pending);
            }
            folded.reset();
        }
        aggregate.window.advance(now);
        guard
    }

    /// Started minus finished; read after a fold, so never below the truth.
    fn in_flight(&self, aggregate: &Aggregate) -> u64 {
        if self.lean {
            return 0;
        }
        let started: u64 = self
            .shards
            .iter()
            .map(|shard| shard.started.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        started.saturating_sub(aggregate.totals.finished)
    }

    fn cache_stats(&self) -> CacheStats {
        let sum = |which: usize| -> u64 {
            self.shards
                .iter()
                .map(|shard| shard.cache[which].load(std::sync::atomic::Ordering::Relaxed))
                .sum()
        };
        let (hits, misses) = (sum(0), sum(1));
        CacheStats {
            hits,
            misses,
            evictions: sum(2),
            hit_rate: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
        }
    }

    fn series_stats(
        &self,
        data: &SeriesData,
        natives: Option<&NativeSet>,
        id: usize,
        key: SeriesKey,
    ) -> Option<SeriesStats> {
        let set = usize::from(self.routes.bucket_set(key.route));
        let bounds = &self.bounds[set];
        let buckets = &data.buckets_of(id)[..=bounds.len()];
        let mut running = 0;
        let cumulative: Vec<u64> = buckets
            .iter()
            .map(|count| {
                running += count;
                running
            })
            .collect();
        (running > 0).then(|| SeriesStats {
            route: self.routes.name(key.route).unwrap_or("other").into(),
            method: METHOD_NAMES[key.method as usize],
            status_class: CLASS_NAMES[self.statuses.class_of(key.status) as usize],
            status_code: self.statuses.code_of(key.status),
            label: self
                .label
                .as_ref()
                .map(|label| label.text(key.label).unwrap_or("other").into()),
            count: running,
            failures: data.failures_of(id),
            latency_sum: Duration::from_nanos(data.sum_nanos_of(id)),
            cumulative_buckets: cumulative,
            bucket_bounds: (set != 0).then(|| bounds.clone()),
            exemplars: {
                let mut exemplars = self.exemplars.of(id);
                exemplars.truncate(bounds.len() + 1);
                exemplars
            },
            native: natives.and_then(|natives| natives.of(id)),
        })
    }
}

/// Bounds by bucket set: the default first, then each route's own.
type BoundSets = Box<[Arc<[Duration]>]>;

/// Folds at every slot boundary on the current Tokio runtime, if there is one, until the
/// collector is dropped.
fn spawn_maintenance(inner: &Arc<Inner>) {
    let Ok(runtime) = Handle::try_current() else {
        return;
    };
    let collector: Weak<Inner> = Arc::downgrade(inner);
    let period = inner.slot_len;
    runtime.spawn(async move {
        let start = tokio::time::Instant::now() + period;
        let mut ticks = tokio::time::interval_at(start, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match collector.upgrade() {
                Some(inner) => inner.record_traffic(),
                None => break,
            }
        }
    });
}

mod builder;
mod tracker;

pub use builder::MetricsCollectorBuilder;
pub(crate) use tracker::Tracker;

#[cfg(test)]
mod tests;
