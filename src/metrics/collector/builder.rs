//! [`MetricsCollectorBuilder`]: the collector's settings, validated, and the memory it fixes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use quanta::Clock;

use super::{
    Aggregate, BoundSets, Inner, MetricsCollector, OTEL_DURATION_BOUNDS, spawn_maintenance,
};
use crate::checker::TimelineSettings;
use crate::error::ConfigError;
use crate::metrics::buckets::BucketIndex;
use crate::metrics::exemplar::Exemplars;
use crate::metrics::native::{MAX_SCALE, MIN_SCALE, NativeSet};
use crate::metrics::request_label::{LabelSpec, LabelValues};
use crate::metrics::routes::{RouteRules, Routes, Series};
use crate::metrics::shard::{Counts, SeriesData, Shard, ShardData, shard_data_bytes};
use crate::metrics::statuses::{MAX_CODES, Statuses};
use crate::metrics::traffic::Traffic;
use crate::metrics::window::Window;
use crate::validate::{count, duration};

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
    /// A label read from each request, bounded.
    request_label: Option<LabelSpec>,
    /// Native histograms: the finest scale and the buckets per series.
    native: Option<(i8, usize)>,
    /// The application's `Meter` and the `url.scheme` of its requests.
    #[cfg(feature = "opentelemetry")]
    otel: Option<(opentelemetry::metrics::Meter, String)>,
    clock: Option<Clock>,
    /// Counts and one histogram only.
    lean: bool,
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
            request_label: None,
            native: None,
            #[cfg(feature = "opentelemetry")]
            otel: None,
            clock: None,
            lean: false,
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
    /// [`NativeBuckets::quantile`](crate::metrics::NativeBuckets::quantile): scale 4 at finest (16
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

    /// Labels every request with a value read from it — a tenant from a header, a plan from an
    /// extension an authentication layer set — under the label `name`, with a bound: the first
    /// `max_values` distinct values (1–4096) get series of their own, every later one counts
    /// under `other`, and a request the function gives no value is `none`. A value longer than
    /// [`MAX_VALUE_LEN`](crate::metrics::MAX_VALUE_LEN) bytes is `other` too.
    ///
    /// Memory stays fixed, allocated here: each value's text is kept inline (about 130 bytes a
    /// value) and the label-set table grows by `max_series × (max_values + 2)` slots of two
    /// bytes; recording never allocates, not even for a value's first request. Series still
    /// stop at [`max_series`](Self::max_series): raise it with the values. Requests that fell
    /// to `other` because the values were taken are counted on `/metrics`
    /// (`vitals_http_server_request_label_overflow_total{label="tenant"}`, and
    /// `vitals_http_server_request_label_values`, the values held). The OpenTelemetry bridge
    /// gives `http.server.request.duration` the same attribute, with the same bounded values.
    ///
    /// `name` must be a valid Prometheus label name and not one the request families use
    /// (`route`, `method`, `status_class`, `status_code`, `le`…). One label per collector.
    ///
    /// ```
    /// use tower_vitals::metrics::MetricsCollector;
    ///
    /// let collector = MetricsCollector::builder()
    ///     .request_label("tenant", 16, |headers, _extensions| {
    ///         headers.get("x-tenant-id")?.to_str().ok()
    ///     })
    ///     .max_series(2048)
    ///     .build()?;
    /// # drop(collector);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    ///
    /// From an extension set by an authentication layer placed outside the metrics layer:
    ///
    /// ```
    /// use tower_vitals::metrics::MetricsCollector;
    ///
    /// #[derive(Clone)]
    /// struct Tenant(String);
    ///
    /// let collector = MetricsCollector::builder()
    ///     .request_label("tenant", 64, |_headers, extensions| {
    ///         extensions.get::<Tenant>().map(|tenant| tenant.0.as_str())
    ///     })
    ///     .build()?;
    /// # drop(collector);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn request_label<F>(mut self, name: impl Into<String>, max_values: usize, value: F) -> Self
    where
        F: for<'a> Fn(&'a http::HeaderMap, &'a http::Extensions) -> Option<&'a str>
            + Send
            + Sync
            + 'static,
    {
        self.request_label = Some(LabelSpec {
            name: name.into(),
            max_values,
            extract: Arc::new(value),
        });
        self
    }

    #[cfg(test)]
    pub(crate) fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The lean preset, for services that want request counts and one histogram and nothing
    /// that costs more per request: what a layer records is the route, method and status
    /// (class or code), the outcome, and the duration into the histogram's bucket, sum and
    /// maximum. Left out, each to save work on every request:
    ///
    /// - **time to the response head**: not measured (`window.time_to_headers` is empty, no
    ///   `…_time_to_headers_window_seconds` family);
    /// - **exemplars**: no `traceparent` or OpenTelemetry context looked up, so the OpenMetrics
    ///   text carries none;
    /// - **the in-flight gauge**: requests are not counted as they start (`in_flight` is 0, no
    ///   `…_requests_in_flight` family); cancelled requests are still counted;
    /// - **rolling-window percentiles**: `window.latency` is empty (the window keeps its
    ///   counts and rates), so no `…_request_duration_window_seconds` summary, no p50/p95/p99
    ///   in `/health`'s performance section or the traffic history, and the reliability
    ///   report's latency rules have nothing to judge. Percentiles come from the histogram, as
    ///   Prometheus computes them (`histogram_quantile`).
    ///
    /// Everything else — route labels and their bounds, status codes, a request label, native
    /// histograms, the OpenTelemetry bridge — works as without it.
    ///
    /// ```
    /// use tower_vitals::metrics::{MetricsCollector, Preset};
    ///
    /// let collector = MetricsCollector::builder().lean().build()?;
    /// assert_eq!(collector.snapshot().preset, Preset::Lean);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn lean(mut self) -> Self {
        self.lean = true;
        self
    }

    /// Validates the settings and allocates everything the collector will use.
    pub fn build(self) -> Result<MetricsCollector, ConfigError> {
        let shards = self.validate()?;
        let (buckets, bounds) = self.bucket_sets();
        let width = bounds.iter().map(|set| set.len() + 1).max().unwrap_or(1);
        let routes = Routes::with_rules(self.max_routes, self.route_rules());
        let clock = self.clock.clone().unwrap_or_default();
        let origin = clock.now();
        let statuses = Statuses::new(self.status_codes);
        let label_values = self.label_ids();
        let series = Series::new(
            routes.capacity(),
            self.max_series,
            statuses.slots(),
            label_values,
        );
        let native = self.native.is_some();
        let memory_bytes = self.memory_bytes(shards, width, &routes, &statuses, &bounds);
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
                    crate::metrics::otel::Bridge::new(
                        &meter,
                        scheme,
                        (routes.capacity(), label_values),
                        in_flight,
                    )
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
                label: self.request_label.as_ref().map(LabelValues::new),
                memory_bytes,
                lean: self.lean,
            }
        });
        spawn_maintenance(&inner);
        Ok(MetricsCollector { inner })
    }

    /// Bytes the collector allocates when built with these settings.
    fn memory_bytes(
        &self,
        shards: usize,
        width: usize,
        routes: &Routes,
        statuses: &Statuses,
        bounds: &BoundSets,
    ) -> usize {
        let label_values = self.label_ids();
        shards * std::mem::size_of::<CachePadded<Shard>>()
            + (shards + 1) * shard_data_bytes(self.max_series, width, self.native.is_some())
            + Window::bytes(self.slots)
            + SeriesData::bytes(self.max_series, width)
            + routes.bytes()
            + Series::bytes(
                routes.capacity(),
                self.max_series,
                statuses.slots(),
                label_values,
            )
            + self
                .request_label
                .as_ref()
                .map_or(0, |spec| LabelValues::bytes(spec.max_values))
            + statuses.bytes()
            + 2 * bounds.iter().map(|set| set.len()).sum::<usize>() * std::mem::size_of::<u64>()
            + Exemplars::bytes(self.exemplar_slots)
            + Traffic::bytes(&self.traffic)
            + self
                .native
                .map_or(0, |(_, buckets)| NativeSet::bytes(self.max_series, buckets))
            + std::mem::size_of::<Inner>()
    }

    /// Ids of the request label's values: its values, `none` and `other` (1 without a label).
    fn label_ids(&self) -> usize {
        self.request_label
            .as_ref()
            .map_or(1, |spec| spec.max_values + 2)
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
        if let Some(spec) = &self.request_label {
            spec.validate()?;
        }
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
