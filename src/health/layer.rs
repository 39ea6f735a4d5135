//! [`HealthLayer`] and the settings it carries.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use http::StatusCode;
use tower_layer::Layer;

use super::endpoints::{Descriptor, Target, component, group};
use super::group::{Group, HealthGroup};
use super::paths::Paths;
use super::policy::{DetailPolicy, Overrides, Policies, Shown};
use super::service::Health;
use crate::checker::{HealthChecker, Selector};
use crate::config::{HealthConfig, var};
use crate::error::ConfigError;
use crate::fleet::Fleet;
use crate::health_report::HealthStatus;
use crate::info::AppInfo;
use crate::metrics::MetricsCollector;
use crate::path::{Gate, PathSet, normalise, without_trailing_slash};
use crate::reliability::{ReliabilityConfig, Reporter};
use crate::render::{AppendedMetrics, Prometheus};
use crate::vitals::gather::WebhookSource;

/// Adds health endpoints to a service; see the [module docs](crate::health).
///
/// ```
/// use http::StatusCode;
/// use tower_vitals::{HealthChecker, HealthLayer, HealthStatus, Selector};
///
/// let checker = HealthChecker::builder().build().unwrap();
/// let layer = HealthLayer::new(checker)
///     .prefix("/internal")?
///     .ready_path("/readyz")?
///     .readiness(Selector::tagged("ready"))
///     .status_code(HealthStatus::Degraded, StatusCode::SERVICE_UNAVAILABLE);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct HealthLayer {
    checker: HealthChecker,
    pub(crate) settings: Arc<Settings>,
}

/// What the endpoints answer where, shared by every service the layer makes.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) paths: Paths,
    pub(crate) readiness: Selector,
    pub(crate) startup: Selector,
    /// Set once every startup check passed; shared by every service of the layer.
    pub(crate) started: Arc<AtomicBool>,
    codes: [StatusCode; 4],
    pub(crate) metrics: Option<MetricsCollector>,
    /// Who sees details, and components' names and statuses without their details.
    pub(crate) policies: Policies,
    /// Who may read `/metrics`.
    pub(crate) metrics_access: DetailPolicy,
    /// The application's build and runtime information.
    pub(crate) info: Option<Arc<AppInfo>>,
    /// Webhook notifiers whose figures `/metrics` shows.
    pub(crate) webhooks: Vec<WebhookSource>,
    /// The fleet `/health/fleet` shows, and whose figures `/metrics` does.
    pub(crate) fleet: Option<Fleet>,
    /// Health groups, with their full paths.
    pub(crate) groups: Vec<(Group, String)>,
    /// Every path served: most requests for the app are passed on after one test of it.
    gate: Gate,
    pub(crate) prometheus: Prometheus,
    /// Other registries appended to `/metrics`.
    pub(crate) appended: Vec<AppendedMetrics>,
    reliability: ReliabilityConfig,
    /// Made on first use, from the settings as they are by then.
    reporter: OnceLock<Arc<Reporter>>,
}

impl Settings {
    /// The HTTP status for a health status (readiness and the detailed report).
    pub(crate) fn code(&self, status: HealthStatus) -> StatusCode {
        self.codes[status as usize]
    }

    /// The endpoint a request path is for: a table entry, a group, or one component.
    pub(crate) fn route(&self, path: &str) -> Option<(&'static Descriptor, Target)> {
        if !self.gate.may_match(path) {
            return None;
        }
        if let Some(endpoint) = self.paths.route(path) {
            return Some((endpoint, Target::None));
        }
        let trimmed = without_trailing_slash(path);
        if let Some(index) = self.groups.iter().position(|(_, full)| full == trimmed) {
            return Some((&group::ENDPOINT, Target::Group(index)));
        }
        let name = self.paths.component(path)?;
        Some((&component::ENDPOINT, Target::Component(name)))
    }

    /// Every path served, groups included.
    pub(crate) fn all_paths(&self) -> impl Iterator<Item = &str> {
        let groups = self.groups.iter().map(|(_, full)| full.as_str());
        self.paths.all().chain(groups)
    }

    /// What request metrics leave out: the endpoints', the groups' and the components' paths.
    pub(crate) fn path_set(&self) -> PathSet {
        let mut set = self.paths.path_set();
        for (_, full) in &self.groups {
            set.add_exact(full.clone());
        }
        set
    }

    fn refresh_group_paths(&mut self) -> Result<(), ConfigError> {
        let mut groups = std::mem::take(&mut self.groups);
        for (group, full) in &mut groups {
            *full = self.paths.full(&group.relative);
        }
        for (i, (_, full)) in groups.iter().enumerate() {
            let taken = self.paths.all().any(|p| p == full)
                || groups[..i].iter().any(|(_, other)| other == full);
            if taken {
                return Err(ConfigError::DuplicatePath(full.clone()));
            }
        }
        self.groups = groups;
        self.gate = self.path_set().gate();
        Ok(())
    }

    pub(crate) fn reporter(&self, checker: &HealthChecker) -> &Arc<Reporter> {
        self.reporter.get_or_init(|| {
            Arc::new(Reporter::new(
                self.reliability.clone(),
                checker.clone(),
                self.metrics.clone(),
                self.info.clone(),
                &self.webhooks,
                self.fleet.as_ref(),
            ))
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            paths: Paths::default(),
            readiness: Selector::all(),
            startup: Selector::all(),
            started: Arc::new(AtomicBool::new(false)),
            codes: [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::SERVICE_UNAVAILABLE,
            ],
            metrics: None,
            policies: Policies::default(),
            metrics_access: DetailPolicy::Always,
            groups: Vec::new(),
            gate: Paths::default().path_set().gate(),
            info: None,
            webhooks: Vec::new(),
            fleet: None,
            prometheus: Prometheus::default(),
            appended: Vec::new(),
            reliability: ReliabilityConfig::default(),
            reporter: OnceLock::new(),
        }
    }
}

impl HealthLayer {
    /// Serves `checker`'s results at `/health/live`, `/health/ready`, `/health`,
    /// `/health/reliability` and, in Prometheus' format, `/metrics`.
    pub fn new(checker: HealthChecker) -> Self {
        Self {
            checker,
            settings: Arc::new(Settings::default()),
        }
    }

    /// Puts every endpoint under `prefix` (`/internal` makes `/internal/health/live`, …).
    pub fn prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        let mut settings = (*self.settings).clone();
        settings.paths.set_prefix(prefix)?;
        settings.refresh_group_paths()?;
        self.settings = Arc::new(settings);
        Ok(self)
    }

    /// Serves the application's build and runtime information at `/health/info` (unless that
    /// path was set already), in the detailed report and as `vitals_build_info` in `/metrics`.
    ///
    /// ```
    /// use tower_vitals::{HealthChecker, HealthLayer, app_info};
    ///
    /// let checker = HealthChecker::builder().build()?;
    /// let layer = HealthLayer::new(checker).info(app_info!().environment("production"))?;
    /// assert!(layer.paths().any(|path| path == "/health/info"));
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn info(mut self, info: AppInfo) -> Result<Self, ConfigError> {
        if self.settings.paths.relative("info").is_none() {
            self = self.path("info", Some("/health/info"))?;
        }
        Arc::make_mut(&mut self.settings).info = Some(Arc::new(info));
        Ok(self)
    }

    /// Shows the fleet at `/health/fleet` (under the detail policy; if the app took that path,
    /// at the one [`fleet_path`](Self::fleet_path) gives) and its figures on `/metrics`: every
    /// replica as this one last saw it, never waiting on the store.
    pub fn fleet(mut self, fleet: Fleet) -> Self {
        if self.settings.paths.relative("fleet").is_none() {
            // The default path, unless the app took it for something else (an endpoint or a
            // group): then the fleet waits for a path of its own from `fleet_path`.
            let mut settings = (*self.settings).clone();
            let free = settings.paths.set("fleet", Some("/health/fleet")).is_ok()
                && settings.refresh_group_paths().is_ok();
            if free {
                self.settings = Arc::new(settings);
            }
        }
        Arc::make_mut(&mut self.settings).fleet = Some(fleet);
        self
    }

    /// The fleet path (default `/health/fleet` once [`fleet`](Self::fleet) is given).
    pub fn fleet_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("fleet", Some(path))
    }

    /// The info path (default `/health/info` once [`info`](Self::info) is given).
    pub fn info_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("info", Some(path))
    }

    /// The path of the health endpoints' OpenAPI document (feature `openapi`; default
    /// `/health/openapi.json`); see [`openapi`](Self::openapi).
    #[cfg(feature = "openapi")]
    #[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
    pub fn openapi_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("openapi", Some(path))
    }

    /// Serves a [health group](HealthGroup) at its own path, with its own detail policy and
    /// status codes. Its name must be usable as a path segment; its path must be free.
    pub fn group(mut self, group: HealthGroup) -> Result<Self, ConfigError> {
        let mut settings = (*self.settings).clone();
        let relative = match &group.path {
            Some(path) => normalise(path, false)?,
            None => {
                let base = settings.paths.relative("detail").unwrap_or("/health");
                let base = if base == "/" { "" } else { base };
                normalise(&format!("{base}/{}", group.name), false)?
            }
        };
        if group.name.is_empty() || group.name.contains('/') {
            return Err(ConfigError::InvalidPath {
                path: group.name,
                reason: "a group name must be one path segment",
            });
        }
        let stored = Group {
            name: group.name,
            selector: group.selector,
            relative,
            details: group.details,
            codes: group.codes,
        };
        settings.groups.push((stored, String::new()));
        settings.refresh_group_paths()?;
        self.settings = Arc::new(settings);
        Ok(self)
    }

    /// The liveness path (default `/health/live`): 200 while the process serves; runs no checks.
    pub fn live_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("live", Some(path))
    }

    /// The readiness path (default `/health/ready`): the checks the readiness
    /// [`Selector`] picks.
    pub fn ready_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("ready", Some(path))
    }

    /// The detailed report's path (default `/health`): every check.
    pub fn health_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("detail", Some(path))
    }

    /// The reliability report's path (default `/health/reliability`).
    pub fn reliability_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("reliability", Some(path))
    }

    /// Turns the reliability report off.
    pub fn without_reliability(self) -> Self {
        self.path("reliability", None)
            .expect("turning an endpoint off is always valid")
    }

    /// The Prometheus exposition's path (default `/metrics`).
    pub fn prometheus_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("metrics", Some(path))
    }

    /// Turns the Prometheus exposition off (for an app that serves `/metrics` itself).
    pub fn without_prometheus(self) -> Self {
        self.path("metrics", None)
            .expect("turning an endpoint off is always valid")
    }

    /// The prefix of the Prometheus metric names (default `vitals_`; `process_…` families keep
    /// their standard names).
    pub fn prometheus_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        let settings = Arc::make_mut(&mut self.settings);
        settings.prometheus = settings.prometheus.renamed(prefix)?;
        Ok(self)
    }

    /// Names the request histogram as OpenTelemetry's HTTP server semantic conventions do
    /// (`http_server_request_duration_seconds{http_request_method, http_route,
    /// http_response_status_code, url_scheme, error_type}`); see
    /// [`Prometheus::with_opentelemetry_names`]. The crate's own names stay the default, so
    /// dashboards built on them keep working.
    ///
    /// ```
    /// use tower_vitals::{HealthChecker, HealthLayer};
    ///
    /// let checker = HealthChecker::builder().build()?;
    /// let layer = HealthLayer::new(checker).prometheus_opentelemetry_names("http")?;
    /// # drop(layer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn prometheus_opentelemetry_names(mut self, url_scheme: &str) -> Result<Self, ConfigError> {
        let settings = Arc::make_mut(&mut self.settings);
        settings.prometheus = settings
            .prometheus
            .clone()
            .with_opentelemetry_names(url_scheme)?;
        Ok(self)
    }

    /// Labels on every sample of `/metrics` (an appended registry's aside), e.g.
    /// `[("service", "orders")]`; see [`Prometheus::with_labels`] for the rules.
    ///
    /// ```
    /// use tower_vitals::{HealthChecker, HealthLayer};
    ///
    /// let checker = HealthChecker::builder().build()?;
    /// let layer = HealthLayer::new(checker).prometheus_labels([("service", "orders")])?;
    /// # drop(layer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn prometheus_labels<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let settings = Arc::make_mut(&mut self.settings);
        settings.prometheus = settings.prometheus.clone().with_labels(labels)?;
        Ok(self)
    }

    /// Appends another registry's exposition to `/metrics` — the app's own metrics on the same
    /// endpoint, in the format the scrape negotiated. `render` returns its text (Prometheus text
    /// 0.0.4 or OpenMetrics) and is called for each scrape; a family whose name is already
    /// taken (this layer's `vitals_…` and `process_…`, or an earlier source's) is left out, with
    /// a warning logged once.
    ///
    /// With the `metrics` crate's exporter it is `.append_metrics(move || handle.render())`
    /// (`metrics_exporter_prometheus::PrometheusHandle`); with `prometheus-client`, a closure
    /// that encodes the registry. Any function returning exposition text will do:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use tower_vitals::{HealthChecker, HealthLayer};
    ///
    /// let orders = Arc::new(AtomicU64::new(0));
    /// let counted = orders.clone();
    /// let checker = HealthChecker::builder().build()?;
    /// let layer = HealthLayer::new(checker).append_metrics(move || {
    ///     let total = counted.load(Ordering::Relaxed);
    ///     format!("# TYPE shop_orders counter\nshop_orders_total {total}\n")
    /// });
    /// # drop(layer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn append_metrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.settings)
            .appended
            .push(AppendedMetrics::new(render));
        self
    }

    /// Puts the application's OpenTelemetry instruments on `/metrics`: `reader` (registered
    /// with its `SdkMeterProvider`) is read at each scrape and its metrics written in the
    /// format the scrape negotiated, as [`append_metrics`](Self::append_metrics) does (a name
    /// already taken is left out, with one warning).
    ///
    /// ```
    /// use opentelemetry_sdk::metrics::SdkMeterProvider;
    /// use tower_vitals::render::OtelReader;
    /// use tower_vitals::{HealthChecker, HealthLayer};
    ///
    /// let reader = OtelReader::new();
    /// let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    /// opentelemetry::global::set_meter_provider(provider);
    /// let layer = HealthLayer::new(HealthChecker::builder().build()?).otel_metrics(&reader);
    /// # drop(layer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    #[cfg(feature = "opentelemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn otel_metrics(mut self, reader: &crate::render::OtelReader) -> Self {
        Arc::make_mut(&mut self.settings)
            .appended
            .push(reader.appended());
        self
    }

    /// Settings of the reliability report: cache TTL, source timeout, anomaly rules.
    pub fn reliability(mut self, config: ReliabilityConfig) -> Self {
        Arc::make_mut(&mut self.settings).reliability = config;
        self
    }

    /// The paths the layer answers, with the prefix: for
    /// [`MetricsLayer::exclude_path`](crate::MetricsLayer::exclude_path).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.settings.all_paths()
    }

    /// Serves a startup probe at `path` (off by default; Kubernetes' `startupProbe`): 503 until
    /// the [startup checks](Self::startup) have passed once (none unhealthy or unknown), then
    /// 200 for good.
    pub fn startup_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path("startup", Some(path))
    }

    /// Which checks the startup probe waits for (default: all).
    pub fn startup(mut self, selector: Selector) -> Self {
        Arc::make_mut(&mut self.settings).startup = selector;
        self
    }

    /// Applies the path, anomaly-threshold and who-sees-details settings read from the
    /// environment ([`HealthConfig::from_env`](crate::HealthConfig::from_env)); an unusable value
    /// is an error naming its variable. `HEALTH_SHOW_DETAILS` and `HEALTH_SHOW_COMPONENTS`, when
    /// set, replace the policies of [`details`](Self::details) and
    /// [`components`](Self::components) whatever the order of the calls; `when_authorized`
    /// reads the bearer token from the file `HEALTH_DETAILS_TOKEN_FILE` names (a file that
    /// cannot be read is an error).
    pub fn config(mut self, config: &HealthConfig) -> Result<Self, ConfigError> {
        fn env(variable: &str, value: &str) -> impl FnOnce(ConfigError) -> ConfigError {
            let (variable, value) = (variable.to_owned(), value.to_owned());
            move |error| ConfigError::Env {
                variable,
                value,
                reason: error.to_string(),
            }
        }
        if let Some(prefix) = &config.prefix {
            self = self.prefix(prefix).map_err(env(var::PATH_PREFIX, prefix))?;
        }
        let required = [
            (var::LIVE_PATH, &config.live_path, "live"),
            (var::READY_PATH, &config.ready_path, "ready"),
            (var::DETAIL_PATH, &config.detail_path, "detail"),
        ];
        for (variable, path, endpoint) in required {
            if let Some(path) = path {
                self = self
                    .path(endpoint, Some(path))
                    .map_err(env(variable, path))?;
            }
        }
        let optional = [
            (
                var::RELIABILITY_PATH,
                &config.reliability_path,
                "reliability",
            ),
            (var::METRICS_PATH, &config.metrics_path, "metrics"),
            (var::STARTUP_PATH, &config.startup_path, "startup"),
        ];
        for (variable, path, endpoint) in optional {
            if let Some(path) = path {
                let shown = path.as_deref().unwrap_or("");
                self = self
                    .path(endpoint, path.as_deref())
                    .map_err(env(variable, shown))?;
            }
        }
        let overrides = Overrides::read(config)?;
        Arc::make_mut(&mut self.settings).policies.start(overrides);
        let mut reliability = self.settings.reliability.clone();
        for (rule, threshold) in &config.anomaly_thresholds {
            let variable = var::anomaly_threshold(rule);
            reliability = reliability
                .threshold(rule, *threshold)
                .map_err(env(&variable, &threshold.to_string()))?;
        }
        Ok(self.reliability(reliability))
    }

    /// Who sees component details and the reliability report (default
    /// [`DetailPolicy::Never`]: everyone else gets the bare status). `HEALTH_SHOW_DETAILS`
    /// ([`config`](Self::config), and at run time through [`Setup`](crate::Setup)'s
    /// `HEALTH_CONFIG_FILE`) replaces it while set.
    pub fn details(mut self, policy: DetailPolicy) -> Self {
        Arc::make_mut(&mut self.settings).policies.details = policy;
        self
    }

    /// Who the settings show details to, to change while the layer serves.
    pub(crate) fn shown(&self) -> Shown {
        self.settings.policies.shown()
    }

    /// Who is shown components' names and statuses — but no messages, metadata or figures —
    /// in `/health` and `/health/ready?verbose` (Spring's `show-components`; default
    /// [`DetailPolicy::Never`]). Clients the [detail policy](Self::details) allows see
    /// everything anyway.
    pub fn components(mut self, policy: DetailPolicy) -> Self {
        Arc::make_mut(&mut self.settings).policies.components = policy;
        self
    }

    /// Who may read `/metrics`; others get 401 with `WWW-Authenticate: Bearer`. The default is
    /// [`DetailPolicy::Always`], as for every Prometheus exporter: the exposition shows
    /// components' names and states and request figures, never messages or metadata. Where the
    /// port is reachable from outside the cluster, require a token — Prometheus sends it with
    /// `authorization: { credentials_file: … }` in the scrape config:
    ///
    /// ```
    /// use tower_vitals::health::DetailPolicy;
    /// use tower_vitals::{HealthChecker, HealthLayer};
    ///
    /// let checker = HealthChecker::builder().build()?;
    /// let layer = HealthLayer::new(checker)
    ///     .metrics_access(DetailPolicy::bearer_token("scrape-token-from-a-secret")?);
    /// # drop(layer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn metrics_access(mut self, policy: DetailPolicy) -> Self {
        Arc::make_mut(&mut self.settings).metrics_access = policy;
        self
    }

    /// Which checks gate readiness (default: all).
    pub fn readiness(mut self, selector: Selector) -> Self {
        Arc::make_mut(&mut self.settings).readiness = selector;
        self
    }

    /// The HTTP status answered for `status` by readiness and the detailed report (defaults:
    /// healthy 200, degraded 200, unknown 503, unhealthy 503).
    pub fn status_code(mut self, status: HealthStatus, code: StatusCode) -> Self {
        Arc::make_mut(&mut self.settings).codes[status as usize] = code;
        self
    }

    /// Adds `performance` (request rate, error rate, avg/p95/p99 latency over the window,
    /// in-flight) and `cache` sections from `collector` to the detailed report, and its
    /// request families to `/metrics`. A [`MetricsLayer`](crate::MetricsLayer) on the same
    /// collector then leaves out exactly the paths this layer serves, prefix included.
    pub fn metrics(mut self, collector: MetricsCollector) -> Self {
        Arc::make_mut(&mut self.settings).metrics = Some(collector);
        self
    }

    /// Shows a webhook notifier's figures on `/metrics`: `vitals_webhook_events_total` by
    /// outcome (`delivered`, `dropped`), `vitals_webhook_batches_total` (`delivered`,
    /// `failed`), `vitals_webhook_requests_total` (retries included) and the queue's
    /// `vitals_webhook_queue_depth` and `vitals_webhook_queue_capacity`, each labelled
    /// `receiver` with the receiver's host only (a Slack or Teams webhook's path is its secret).
    ///
    /// ```
    /// use tower_vitals::{HealthChecker, HealthLayer, WebhookNotifier};
    ///
    /// let pager = WebhookNotifier::builder("http://alerts.internal:8080/hooks/relay").build()?;
    /// let checker = HealthChecker::builder()
    ///     .check("db", || async {})
    ///     .on_change(pager.listener())
    ///     .build()?;
    /// let layer = HealthLayer::new(checker).webhook(&pager);
    /// # drop(layer);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    #[cfg(feature = "http-client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
    pub fn webhook(mut self, notifier: &crate::webhook::WebhookNotifier) -> Self {
        Arc::make_mut(&mut self.settings)
            .webhooks
            .push(WebhookSource::of(notifier));
        self
    }

    /// The checker the endpoints answer from.
    pub fn checker(&self) -> &HealthChecker {
        &self.checker
    }

    fn path(mut self, endpoint: &str, path: Option<&str>) -> Result<Self, ConfigError> {
        let mut settings = (*self.settings).clone();
        settings.paths.set(endpoint, path)?;
        settings.refresh_group_paths()?;
        self.settings = Arc::new(settings);
        Ok(self)
    }
}

impl<S> Layer<S> for HealthLayer {
    type Service = Health<S>;

    fn layer(&self, inner: S) -> Self::Service {
        if let Some(metrics) = &self.settings.metrics {
            // The MetricsLayer on the same collector leaves these paths out.
            if metrics.health_paths().is_none() {
                metrics.set_health_paths(self.settings.path_set());
            }
        }
        Health::new(inner, self.checker.clone(), self.settings.clone())
    }
}
