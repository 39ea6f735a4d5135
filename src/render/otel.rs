//! The application's OpenTelemetry metrics on `/metrics`: [`OtelReader`], a pull reader for its
//! `SdkMeterProvider`, read at each scrape and written as the OpenTelemetry → Prometheus
//! compatibility specification says ("Prometheus and OpenMetrics Compatibility", section "OTLP
//! Metric points to Prometheus"; the sections are cited below where a choice is not obvious).
//! [`HealthLayer::otel_metrics`](crate::HealthLayer::otel_metrics) appends what it reads to the
//! exposition, in the format the scrape negotiated.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, MetricData,
    ResourceMetrics,
};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

use super::merge::{Appended, AppendedMetrics, AppendedNative};
use super::text::{escape_help, label_body, push_float};
use crate::metrics::NativeBuckets;

/// A pull [`MetricReader`] for the application's `SdkMeterProvider`: nothing is exported on a
/// timer; each scrape of `/metrics` reads the instruments (cumulative, as Prometheus counts)
/// and writes them beside the crate's families — counters with `_total`, up-down counters and
/// gauges as gauges, histograms with their buckets, exponential histograms as native
/// histograms in the protobuf format (scale 8 at most) and as classic histograms at their
/// buckets' bounds in all formats; units as name suffixes and `# UNIT`; names and
/// attribute keys made valid; the Resource as `target_info`; each instrument's scope as
/// `otel_scope_name` / `otel_scope_version` labels (and `otel_scope_info` for a scope with
/// attributes).
///
/// ```
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
/// use tower_vitals::render::OtelReader;
///
/// let reader = OtelReader::new();
/// let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
/// let orders = provider.meter("shop").u64_counter("shop.orders").build();
/// orders.add(3, &[opentelemetry::KeyValue::new("payment.method", "card")]);
///
/// let text = reader.render();
/// assert!(text.contains(
///     "shop_orders_total{otel_scope_name=\"shop\",payment_method=\"card\"} 3\n"
/// ));
/// ```
///
/// Give it to the health layer with
/// [`HealthLayer::otel_metrics`](crate::HealthLayer::otel_metrics).
///
/// No exemplars: the specification's "Exemplars" section maps an OpenTelemetry exemplar to an
/// OpenMetrics one, but opentelemetry_sdk 0.33 records none — every aggregation emits its data
/// points with an empty exemplar list (`internal/histogram.rs`, `exponential_histogram.rs`,
/// `sum.rs`), and the list is private to the SDK. The crate's own request histogram carries
/// exemplars (the current span's, or a sampled `traceparent`'s).
#[derive(Clone)]
pub struct OtelReader {
    inner: Arc<Inner>,
}

struct Inner {
    reader: ManualReader,
    /// Whether a failed read, or metrics left out, were logged (once each).
    warned_read: AtomicBool,
    warned_dropped: AtomicBool,
}

impl std::fmt::Debug for OtelReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelReader").finish_non_exhaustive()
    }
}

impl Default for OtelReader {
    fn default() -> Self {
        Self::new()
    }
}

impl OtelReader {
    /// A reader to register with the provider (`SdkMeterProvider::builder().with_reader(…)`,
    /// a clone) and to give to the health layer.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                reader: ManualReader::builder()
                    .with_temporality(Temporality::Cumulative)
                    .build(),
                warned_read: AtomicBool::new(false),
                warned_dropped: AtomicBool::new(false),
            }),
        }
    }

    /// Reads the instruments now and writes them as OpenMetrics text (without `# EOF`); empty
    /// before the reader is registered with a provider and after the provider shut down.
    pub fn render(&self) -> String {
        self.read().text
    }

    /// What the health layer appends: the text, and the exponential histograms' native
    /// buckets for the protobuf format.
    pub(crate) fn appended(&self) -> AppendedMetrics {
        let reader = self.clone();
        AppendedMetrics::with_natives(move || reader.read())
    }

    fn read(&self) -> Appended {
        let mut metrics = ResourceMetrics::default();
        if let Err(error) = self.inner.reader.collect(&mut metrics) {
            if !self.inner.warned_read.swap(true, Ordering::Relaxed) {
                tracing::warn!(%error, "OpenTelemetry metrics could not be read for /metrics");
            }
            return Appended::default();
        }
        let (appended, dropped) = write(&metrics);
        if !dropped.is_empty() && !self.inner.warned_dropped.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                metrics = ?dropped,
                "OpenTelemetry metrics left out of /metrics: their name is another instrument's \
                 of another type, or they are delta sums or histograms"
            );
        }
        appended
    }
}

impl MetricReader for OtelReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.inner.reader.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.inner.reader.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.reader.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.reader.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.inner.reader.temporality(kind)
    }
}

/// One family of the output: its metadata, and its samples' lines.
struct Family {
    kind: &'static str,
    help: String,
    unit: String,
    lines: String,
}

/// The families, in the order first seen, and the names of the metrics left out.
#[derive(Default)]
struct Families {
    order: Vec<(String, Family)>,
    index: HashMap<String, usize>,
    dropped: Vec<String>,
    /// The exponential histograms' native buckets, by `_count` series.
    natives: Vec<(String, AppendedNative)>,
}

impl Families {
    /// The family `name` of `kind`, made on first use; `None` when another instrument took the
    /// name with another type ("Metric Metadata": entire metrics are dropped to prevent
    /// conflicting TYPE comments; the first HELP and UNIT stand).
    /// A counter's samples are `…_total`: a family of another type under that name clashes.
    fn family(&mut self, name: &str, kind: &'static str, metric: &Metric) -> Option<&mut Family> {
        let counter = kind == "counter";
        let total = format!("{name}_total");
        let clash = counter
            && self
                .index
                .get(&total)
                .is_some_and(|&at| self.order[at].0 != name);
        let at = match self.index.get(name) {
            Some(&at) if self.order[at].1.kind == kind && !clash => at,
            Some(_) => {
                self.dropped.push(metric.name().to_owned());
                return None;
            }
            None if clash => {
                self.dropped.push(metric.name().to_owned());
                return None;
            }
            None => {
                self.index.insert(name.to_owned(), self.order.len());
                if counter {
                    self.index.insert(total, self.order.len());
                }
                // HELP is the description; without one, the instrument's own name.
                let help = match metric.description() {
                    "" => metric.name(),
                    description => description,
                };
                let family = Family {
                    kind,
                    help: help.to_owned(),
                    unit: String::new(),
                    lines: String::new(),
                };
                self.order.push((name.to_owned(), family));
                self.order.len() - 1
            }
        };
        Some(&mut self.order[at].1)
    }
}

impl Families {
    /// The family of `metric` as a `kind`: its name and the family, its unit set.
    fn open(&mut self, metric: &Metric, kind: Kind) -> Option<(String, &mut Family)> {
        let (name, unit) = names(metric, kind);
        let type_name = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let family = self.family(&name, type_name, metric)?;
        family.unit = unit;
        Some((name, family))
    }
}

/// The metrics as OpenMetrics text with the native buckets of the exponential histograms, and
/// the names of those left out.
fn write(metrics: &ResourceMetrics) -> (Appended, Vec<String>) {
    let mut out = String::new();
    // "Resource Attributes": one `target` info metric, when the resource is not empty.
    let resource: Vec<KeyValue> = metrics
        .resource()
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
        .collect();
    if !resource.is_empty() {
        out.push_str("# TYPE target info\n");
        out.push_str("# HELP target Target metadata\n");
        let labels = labels(&resource, None);
        let _ = writeln!(out, "target_info{{{}}} 1", label_body(&as_refs(&labels)));
    }
    let mut families = Families::default();
    let mut scopes = String::new();
    for scope_metrics in metrics.scope_metrics() {
        let scope = scope_metrics.scope();
        let attributes: Vec<KeyValue> = scope.attributes().cloned().collect();
        // "Instrumentation Scope": an `otel_scope_info` for a scope with attributes.
        if !attributes.is_empty() {
            let labels = labels(&attributes, Some(scope));
            let _ = writeln!(
                scopes,
                "otel_scope_info{{{}}} 1",
                label_body(&as_refs(&labels))
            );
        }
        for metric in scope_metrics.metrics() {
            match metric.data() {
                AggregatedMetrics::F64(data) => write_metric(&mut families, metric, scope, data),
                AggregatedMetrics::U64(data) => write_metric(&mut families, metric, scope, data),
                AggregatedMetrics::I64(data) => write_metric(&mut families, metric, scope, data),
            }
        }
    }
    if !scopes.is_empty() {
        out.push_str("# TYPE otel_scope info\n");
        out.push_str("# HELP otel_scope Instrumentation scope metadata\n");
        out.push_str(&scopes);
    }
    for (name, family) in &families.order {
        if !family.help.is_empty() {
            let _ = write!(out, "# HELP {name} ");
            escape_help(&mut out, &family.help);
            out.push('\n');
        }
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        if !family.unit.is_empty() {
            let _ = writeln!(out, "# UNIT {name} {}", family.unit);
        }
        out.push_str(&family.lines);
    }
    let appended = Appended {
        text: out,
        natives: families.natives,
    };
    (appended, families.dropped)
}

/// A number of a data point, as a sample value.
trait Number: Copy {
    fn value(self) -> f64;
}

impl Number for f64 {
    fn value(self) -> f64 {
        self
    }
}

impl Number for u64 {
    fn value(self) -> f64 {
        self as f64
    }
}

impl Number for i64 {
    fn value(self) -> f64 {
        self as f64
    }
}

fn write_metric<T: Number>(
    families: &mut Families,
    metric: &Metric,
    scope: &InstrumentationScope,
    data: &MetricData<T>,
) {
    let point_labels = |attributes: &mut dyn Iterator<Item = &KeyValue>| {
        let attributes: Vec<KeyValue> = attributes.cloned().collect();
        labels(&attributes, Some(scope))
    };
    match data {
        MetricData::Gauge(gauge) => {
            let Some((name, family)) = families.open(metric, Kind::Gauge) else {
                return;
            };
            for point in gauge.data_points() {
                let labels = point_labels(&mut point.attributes());
                sample(
                    &mut family.lines,
                    (&name, ""),
                    &labels,
                    point.value().value(),
                );
            }
        }
        // "Sums": cumulative monotonic → counter, cumulative non-monotonic → gauge; a delta
        // sum is dropped (this reader asks for cumulative ones, so there are none).
        MetricData::Sum(sum) if sum.temporality() == Temporality::Cumulative => {
            let counter = sum.is_monotonic();
            let kind = if counter { Kind::Counter } else { Kind::Gauge };
            let Some((name, family)) = families.open(metric, kind) else {
                return;
            };
            let created = unix_seconds(sum.start_time());
            for point in sum.data_points() {
                let labels = point_labels(&mut point.attributes());
                let value = point.value().value();
                if counter {
                    sample(&mut family.lines, (&name, "_total"), &labels, value);
                    sample(&mut family.lines, (&name, "_created"), &labels, created);
                } else {
                    sample(&mut family.lines, (&name, ""), &labels, value);
                }
            }
        }
        MetricData::Histogram(histogram) if histogram.temporality() == Temporality::Cumulative => {
            let Some((name, family)) = families.open(metric, Kind::Histogram) else {
                return;
            };
            let created = unix_seconds(histogram.start_time());
            for point in histogram.data_points() {
                let labels = point_labels(&mut point.attributes());
                classic(&mut family.lines, &name, &labels, point);
                sample(&mut family.lines, (&name, "_created"), &labels, created);
            }
        }
        MetricData::ExponentialHistogram(histogram)
            if histogram.temporality() == Temporality::Cumulative =>
        {
            let Some((name, family)) = families.open(metric, Kind::Histogram) else {
                return;
            };
            let created = unix_seconds(histogram.start_time());
            let mut natives = Vec::new();
            for point in histogram.data_points() {
                let labels = point_labels(&mut point.attributes());
                exponential(&mut family.lines, &name, &labels, point);
                sample(&mut family.lines, (&name, "_created"), &labels, created);
                if let Some(native) = native(point) {
                    natives.push((series(&name, "_count", &labels), native));
                }
            }
            families.natives.extend(natives);
        }
        // "Sums", "Histograms", "Exponential Histograms": delta temporality is dropped.
        _ => families.dropped.push(metric.name().to_owned()),
    }
}

/// A classic histogram's buckets (cumulative, as `le` counts them), sum and count.
fn classic<T: Number>(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    point: &HistogramDataPoint<T>,
) {
    let mut cumulative = 0;
    let bounds = point.bounds().map(Some).chain([None]);
    for (bound, count) in bounds.zip(point.bucket_counts()) {
        cumulative += count;
        bucket(out, name, labels, bound, cumulative);
    }
    // "Histograms": `_sum` only while every value counted is not negative (the SDK keeps the
    // minimum when asked; without it, a first bound above zero is taken as that assurance).
    let negative = match point.min() {
        Some(min) => min.value() < 0.0,
        None => point.bounds().next().is_none_or(|first| first <= 0.0),
    };
    if !negative {
        sample(out, (name, "_sum"), labels, point.sum().value());
    }
    sample(out, (name, "_count"), labels, point.count() as f64);
}

/// An exponential histogram as a classic one whose bounds are its buckets' upper bounds: the
/// negative buckets from the most negative, the zero bucket, the positive ones. A negative
/// value exactly on a bound is counted at the next `le` (its bucket is closed at the far end).
/// (Its native form, [`native`], goes to the protobuf format.)
fn exponential<T: Number>(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    point: &ExponentialHistogramDataPoint<T>,
) {
    // Bucket `index` holds the values whose magnitude is in (base^index, base^(index + 1)],
    // base = 2^(2^-scale); as a power of two, exact where the bound is a power of two.
    let step = 2f64.powi(-i32::from(point.scale()));
    let bound = |index: i32| (f64::from(index) * step).exp2();
    let negative: Vec<u64> = point.negative_bucket().counts().collect();
    let offset = point.negative_bucket().offset();
    let mut cumulative = 0;
    for (at, count) in negative.iter().enumerate().rev() {
        cumulative += count;
        let index = offset + at as i32;
        bucket(out, name, labels, Some(-bound(index)), cumulative);
    }
    cumulative += point.zero_count();
    bucket(out, name, labels, Some(point.zero_threshold()), cumulative);
    let offset = point.positive_bucket().offset();
    for (at, count) in point.positive_bucket().counts().enumerate() {
        cumulative += count;
        let index = offset + at as i32;
        bucket(out, name, labels, Some(bound(index + 1)), cumulative);
    }
    bucket(out, name, labels, None, point.count() as u64);
    if negative.iter().all(|count| *count == 0) {
        sample(out, (name, "_sum"), labels, point.sum().value());
    }
    sample(out, (name, "_count"), labels, point.count() as f64);
}

/// The native form of an exponential histogram point ("Exponential Histograms"): scale as
/// schema, above 8 merged down to 8; bucket indexes one up (Prometheus indexes a bucket by its
/// upper bound, OpenTelemetry by its lower); `None` below scale −4.
fn native<T: Number>(point: &ExponentialHistogramDataPoint<T>) -> Option<AppendedNative> {
    let scale = point.scale();
    if scale < -4 {
        return None;
    }
    let shift = u32::try_from(scale - scale.min(8)).unwrap_or(0);
    let side = |offset: i32, counts: Vec<u64>| -> (i32, Vec<u64>) {
        let Some(last) = counts.len().checked_sub(1) else {
            return (0, Vec::new());
        };
        let first = offset >> shift;
        let end = (offset + last as i32) >> shift;
        let mut merged = vec![0; (end - first + 1) as usize];
        for (at, count) in counts.into_iter().enumerate() {
            merged[(((offset + at as i32) >> shift) - first) as usize] += count;
        }
        (first + 1, merged)
    };
    let positive = point.positive_bucket();
    let (offset, counts) = side(positive.offset(), positive.counts().collect());
    let negative = point.negative_bucket();
    let negative = side(negative.offset(), negative.counts().collect());
    let buckets = NativeBuckets {
        scale: scale.min(8),
        zero_threshold: point.zero_threshold(),
        zero_count: point.zero_count(),
        offset,
        counts,
    };
    Some(AppendedNative { buckets, negative })
}

fn bucket(out: &mut String, name: &str, labels: &[(String, String)], le: Option<f64>, n: u64) {
    let mut le_text = String::new();
    match le {
        Some(bound) => push_float(&mut le_text, bound),
        None => le_text.push_str("+Inf"),
    }
    let mut all = as_refs(labels);
    all.push(("le", &le_text));
    out.push_str(name);
    out.push_str("_bucket{");
    out.push_str(&label_body(&all));
    out.push_str("} ");
    push_float(out, n as f64);
    out.push('\n');
}

fn sample(out: &mut String, (name, suffix): (&str, &str), labels: &[(String, String)], v: f64) {
    out.push_str(&series(name, suffix, labels));
    out.push(' ');
    push_float(out, v);
    out.push('\n');
}

/// A sample's name and labels as written: `name_suffix{labels}`.
fn series(name: &str, suffix: &str, labels: &[(String, String)]) -> String {
    let mut out = format!("{name}{suffix}");
    if !labels.is_empty() {
        out.push('{');
        out.push_str(&label_body(&as_refs(labels)));
        out.push('}');
    }
    out
}

fn as_refs(labels: &[(String, String)]) -> Vec<(&str, &str)> {
    labels
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// "Metric Attributes": keys made valid label names; keys that become the same have their
/// values joined with `;` in the order of the original keys. With `scope`, its name and
/// version too ("Instrumentation Scope"). Sorted by name.
fn labels(attributes: &[KeyValue], scope: Option<&InstrumentationScope>) -> Vec<(String, String)> {
    let mut sorted: Vec<&KeyValue> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(scope) = scope {
        labels.push(("otel_scope_name".to_owned(), scope.name().to_owned()));
        if let Some(version) = scope.version().filter(|v| !v.is_empty()) {
            labels.push(("otel_scope_version".to_owned(), version.to_owned()));
        }
    }
    for attribute in sorted {
        let key = label_name(attribute.key.as_str());
        let value = value_text(&attribute.value);
        match labels.iter_mut().find(|(name, _)| *name == key) {
            Some((_, joined)) => {
                joined.push(';');
                joined.push_str(&value);
            }
            None => labels.push((key, value)),
        }
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels
}

fn value_text(value: &Value) -> String {
    value.as_str().into_owned()
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, other characters `_`, runs of `_` one; a leading
/// digit gets `key_` before it (as the Collector's translator does).
fn label_name(key: &str) -> String {
    let name = squeeze(key, |c| c.is_ascii_alphanumeric() || c == '_');
    match name.chars().next() {
        None => "key_".to_owned(),
        Some(c) if c.is_ascii_digit() => format!("key_{name}"),
        Some(_) => name,
    }
}

/// `text` with every character `keep` refuses made `_`, and runs of `_` made one.
fn squeeze(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if keep(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The family's name (the unit's suffix added unless the name has it) and its unit, from the
/// instrument's name and unit ("Metric Metadata"). A counter's family name is without
/// `_total`, as OpenMetrics declares it.
fn names(metric: &Metric, kind: Kind) -> (String, String) {
    let mut name = squeeze(metric.name(), |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == ':'
    });
    if name.starts_with(|c: char| c.is_ascii_digit()) || name.is_empty() {
        name.insert(0, '_');
    }
    if kind == Kind::Counter
        && let Some(stripped) = name.strip_suffix("_total")
    {
        name = stripped.to_owned();
    }
    let mut unit = unit(metric.unit());
    // A counter of unit `1` counts things: unitless, as `{packet}` is ("a count of foo is
    // considered unitless"), not a ratio.
    if kind == Kind::Counter && unit == "ratio" {
        unit.clear();
    }
    if !unit.is_empty() {
        let has = name == unit
            || name.starts_with(&format!("{unit}_"))
            || name.ends_with(&format!("_{unit}"))
            || name.contains(&format!("_{unit}_"));
        if !has {
            name.push('_');
            name.push_str(&unit);
        }
        // OpenMetrics: a UNIT must be the name's suffix.
        if !name.ends_with(&format!("_{unit}")) && name != unit {
            unit.clear();
        }
    }
    (name, unit)
}

/// A UCUM unit as Prometheus names it: abbreviations in full words, `{…}` annotations
/// dropped, `1` a ratio, `a/b` as `a_per_b`.
fn unit(ucum: &str) -> String {
    let mut text = String::new();
    let mut depth = 0;
    for c in ucum.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let text = text.trim();
    let (of, per) = match text.split_once('/') {
        Some((of, per)) => (of.trim(), Some(per.trim())),
        None => (text, None),
    };
    let of = word(of, false);
    let per = per.map(|per| word(per, true)).filter(|per| !per.is_empty());
    let unit = match (of.as_str(), per) {
        (_, None) => of,
        ("", Some(per)) => format!("per_{per}"),
        (_, Some(per)) => format!("{of}_per_{per}"),
    };
    squeeze(&unit, |c| c.is_ascii_alphanumeric() || c == '_')
        .trim_matches('_')
        .to_owned()
}

fn word(unit: &str, per: bool) -> String {
    let full = match (unit, per) {
        ("s", true) => "second",
        ("m", true) => "minute",
        ("h", true) => "hour",
        ("d", true) => "day",
        ("w", true) => "week",
        ("mo", true) => "month",
        ("y", true) => "year",
        ("d", false) => "days",
        ("h", false) => "hours",
        ("min", false) => "minutes",
        ("s", false) => "seconds",
        ("ms", false) => "milliseconds",
        ("us", false) => "microseconds",
        ("ns", false) => "nanoseconds",
        ("By", _) => "bytes",
        ("KiBy", _) => "kibibytes",
        ("MiBy", _) => "mebibytes",
        ("GiBy", _) => "gibibytes",
        ("TiBy", _) => "tibibytes",
        ("KBy", _) => "kilobytes",
        ("MBy", _) => "megabytes",
        ("GBy", _) => "gigabytes",
        ("TBy", _) => "terabytes",
        ("m", false) => "meters",
        ("V", _) => "volts",
        ("A", _) => "amperes",
        ("J", _) => "joules",
        ("W", _) => "watts",
        ("g", _) => "grams",
        ("Cel", _) => "celsius",
        ("Hz", _) => "hertz",
        ("1", false) => "ratio",
        ("%", _) => "percent",
        (other, _) => other,
    };
    full.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_become_prometheus_words() {
        for (ucum, want) in [
            ("s", "seconds"),
            ("ms", "milliseconds"),
            ("By", "bytes"),
            ("1", "ratio"),
            ("{packet}", ""),
            ("{request}/s", "per_second"),
            ("By/s", "bytes_per_second"),
            ("m/s", "meters_per_second"),
            ("%", "percent"),
            ("", ""),
            ("furlongs", "furlongs"),
            ("a b", "a_b"),
        ] {
            assert_eq!(unit(ucum), want, "{ucum:?}");
        }
    }

    #[test]
    fn names_and_keys_are_made_valid() {
        assert_eq!(label_name("http.request.method"), "http_request_method");
        assert_eq!(label_name("a..b"), "a_b");
        assert_eq!(label_name("2xx"), "key_2xx");
        assert_eq!(label_name("é"), "_");
        assert_eq!(label_name(""), "key_");
        let attributes = [
            KeyValue::new("a.b", "dot"),
            KeyValue::new("a_b", "underscore"),
            KeyValue::new("a-b", "dash"),
        ];
        // Keys that become one: values joined in the order of the original keys.
        assert_eq!(
            labels(&attributes, None),
            [("a_b".to_owned(), "dash;dot;underscore".to_owned())]
        );
    }
}

#[cfg(test)]
mod native_tests {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{Aggregation, Instrument, SdkMeterProvider, Stream};

    use super::*;

    /// A provider whose histograms are exponential at up to `max_scale`, read by `reader`.
    fn provider(reader: &OtelReader, max_scale: i8) -> SdkMeterProvider {
        let view = move |_: &Instrument| {
            let aggregation = Aggregation::Base2ExponentialHistogram {
                max_size: 160,
                max_scale,
                record_min_max: true,
            };
            Stream::builder().with_aggregation(aggregation).build().ok()
        };
        SdkMeterProvider::builder()
            .with_reader(reader.clone())
            .with_view(view)
            .build()
    }

    /// Whether `value` falls in the native bucket `index` of `buckets` (upper bound included).
    fn holds(buckets: &NativeBuckets, index: i32, value: f64) -> bool {
        buckets.upper_bound(index - 1) < value && value <= buckets.upper_bound(index)
    }

    #[test]
    fn a_fine_exponential_histogram_is_merged_down_to_scale_8_with_every_value_in_its_bucket() {
        let reader = OtelReader::new();
        let provider = provider(&reader, 20);
        let sizes = provider.meter("t").f64_histogram("sizes").build();
        // Values within 1 % of each other: the SDK keeps a fine scale (above 8).
        let values: Vec<f64> = (0..50).map(|i| 1.0 + f64::from(i) * 2e-4).collect();
        for value in &values {
            sizes.record(*value, &[]);
        }
        sizes.record(-3.0, &[]);
        let appended = reader.read();
        assert_eq!(appended.natives.len(), 1);
        let (series, native) = &appended.natives[0];
        assert_eq!(series, "sizes_count{otel_scope_name=\"t\"}");
        assert!(appended.text.contains(&format!("{series} 51\n")));
        let buckets = &native.buckets;
        assert_eq!(buckets.scale, 8);
        assert_eq!(buckets.count(), 50);
        for value in &values {
            let index = (0..buckets.counts.len() as i32)
                .map(|at| buckets.offset + at)
                .find(|index| holds(buckets, *index, *value))
                .unwrap_or_else(|| panic!("{value} has no bucket in {native:?}"));
            assert!(buckets.counts[(index - buckets.offset) as usize] > 0);
        }
        // The negative side, by magnitude: 3 in its bucket.
        let (offset, counts) = &native.negative;
        assert_eq!(counts.iter().sum::<u64>(), 1);
        let at = counts.iter().position(|c| *c == 1).unwrap() as i32;
        assert!(holds(buckets, offset + at, 3.0), "{native:?}");
        provider.shutdown().unwrap();
    }

    #[test]
    fn a_coarse_one_keeps_its_scale_and_its_quantiles() {
        let reader = OtelReader::new();
        let provider = provider(&reader, 4);
        let latency = provider.meter("t").u64_histogram("latency").build();
        for ms in 1..=1000 {
            latency.record(ms, &[]);
        }
        let appended = reader.read();
        let buckets = &appended.natives[0].1.buckets;
        // The SDK's own scale (at most 4 asked, lower to fit 160 buckets), kept.
        assert!((1..=4).contains(&buckets.scale), "{buckets:?}");
        assert_eq!(buckets.count(), 1000);
        let p95 = buckets.quantile(0.95).unwrap();
        // Within a bucket's width at that scale.
        let width = 2f64.powf(2f64.powi(-i32::from(buckets.scale)));
        assert!((p95 / 950.0 - 1.0).abs() < width - 1.0, "{p95}");
        provider.shutdown().unwrap();
    }
}
