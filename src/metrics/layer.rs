//! [`MetricsLayer`] and which paths it leaves out.

use std::sync::Arc;

use tower_http::classify::MakeClassifier;
use tower_layer::Layer;

use super::classify::HttpOrGrpc;
use super::collector::MetricsCollector;
use super::service::Metrics;
use crate::path::{under, without_trailing_slash};

/// Records every request it wraps into a [`MetricsCollector`]; see the [module docs](crate::metrics).
///
/// By default the health endpoints (`/health` and below) and `/metrics` are not counted.
///
/// ```
/// use tower_vitals::metrics::{MetricsCollector, MetricsLayer};
///
/// let collector = MetricsCollector::new();
/// let layer = MetricsLayer::new(collector.clone())
///     .exclude_prefix("/internal")
///     .exclude_path("/favicon.ico");
/// # drop(layer);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsLayer<M = HttpOrGrpc> {
    collector: MetricsCollector,
    excluded: Arc<Excluded>,
    make_classifier: M,
}

/// Paths not counted: exact paths (a trailing slash aside) and whole subtrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Excluded {
    paths: Vec<String>,
    prefixes: Vec<String>,
}

impl Default for Excluded {
    fn default() -> Self {
        Self {
            paths: vec!["/metrics".into()],
            prefixes: vec!["/health".into()],
        }
    }
}

impl Excluded {
    pub(crate) fn matches(&self, path: &str) -> bool {
        let trimmed = without_trailing_slash(path);
        self.paths.iter().any(|excluded| excluded == trimmed)
            || self.prefixes.iter().any(|prefix| under(path, prefix))
    }
}

fn normalise(path: String) -> String {
    without_trailing_slash(&path).to_owned()
}

impl MetricsLayer {
    /// Records into `collector`, classifying with [`HttpOrGrpc`].
    pub fn new(collector: MetricsCollector) -> Self {
        Self {
            collector,
            excluded: Arc::new(Excluded::default()),
            make_classifier: HttpOrGrpc::new(),
        }
    }
}

impl<M> MetricsLayer<M> {
    /// Classifies responses with another tower-http classifier, e.g.
    /// `StatusInRangeAsFailures::new(400..=599).into_make_classifier()`.
    pub fn classifier<M2: MakeClassifier>(self, make_classifier: M2) -> MetricsLayer<M2> {
        MetricsLayer {
            collector: self.collector,
            excluded: self.excluded,
            make_classifier,
        }
    }

    /// Leaves out requests to exactly `path` (with or without a trailing slash).
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.excluded)
            .paths
            .push(normalise(path.into()));
        self
    }

    /// Leaves out requests to `prefix` and everything below it (`/internal` covers
    /// `/internal/x`, not `/internals`).
    pub fn exclude_prefix(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.excluded)
            .prefixes
            .push(normalise(prefix.into()));
        self
    }

    /// Counts every path, the health endpoints and `/metrics` included.
    pub fn include_all_paths(mut self) -> Self {
        let excluded = Arc::make_mut(&mut self.excluded);
        excluded.paths.clear();
        excluded.prefixes.clear();
        self
    }

    /// The collector it records into.
    pub fn collector(&self) -> &MetricsCollector {
        &self.collector
    }
}

impl<S, M: Clone> Layer<S> for MetricsLayer<M> {
    type Service = Metrics<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Metrics::new(
            inner,
            self.collector.clone(),
            (*self.excluded).clone(),
            self.make_classifier.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_match_whole_segments() {
        let excluded = Excluded::default();
        for path in [
            "/health",
            "/health/",
            "/health/live",
            "/health/ready/",
            "/metrics",
            "/metrics/",
        ] {
            assert!(excluded.matches(path), "{path}");
        }
        for path in ["/healthz", "/", "/metrics/x", "/metricsx", "/api/health"] {
            assert!(!excluded.matches(path), "{path}");
        }
    }
}
