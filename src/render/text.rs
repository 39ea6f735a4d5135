//! The text writer and escaping shared by the text formats (Prometheus text 0.0.4 and
//! OpenMetrics 1.0): families with HELP and TYPE, samples with escaped labels, values as
//! Prometheus reads them.

use super::openmetrics::TextFormat;

/// Writes families and samples; every name gets `prefix` unless written raw.
pub(crate) struct Writer<'a> {
    pub(crate) out: String,
    prefix: &'a str,
    /// Labels on every sample, already written (`service="orders"`), or empty.
    constant: &'a str,
    format: TextFormat,
    /// Where each request-histogram series' `_count` line starts, by series, when kept.
    marks: Option<Vec<(usize, usize)>>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(prefix: &'a str, capacity: usize, format: TextFormat) -> Self {
        Self {
            out: String::with_capacity(capacity),
            prefix,
            constant: "",
            format,
            marks: None,
        }
    }

    /// Keeps where marked lines start ([`mark`](Self::mark)).
    pub(crate) fn with_marks(mut self) -> Self {
        self.marks = Some(Vec::new());
        self
    }

    /// Notes that the line starting at byte `at` is of series `series`, when marks are kept.
    pub(crate) fn mark(&mut self, at: usize, series: usize) {
        if let Some(marks) = &mut self.marks {
            marks.push((at, series));
        }
    }

    /// The text, closed, and the marks.
    pub(crate) fn finish_marked(mut self) -> (String, Vec<(usize, usize)>) {
        let marks = self.marks.take().unwrap_or_default();
        (self.finish(), marks)
    }

    /// Names the next families with `prefix` instead; the prefix it had.
    pub(crate) fn swap_prefix(&mut self, prefix: &'a str) -> &'a str {
        std::mem::replace(&mut self.prefix, prefix)
    }

    /// Writes `labels` (a label body from [`label_body`]) first on every sample.
    pub(crate) fn with_constant_labels(mut self, labels: &'a str) -> Self {
        self.constant = labels;
        self
    }

    /// The name a label of the exposition's own is written under: `exported_<name>` when a
    /// constant label has `name` already, as Prometheus renames a scraped label that clashes
    /// with a target's.
    pub(crate) fn own_label_name(&self, name: &str) -> String {
        let given = |at: usize| {
            self.constant[at..].starts_with(name)
                && self.constant[at + name.len()..].starts_with("=\"")
        };
        let clashes = given(0)
            || self
                .constant
                .match_indices(',')
                .any(|(at, _)| self.constant.len() > at + 1 + name.len() && given(at + 1));
        if clashes {
            format!("exported_{name}")
        } else {
            name.to_owned()
        }
    }

    /// The text, closed as the format asks (`# EOF` for OpenMetrics).
    pub(crate) fn finish(mut self) -> String {
        if self.format == TextFormat::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }

    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let prefix = self.prefix;
        self.raw_family(&[prefix, name], kind, help);
    }

    pub(crate) fn raw_family(&mut self, name: &[&str], kind: &str, help: &str) {
        let openmetrics = self.format == TextFormat::OpenMetrics;
        // OpenMetrics names a counter family without `_total`, which only its samples carry.
        let strip = openmetrics
            && kind == "counter"
            && name.last().is_some_and(|last| last.ends_with("_total"));
        let kind = if openmetrics && kind == "untyped" {
            "unknown"
        } else {
            kind
        };
        let out = &mut self.out;
        let write_name = |out: &mut String| {
            name.iter().for_each(|part| out.push_str(part));
            if strip {
                out.truncate(out.len() - "_total".len());
            }
        };
        out.push_str("# HELP ");
        write_name(out);
        out.push(' ');
        escape_help(out, help);
        out.push_str("\n# TYPE ");
        write_name(out);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
        // OpenMetrics states the unit of a family whose name ends with it.
        if openmetrics {
            let start = out.len();
            write_name(out);
            let unit = ["seconds", "bytes"]
                .into_iter()
                .find(|unit| out[start..].ends_with(&format!("_{unit}")));
            let family = out.split_off(start);
            if let Some(unit) = unit {
                out.push_str("# UNIT ");
                out.push_str(&family);
                out.push(' ');
                out.push_str(unit);
                out.push('\n');
            }
        }
    }

    pub(crate) fn single_unprefixed(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.raw_family(&[name], kind, help);
        self.out.push_str(name);
        if !self.constant.is_empty() {
            self.out.push('{');
            self.out.push_str(self.constant);
            self.out.push('}');
        }
        self.value(value);
    }

    pub(crate) fn sample(&mut self, name: &str, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let out = &mut self.out;
        out.push_str(self.prefix);
        out.push_str(name);
        out.push_str(suffix);
        if !labels.is_empty() || !self.constant.is_empty() {
            out.push('{');
            out.push_str(self.constant);
            if !labels.is_empty() && !self.constant.is_empty() {
                out.push(',');
            }
            write_labels(out, labels);
            out.push('}');
        }
        self.value(value);
    }

    /// A sample whose labels (without braces, already escaped) are `labels`, plus `le`.
    pub(crate) fn sample_body(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &str,
        le: Option<&str>,
        value: f64,
    ) {
        let out = &mut self.out;
        out.push_str(self.prefix);
        out.push_str(name);
        out.push_str(suffix);
        if !labels.is_empty() || le.is_some() || !self.constant.is_empty() {
            out.push('{');
            out.push_str(self.constant);
            if !labels.is_empty() && !self.constant.is_empty() {
                out.push(',');
            }
            out.push_str(labels);
            if let Some(le) = le {
                if !labels.is_empty() || !self.constant.is_empty() {
                    out.push(',');
                }
                out.push_str("le=\"");
                out.push_str(le);
                out.push('"');
            }
            out.push('}');
        }
        self.value(value);
    }

    /// Whether the format is OpenMetrics (which has exemplars).
    pub(crate) fn openmetrics(&self) -> bool {
        self.format == TextFormat::OpenMetrics
    }

    /// Ends the last sample line with an OpenMetrics exemplar: its labels, value and Unix time.
    /// Only for OpenMetrics; the sample line must be the last thing written.
    pub(crate) fn exemplar(&mut self, labels: &[(&str, &str)], value: f64, unix_seconds: f64) {
        debug_assert!(self.openmetrics() && self.out.ends_with('\n'));
        let out = &mut self.out;
        out.pop();
        out.push_str(" # {");
        write_labels(out, labels);
        out.push_str("} ");
        push_float(out, value);
        out.push(' ');
        push_float(out, unix_seconds);
        out.push('\n');
    }

    fn value(&mut self, value: f64) {
        self.out.push(' ');
        push_float(&mut self.out, value);
        self.out.push('\n');
    }
}

/// `name="value",…` with the values escaped.
pub(crate) fn label_body(labels: &[(&str, &str)]) -> String {
    let mut body = String::new();
    write_labels(&mut body, labels);
    body
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
}

/// A sample value as Prometheus reads it: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
pub(crate) fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        out.push_str(itoa::Buffer::new().format(value as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(value));
    }
}

#[cfg(test)]
pub(crate) fn float(value: f64) -> String {
    let mut out = String::new();
    push_float(&mut out, value);
    out
}

/// Label values escape backslash, double quote and line feed.
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes backslash and line feed.
pub(crate) fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Whether `prefix` can start metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*` (or empty).
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    prefix.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    })
}
