//! The Prometheus text exposition format (0.0.4), and OpenMetrics 1.0 text from the same
//! families: a [`Vitals`] in, text out.
//!
//! The families are listed in the docs of [`crate::health`].

use std::time::Duration;

use super::Rendered;
use super::merge::{AppendedMetrics, combine};
use super::openmetrics::TextFormat;
use super::text::{Writer, label_body, push_float, valid_prefix};
use crate::checker::{CheckCounters, Lifecycle, Phase};
use crate::error::ConfigError;
use crate::health_report::{HealthStatus, SystemHealthStatus};
use crate::info::AppInfo;
use crate::metrics::{Exemplar, LatencyStats, MetricsSnapshot};
use crate::probe::{ProcessStats, RuntimeStats};
use crate::reliability::Anomaly;
use crate::vitals::Vitals;
use crate::webhook::WebhookStats;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScrapeFormat {
    Text(TextFormat),
    /// The protobuf exposition.
    #[cfg(feature = "protobuf")]
    Protobuf,
}

impl ScrapeFormat {
    /// The format an `Accept` header asks for: protobuf first (with the feature), then as
    /// [`TextFormat::negotiate`].
    pub(crate) fn negotiate(accept: Option<&str>) -> Self {
        #[cfg(feature = "protobuf")]
        if super::protobuf::accepts_protobuf(accept) {
            return Self::Protobuf;
        }
        Self::Text(TextFormat::negotiate(accept))
    }
}

/// The Prometheus text renderer, with its metric-name prefix (default `vitals_`; the
/// `process_…` families keep their standard names).
///
/// ```
/// use tower_vitals::render::Prometheus;
///
/// let renderer = Prometheus::with_prefix("shop_")?;
/// assert_eq!(renderer.prefix(), "shop_");
/// assert!(Prometheus::with_prefix("9lives").is_err());
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    prefix: String,
    /// Labels on every sample, written once: `service="orders",region="eu"`.
    constant_labels: String,
    /// OpenTelemetry's names for the request histogram, with this `url_scheme`.
    otel_scheme: Option<String>,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self {
            prefix: "vitals_".to_owned(),
            constant_labels: String::new(),
            otel_scheme: None,
        }
    }
}

/// Label names the exposition's own families use: a constant label may not take one.
const TAKEN_LABELS: [&str; 23] = [
    "route",
    "method",
    "status_class",
    "status_code",
    "le",
    "quantile",
    "component",
    "state",
    "phase",
    "rule",
    "severity",
    "receiver",
    "outcome",
    "name",
    "version",
    "commit",
    "environment",
    "rust_version",
    "http_request_method",
    "http_route",
    "http_response_status_code",
    "url_scheme",
    "error_type",
];

impl Prometheus {
    /// Names prefixed with `prefix`, which must be `[a-zA-Z_:][a-zA-Z0-9_:]*` or empty.
    pub fn with_prefix(prefix: &str) -> Result<Self, ConfigError> {
        if !valid_prefix(prefix) {
            return Err(ConfigError::InvalidMetricPrefix(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            ..Self::default()
        })
    }

    /// The same renderer with another prefix (its labels kept).
    pub(crate) fn renamed(&self, prefix: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            prefix: Self::with_prefix(prefix)?.prefix,
            ..self.clone()
        })
    }

    /// Writes the request histogram under OpenTelemetry's HTTP server semantic conventions, as
    /// Prometheus names them: `http_server_request_duration_seconds` (no prefix) labelled
    /// `http_request_method` (`_OTHER` for a method outside the common ones), `http_route`
    /// (left out for requests without a route), `http_response_status_code` (with exact codes:
    /// [`status_codes`](crate::metrics::MetricsCollectorBuilder::status_codes)), `url_scheme`
    /// (`url_scheme`, `http` or `https`: the scheme clients use, which an app behind a TLS
    /// proxy cannot see) and, for 5xx, service errors and cancellations, `error_type` (the
    /// code, `_OTHER`, or `cancelled`); and `http_server_active_requests`. They replace
    /// `vitals_http_server_request_duration_seconds` and the `vitals_http_server_requests…`
    /// counters (the histogram's `_count` has them); every other family keeps its name.
    ///
    /// ```
    /// use tower_vitals::render::Prometheus;
    ///
    /// let renderer = Prometheus::default().with_opentelemetry_names("https")?;
    /// assert!(Prometheus::default().with_opentelemetry_names("ftp").is_err());
    /// # drop(renderer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn with_opentelemetry_names(mut self, url_scheme: &str) -> Result<Self, ConfigError> {
        if !matches!(url_scheme, "http" | "https") {
            return Err(ConfigError::InvalidMetricLabel {
                name: format!("url_scheme={url_scheme}"),
                reason: "the URL scheme is http or https",
            });
        }
        self.otel_scheme = Some(url_scheme.to_owned());
        Ok(self)
    }

    /// The metric-name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Puts `labels` on every sample of the exposition (not on an appended registry's; they
    /// replace any given before): what
    /// tells this service's series apart where the scraper does not (`service`, `region`,
    /// `instance` behind a load balancer). A name must be `[a-zA-Z_][a-zA-Z0-9_]*`, not start
    /// with `__` (reserved for Prometheus), not be given twice, and not be one the exposition
    /// uses itself (`route`, `method`, `status_class`, `le`, `component`, …).
    ///
    /// ```
    /// use tower_vitals::render::Prometheus;
    ///
    /// let renderer = Prometheus::default().with_labels([("service", "orders"), ("region", "eu")])?;
    /// assert!(Prometheus::default().with_labels([("route", "x")]).is_err());
    /// assert!(Prometheus::default().with_labels([("__name__", "x")]).is_err());
    /// # drop(renderer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn with_labels<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let labels: Vec<(K, V)> = labels.into_iter().collect();
        let mut seen: Vec<&str> = Vec::new();
        for (name, _) in &labels {
            let name = name.as_ref();
            let invalid = |reason| ConfigError::InvalidMetricLabel {
                name: name.to_owned(),
                reason,
            };
            if !valid_label_name(name) {
                return Err(invalid("a label name must match [a-zA-Z_][a-zA-Z0-9_]*"));
            }
            if name.starts_with("__") {
                return Err(invalid(
                    "names starting with __ are reserved for Prometheus",
                ));
            }
            if TAKEN_LABELS.contains(&name) {
                return Err(invalid("the exposition's own families use this label"));
            }
            if seen.contains(&name) {
                return Err(invalid("given twice"));
            }
            seen.push(name);
        }
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_ref()))
            .collect();
        self.constant_labels = label_body(&pairs);
        Ok(self)
    }

    /// The exposition of `vitals`: request families when it has request figures, health and
    /// check families, uptime, and process families when it has process figures.
    pub fn render(&self, vitals: &Vitals) -> String {
        self.render_as(vitals, TextFormat::Prometheus)
    }

    /// The exposition of `vitals` in `format`: the same families and samples in either.
    pub fn render_as(&self, vitals: &Vitals, format: TextFormat) -> String {
        self.exposition(vitals, format, None).render()
    }

    /// What `/metrics` answers: [`rendered_as`](Self::rendered_as) with the anomalies of the
    /// last reliability report as gauges and the `appended` registries' families after ours.
    // Without the `protobuf` feature the text formats are the only ones.
    #[cfg_attr(
        not(feature = "protobuf"),
        allow(clippy::infallible_destructuring_match)
    )]
    pub(crate) fn rendered_for_scrape(
        &self,
        vitals: &Vitals,
        format: ScrapeFormat,
        anomalies: Option<&[Anomaly]>,
        appended: &[AppendedMetrics],
    ) -> Rendered {
        let format = match format {
            ScrapeFormat::Text(format) => format,
            #[cfg(feature = "protobuf")]
            ScrapeFormat::Protobuf => {
                return Rendered {
                    content_type: super::protobuf::CONTENT_TYPE,
                    headers: &[],
                    body: self.protobuf(vitals, anomalies, appended).into(),
                };
            }
        };
        let ours = self.exposition(vitals, format, anomalies).render();
        Rendered {
            content_type: format.content_type(),
            headers: &[],
            body: combine(ours, format, appended).into(),
        }
    }

    /// The Prometheus protobuf exposition of `vitals` (`io.prometheus.client.MetricFamily`
    /// messages, length-delimited; [`PROTOBUF_CONTENT_TYPE`](super::PROTOBUF_CONTENT_TYPE)):
    /// the families of the text formats, and the request histogram's native buckets beside its
    /// classic ones when the collector keeps them
    /// ([`native_histograms`](crate::metrics::MetricsCollectorBuilder::native_histograms)).
    #[cfg(feature = "protobuf")]
    #[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
    pub fn render_protobuf(&self, vitals: &Vitals) -> Vec<u8> {
        self.protobuf(vitals, None, &[])
    }

    #[cfg(feature = "protobuf")]
    fn protobuf(
        &self,
        vitals: &Vitals,
        anomalies: Option<&[Anomaly]>,
        appended: &[AppendedMetrics],
    ) -> Vec<u8> {
        let (ours, marks) = self
            .exposition(vitals, TextFormat::OpenMetrics, anomalies)
            .render_marked();
        let text = combine(ours, TextFormat::OpenMetrics, appended);
        let series = vitals.requests.ready().map_or(&[][..], |m| &m.series[..]);
        let natives = marks
            .into_iter()
            .filter_map(|(at, index)| Some((at, series.get(index)?.native.as_ref()?)))
            .collect();
        super::protobuf::encode(&text, &natives)
    }

    fn exposition<'a>(
        &'a self,
        vitals: &'a Vitals,
        format: TextFormat,
        anomalies: Option<&'a [Anomaly]>,
    ) -> Exposition<'a> {
        Exposition {
            prefix: &self.prefix,
            constant_labels: &self.constant_labels,
            otel_scheme: self.otel_scheme.as_deref(),
            metrics: vitals.requests.ready(),
            report: &vitals.health,
            counters: &vitals.checks,
            process: vitals.process.ready().map(|figures| &figures.stats),
            uptime: vitals.uptime,
            lifecycle: Some((&vitals.lifecycle, vitals.broken.is_none())),
            info: vitals.info.as_deref(),
            runtime: vitals.runtime.ready(),
            webhooks: &vitals.webhooks,
            anomalies,
            format,
        }
    }

    /// [`render`](Self::render) with the text format's content type, for an HTTP answer.
    pub fn rendered(&self, vitals: &Vitals) -> Rendered {
        self.rendered_as(vitals, TextFormat::Prometheus)
    }

    /// [`render_as`](Self::render_as) with the format's content type, for an HTTP answer; pick
    /// `format` with [`TextFormat::negotiate`] from the request's `Accept` header.
    pub fn rendered_as(&self, vitals: &Vitals, format: TextFormat) -> Rendered {
        Rendered {
            content_type: format.content_type(),
            headers: &[],
            body: self.render_as(vitals, format).into(),
        }
    }
}

const STATES: [HealthStatus; 4] = HealthStatus::ALL;

/// What one exposition is made of.
pub(crate) struct Exposition<'a> {
    pub(crate) prefix: &'a str,
    /// Labels on every sample (a label body), or empty.
    pub(crate) constant_labels: &'a str,
    /// OpenTelemetry's names for the request histogram, with this `url_scheme`.
    pub(crate) otel_scheme: Option<&'a str>,
    pub(crate) metrics: Option<&'a MetricsSnapshot>,
    pub(crate) report: &'a SystemHealthStatus,
    pub(crate) counters: &'a [CheckCounters],
    pub(crate) process: Option<&'a ProcessStats>,
    pub(crate) uptime: Duration,
    /// The phase and timings, and whether the process is alive (not marked broken).
    pub(crate) lifecycle: Option<(&'a Lifecycle, bool)>,
    /// The application's information, as a `build_info` gauge.
    pub(crate) info: Option<&'a AppInfo>,
    /// The Tokio runtime's figures, when gathered.
    pub(crate) runtime: Option<&'a RuntimeStats>,
    /// The webhook notifiers' figures, by receiver.
    pub(crate) webhooks: &'a [(String, WebhookStats)],
    /// The anomalies of the last reliability report, when there is one.
    pub(crate) anomalies: Option<&'a [Anomaly]>,
    pub(crate) format: TextFormat,
}

impl Exposition<'_> {
    pub(crate) fn render(&self) -> String {
        self.write(false).0
    }

    /// The text and, for each request-histogram series, where its `_count` line starts.
    #[cfg(feature = "protobuf")]
    pub(crate) fn render_marked(&self) -> (String, Vec<(usize, usize)>) {
        self.write(true)
    }

    fn write(&self, marked: bool) -> (String, Vec<(usize, usize)>) {
        // About 20 lines of up to ~150 bytes per series, 8 per component, 40 more.
        let series = self.metrics.map_or(0, |m| m.series.len());
        let lines = series * 20 + self.report.components.len() * 8 + 40;
        let mut out = Writer::new(self.prefix, lines * 150, self.format)
            .with_constant_labels(self.constant_labels);
        if marked {
            out = out.with_marks();
        }
        if let Some(metrics) = self.metrics {
            http(&mut out, metrics, self.otel_scheme);
        }
        self.health(&mut out);
        if let Some(info) = self.info {
            build_info(&mut out, info);
        }
        if let Some((lifecycle, alive)) = self.lifecycle {
            lifecycle_families(&mut out, lifecycle, alive);
        }
        if let Some(runtime) = self.runtime {
            runtime_families(&mut out, runtime);
        }
        if let Some(anomalies) = self.anomalies {
            anomaly_families(&mut out, anomalies);
        }
        if !self.webhooks.is_empty() {
            webhook_families(&mut out, self.webhooks);
        }
        out.family("uptime_seconds", "gauge", "Time since the service started.");
        out.sample("uptime_seconds", "", &[], self.uptime.as_secs_f64());
        if let Some(process) = self.process {
            process_families(&mut out, process);
        }
        out.finish_marked()
    }

    fn health(&self, out: &mut Writer<'_>) {
        out.family(
            "health_status",
            "gauge",
            "Overall health: 1 for the current state, 0 for the others.",
        );
        for state in STATES {
            let value = f64::from(u8::from(self.report.status == state));
            out.sample("health_status", "", &[("state", state.as_str())], value);
        }
        out.family(
            "health_accepting_traffic",
            "gauge",
            "0 while the service is marked not ready (draining), else 1.",
        );
        let accepting = f64::from(u8::from(self.report.accepting_traffic));
        out.sample("health_accepting_traffic", "", &[], accepting);
        out.family(
            "health_component_status",
            "gauge",
            "Health of each checked component: 1 for the current state, 0 for the others.",
        );
        for component in &self.report.components {
            for state in STATES {
                let labels = [
                    ("component", component.name.as_str()),
                    ("state", state.as_str()),
                ];
                let value = f64::from(u8::from(component.status == state));
                out.sample("health_component_status", "", &labels, value);
            }
        }
        out.family(
            "health_check_duration_seconds",
            "gauge",
            "How long the last run of each check took, retries included.",
        );
        for check in self.counters {
            if let Some(duration) = check.last_duration {
                let labels = [("component", check.name.as_str())];
                out.sample(
                    "health_check_duration_seconds",
                    "",
                    &labels,
                    duration.as_secs_f64(),
                );
            }
        }
        out.family(
            "health_check_runs_total",
            "counter",
            "Finished runs of each check.",
        );
        for check in self.counters {
            let labels = [("component", check.name.as_str())];
            out.sample("health_check_runs_total", "", &labels, check.runs as f64);
        }
        out.family(
            "health_check_poll_seconds_total",
            "counter",
            "Time each check's own code held a runtime thread (inside poll): near its run time when it blocks.",
        );
        for check in self.counters {
            let labels = [("component", check.name.as_str())];
            let polled = check.polled.as_secs_f64();
            out.sample("health_check_poll_seconds_total", "", &labels, polled);
        }
        out.family(
            "health_check_failures_total",
            "counter",
            "Runs of each check that failed (error, panic, timeout or a non-healthy status).",
        );
        for check in self.counters {
            let labels = [("component", check.name.as_str())];
            out.sample(
                "health_check_failures_total",
                "",
                &labels,
                check.failures as f64,
            );
        }
    }
}

fn http(out: &mut Writer<'_>, metrics: &MetricsSnapshot, otel_scheme: Option<&str>) {
    if let Some(scheme) = otel_scheme {
        semconv::http(out, metrics, scheme);
        window_summary(out, metrics);
        time_to_headers(out, metrics);
        single_families(out, metrics);
        return;
    }
    // Each series' labels are escaped once and written many times.
    let labels: Vec<String> = metrics
        .series
        .iter()
        .map(|series| {
            let code = series.status_code.map(|code| code.to_string());
            let mut labels = vec![
                ("route", &*series.route),
                ("method", series.method),
                ("status_class", series.status_class),
            ];
            if let Some(code) = &code {
                labels.push(("status_code", code));
            }
            label_body(&labels)
        })
        .collect();
    request_histogram(
        out,
        metrics,
        &labels,
        (
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, from the call to the end of the response body.",
        ),
    );
    window_summary(out, metrics);
    time_to_headers(out, metrics);
    request_counters(out, metrics, &labels);
    single_families(out, metrics);
}

/// The request histogram `(name, help)` of every series, labelled with `labels` (one body per
/// series), with exemplars in OpenMetrics.
pub(crate) fn request_histogram(
    out: &mut Writer<'_>,
    metrics: &MetricsSnapshot,
    labels: &[String],
    (duration, help): (&str, &str),
) {
    let texts = |bounds: &[Duration]| -> Vec<String> {
        bounds
            .iter()
            .map(|bound| {
                let mut text = String::new();
                push_float(&mut text, bound.as_secs_f64());
                text
            })
            .collect()
    };
    let default_bounds = texts(&metrics.bucket_bounds);
    out.family(duration, "histogram", help);
    for (index, (series, labels)) in metrics.series.iter().zip(labels).enumerate() {
        // A route with bounds of its own has its own `le` values.
        let own_bounds = series.bucket_bounds.as_deref().map(texts);
        let bounds = own_bounds.as_ref().unwrap_or(&default_bounds);
        let exemplars = series.exemplars.iter().map(Option::as_ref);
        let les = bounds.iter().map(String::as_str).chain(["+Inf"]);
        let counts = series.cumulative_buckets.iter().copied();
        for ((le, count), exemplar) in les
            .zip(counts)
            .zip(exemplars.chain(std::iter::repeat(None)))
        {
            out.sample_body(duration, "_bucket", labels, Some(le), count as f64);
            if let Some(exemplar) = exemplar.filter(|_| out.openmetrics()) {
                write_exemplar(out, exemplar);
            }
        }
        out.sample_body(
            duration,
            "_sum",
            labels,
            None,
            series.latency_sum.as_secs_f64(),
        );
        let at = out.out.len();
        out.sample_body(duration, "_count", labels, None, series.count as f64);
        out.mark(at, index);
    }
}

/// The trace of an exemplar, its duration in seconds and when it was recorded.
fn write_exemplar(out: &mut Writer<'_>, exemplar: &Exemplar) {
    let (trace_id, span_id) = (exemplar.trace.trace_id_hex(), exemplar.trace.span_id_hex());
    let at = exemplar
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1e3);
    out.exemplar(
        &[("trace_id", &trace_id), ("span_id", &span_id)],
        exemplar.duration.as_secs_f64(),
        at,
    );
}

/// Time to the response headers: quantiles over the window, sum and count since start (as
/// the request duration's window summary).
fn time_to_headers(out: &mut Writer<'_>, metrics: &MetricsSnapshot) {
    let totals = &metrics.totals;
    window_quantile_summary(
        out,
        (
            "http_server_time_to_headers_window_seconds",
            "Time from the call to the response headers: quantiles over the rolling window; sum and count since start.",
        ),
        &metrics.window.time_to_headers,
        totals.headers_sum,
        totals.headers_count,
    );
}

/// The anomalies firing in the last reliability report, by rule and severity: how many (a
/// per-component rule counts its components). A rule not firing has no sample.
fn anomaly_families(out: &mut Writer<'_>, anomalies: &[Anomaly]) {
    let name = "reliability_anomalies";
    out.family(
        name,
        "gauge",
        "Anomalies firing in the last reliability report, by rule (per-component rules count their components).",
    );
    let mut firing: Vec<(&str, &'static str, usize)> = Vec::new();
    for anomaly in anomalies {
        let severity = anomaly.severity.as_str();
        match firing
            .iter_mut()
            .find(|(rule, s, _)| *rule == anomaly.rule && *s == severity)
        {
            Some((_, _, count)) => *count += 1,
            None => firing.push((&anomaly.rule, severity, 1)),
        }
    }
    for (rule, severity, count) in firing {
        out.sample(
            name,
            "",
            &[("rule", rule), ("severity", severity)],
            count as f64,
        );
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()))
}

/// What each webhook notifier has done, and its queue now, labelled with the receiver's host.
fn webhook_families(out: &mut Writer<'_>, webhooks: &[(String, WebhookStats)]) {
    type Figure = fn(&WebhookStats) -> u64;
    /// A counter family: name, help, and a figure per `outcome` ("" for none).
    type Counter<'a> = (&'a str, &'a str, &'a [(&'a str, Figure)]);
    let counters: [Counter<'_>; 3] = [
        (
            "webhook_events_total",
            "Status changes a webhook notifier delivered, or dropped because its queue was full.",
            &[
                ("delivered", |s| s.delivered_events),
                ("dropped", |s| s.dropped_events),
            ],
        ),
        (
            "webhook_batches_total",
            "Webhook requests the receiver accepted, or given up after the last retry.",
            &[
                ("delivered", |s| s.delivered_batches),
                ("failed", |s| s.failed_batches),
            ],
        ),
        (
            "webhook_requests_total",
            "Webhook requests sent, retries included.",
            &[("", |s| s.attempts)],
        ),
    ];
    for (name, help, outcomes) in counters {
        out.family(name, "counter", help);
        for (receiver, stats) in webhooks {
            for (outcome, figure) in outcomes {
                let mut labels = vec![("receiver", receiver.as_str())];
                if !outcome.is_empty() {
                    labels.push(("outcome", outcome));
                }
                out.sample(name, "", &labels, figure(stats) as f64);
            }
        }
    }
    let gauges: [(&str, &str, Figure); 2] = [
        (
            "webhook_queue_depth",
            "Status changes waiting in a webhook notifier's queue.",
            |s| s.queued,
        ),
        (
            "webhook_queue_capacity",
            "Status changes a webhook notifier's queue holds at most.",
            |s| s.queue_capacity,
        ),
    ];
    for (name, help, figure) in gauges {
        out.family(name, "gauge", help);
        for (receiver, stats) in webhooks {
            out.sample(name, "", &[("receiver", receiver)], figure(stats) as f64);
        }
    }
}

/// The Tokio runtime serving the scrape: workers, alive tasks, the global queue, and the
/// scheduling lag the runtime probe measured (last and largest).
fn runtime_families(out: &mut Writer<'_>, runtime: &RuntimeStats) {
    let lag = |ms: Option<f64>| ms.map_or(f64::NAN, |ms| ms / 1e3);
    for (name, help, value) in [
        (
            "runtime_workers",
            "Tokio runtime worker threads.",
            runtime.workers as f64,
        ),
        (
            "runtime_alive_tasks",
            "Tokio tasks alive.",
            runtime.alive_tasks as f64,
        ),
        (
            "runtime_global_queue_depth",
            "Tasks waiting in the Tokio runtime's global queue.",
            runtime.global_queue_depth as f64,
        ),
        (
            "runtime_scheduling_lag_seconds",
            "The last scheduling lag measured: how late a timer task ran.",
            lag(runtime.last_lag_ms),
        ),
        (
            "runtime_scheduling_lag_max_seconds",
            "The largest scheduling lag measured since start.",
            lag(runtime.max_lag_ms),
        ),
    ] {
        out.family(name, "gauge", help);
        out.sample(name, "", &[], value);
    }
}

fn window_summary(out: &mut Writer<'_>, metrics: &MetricsSnapshot) {
    let totals = &metrics.totals;
    window_quantile_summary(
        out,
        (
            "http_server_request_duration_window_seconds",
            "Request duration quantiles over the rolling window; sum and count since start.",
        ),
        &metrics.window.latency,
        totals.latency_sum,
        totals.successes + totals.failures,
    );
}

/// A summary family `(name, help)`: `stats`' p50/p95/p99 over the rolling window, and `sum`
/// and `count` since start.
fn window_quantile_summary(
    out: &mut Writer<'_>,
    (name, help): (&str, &str),
    stats: &LatencyStats,
    sum: Duration,
    count: u64,
) {
    out.family(name, "summary", help);
    for (quantile, value) in [("0.5", stats.p50), ("0.95", stats.p95), ("0.99", stats.p99)] {
        // Nothing in the window: no quantile (NaN, as Prometheus' own clients write it).
        let seconds = if stats.count == 0 {
            f64::NAN
        } else {
            value.as_secs_f64()
        };
        out.sample(name, "", &[("quantile", quantile)], seconds);
    }
    out.sample(name, "_sum", &[], sum.as_secs_f64());
    out.sample(name, "_count", &[], count as f64);
}

fn request_counters(out: &mut Writer<'_>, metrics: &MetricsSnapshot, labels: &[String]) {
    for (name, help, failures) in [
        ("http_server_requests_total", "HTTP server requests.", false),
        (
            "http_server_request_failures_total",
            "HTTP server requests classified as failures (5xx, service errors, gRPC errors).",
            true,
        ),
    ] {
        out.family(name, "counter", help);
        for (series, labels) in metrics.series.iter().zip(labels) {
            let value = if failures {
                series.failures
            } else {
                series.count
            };
            out.sample_body(name, "", labels, None, value as f64);
        }
    }
}

fn single_families(out: &mut Writer<'_>, metrics: &MetricsSnapshot) {
    let totals = &metrics.totals;
    let simple = [
        (
            "http_server_requests_cancelled_total",
            "counter",
            "HTTP server requests dropped before they ended (client went away).",
            totals.cancelled as f64,
        ),
        (
            "http_server_requests_in_flight",
            "gauge",
            "HTTP server requests started and not yet ended.",
            metrics.in_flight as f64,
        ),
        (
            "http_server_latency_clamped_total",
            "counter",
            "Request durations outside 1 us to 1 h, recorded at the nearest bound.",
            totals.clamped as f64,
        ),
        (
            "cache_hits_total",
            "counter",
            "Cache lookups that found their entry.",
            metrics.cache.hits as f64,
        ),
        (
            "cache_misses_total",
            "counter",
            "Cache lookups that did not.",
            metrics.cache.misses as f64,
        ),
        (
            "cache_evictions_total",
            "counter",
            "Cache entries evicted.",
            metrics.cache.evictions as f64,
        ),
    ];
    for (name, kind, help, value) in simple {
        out.family(name, kind, help);
        out.sample(name, "", &[], value);
    }
}

fn build_info(out: &mut Writer<'_>, info: &AppInfo) {
    out.family(
        "build_info",
        "gauge",
        "The application's name, version, commit, environment and compiler; always 1.",
    );
    let labels = [
        ("name", info.name()),
        ("version", info.version()),
        ("commit", info.commit().unwrap_or("")),
        ("environment", info.environment_name().unwrap_or("")),
        ("rust_version", info.rust_version()),
    ];
    out.sample("build_info", "", &labels, 1.0);
}

fn lifecycle_families(out: &mut Writer<'_>, lifecycle: &Lifecycle, alive: bool) {
    out.family(
        "lifecycle_phase",
        "gauge",
        "The service's phase (serving, draining, shutting_down): 1 for the current one, 0 for the others.",
    );
    for phase in Phase::ALL {
        let value = f64::from(u8::from(lifecycle.phase == phase));
        out.sample("lifecycle_phase", "", &[("phase", phase.as_str())], value);
    }
    out.family(
        "health_alive",
        "gauge",
        "0 while the application has marked the process broken (liveness answers 503), else 1.",
    );
    out.sample("health_alive", "", &[], f64::from(u8::from(alive)));
    if let Some(since) = lifecycle.draining_since {
        let seconds = since
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        out.family(
            "drain_started_timestamp_seconds",
            "gauge",
            "When the drain began (the shutdown signal), in seconds since the Unix epoch.",
        );
        out.sample("drain_started_timestamp_seconds", "", &[], seconds);
        let timings = [
            (
                "drain_delay_seconds",
                "The drain's propagation delay.",
                lifecycle.delay_ms,
            ),
            (
                "drain_budget_seconds",
                "The drain's budget for requests in flight.",
                lifecycle.budget_ms,
            ),
        ];
        for (name, help, millis) in timings {
            out.family(name, "gauge", help);
            out.sample(name, "", &[], millis.unwrap_or(0) as f64 / 1e3);
        }
    }
}

fn process_families(out: &mut Writer<'_>, process: &ProcessStats) {
    let families = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            Some(process.cpu_seconds),
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            Some(process.resident_memory_bytes as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            Some(process.virtual_memory_bytes as f64),
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            Some(process.open_fds as f64),
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            process.max_fds.map(|v| v as f64),
        ),
        (
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
            Some(process.threads as f64),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            Some(process.start_time_seconds),
        ),
    ];
    for (name, kind, help, value) in families {
        if let Some(value) = value {
            out.single_unprefixed(name, kind, help, value);
        }
    }
}

mod semconv;
#[cfg(test)]
mod tests;
