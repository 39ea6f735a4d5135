//! [`MetricsLayer`] and which paths it leaves out.

use std::sync::Arc;

use tower_http::classify::MakeClassifier;
use tower_layer::Layer;

use super::classify::HttpOrGrpc;
use super::collector::MetricsCollector;
use super::service::Metrics;
use crate::path::{PathSet, without_trailing_slash};

/// Records every request it wraps into a [`MetricsCollector`]; see the [module docs](crate::metrics).
///
/// By default the paths a [`HealthLayer`](crate::HealthLayer) serves are not counted: exactly
/// those of the layer given the same collector ([`HealthLayer::metrics`]), prefix and custom
/// paths included; without one, `/health` and below and `/metrics`.
///
/// [`HealthLayer::metrics`]: crate::HealthLayer::metrics
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
    /// Shared with every service the layer makes: `layer()` allocates nothing.
    shared: Arc<Shared<M>>,
}

/// What a [`MetricsLayer`] and its services share.
#[derive(Debug, Clone)]
pub(crate) struct Shared<M> {
    pub(crate) collector: MetricsCollector,
    pub(crate) excluded: Excluded,
    pub(crate) make_classifier: M,
}

/// Paths not counted: the health endpoints' (unless turned off) and the application's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Excluded {
    health: bool,
    own: PathSet,
}

impl Default for Excluded {
    fn default() -> Self {
        Self {
            health: true,
            own: PathSet::default(),
        }
    }
}

/// The health endpoints' paths when no `HealthLayer` shared its own: the defaults.
fn default_health_paths() -> &'static PathSet {
    static DEFAULT: std::sync::OnceLock<PathSet> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| PathSet::new(vec!["/metrics".into()], vec!["/health".into()]))
}

impl Excluded {
    pub(crate) fn matches(&self, collector: &MetricsCollector, path: &str) -> bool {
        if self.health {
            let health = collector
                .health_paths()
                .unwrap_or_else(|| default_health_paths());
            if health.matches(path) {
                return true;
            }
        }
        !self.own.is_empty() && self.own.matches(path)
    }
}

fn normalise(path: String) -> String {
    without_trailing_slash(&path).to_owned()
}

impl MetricsLayer {
    /// Records into `collector`, classifying with [`HttpOrGrpc`].
    pub fn new(collector: MetricsCollector) -> Self {
        Self {
            shared: Arc::new(Shared {
                collector,
                excluded: Excluded::default(),
                make_classifier: HttpOrGrpc::new(),
            }),
        }
    }
}

impl<M: Clone> MetricsLayer<M> {
    /// Classifies responses with another tower-http classifier, e.g.
    /// `StatusInRangeAsFailures::new(400..=599).into_make_classifier()`.
    pub fn classifier<M2: MakeClassifier>(self, make_classifier: M2) -> MetricsLayer<M2> {
        MetricsLayer {
            shared: Arc::new(Shared {
                collector: self.shared.collector.clone(),
                excluded: self.shared.excluded.clone(),
                make_classifier,
            }),
        }
    }

    /// Leaves out requests to exactly `path` (with or without a trailing slash).
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.shared)
            .excluded
            .own
            .add_exact(normalise(path.into()));
        self
    }

    /// Leaves out requests to `prefix` and everything below it (`/internal` covers
    /// `/internal/x`, not `/internals`).
    pub fn exclude_prefix(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.shared)
            .excluded
            .own
            .add_subtree(normalise(prefix.into()));
        self
    }

    /// Counts every path, the health endpoints and `/metrics` included.
    pub fn include_all_paths(mut self) -> Self {
        Arc::make_mut(&mut self.shared).excluded = Excluded {
            health: false,
            own: PathSet::default(),
        };
        self
    }

    /// The collector it records into.
    pub fn collector(&self) -> &MetricsCollector {
        &self.shared.collector
    }
}

impl<S, M: Clone> Layer<S> for MetricsLayer<M> {
    type Service = Metrics<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Metrics::new(inner, self.shared.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_match_whole_segments() {
        let collector = MetricsCollector::new();
        let excluded = Excluded::default();
        for path in [
            "/health",
            "/health/",
            "/health/live",
            "/health/ready/",
            "/metrics",
            "/metrics/",
        ] {
            assert!(excluded.matches(&collector, path), "{path}");
        }
        for path in ["/healthz", "/", "/metrics/x", "/metricsx", "/api/health"] {
            assert!(!excluded.matches(&collector, path), "{path}");
        }
    }

    #[test]
    fn a_health_layers_paths_replace_the_defaults() {
        let collector = MetricsCollector::new();
        collector.set_health_paths(PathSet::new(
            vec!["/internal/metrics".into()],
            vec!["/internal/health".into()],
        ));
        let excluded = Excluded::default();
        assert!(excluded.matches(&collector, "/internal/health/ready"));
        assert!(excluded.matches(&collector, "/internal/metrics/"));
        assert!(
            !excluded.matches(&collector, "/health/ready"),
            "an app route now"
        );
        let all = Excluded {
            health: false,
            own: PathSet::default(),
        };
        assert!(!all.matches(&collector, "/internal/health/ready"));
    }
}
