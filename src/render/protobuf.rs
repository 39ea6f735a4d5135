//! The Prometheus protobuf exposition (`io.prometheus.client.MetricFamily` messages, each
//! length-delimited): the one format that carries native histograms, and what Prometheus asks
//! for first when started with `--enable-feature=native-histograms`.
//!
//! It is made from the OpenMetrics text of the same scrape (ours and the appended registries'),
//! read family by family, so every family of the text formats is here too, with its HELP,
//! unit, exemplars and created times; the request histogram's series then get their native
//! buckets beside the classic ones (a server without the feature reads the classic ones).

mod messages;

use std::collections::HashMap;

use prost::Message;

use self::messages::{
    Bucket, BucketSpan, Counter, Exemplar, Gauge, Histogram, LabelPair, Metric, MetricFamily,
    MetricType, Quantile, Summary, Timestamp, Untyped,
};
use super::merge::AppendedNative;
use crate::metrics::NativeBuckets;

/// The `Content-Type` of the protobuf exposition.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Whether an `Accept` header asks for the protobuf exposition: it lists
/// `application/vnd.google.protobuf` (for `io.prometheus.client.MetricFamily`, delimited) with
/// a quality above 0 and at least that of every text format it lists.
///
/// ```
/// use tower_vitals::render::accepts_protobuf;
///
/// // What Prometheus sends when native histograms are on.
/// let scrape = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// assert!(accepts_protobuf(Some(scrape)));
/// assert!(!accepts_protobuf(Some("application/openmetrics-text;version=1.0.0")));
/// assert!(!accepts_protobuf(None));
/// ```
pub fn accepts_protobuf(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut protobuf, mut text) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let (mut quality, mut ours) = (1.0_f32, true);
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => quality = value.parse().unwrap_or(0.0),
                "proto" => ours &= value == "io.prometheus.client.MetricFamily",
                "encoding" => ours &= value.eq_ignore_ascii_case("delimited"),
                _ => {}
            }
        }
        if media.eq_ignore_ascii_case("application/vnd.google.protobuf") {
            if ours {
                protobuf = protobuf.max(quality);
            }
        } else if media.eq_ignore_ascii_case("application/openmetrics-text")
            || media.eq_ignore_ascii_case("text/plain")
        {
            text = text.max(quality);
        }
    }
    protobuf > 0.0 && protobuf >= text
}

/// A series' native buckets: the positive side and zero bucket, and the negative side (an
/// offset and consecutive counts, indexed as the positive ones) when there is one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Native<'a> {
    pub(crate) buckets: &'a NativeBuckets,
    pub(crate) negative: Option<(i32, &'a [u64])>,
}

impl<'a> From<&'a NativeBuckets> for Native<'a> {
    fn from(buckets: &'a NativeBuckets) -> Self {
        Self {
            buckets,
            negative: None,
        }
    }
}

/// Where the appended sources' native series landed in `text`: the byte offset of each one's
/// `_count` line.
pub(crate) fn placed<'a>(
    text: &str,
    natives: &'a [(String, AppendedNative)],
) -> Vec<(usize, Native<'a>)> {
    if natives.is_empty() {
        return Vec::new();
    }
    let by_series: HashMap<&str, &AppendedNative> = natives
        .iter()
        .map(|(series, native)| (series.as_str(), native))
        .collect();
    let mut placed = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
        if let Some(native) = by_series.get(series) {
            let native = Native {
                buckets: &native.buckets,
                negative: Some((native.negative.0, &native.negative.1[..])),
            };
            placed.push((offset, native));
        }
        offset += line.len();
    }
    placed
}

/// The protobuf exposition of `openmetrics` (a whole OpenMetrics text). `natives` gives, by the
/// byte offset of a histogram's `_count` line in it, the native buckets of that series.
pub(crate) fn encode(openmetrics: &str, natives: &HashMap<usize, Native<'_>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(openmetrics.len() / 2);
    for family in read(openmetrics, natives) {
        family
            .encode_length_delimited(&mut out)
            .expect("a Vec grows");
    }
    out
}

/// One family being read: its message and where each label set's metric is.
struct Reading {
    family: MetricFamily,
    /// The family's name in the text (OpenMetrics: a counter's without `_total`).
    base: String,
    kind: MetricType,
    by_labels: HashMap<Vec<LabelPair>, usize>,
}

fn read(text: &str, natives: &HashMap<usize, Native<'_>>) -> Vec<MetricFamily> {
    let mut families: Vec<Reading> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = line.strip_prefix("# ") {
            metadata(&mut families, rest);
        } else if !line.is_empty() && !line.starts_with('#') {
            let Some(sample) = parse_sample(line) else {
                continue; // not a sample this reader knows: left out rather than mangled
            };
            let native = natives.get(&at).copied();
            add_sample(&mut families, sample, native);
        }
    }
    families
        .into_iter()
        .filter(|reading| !reading.family.metric.is_empty())
        .map(|reading| reading.family)
        .collect()
}

/// A `# HELP`, `# TYPE` or `# UNIT` line (without `# `).
fn metadata(families: &mut Vec<Reading>, rest: &str) {
    let mut parts = rest.splitn(3, ' ');
    let (Some(keyword), Some(name)) = (parts.next(), parts.next()) else {
        return;
    };
    let value = parts.next().unwrap_or("");
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return;
    }
    if families.last().is_none_or(|f| f.base != name) {
        families.push(Reading {
            family: MetricFamily {
                name: Some(name.to_owned()),
                r#type: Some(MetricType::Untyped as i32),
                ..MetricFamily::default()
            },
            base: name.to_owned(),
            kind: MetricType::Untyped,
            by_labels: HashMap::new(),
        });
    }
    let reading = families.last_mut().expect("just pushed");
    match keyword {
        "HELP" => reading.family.help = Some(unescape(value)),
        "UNIT" if !value.is_empty() => reading.family.unit = Some(value.to_owned()),
        "TYPE" => {
            let (kind, name) = match value.trim() {
                "counter" => (MetricType::Counter, format!("{name}_total")),
                "gauge" | "stateset" => (MetricType::Gauge, name.to_owned()),
                "info" => (MetricType::Gauge, format!("{name}_info")),
                "histogram" => (MetricType::Histogram, name.to_owned()),
                "gaugehistogram" => (MetricType::GaugeHistogram, name.to_owned()),
                "summary" => (MetricType::Summary, name.to_owned()),
                _ => (MetricType::Untyped, name.to_owned()),
            };
            reading.kind = kind;
            reading.family.r#type = Some(kind as i32);
            reading.family.name = Some(name);
        }
        _ => {}
    }
}

/// One sample line, read.
struct Sample<'a> {
    name: &'a str,
    labels: Vec<LabelPair>,
    value: f64,
    timestamp_ms: Option<i64>,
    exemplar: Option<Exemplar>,
}

fn add_sample(families: &mut Vec<Reading>, sample: Sample<'_>, native: Option<Native<'_>>) {
    let suffix = families
        .last()
        .and_then(|f| suffix_of(sample.name, &f.base, f.kind));
    let Some(suffix) = suffix else {
        // A sample without metadata: a family of its own, untyped.
        families.push(Reading {
            family: MetricFamily {
                name: Some(sample.name.to_owned()),
                r#type: Some(MetricType::Untyped as i32),
                ..MetricFamily::default()
            },
            base: sample.name.to_owned(),
            kind: MetricType::Untyped,
            by_labels: HashMap::new(),
        });
        return add_sample(families, sample, native);
    };
    let reading = families.last_mut().expect("found");
    let Sample {
        mut labels,
        value,
        timestamp_ms,
        exemplar,
        ..
    } = sample;
    // `le` and `quantile` say which part of the metric a sample is, not which metric.
    let mut part = None;
    labels.retain(|pair| {
        let special = matches!(
            (reading.kind, pair.name.as_deref()),
            (
                MetricType::Histogram | MetricType::GaugeHistogram,
                Some("le")
            ) | (MetricType::Summary, Some("quantile"))
        );
        if special {
            part = pair.value.as_deref().map(parse_value);
        }
        !special
    });
    let kind = reading.kind;
    let index = *reading.by_labels.entry(labels.clone()).or_insert_with(|| {
        reading.family.metric.push(empty_metric(kind, labels));
        reading.family.metric.len() - 1
    });
    let metric = &mut reading.family.metric[index];
    if timestamp_ms.is_some() {
        metric.timestamp_ms = timestamp_ms;
    }
    fill(metric, suffix, value, part, exemplar);
    if let (Some(histogram), Some(native)) = (&mut metric.histogram, native) {
        add_native(histogram, native);
    }
}

/// What a sample named `name` is of the family `base` of `kind`: its suffix, or `None` if it is
/// not of this family.
fn suffix_of<'a>(name: &'a str, base: &str, kind: MetricType) -> Option<&'a str> {
    let suffix = name.strip_prefix(base)?;
    let allowed: &[&str] = match kind {
        MetricType::Counter => &["_total", "_created", ""],
        MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
        MetricType::Summary => &["", "_sum", "_count", "_created"],
        MetricType::Gauge => &["", "_info"],
        MetricType::Untyped => &[""],
    };
    allowed.contains(&suffix).then_some(suffix)
}

fn empty_metric(kind: MetricType, labels: Vec<LabelPair>) -> Metric {
    let mut metric = Metric {
        label: labels,
        ..Metric::default()
    };
    match kind {
        MetricType::Counter => metric.counter = Some(Counter::default()),
        MetricType::Gauge => metric.gauge = Some(Gauge::default()),
        MetricType::Summary => metric.summary = Some(Summary::default()),
        MetricType::Untyped => metric.untyped = Some(Untyped::default()),
        MetricType::Histogram | MetricType::GaugeHistogram => {
            metric.histogram = Some(Histogram::default());
        }
    }
    metric
}

/// Puts one sample's value where it belongs in `metric`.
fn fill(
    metric: &mut Metric,
    suffix: &str,
    value: f64,
    part: Option<f64>,
    exemplar: Option<Exemplar>,
) {
    let created = || Some(timestamp(value));
    if let Some(counter) = &mut metric.counter {
        match suffix {
            "_created" => counter.created_timestamp = created(),
            _ => {
                counter.value = Some(value);
                counter.exemplar = exemplar;
            }
        }
    } else if let Some(gauge) = &mut metric.gauge {
        gauge.value = Some(value);
    } else if let Some(untyped) = &mut metric.untyped {
        untyped.value = Some(value);
    } else if let Some(summary) = &mut metric.summary {
        match (suffix, part) {
            ("_sum", _) => summary.sample_sum = Some(value),
            ("_count", _) => summary.sample_count = Some(value as u64),
            ("_created", _) => summary.created_timestamp = created(),
            (_, Some(quantile)) => summary.quantile.push(Quantile {
                quantile: Some(quantile),
                value: Some(value),
            }),
            _ => {}
        }
    } else if let Some(histogram) = &mut metric.histogram {
        match (suffix, part) {
            ("_sum" | "_gsum", _) => histogram.sample_sum = Some(value),
            ("_count" | "_gcount", _) => histogram.sample_count = Some(value as u64),
            ("_created", _) => histogram.created_timestamp = created(),
            // +Inf is the count; Prometheus adds that bucket itself.
            ("_bucket", Some(bound)) if bound.is_finite() => histogram.bucket.push(Bucket {
                cumulative_count: Some(value as u64),
                upper_bound: Some(bound),
                exemplar,
            }),
            _ => {}
        }
    }
}

/// The native buckets beside the classic ones: spans of buckets with a count, and the counts
/// as deltas from the bucket before (the first from 0), on each side.
fn add_native(histogram: &mut Histogram, native: Native<'_>) {
    let buckets = native.buckets;
    histogram.schema = Some(i32::from(buckets.scale));
    histogram.zero_threshold = Some(buckets.zero_threshold);
    histogram.zero_count = Some(buckets.zero_count);
    let (mut positive, deltas) = spans(buckets.offset, &buckets.counts);
    let (negative, negative_deltas) = native
        .negative
        .map(|(offset, counts)| spans(offset, counts))
        .unwrap_or_default();
    if positive.is_empty() && negative.is_empty() {
        // Only the zero bucket: a no-op span says this is a native histogram all the same.
        positive.push(BucketSpan {
            offset: Some(0),
            length: Some(0),
        });
    }
    histogram.positive_span = positive;
    histogram.positive_delta = deltas;
    histogram.negative_span = negative;
    histogram.negative_delta = negative_deltas;
}

/// The spans of buckets with a count among `counts` (consecutive from bucket `offset`), and
/// their counts as deltas.
fn spans(offset: i32, counts: &[u64]) -> (Vec<BucketSpan>, Vec<i64>) {
    let (mut spans, mut deltas) = (Vec::new(), Vec::new());
    let (mut previous, mut next_index) = (0_i64, None::<i32>);
    for (position, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let index = offset + position as i32;
        match next_index {
            Some(expected) if expected == index => {
                let span: &mut BucketSpan = spans.last_mut().expect("open");
                span.length = Some(span.length.unwrap_or(0) + 1);
            }
            // The first span's offset is its index; a later one's, the gap since the last.
            _ => spans.push(BucketSpan {
                offset: Some(next_index.map_or(index, |expected| index - expected)),
                length: Some(1),
            }),
        }
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        deltas.push(count - previous);
        previous = count;
        next_index = Some(index + 1);
    }
    (spans, deltas)
}

fn timestamp(seconds: f64) -> Timestamp {
    let whole = seconds.floor();
    Timestamp {
        seconds: whole as i64,
        nanos: ((seconds - whole) * 1e9).round().min(999_999_999.0) as i32,
    }
}

/// `name{labels} value [timestamp] [# {labels} value [timestamp]]`.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let end = line.find(['{', ' '])?;
    let name = &line[..end];
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        let (read, after) = parse_labels(rest)?;
        labels = read;
        rest = after;
    }
    let (sample, exemplar) = match rest.find(" # ") {
        Some(at) => (&rest[..at], Some(&rest[at + 3..])),
        None => (rest, None),
    };
    let mut fields = sample.split_whitespace();
    let value = parse_value(fields.next()?);
    let timestamp_ms = fields
        .next()
        .and_then(|t| t.parse::<f64>().ok())
        .map(|seconds| (seconds * 1e3).round() as i64);
    Some(Sample {
        name,
        labels,
        value,
        timestamp_ms,
        exemplar: exemplar.and_then(parse_exemplar),
    })
}

/// `{labels} value [timestamp]` after a sample's ` # `.
fn parse_exemplar(text: &str) -> Option<Exemplar> {
    let (label, rest) = parse_labels(text.trim_start())?;
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next()?);
    let timestamp = fields
        .next()
        .and_then(|t| t.parse::<f64>().ok())
        .map(timestamp);
    Some(Exemplar {
        label,
        value: Some(value),
        timestamp,
    })
}

/// `{a="x",b="y"}` at the start of `text`: the pairs (values unescaped) and what follows.
fn parse_labels(text: &str) -> Option<(Vec<LabelPair>, &str)> {
    let mut rest = text.strip_prefix('{')?;
    let mut pairs = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((pairs, after));
        }
        let (name, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        pairs.push(LabelPair {
            name: Some(name.trim().to_owned()),
            value: Some(value),
        });
        rest = &after[end + 1..];
    }
}

fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or(f64::NAN),
    }
}

/// A HELP text with its escapes (`\\`, `\n`) read back.
fn unescape(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
