//! The Prometheus text exposition format (0.0.4), and OpenMetrics 1.0 text from the same
//! families: a [`Vitals`] in, text out.
//!
//! The families are listed in the docs of [`crate::metrics`].

use std::time::Duration;

use super::Rendered;
use super::merge::{AppendedMetrics, combine};
use super::openmetrics::TextFormat;
use super::text::{Writer, label_body, valid_prefix};
use crate::checker::{CheckCounters, Lifecycle};
use crate::error::ConfigError;
use crate::fleet::FleetFigures;
use crate::health_report::{HealthStatus, SystemHealthStatus};
use crate::info::AppInfo;
use crate::metrics::MetricsSnapshot;
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
const TAKEN_LABELS: [&str; 25] = [
    "route",
    "figure",
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
    "label",
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
            crate::validate::label_name(
                name,
                &TAKEN_LABELS,
                "the exposition's own families use this label",
            )?;
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
        let combined = super::merge::combine_natives(ours, TextFormat::OpenMetrics, appended);
        let series = vitals.requests.ready().map_or(&[][..], |m| &m.series[..]);
        let mut natives: std::collections::HashMap<usize, super::protobuf::Native<'_>> = marks
            .into_iter()
            .filter_map(|(at, index)| Some((at, series.get(index)?.native.as_ref()?.into())))
            .collect();
        natives.extend(super::protobuf::placed(&combined.text, &combined.natives));
        super::protobuf::encode(&combined.text, &natives)
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
            fleet: vitals.fleet.as_ref(),
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

/// The most pending warm-up gates shown, as in the JSON report.
const MAX_GATES: usize = 100;

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
    /// The fleet's figures, when there is a fleet.
    pub(crate) fleet: Option<&'a FleetFigures>,
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
            families::http(&mut out, metrics, self.otel_scheme);
        }
        self.health(&mut out);
        if let Some(settings) = &self.report.settings {
            families::settings_families(&mut out, settings);
        }
        if let Some(info) = self.info {
            families::build_info(&mut out, info);
        }
        if let Some((lifecycle, alive)) = self.lifecycle {
            families::lifecycle_families(&mut out, lifecycle, alive);
        }
        if let Some(runtime) = self.runtime {
            families::runtime_families(&mut out, runtime);
        }
        if let Some(anomalies) = self.anomalies {
            families::anomaly_families(&mut out, anomalies);
        }
        if !self.webhooks.is_empty() {
            families::webhook_families(&mut out, self.webhooks);
        }
        if let Some(fleet) = self.fleet {
            families::fleet_families(&mut out, fleet);
        }
        out.family("uptime_seconds", "gauge", "Time since the service started.");
        out.sample("uptime_seconds", "", &[], self.uptime.as_secs_f64());
        if let Some(process) = self.process {
            families::process_families(&mut out, process);
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
            "0 while the service is marked not ready (draining) or warming up, else 1.",
        );
        let accepting = f64::from(u8::from(self.report.accepting_traffic));
        out.sample("health_accepting_traffic", "", &[], accepting);
        if !self.report.warming_up.is_empty() {
            out.family(
                "health_warm_up_pending_seconds",
                "gauge",
                "How long each pending warm-up gate has held readiness.",
            );
            for gate in self.report.warming_up.iter().take(MAX_GATES) {
                let labels = [("gate", gate.name.as_str())];
                let seconds = gate.pending_ms / 1e3;
                out.sample("health_warm_up_pending_seconds", "", &labels, seconds);
            }
        }
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
            "health_component_figure",
            "gauge",
            "Figures a check reported with its last result (a queue's depth, a heartbeat's age…), as of that run.",
        );
        for component in &self.report.components {
            for (figure, value) in &component.figures {
                let labels = [("component", component.name.as_str()), ("figure", figure)];
                out.sample("health_component_figure", "", &labels, *value);
            }
        }
        self.check_runs(out);
    }

    /// The families about each check's runs: duration, runs, poll time, failures.
    fn check_runs(&self, out: &mut Writer<'_>) {
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

mod families;
mod semconv;

pub(crate) use families::{request_histogram, request_label_name};
#[cfg(test)]
mod tests;
