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
use super::native::{MAX_SCALE, MIN_SCALE, NativeSet};
use super::record::{Outcome, RequestRecord};
use super::routes::{RouteRules, Routes, Series, SeriesKey, UNMATCHED};
use super::shard::{Counts, Sample, SeriesData, Shard, ShardData, shard_data_bytes, thread_index};
use super::snapshot::{CacheStats, MetricsSnapshot, SeriesStats, Totals, WindowStats};
use super::statuses::{MAX_CODES, Statuses};
use super::traffic::{Traffic, TrafficTimeline};
use super::window::Window;
use crate::checker::TimelineSettings;
use crate::error::ConfigError;
use crate::path::PathSet;
use crate::validate::{count, duration};

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
/// (6 slots, 64 routes, 512 series, 14 bounds, a day of traffic history) about 0.73 MB plus
/// 0.12 MB per shard (1.2 MB with 4 shards, measured by `tests/metrics_memory.rs`), one shard
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
    /// The bucket of a duration, by table.
    buckets: Box<[BucketIndex]>,
    /// The last traced request per bucket of each series.
    exemplars: Exemplars,
    /// By bucket set (0: the default; others for routes with bounds of their own).
    bounds: BoundSets,
    slot_len: Duration,
    aggregate: Mutex<Aggregate>,
    memory_bytes: usize,
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
        let route = self.route_id(record.route);
        let nanos = u64::try_from(record.duration.as_nanos()).unwrap_or(u64::MAX);
        let headers = record
            .time_to_headers
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.inner.record(
            route,
            method_index(record.method),
            Ending {
                outcome: record.outcome,
                nanos,
                headers_nanos: headers,
                tracked: false,
                trace: None,
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
        let window = aggregate.window.stats(now);
        let in_flight = inner.in_flight(&aggregate);
        let since_origin = now.saturating_duration_since(inner.origin);
        let totals = aggregate.totals;
        aggregate
            .traffic
            .record(since_origin, &totals, &window, in_flight);
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
}

impl Inner {
    fn record(&self, route: u16, method: u8, ending: Ending) {
        let Ending {
            outcome,
            nanos,
            headers_nanos,
            tracked,
            trace,
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
        };
        #[cfg(feature = "opentelemetry")]
        if let Some(otel) = &self.otel {
            otel.record(route, method, outcome, nanos, || self.routes.name(route));
        }
        let sample = Sample {
            series: self.series.id(key, &self.statuses),
            bucket: self.bucket_index(key.route).of(nanos),
            nanos,
            headers_nanos,
            failed,
            cancelled,
            tracked,
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
        let window = aggregate.window.stats(now);
        let in_flight = self.in_flight(&aggregate);
        let totals = aggregate.totals;
        aggregate.traffic.record(
            now.saturating_duration_since(self.origin),
            &totals,
            &window,
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

/// Measures one request through the layer: started on creation, recorded once by
/// [`end`](Self::end), or as cancelled when dropped before.
pub(crate) struct Tracker {
    collector: MetricsCollector,
    start: u64,
    route: u16,
    method: u8,
    ended: bool,
    /// The request's trace, kept as an exemplar of its bucket.
    trace: Option<TraceIds>,
}

impl Tracker {
    pub(crate) fn start(
        collector: &MetricsCollector,
        route: u16,
        method: u8,
        trace: Option<TraceIds>,
    ) -> Self {
        let inner = &*collector.inner;
        inner.shards[thread_index() & inner.mask]
            .started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            collector: collector.clone(),
            start: inner.clock.raw(),
            route,
            method,
            ended: false,
            trace,
        }
    }

    /// Nanoseconds since the start.
    pub(crate) fn elapsed(&self) -> u64 {
        let clock = &self.collector.inner.clock;
        clock.delta_as_nanos(self.start, clock.raw())
    }

    /// Records the request as ended now (or at `at`, nanoseconds after the start).
    pub(crate) fn end(&mut self, outcome: Outcome, headers_nanos: Option<u64>, at: Option<u64>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let nanos = at.unwrap_or_else(|| self.elapsed());
        self.collector.inner.record(
            self.route,
            self.method,
            Ending {
                outcome,
                nanos,
                headers_nanos,
                tracked: true,
                trace: self.trace,
            },
        );
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.end(Outcome::Cancelled, None, None);
    }
}

/// Settings of a [`MetricsCollector`]; fixed once built.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::metrics::MetricsCollector;
///
/// let collector = MetricsCollector::builder()
///     .window(12, Duration::from_secs(5)) // one minute in 5 s slots
///     .max_routes(200)
///     .build()?;
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsCollectorBuilder {
    slots: usize,
    slot_len: Duration,
    shards: Option<usize>,
    max_routes: usize,
    max_series: usize,
    status_codes: usize,
    /// How finely and how far back traffic over time is kept.
    traffic: TimelineSettings,
    bounds: Vec<Duration>,
    /// Routes with bounds of their own.
    route_bounds: Vec<(String, Vec<Duration>)>,
    /// Only these routes get a label of their own.
    allowed_routes: Option<Vec<String>>,
    exemplar_slots: usize,
    /// Native histograms: the finest scale and the buckets per series.
    native: Option<(i8, usize)>,
    /// The application's `Meter` and the `url.scheme` of its requests.
    #[cfg(feature = "opentelemetry")]
    otel: Option<(opentelemetry::metrics::Meter, String)>,
    clock: Option<Clock>,
}

impl Default for MetricsCollectorBuilder {
    fn default() -> Self {
        Self {
            slots: 6,
            slot_len: Duration::from_secs(10),
            shards: None,
            max_routes: 64,
            max_series: 512,
            status_codes: 0,
            traffic: TimelineSettings::default(),
            bounds: OTEL_DURATION_BOUNDS
                .iter()
                .map(|s| Duration::from_secs_f64(*s))
                .collect(),
            route_bounds: Vec::new(),
            allowed_routes: None,
            exemplar_slots: 1024,
            native: None,
            #[cfg(feature = "opentelemetry")]
            otel: None,
            clock: None,
        }
    }
}

impl MetricsCollectorBuilder {
    /// The rolling window: `slots` slots of `slot_len` each (default 6 × 10 s; 1–60 slots of
    /// 100 ms – 1 h). The window covers between `slots - 1` and `slots` slot lengths.
    pub fn window(mut self, slots: usize, slot_len: Duration) -> Self {
        self.slots = slots;
        self.slot_len = slot_len;
        self
    }

    /// Slots for exemplars (default 1 024; 0 turns them off): one per histogram bucket of each
    /// series while there are enough (68 series with the default 15 buckets), shared past that,
    /// the newest winning. About 48 bytes each, allocated here.
    pub fn exemplar_slots(mut self, slots: usize) -> Self {
        self.exemplar_slots = slots;
        self
    }

    /// Recording shards (default: one per CPU rounded up to a power of two, at least 2; at most
    /// 256). More shards, less contention, more memory.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Distinct route labels kept (default 64; 1–4096); later ones count as `other`.
    pub fn max_routes(mut self, routes: usize) -> Self {
        self.max_routes = routes;
        self
    }

    /// Distinct (route, method, status) label sets kept (default 512; 16–65535); later
    /// ones count under route `other`, method `OTHER`.
    pub fn max_series(mut self, series: usize) -> Self {
        self.max_series = series;
        self
    }

    /// How finely and how far back [`traffic`](MetricsCollector::traffic) is kept (default 10 s
    /// intervals for an hour, 1 min for a day; the same limits as
    /// [`HealthCheckerBuilder::timeline`](crate::HealthCheckerBuilder::timeline)).
    pub fn traffic_history(mut self, settings: TimelineSettings) -> Self {
        self.traffic = settings;
        self
    }

    /// Labels each series with its exact status code as well as its class (`status_code="404"`
    /// beside `status_class="4xx"`), for the first `codes` distinct codes seen (1–64; default
    /// 0, classes only). A code seen after those is counted under its class alone, so the
    /// label stays bounded; service errors and cancelled requests have no code. Memory stays
    /// fixed: the label-set table grows by `codes` slots per route and method, here.
    ///
    /// ```
    /// use http::{Method, StatusCode};
    /// use std::time::Duration;
    /// use tower_vitals::metrics::{MetricsCollector, Outcome, RequestRecord};
    ///
    /// let collector = MetricsCollector::builder().status_codes(16).build()?;
    /// collector.record(&RequestRecord {
    ///     route: Some("/users/{id}"),
    ///     method: &Method::GET,
    ///     outcome: Outcome::status(StatusCode::NOT_FOUND),
    ///     duration: Duration::from_millis(2),
    ///     time_to_headers: None,
    /// });
    /// let series = &collector.snapshot().series[0];
    /// assert_eq!((series.status_class, series.status_code), ("4xx", Some(404)));
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn status_codes(mut self, codes: usize) -> Self {
        self.status_codes = codes;
        self
    }

    /// Keeps each series' latencies in exponential buckets too, for Prometheus native
    /// histograms (the protobuf exposition, feature `protobuf`) and
    /// [`NativeBuckets::quantile`](super::NativeBuckets::quantile): scale 4 at finest (16
    /// buckets per doubling, a quantile within 2.2 %) and 160 buckets per series, so a series
    /// whose latencies span more than 10 doublings halves its resolution until they fit
    /// (scale 3 holds 1 ms to 1 s within 4.4 %). See
    /// [`native_histogram_limits`](Self::native_histogram_limits).
    ///
    /// Memory, allocated here: `max_series × (8 × buckets + 24)` bytes (668 KB for 512 series
    /// of 160 buckets, measured by `tests/metrics_memory.rs`) and 32 KB per shard, plus one.
    /// A record appends one word to its shard's list; the buckets are found when the shards
    /// are folded (or a list fills), under the collector's lock, not the shard's.
    pub fn native_histograms(mut self) -> Self {
        self.native = Some(self.native.unwrap_or((4, 160)));
        self
    }

    /// Native histograms with these limits: `max_scale` the finest scale (−4 to 8; buckets
    /// are `2^(2^-max_scale)` wide, so 3 for 9 %, 4 for 4.4 %, 8 for 0.27 %) and
    /// `max_buckets` per series (8 to 4 096).
    pub fn native_histogram_limits(mut self, max_scale: i8, max_buckets: usize) -> Self {
        self.native = Some((max_scale, max_buckets));
        self
    }

    /// Records every request into `meter` as well, as OpenTelemetry's HTTP server semantic
    /// conventions say (feature `opentelemetry`; the opentelemetry 0.33 API, with
    /// opentelemetry_sdk 0.33): `http.server.request.duration`, a histogram in seconds with the
    /// advised bounds (5 ms to 10 s; an SDK view may make it an exponential histogram),
    /// attributes `http.request.method` (`_OTHER` for an uncommon one), `url.scheme`
    /// (`url_scheme`: `http` or `https`, the scheme clients use), `http.route` (the route
    /// template; none for requests without a route), `http.response.status_code`, and
    /// `error.type` (a 5xx's code, `_OTHER` for a service error, `cancelled` when the client
    /// went away); and `http.server.active_requests`, observed from the collector's in-flight
    /// count when the SDK collects (with `url.scheme`). The exporter is the application's:
    /// OTLP to a collector, stdout, Prometheus…
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// use opentelemetry_sdk::metrics::SdkMeterProvider;
    /// use tower_vitals::metrics::MetricsCollector;
    ///
    /// let provider = SdkMeterProvider::builder().build(); // with the app's reader and exporter
    /// let collector = MetricsCollector::builder()
    ///     .opentelemetry(&provider.meter("shop"), "https")
    ///     .build()?;
    /// # drop(collector);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    #[cfg(feature = "opentelemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn opentelemetry(
        mut self,
        meter: &opentelemetry::metrics::Meter,
        url_scheme: impl Into<String>,
    ) -> Self {
        self.otel = Some((meter.clone(), url_scheme.into()));
        self
    }

    /// Upper bounds of the cumulative latency buckets (default: OpenTelemetry's
    /// `http.server.request.duration` bounds, 5 ms to 10 s); 1–64 strictly increasing values.
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = Duration>) -> Self {
        self.bounds = bounds.into_iter().collect();
        self
    }

    /// Bounds of its own for the series of one route (its label: Axum's route template), as
    /// [`buckets`](Self::buckets) sets them for all others — an upload route measured in
    /// seconds, a cache hit in microseconds. Up to 15 routes; giving a route again replaces its
    /// bounds. Memory stays fixed: every series has room for the longest list, here.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_vitals::metrics::MetricsCollector;
    ///
    /// let collector = MetricsCollector::builder()
    ///     .route_buckets("/upload", [1, 5, 30, 120].map(Duration::from_secs))
    ///     .build()?;
    /// # drop(collector);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn route_buckets(
        mut self,
        route: impl Into<String>,
        bounds: impl IntoIterator<Item = Duration>,
    ) -> Self {
        let route = route.into();
        let bounds = bounds.into_iter().collect();
        self.route_bounds.retain(|(given, _)| *given != route);
        self.route_bounds.push((route, bounds));
        self
    }

    /// Only these routes (labels: Axum's route templates) get a label of their own; requests
    /// to any other route count under `other`. Bounds the label where routes are many or made
    /// at run time, without relying on [`max_routes`](Self::max_routes)' first-come order.
    /// Requests without a route stay `unmatched`.
    ///
    /// ```
    /// use tower_vitals::metrics::MetricsCollector;
    ///
    /// let collector = MetricsCollector::builder()
    ///     .routes_only(["/orders", "/orders/{id}"])
    ///     .build()?;
    /// # drop(collector);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn routes_only<S: Into<String>>(mut self, routes: impl IntoIterator<Item = S>) -> Self {
        self.allowed_routes = Some(routes.into_iter().map(Into::into).collect());
        self
    }

    #[cfg(test)]
    pub(crate) fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Validates the settings and allocates everything the collector will use.
    pub fn build(self) -> Result<MetricsCollector, ConfigError> {
        let shards = self.validate()?;
        let (buckets, bounds) = self.bucket_sets();
        let width = bounds.iter().map(|set| set.len() + 1).max().unwrap_or(1);
        let routes = Routes::with_rules(self.max_routes, self.route_rules());
        let clock = self.clock.unwrap_or_default();
        let origin = clock.now();
        let statuses = Statuses::new(self.status_codes);
        let series = Series::new(routes.capacity(), self.max_series, statuses.slots());
        let native = self.native.is_some();
        let shard_data_bytes = shard_data_bytes(self.max_series, width, native);
        let memory_bytes = shards * std::mem::size_of::<CachePadded<Shard>>()
            + (shards + 1) * shard_data_bytes
            + Window::bytes(self.slots)
            + SeriesData::bytes(self.max_series, width)
            + routes.bytes()
            + series.bytes()
            + statuses.bytes()
            + 2 * bounds.iter().map(|set| set.len()).sum::<usize>() * std::mem::size_of::<u64>()
            + Exemplars::bytes(self.exemplar_slots)
            + Traffic::bytes(&self.traffic)
            + self
                .native
                .map_or(0, |(_, buckets)| NativeSet::bytes(self.max_series, buckets))
            + std::mem::size_of::<Inner>();
        #[cfg(feature = "opentelemetry")]
        let otel = match &self.otel {
            None => None,
            Some((meter, scheme)) => Some((meter.clone(), url_scheme(scheme)?)),
        };
        // The OpenTelemetry bridge reads the in-flight count through a weak handle.
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            #[cfg(not(feature = "opentelemetry"))]
            let _ = weak;
            Inner {
                #[cfg(feature = "opentelemetry")]
                otel: otel.map(|(meter, scheme)| {
                    let weak = weak.clone();
                    let in_flight = move || {
                        let inner = weak.upgrade()?;
                        let aggregate = inner.maintain();
                        Some(inner.in_flight(&aggregate))
                    };
                    super::otel::Bridge::new(&meter, scheme, routes.capacity(), in_flight)
                }),
                shards: (0..shards)
                    .map(|_| CachePadded::new(Shard::new(self.max_series, width, native)))
                    .collect(),
                mask: shards - 1,
                buckets,
                exemplars: Exemplars::new(self.exemplar_slots, width),
                bounds,
                slot_len: self.slot_len,
                aggregate: Mutex::new(Aggregate {
                    window: Window::new(self.slots, self.slot_len, origin),
                    totals: Counts::default(),
                    series: SeriesData::new(self.max_series, width),
                    spare: Box::new(ShardData::new(self.max_series, width, native)),
                    traffic: Traffic::new(&self.traffic),
                    natives: self
                        .native
                        .map(|(scale, buckets)| NativeSet::new(self.max_series, buckets, scale)),
                }),
                health_paths: OnceLock::new(),
                clock,
                origin,
                routes,
                series,
                statuses,
                memory_bytes,
            }
        });
        spawn_maintenance(&inner);
        Ok(MetricsCollector { inner })
    }

    /// The bucket sets: the default bounds first, then each route's own; each as a table and
    /// as durations.
    fn bucket_sets(&self) -> (Box<[BucketIndex]>, BoundSets) {
        let sets: Vec<&Vec<Duration>> = std::iter::once(&self.bounds)
            .chain(self.route_bounds.iter().map(|(_, bounds)| bounds))
            .collect();
        let index = |bounds: &Vec<Duration>| {
            BucketIndex::new(
                bounds
                    .iter()
                    .map(|b| u64::try_from(b.as_nanos()).unwrap_or(u64::MAX))
                    .collect(),
            )
        };
        (
            sets.iter().map(|bounds| index(bounds)).collect(),
            sets.iter()
                .map(|bounds| Arc::from(bounds.as_slice()))
                .collect(),
        )
    }

    /// Which routes get a label, and their bucket sets (1… in the order given).
    fn route_rules(&self) -> RouteRules {
        RouteRules {
            allowed: self
                .allowed_routes
                .as_ref()
                .map(|routes| routes.iter().map(|route| route.as_str().into()).collect()),
            bucket_sets: self
                .route_bounds
                .iter()
                .enumerate()
                .map(|(i, (route, _))| (route.as_str().into(), i as u8 + 1))
                .collect(),
        }
    }

    /// Checks every setting; the number of shards to make.
    fn validate(&self) -> Result<usize, ConfigError> {
        count("window slots", self.slots, (1..=60, "1 to 60"))?;
        count("max routes", self.max_routes, (1..=4096, "1 to 4096"))?;
        count("max series", self.max_series, (16..=65535, "16 to 65535"))?;
        if self.status_codes > 0 {
            count(
                "status codes",
                self.status_codes,
                (1..=MAX_CODES, "1 to 64"),
            )?;
        }
        count(
            "exemplar slots",
            self.exemplar_slots,
            (0..=1_048_576, "0 to 1 048 576"),
        )?;
        let slot_len = Duration::from_millis(100)..=Duration::from_secs(3600);
        duration(
            "window slot length",
            self.slot_len,
            (slot_len, "100 ms to 1 h"),
        )?;
        valid_bounds(&self.bounds)?;
        if let Some((scale, buckets)) = self.native {
            if !(MIN_SCALE..=MAX_SCALE).contains(&scale) {
                return Err(ConfigError::InvalidBuckets(
                    "the native histograms' scale is -4 to 8",
                ));
            }
            count("native histogram buckets", buckets, (8..=4096, "8 to 4096"))?;
        }
        crate::checker::validate_timeline(&self.traffic)?;
        if self.route_bounds.len() > 15 {
            return Err(ConfigError::InvalidBuckets(
                "at most 15 routes can have bounds of their own",
            ));
        }
        for (route, bounds) in &self.route_bounds {
            if route.is_empty() {
                return Err(ConfigError::InvalidBuckets(
                    "a route with bounds needs a name",
                ));
            }
            valid_bounds(bounds)?;
        }
        Ok(match self.shards {
            Some(shards) => count("shards", shards, (1..=256, "1 to 256"))?.next_power_of_two(),
            None => std::thread::available_parallelism()
                .map_or(2, usize::from)
                .next_power_of_two()
                .clamp(2, 64),
        })
    }
}

/// The `url.scheme` the OpenTelemetry bridge reports.
#[cfg(feature = "opentelemetry")]
fn url_scheme(scheme: &str) -> Result<&'static str, ConfigError> {
    match scheme {
        "http" => Ok("http"),
        "https" => Ok("https"),
        _ => Err(ConfigError::InvalidMetricLabel {
            name: format!("url.scheme={scheme}"),
            reason: "the URL scheme is http or https",
        }),
    }
}

/// Bounds by bucket set: the default first, then each route's own.
type BoundSets = Box<[Arc<[Duration]>]>;

/// Bounds as [`MetricsCollectorBuilder::buckets`] takes them: 1–64, strictly increasing.
fn valid_bounds(bounds: &[Duration]) -> Result<(), ConfigError> {
    if bounds.is_empty() || bounds.len() > 64 {
        return Err(ConfigError::InvalidBuckets(
            "between 1 and 64 bounds are needed",
        ));
    }
    if bounds.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(ConfigError::InvalidBuckets(
            "bounds must be strictly increasing",
        ));
    }
    Ok(())
}

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

#[cfg(test)]
mod tests;
