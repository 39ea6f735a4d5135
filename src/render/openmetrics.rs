//! OpenMetrics 1.0 text, and choosing it or the Prometheus text format (0.0.4) from a
//! request's `Accept` header. Both come from the same [`Prometheus`](super::Prometheus)
//! renderer; they differ in a counter family's name (`# TYPE x counter`, samples `x_total`),
//! `unknown` for untyped families, and the closing `# EOF`.

/// The `Content-Type` of OpenMetrics 1.0 text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A text exposition format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextFormat {
    /// The Prometheus text format, version 0.0.4 (what Prometheus has always read).
    #[default]
    Prometheus,
    /// OpenMetrics 1.0 text (what Prometheus asks for first when it scrapes; needed for
    /// exemplars).
    OpenMetrics,
}

impl TextFormat {
    /// The format an `Accept` header asks for: OpenMetrics when it lists
    /// `application/openmetrics-text` with a quality at least that of `text/plain` (and of
    /// `*/*`); the Prometheus text format otherwise, and when there is no header.
    ///
    /// ```
    /// use tower_vitals::render::TextFormat;
    ///
    /// // What Prometheus sends when it scrapes.
    /// let scrape = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(TextFormat::negotiate(Some(scrape)), TextFormat::OpenMetrics);
    /// assert_eq!(TextFormat::negotiate(Some("text/plain")), TextFormat::Prometheus);
    /// assert_eq!(TextFormat::negotiate(None), TextFormat::Prometheus);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Prometheus;
        };
        let openmetrics = super::accept::quality(accept, &["application/openmetrics-text"]);
        let text = super::accept::quality(accept, &["text/plain", "text/*", "*/*"]);
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }

    /// The format's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => super::prometheus::CONTENT_TYPE,
            Self::OpenMetrics => CONTENT_TYPE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualities_decide_and_junk_is_text() {
        let om = TextFormat::OpenMetrics;
        let text = TextFormat::Prometheus;
        for (accept, expected) in [
            ("application/openmetrics-text; version=1.0.0", om),
            ("APPLICATION/OPENMETRICS-TEXT", om),
            ("text/plain;q=0.9, application/openmetrics-text;q=0.5", text),
            ("text/plain;q=0.5, application/openmetrics-text;q=0.9", om),
            ("application/openmetrics-text;q=0", text),
            ("application/openmetrics-text;q=junk", text),
            ("*/*", text),
            ("application/json", text),
            ("", text),
            (",,;;=", text),
        ] {
            assert_eq!(TextFormat::negotiate(Some(accept)), expected, "{accept}");
        }
    }
}
