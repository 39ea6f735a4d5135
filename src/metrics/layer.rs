//! [`MetricsLayer`] and which paths it leaves out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

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
    excluded: Excluded,
    /// Per route id: whether the exclusions leave it out, decided on its first request.
    decisions: Decisions,
    pub(crate) make_classifier: M,
}

impl<M> Shared<M> {
    fn new(collector: MetricsCollector, excluded: Excluded, make_classifier: M) -> Self {
        let decisions = Decisions::new(collector.route_capacity());
        Self {
            collector,
            excluded,
            decisions,
            make_classifier,
        }
    }

    /// The request's route id, or `None` when it is not counted.
    #[inline]
    pub(crate) fn route_of<B>(&self, request: &http::Request<B>) -> Option<u16> {
        #[cfg(feature = "axum")]
        if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
            let route = self.collector.matched_route_id(matched);
            let excluded = match self.decisions.of(route, &self.collector) {
                Some(Some(excluded)) => excluded,
                Some(None) => self.excluded.matches(&self.collector, request.uri().path()),
                None => self.decide(route, matched.as_str(), request.uri().path()),
            };
            return (!excluded).then_some(route);
        }
        let excluded = self.excluded.matches(&self.collector, request.uri().path());
        (!excluded).then_some(super::routes::UNMATCHED)
    }

    /// Decides a route for good where its template allows; else by this request's path.
    #[cold]
    fn decide(&self, route: u16, template: &str, path: &str) -> bool {
        // `other` stands for many templates: its requests are decided by their path.
        if route != super::routes::OTHER_ROUTE {
            let decided = self.excluded.decides_template(&self.collector, template);
            self.decisions.set(
                route,
                decided,
                !self.excluded.health || self.collector.health_paths().is_some(),
            );
        }
        self.excluded.matches(&self.collector, path)
    }
}

/// Per route id, one byte: unknown (0), or a decision and whether it holds for good.
struct Decisions {
    flags: Box<[AtomicU8]>,
}

const INCLUDED: u8 = 1;
const EXCLUDED: u8 = 2;
const BY_PATH: u8 = 3;
/// Decided with the health paths a `HealthLayer` gave the collector (or without health paths):
/// cannot change. Without it, the decision used the default health paths and holds only while
/// no `HealthLayer` has given the collector its own.
const FOR_GOOD: u8 = 4;

impl Decisions {
    fn new(routes: usize) -> Self {
        Self {
            flags: (0..routes).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// `Some(Some(excluded))` when decided for the route, `Some(None)` when each request's
    /// path decides, `None` when not decided yet (or decided with the default health paths,
    /// and a `HealthLayer` has given the collector its own since).
    #[inline]
    fn of(&self, route: u16, collector: &MetricsCollector) -> Option<Option<bool>> {
        let flag = self.flags.get(usize::from(route))?.load(Ordering::Relaxed);
        if flag & FOR_GOOD == 0 && (flag == 0 || collector.health_paths().is_some()) {
            return None;
        }
        Some(match flag & BY_PATH {
            INCLUDED => Some(false),
            EXCLUDED => Some(true),
            _ => None,
        })
    }

    fn set(&self, route: u16, decided: Option<bool>, for_good: bool) {
        let decision = match decided {
            Some(false) => INCLUDED,
            Some(true) => EXCLUDED,
            None => BY_PATH,
        };
        if let Some(flag) = self.flags.get(usize::from(route)) {
            flag.store(
                decision | if for_good { FOR_GOOD } else { 0 },
                Ordering::Relaxed,
            );
        }
    }
}

impl Clone for Decisions {
    /// Undecided: a clone is made to change the exclusions.
    fn clone(&self) -> Self {
        Self::new(self.flags.len())
    }
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions").finish_non_exhaustive()
    }
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
    /// As [`PathSet::decides_template`], over both sets.
    fn decides_template(&self, collector: &MetricsCollector, template: &str) -> Option<bool> {
        let own = if self.own.is_empty() {
            Some(false)
        } else {
            self.own.decides_template(template)
        };
        let health = if self.health {
            collector
                .health_paths()
                .unwrap_or_else(|| default_health_paths())
                .decides_template(template)
        } else {
            Some(false)
        };
        match (health, own) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        }
    }

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
            shared: Arc::new(Shared::new(
                collector,
                Excluded::default(),
                HttpOrGrpc::new(),
            )),
        }
    }
}

impl<M: Clone> MetricsLayer<M> {
    /// Classifies responses with another tower-http classifier, e.g.
    /// `StatusInRangeAsFailures::new(400..=599).into_make_classifier()`.
    pub fn classifier<M2: MakeClassifier>(self, make_classifier: M2) -> MetricsLayer<M2> {
        MetricsLayer {
            shared: Arc::new(Shared::new(
                self.shared.collector.clone(),
                self.shared.excluded.clone(),
                make_classifier,
            )),
        }
    }

    /// Leaves out requests to exactly `path` (with or without a trailing slash).
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        self.excluded_mut().own.add_exact(normalise(path.into()));
        self
    }

    /// Leaves out requests to `prefix` and everything below it (`/internal` covers
    /// `/internal/x`, not `/internals`).
    pub fn exclude_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.excluded_mut()
            .own
            .add_subtree(normalise(prefix.into()));
        self
    }

    /// Counts every path, the health endpoints and `/metrics` included.
    pub fn include_all_paths(mut self) -> Self {
        *self.excluded_mut() = Excluded {
            health: false,
            own: PathSet::default(),
        };
        self
    }

    /// The collector it records into.
    pub fn collector(&self) -> &MetricsCollector {
        &self.shared.collector
    }

    /// The exclusions, to change: what was decided per route is forgotten.
    fn excluded_mut(&mut self) -> &mut Excluded {
        let shared = Arc::make_mut(&mut self.shared);
        shared.decisions = shared.decisions.clone();
        &mut shared.excluded
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
