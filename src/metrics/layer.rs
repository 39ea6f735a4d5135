//! [`MetricsLayer`] and which paths it leaves out.

use std::marker::PhantomData;
use std::sync::Arc;

use tower_http::classify::MakeClassifier;
use tower_layer::Layer;

use super::body::AnyBody;
use super::classify::HttpOrGrpc;
use super::collector::MetricsCollector;
use super::decide::{Decision, Decisions};
use super::service::Metrics;
use crate::error::ConfigError;
use crate::path::{PathSet, normalise as checked_path, under, without_trailing_slash};

/// Records every request it wraps into a [`MetricsCollector`]; see the [module docs](crate::metrics).
/// On an Axum router, [`for_axum`](Self::for_axum) keeps Axum's `Body` type: finished bodies
/// are then handed back without Axum boxing them a second time.
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
pub struct MetricsLayer<M = HttpOrGrpc, O = AnyBody> {
    /// Shared with every service the layer makes: `layer()` allocates nothing.
    shared: Arc<Shared<M>>,
    output: PhantomData<fn() -> O>,
}

/// What a [`MetricsLayer`] and its services share.
#[derive(Debug, Clone)]
pub(crate) struct Shared<M> {
    pub(crate) collector: MetricsCollector,
    excluded: Excluded,
    /// Prefixes whose requests share one route label.
    groups: Vec<Group>,
    /// Per route id: whether the exclusions leave it out and its group, decided on its first
    /// request.
    decisions: Decisions,
    pub(crate) make_classifier: M,
}

impl<M> Shared<M> {
    fn new(collector: MetricsCollector, excluded: Excluded, make_classifier: M) -> Self {
        let decisions = Decisions::new(collector.route_capacity());
        Self {
            collector,
            excluded,
            groups: Vec::new(),
            decisions,
            make_classifier,
        }
    }

    /// The request's route id (its group's, when it is in one), or `None` when it is not
    /// counted.
    #[inline]
    pub(crate) fn route_of<B>(&self, request: &http::Request<B>) -> Option<u16> {
        #[cfg(feature = "axum")]
        if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
            let route = self.collector.matched_route_id(matched);
            let decision = match self.decisions.of(route, &self.collector) {
                Some(decision) => decision,
                None => self.decide(route, matched.as_str()),
            };
            let excluded = match decision.excluded {
                Some(excluded) => excluded,
                None => self.excluded.matches(&self.collector, request.uri().path()),
            };
            return match (excluded, decision.group) {
                (true, _) => None,
                (false, None) => Some(route),
                (false, Some(group)) => Some(self.group_route(group)),
            };
        }
        let path = request.uri().path();
        if self.excluded.matches(&self.collector, path) {
            return None;
        }
        Some(match self.group_of(path) {
            Some(group) => self.group_route(group),
            None => super::routes::UNMATCHED,
        })
    }

    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    /// Decides a route for good where its template allows (stored, unless the route is
    /// `other`, which stands for many templates).
    #[cold]
    fn decide(&self, route: u16, template: &str) -> Decision {
        let decision = Decision {
            excluded: self.excluded.decides_template(&self.collector, template),
            group: self.group_of_template(template),
        };
        if route != super::routes::OTHER_ROUTE {
            let for_good = !self.excluded.health || self.collector.health_paths().is_some();
            self.decisions.set(route, decision, for_good);
        }
        decision
    }

    /// The group a path without a route falls in.
    #[inline]
    fn group_of(&self, path: &str) -> Option<usize> {
        if self.groups.is_empty() {
            return None;
        }
        self.groups
            .iter()
            .position(|group| under(path, &group.prefix))
    }

    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    /// The group of a route template: one whose prefix covers the template's literal head.
    fn group_of_template(&self, template: &str) -> Option<usize> {
        let head = template
            .find(['{', '}', '*', ':'])
            .map_or(template, |end| &template[..end]);
        let head = head
            .strip_suffix('/')
            .filter(|h| !h.is_empty())
            .unwrap_or(head);
        self.groups
            .iter()
            .position(|group| under(head, &group.prefix))
    }

    fn group_route(&self, group: usize) -> u16 {
        self.collector.pinned_route_id(&self.groups[group].label)
    }
}

/// Requests under a path prefix counted under one route label (`/static/*`).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    prefix: String,
    label: Arc<str>,
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
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
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
            output: PhantomData,
        }
    }
}

impl<M: Clone, O> MetricsLayer<M, O> {
    /// Classifies responses with another tower-http classifier, e.g.
    /// `StatusInRangeAsFailures::new(400..=599).into_make_classifier()`.
    pub fn classifier<M2: MakeClassifier>(self, make_classifier: M2) -> MetricsLayer<M2, O> {
        MetricsLayer {
            shared: Arc::new(Shared::new(
                self.shared.collector.clone(),
                self.shared.excluded.clone(),
                make_classifier,
            )),
            output: PhantomData,
        }
    }

    /// For an Axum router (`Router::layer`): responses keep Axum's `Body`, so a body finished
    /// at the response head (an exact size of at most 16 KiB: a `String`, JSON, `Bytes`
    /// answer) is handed back as the app's own — Axum does not box it a second time, and
    /// nothing stands between the server and the body — and only a body that still streams is
    /// wrapped to time its end. [`Setup::around`](crate::Setup::around) uses it.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tower_vitals::metrics::{MetricsCollector, MetricsLayer};
    ///
    /// let collector = MetricsCollector::new();
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hello" }))
    ///     .layer(MetricsLayer::new(collector).for_axum());
    /// # drop(app);
    /// ```
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn for_axum(self) -> MetricsLayer<M, super::body::AxumBody> {
        MetricsLayer {
            shared: self.shared,
            output: PhantomData,
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

    /// Counts every request under `prefix` (and `prefix` itself) under one route label,
    /// `{prefix}/*`: static files, a proxied API, anything whose paths or routes are many. A
    /// request whose Axum route template lies under the prefix joins the group by its template;
    /// one without a route (a fallback, a service under `nest_service`), by its path. At most
    /// 31 groups; under [`routes_only`](super::MetricsCollectorBuilder::routes_only), list the
    /// group's label too.
    ///
    /// ```
    /// use tower_vitals::metrics::{MetricsCollector, MetricsLayer};
    ///
    /// let layer = MetricsLayer::new(MetricsCollector::new()).group_prefix("/static")?;
    /// # drop(layer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn group_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        let prefix = checked_path(prefix, false)?;
        let shared = Arc::make_mut(&mut self.shared);
        shared.groups.retain(|group| group.prefix != prefix);
        if shared.groups.len() >= 31 {
            return Err(ConfigError::InvalidPath {
                path: prefix,
                reason: "at most 31 route groups",
            });
        }
        let label = format!("{prefix}/*").into();
        shared.groups.push(Group { prefix, label });
        shared.decisions = shared.decisions.clone();
        Ok(self)
    }

    /// The exclusions, to change: what was decided per route is forgotten.
    fn excluded_mut(&mut self) -> &mut Excluded {
        let shared = Arc::make_mut(&mut self.shared);
        shared.decisions = shared.decisions.clone();
        &mut shared.excluded
    }
}

impl<S, M: Clone, O> Layer<S> for MetricsLayer<M, O> {
    type Service = Metrics<S, M, O>;

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
    fn groups_take_valid_prefixes_up_to_31() {
        let layer = MetricsLayer::new(MetricsCollector::new());
        for bad in ["static", "/a//b", "/x?y"] {
            let error = layer.clone().group_prefix(bad).unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
        let full = (0..31).fold(layer, |layer, i| {
            layer.group_prefix(&format!("/g{i}")).unwrap()
        });
        assert!(
            full.clone().group_prefix("/g3").is_ok(),
            "the same prefix again replaces it"
        );
        let error = full.group_prefix("/g31").unwrap_err().to_string();
        assert!(error.contains("at most 31"), "{error}");
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
