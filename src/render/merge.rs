//! Another registry's exposition appended to ours, in the negotiated format: the text of
//! `metrics-exporter-prometheus`, `prometheus-client`, the tikv `prometheus` crate … (text
//! 0.0.4 or OpenMetrics) is read family by family and written again as the format asks, so the
//! whole stays one valid exposition. A family whose name is already taken is left out.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::openmetrics::TextFormat;

/// The suffixes a sample name may add to its family's name.
const SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_count", "_sum", "_info", "_gcount", "_gsum",
];

/// Another registry whose exposition is appended to ours: a function returning its text, in
/// the Prometheus text format (0.0.4) or OpenMetrics — e.g. `metrics-exporter-prometheus`'s
/// `PrometheusHandle::render`, or `prometheus-client`'s `encode` into a `String`. Called for each
/// scrape, so it should be quick. Its families are written again in the format the scrape asked
/// for; a family whose name is taken (ours, or an earlier source's) is left out, with a warning
/// logged once per source.
#[derive(Clone)]
pub struct AppendedMetrics {
    render: Arc<dyn Fn() -> Appended + Send + Sync>,
    warned: Arc<AtomicBool>,
}

/// What a source gave for one scrape: OpenMetrics (or text 0.0.4), and the native buckets of
/// its histogram series for the protobuf format, by the series' `_count` sample as written
/// (`name_count{labels}`).
#[derive(Debug, Default)]
pub(crate) struct Appended {
    pub(crate) text: String,
    pub(crate) natives: Vec<(String, AppendedNative)>,
}

/// A series' native buckets: the positive side and the zero bucket, and the negative side (an
/// offset and consecutive counts) — indexed as Prometheus indexes them, by upper bound. (Made
/// by the `opentelemetry` reader, read by the `protobuf` format.)
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    not(all(feature = "opentelemetry", feature = "protobuf")),
    allow(dead_code)
)]
pub(crate) struct AppendedNative {
    pub(crate) buckets: crate::metrics::NativeBuckets,
    pub(crate) negative: (i32, Vec<u64>),
}

impl AppendedMetrics {
    /// A source whose text `render` returns.
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self::with_natives(move || Appended {
            text: render(),
            natives: Vec::new(),
        })
    }

    /// A source that gives native buckets beside its text.
    pub(crate) fn with_natives(render: impl Fn() -> Appended + Send + Sync + 'static) -> Self {
        Self {
            render: Arc::new(render),
            warned: Arc::default(),
        }
    }
}

impl std::fmt::Debug for AppendedMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendedMetrics").finish_non_exhaustive()
    }
}

/// `ours` (a whole exposition in `format`) with each source's families appended, as one
/// exposition.
pub(crate) fn combine(ours: String, format: TextFormat, sources: &[AppendedMetrics]) -> String {
    combine_natives(ours, format, sources).text
}

/// [`combine`], with the native buckets the sources gave for the series they wrote.
pub(crate) fn combine_natives(
    mut ours: String,
    format: TextFormat,
    sources: &[AppendedMetrics],
) -> Appended {
    let mut natives = Vec::new();
    if sources.is_empty() {
        return Appended {
            text: ours,
            natives,
        };
    }
    let eof = format == TextFormat::OpenMetrics && ours.ends_with("# EOF\n");
    if eof {
        ours.truncate(ours.len() - "# EOF\n".len());
    }
    let mut taken = declared(&ours);
    for source in sources {
        let Appended {
            text,
            natives: theirs,
        } = (source.render)();
        natives.extend(theirs);
        let left_out = append(&mut ours, &text, format, &mut taken);
        if !left_out.is_empty() && !source.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                families = ?left_out,
                "appended metrics: families whose names are already taken are left out of /metrics"
            );
        }
    }
    if eof {
        ours.push_str("# EOF\n");
    }
    Appended {
        text: ours,
        natives,
    }
}

/// One family of the appended text, as read.
#[derive(Debug, Default)]
struct Family<'a> {
    /// The name on its TYPE (or HELP) line, `_total` dropped for a counter.
    base: &'a str,
    kind: &'a str,
    help: Option<&'a str>,
    unit: Option<&'a str>,
    samples: Vec<&'a str>,
}

/// Appends `other` to `out` in `format`, leaving out the families whose names are in `taken`
/// (ours, and those appended before); their names are added to it. Returns the names left out.
pub(crate) fn append(
    out: &mut String,
    other: &str,
    format: TextFormat,
    taken: &mut HashSet<String>,
) -> Vec<String> {
    let mut left_out = Vec::new();
    for family in families(other) {
        let key = family.base.to_owned();
        if taken.contains(&key)
            || (family.kind == "counter" && taken.contains(&format!("{key}_total")))
        {
            left_out.push(key);
            continue;
        }
        write(out, &family, format);
        taken.insert(key);
    }
    left_out
}

/// The family names (counters without `_total`) an exposition declares on its TYPE lines.
pub(crate) fn declared(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let (name, kind) = rest.split_once(' ')?;
            let base = match kind.trim() {
                "counter" => name.strip_suffix("_total").unwrap_or(name),
                _ => name,
            };
            Some(base.to_owned())
        })
        .collect()
}

fn families(text: &str) -> Vec<Family<'_>> {
    let mut families: Vec<Family<'_>> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name, value) = (parts.next(), parts.next(), parts.next());
            let (Some(keyword), Some(name)) = (keyword, name) else {
                continue; // `# EOF` and other comments
            };
            let family = current(&mut families, name);
            match keyword {
                "HELP" => family.help = value,
                "UNIT" => family.unit = value.filter(|v| !v.is_empty()),
                "TYPE" => {
                    let kind = value.unwrap_or("untyped").trim();
                    family.kind = kind;
                    if kind == "counter" {
                        family.base = name.strip_suffix("_total").unwrap_or(name);
                    }
                }
                _ => {}
            }
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else {
            let name = sample_name(line);
            let belongs = families.last().is_some_and(|f| belongs(name, f.base));
            if !belongs {
                // A sample without metadata is a family of its own, untyped.
                families.push(Family {
                    base: name,
                    kind: "untyped",
                    ..Family::default()
                });
            }
            families.last_mut().expect("just pushed").samples.push(line);
        }
    }
    families
}

/// The family `name` belongs to: the last one, if it is the same, else a new one.
fn current<'a, 'f>(families: &'f mut Vec<Family<'a>>, name: &'a str) -> &'f mut Family<'a> {
    let same = families
        .last()
        .is_some_and(|f| f.base == name || f.base == name.strip_suffix("_total").unwrap_or(name));
    if !same {
        families.push(Family {
            base: name,
            kind: "untyped",
            ..Family::default()
        });
    }
    families.last_mut().expect("just pushed")
}

/// Whether sample `name` is of the family `base`: the same name, or it with a standard suffix.
fn belongs(name: &str, base: &str) -> bool {
    name.strip_prefix(base)
        .is_some_and(|suffix| suffix.is_empty() || SUFFIXES.contains(&suffix))
}

fn sample_name(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

fn write(out: &mut String, family: &Family<'_>, format: TextFormat) {
    let openmetrics = format == TextFormat::OpenMetrics;
    let base = family.base;
    let counter = family.kind == "counter";
    let kind = match (openmetrics, family.kind) {
        (true, "untyped") => "unknown",
        (false, "unknown") => "untyped",
        // Text 0.0.4 has no info or state set: their samples are gauges there.
        (false, "info" | "stateset") => "gauge",
        (false, "gaugehistogram") => "untyped",
        (_, kind) => kind,
    };
    // Text 0.0.4 names a counter family as its samples (`_total`), an info family too
    // (`_info`, a gauge there); OpenMetrics without the suffix.
    let declared = match (openmetrics, family.kind) {
        (false, "counter") => format!("{base}_total"),
        (false, "info") => format!("{base}_info"),
        _ => base.to_owned(),
    };
    if let Some(help) = family.help {
        out.push_str(&format!("# HELP {declared} {help}\n"));
    }
    out.push_str(&format!("# TYPE {declared} {kind}\n"));
    if openmetrics
        && let Some(unit) = family.unit
        && base.ends_with(&format!("_{unit}"))
    {
        out.push_str(&format!("# UNIT {declared} {unit}\n"));
    }
    for sample in &family.samples {
        let name = sample_name(sample);
        let rest = &sample[name.len()..];
        if counter && name == base {
            // A counter sample written without `_total` (allowed in text 0.0.4).
            out.push_str(base);
            out.push_str("_total");
        } else if (counter || family.kind == "histogram")
            && !openmetrics
            && name == format!("{base}_created")
        {
            continue; // an OpenMetrics-only sample
        } else {
            out.push_str(name);
        }
        out.push_str(if openmetrics {
            rest
        } else {
            without_exemplar(rest)
        });
        out.push('\n');
    }
}

/// A sample line's labels and value without an OpenMetrics exemplar (` # {…} value`), which
/// text 0.0.4 does not have. A `#` inside a quoted label value is not one.
fn without_exemplar(rest: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '#' if !quoted => return rest[..i].trim_end(),
            _ => {}
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP app_jobs_total Jobs run.
# TYPE app_jobs_total counter
app_jobs_total{queue=\"a\"} 3
# HELP app_queue_depth Jobs waiting.
# TYPE app_queue_depth gauge
app_queue_depth 7
app_orphan 1
";

    const OPENMETRICS: &str = "\
# HELP app_jobs Jobs run.
# TYPE app_jobs counter
app_jobs_total{queue=\"a\"} 3 # {trace_id=\"abc\"} 1.0
app_jobs_created{queue=\"a\"} 1700000000.0
# HELP app_build Build.
# TYPE app_build info
app_build_info{version=\"1\"} 1
# HELP app_wait_seconds Wait.
# TYPE app_wait_seconds histogram
# UNIT app_wait_seconds seconds
app_wait_seconds_bucket{le=\"+Inf\",tag=\"x # y\"} 2
app_wait_seconds_sum 0.5
app_wait_seconds_count 2
# EOF
";

    fn appended(other: &str, format: TextFormat) -> (String, Vec<String>) {
        let mut out = String::new();
        let mut taken = HashSet::from(["vitals_uptime_seconds".to_owned()]);
        let left_out = append(&mut out, other, format, &mut taken);
        (out, left_out)
    }

    #[test]
    fn text_to_openmetrics_renames_counter_families_and_types_orphans() {
        assert!(belongs("a_total", "a") && belongs("a", "a") && !belongs("a_b", "a"));
        let (out, left_out) = appended(TEXT, TextFormat::OpenMetrics);
        assert!(left_out.is_empty());
        assert_eq!(
            out,
            "# HELP app_jobs Jobs run.\n# TYPE app_jobs counter\napp_jobs_total{queue=\"a\"} 3\n\
             # HELP app_queue_depth Jobs waiting.\n# TYPE app_queue_depth gauge\napp_queue_depth 7\n\
             # TYPE app_orphan unknown\napp_orphan 1\n"
        );
    }

    #[test]
    fn openmetrics_to_text_drops_what_text_lacks() {
        let (out, _) = appended(OPENMETRICS, TextFormat::Prometheus);
        assert_eq!(
            out,
            "# HELP app_jobs_total Jobs run.\n# TYPE app_jobs_total counter\napp_jobs_total{queue=\"a\"} 3\n\
             # HELP app_build_info Build.\n# TYPE app_build_info gauge\napp_build_info{version=\"1\"} 1\n\
             # HELP app_wait_seconds Wait.\n# TYPE app_wait_seconds histogram\n\
             app_wait_seconds_bucket{le=\"+Inf\",tag=\"x # y\"} 2\napp_wait_seconds_sum 0.5\napp_wait_seconds_count 2\n"
        );
    }

    #[test]
    fn openmetrics_stays_openmetrics_without_its_eof() {
        let (out, _) = appended(OPENMETRICS, TextFormat::OpenMetrics);
        assert!(!out.contains("# EOF"));
        assert!(out.contains("# TYPE app_jobs counter\n"));
        assert!(out.contains("# UNIT app_wait_seconds seconds\n"));
        assert!(out.contains("app_jobs_total{queue=\"a\"} 3 # {trace_id=\"abc\"} 1.0\n"));
    }

    #[test]
    fn a_taken_name_is_left_out_whole() {
        let other =
            "# TYPE vitals_uptime_seconds gauge\nvitals_uptime_seconds 9\n# TYPE x gauge\nx 1\n";
        let (out, left_out) = appended(other, TextFormat::Prometheus);
        assert_eq!(left_out, ["vitals_uptime_seconds"]);
        assert_eq!(out, "# TYPE x gauge\nx 1\n");
        let mut taken = declared("# TYPE a_total counter\n# TYPE b gauge\n");
        assert!(taken.contains("a") && taken.contains("b"));
        let mut out = String::new();
        let left_out = append(
            &mut out,
            "# TYPE a counter\na_total 1\n",
            TextFormat::Prometheus,
            &mut taken,
        );
        assert_eq!(left_out, ["a"]);
    }
}
