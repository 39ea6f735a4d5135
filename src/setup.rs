//! [`Setup`]: the one way to wire an app — the checker, the request collector, both layers and
//! the drain, built from one configuration.

use std::future::Future;

use crate::checker::{Check, HealthCheck, HealthChecker, HealthCheckerBuilder};
use crate::config::HealthConfig;
use crate::drain::{Drain, Stopped};
use crate::error::ConfigError;
use crate::fleet::Fleet;
use crate::health::{DetailPolicy, HealthLayer};
use crate::info::AppInfo;
use crate::metrics::{MetricsCollector, MetricsLayer};

/// A step that adjusts the health layer, kept until [`SetupBuilder::build`].
type LayerStep = Box<dyn FnOnce(HealthLayer) -> Result<HealthLayer, ConfigError> + Send>;

/// Everything an app needs, made from one configuration: a [`HealthChecker`] with the app's
/// checks, a [`MetricsCollector`] that a [`MetricsLayer`] feeds with every request, a
/// [`HealthLayer`] answering the probes, the report and `/metrics`, and a [`Drain`] for
/// SIGTERM — each set from the same [`HealthConfig`] (the `HEALTH_*` variables with
/// [`from_env`](Self::from_env)). Wrap the app once with [`around`](Self::around) (Axum) or
/// [`layer`](Self::layer) (any Tower service: Tonic, Hyper) and serve it under
/// [`run`](Self::run).
///
/// Two variables add parts: `HEALTH_WEBHOOK_URL` a [`WebhookNotifier`](crate::WebhookNotifier)
/// posting every status change (feature `http-client`; its figures on `/metrics`), and
/// `HEALTH_FLEET_REDIS_URL` the [fleet](crate::fleet) (feature `redis`), which then also posts a
/// shared outage's changes once for all replicas.
///
/// The parts stay reachable ([`checker`](Self::checker), [`metrics`](Self::metrics),
/// [`drain`](Self::drain)) and every setting of theirs through [`SetupBuilder::checker`] and
/// [`SetupBuilder::health`]; wiring them by hand is the advanced path — a checker shared by two
/// servers, a layer on one router only:
///
/// ```no_run
/// use axum::Router;
/// use tower_vitals::{Drain, HealthChecker, HealthConfig, HealthLayer, MetricsCollector, MetricsLayer};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = HealthConfig::from_env()?;
/// let checker = HealthChecker::builder().check("db", || async {}).config(&config).build()?;
/// let metrics = MetricsCollector::new();
/// let health = HealthLayer::new(checker.clone()).metrics(metrics.clone()).config(&config)?;
/// let app = health.around(Router::new().layer(MetricsLayer::new(metrics.clone()).for_axum()));
/// let drain = Drain::builder(checker).metrics(metrics).config(&config).build()?;
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// let server = axum::serve(listener, app.into_make_service())
///     .with_graceful_shutdown(drain.shutdown_signal());
/// drain.run(server.into_future()).await??;
/// # Ok(())
/// # }
/// ```
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tower_vitals::{Check, Setup};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let vitals = Setup::from_env()?
///     .register(Check::new("database", || async {
///         tokio::net::TcpStream::connect("db:5432").await.map(drop)
///     }))
///     .build()?;
/// let app = vitals.around(Router::new().route("/", get(|| async { "hello" })));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// let server = axum::serve(listener, app.into_make_service())
///     .with_graceful_shutdown(vitals.shutdown_signal());
/// vitals.run(server.into_future()).await??;
/// # Ok(()) }
/// ```
///
/// A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub struct Setup {
    checker: HealthChecker,
    metrics: MetricsCollector,
    health: HealthLayer,
    drain: Drain,
    fleet: Option<Fleet>,
}

/// The checks and settings of a [`Setup`], checked by [`build`](Self::build).
#[must_use]
pub struct SetupBuilder {
    config: HealthConfig,
    checker: HealthCheckerBuilder,
    steps: Vec<LayerStep>,
    info: Option<AppInfo>,
}

impl std::fmt::Debug for SetupBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupBuilder")
            .field("config", &self.config)
            .field("checker", &self.checker)
            .field("layer_steps", &self.steps.len())
            .field("info", &self.info)
            .finish()
    }
}

impl Setup {
    /// A builder with the defaults of every part (no environment read).
    pub fn builder() -> SetupBuilder {
        SetupBuilder {
            config: HealthConfig::default(),
            checker: HealthChecker::builder(),
            steps: Vec::new(),
            info: None,
        }
    }

    /// A builder with the settings of the `HEALTH_*` environment variables
    /// ([`HealthConfig::from_env`]); a variable with a bad value is an error naming it. Its
    /// warnings (allowed but doubtful values) are logged once at [`build`](SetupBuilder::build).
    pub fn from_env() -> Result<SetupBuilder, ConfigError> {
        Ok(Self::builder().config(HealthConfig::from_env()?))
    }

    /// The checker: for [`mark_broken`](HealthChecker::mark_broken), reports of your own, a
    /// `GrpcHealth`.
    pub fn checker(&self) -> &HealthChecker {
        &self.checker
    }

    /// The request figures [`layer`](Self::layer) and [`around`](Self::around) record into.
    pub fn metrics(&self) -> &MetricsCollector {
        &self.metrics
    }

    /// The drain [`run`](Self::run) and [`shutdown_signal`](Self::shutdown_signal) use.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// The fleet, when `HEALTH_FLEET_REDIS_URL` named its store (feature `redis`): shown at
    /// `/health/fleet` and on `/metrics`.
    pub fn fleet(&self) -> Option<&Fleet> {
        self.fleet.as_ref()
    }

    /// The health layer as built, to place yourself.
    pub fn health_layer(&self) -> HealthLayer {
        self.health.clone()
    }

    /// A layer timing requests into [`metrics`](Self::metrics), to place yourself.
    pub fn metrics_layer(&self) -> MetricsLayer {
        MetricsLayer::new(self.metrics.clone())
    }

    /// Both layers for any Tower service (Tonic's `Server::builder().layer(…)`, a Hyper
    /// service): the health layer outside, answering its paths, and the metrics layer inside,
    /// timing what reaches the app.
    pub fn layer(&self) -> tower_layer::Stack<MetricsLayer, HealthLayer> {
        tower_layer::Stack::new(self.metrics_layer(), self.health_layer())
    }

    /// An Axum router wrapped once: the metrics layer on its routes (labelled with the matched
    /// route) and the health layer once around it all, so probes never reach the router.
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn around(&self, router: axum::Router) -> crate::health::AroundRouter {
        self.health
            .clone()
            .around(router.layer(self.metrics_layer().for_axum()))
    }

    /// Resolves at the first SIGTERM or Ctrl-C, once the drain delay has passed: for the
    /// server's graceful shutdown ([`Drain::shutdown_signal`]).
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        self.drain.shutdown_signal()
    }

    /// Runs `server` until it ends, draining on SIGTERM or Ctrl-C ([`Drain::run`]): readiness
    /// 503 at once, requests served for the delay, then the server's graceful shutdown within
    /// the budget; a second signal, or the budget spent, ends it with [`Stopped`].
    pub async fn run<F: Future>(&self, server: F) -> Result<F::Output, Stopped> {
        if let Some(fleet) = &self.fleet {
            fleet.spawn();
        }
        self.drain.run(server).await
    }
}

impl SetupBuilder {
    /// The settings every part takes from (replacing those of [`Setup::from_env`]).
    pub fn config(mut self, config: HealthConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers a check with its own settings ([`HealthCheckerBuilder::register`]).
    pub fn register(mut self, check: Check) -> Self {
        self.checker = self.checker.register(check);
        self
    }

    /// Registers `check` as `name` with the defaults ([`HealthCheckerBuilder::check`]).
    pub fn check(mut self, name: impl Into<String>, check: impl HealthCheck) -> Self {
        self.checker = self.checker.check(name, check);
        self
    }

    /// Any other setting of the checker (listeners, background refresh, groups, startup
    /// checks…); the configuration is applied over it at [`build`](Self::build).
    pub fn checker(
        mut self,
        settings: impl FnOnce(HealthCheckerBuilder) -> HealthCheckerBuilder,
    ) -> Self {
        self.checker = settings(self.checker);
        self
    }

    /// Who sees the detailed report and the other detail endpoints (default: nobody,
    /// [`DetailPolicy::Never`]); `HEALTH_SHOW_DETAILS`, in the environment or the settings
    /// file, replaces it while set.
    pub fn details(self, policy: DetailPolicy) -> Self {
        self.health(move |layer| Ok(layer.details(policy)))
    }

    /// The application's name, version and build (`tower_vitals::app_info!()`), on
    /// `/health/info`, in the report and as `vitals_build_info` — with `HEALTH_GIT_COMMIT`,
    /// `HEALTH_BUILD_TIME` and `HEALTH_ENVIRONMENT` from the configuration.
    pub fn info(mut self, info: AppInfo) -> Self {
        // Completed from the configuration in force at build, whatever the order of the calls.
        self.info = Some(info);
        self
    }

    /// Any other setting of the health layer (paths, readiness selector, `/metrics` access,
    /// appended metrics…), applied after the configuration's paths.
    pub fn health(
        mut self,
        settings: impl FnOnce(HealthLayer) -> Result<HealthLayer, ConfigError> + Send + 'static,
    ) -> Self {
        self.steps.push(Box::new(settings));
        self
    }

    /// Builds every part: the checker, the collector, the health layer and the drain, each
    /// from the configuration. The first invalid setting is the error.
    pub fn build(self) -> Result<Setup, ConfigError> {
        for warning in self.config.warnings() {
            tracing::warn!(warning = %warning, "health configuration");
        }
        let webhook = webhook(&self.config)?;
        let mut checker = self.checker.config(&self.config);
        if let Some(webhook) = &webhook {
            checker = webhook.listen(checker);
        }
        let checker = checker.build()?;
        let reload = match &self.config.config_file {
            Some(path) => {
                // Read now: a file that does not validate fails the build, as a bad variable does.
                let reload = crate::reload::Reload::new(checker.clone(), &self.config, path);
                let found = reload.apply_now()?;
                Some((reload, found))
            }
            None => None,
        };
        let metrics = MetricsCollector::new();
        let mut health = HealthLayer::new(checker.clone())
            .metrics(metrics.clone())
            .config(&self.config)?;
        if let Some(webhook) = &webhook {
            health = webhook.show(health);
        }
        let info = self.info.map(|info| info.config(&self.config));
        let fleet = match self.config.fleet_redis_url() {
            Some(url) => {
                let parts = (&checker, &metrics, info.as_ref(), webhook.as_ref());
                Some(fleet(&self.config, url, parts)?)
            }
            None => None,
        };
        if let Some(fleet) = &fleet {
            health = health.fleet(fleet.clone());
        }
        if let Some(info) = info {
            health = health.info(info)?;
        }
        for step in self.steps {
            health = step(health)?;
        }
        let drain = Drain::builder(checker.clone())
            .metrics(metrics.clone())
            .config(&self.config)
            .build()?;
        if let Some((reload, found)) = reload {
            reload.spawn(health.shown(), found);
        }
        Ok(Setup {
            checker,
            metrics,
            health,
            drain,
            fleet,
        })
    }
}

/// What the fleet is made with besides its store.
type FleetParts<'a> = (
    &'a HealthChecker,
    &'a MetricsCollector,
    Option<&'a AppInfo>,
    Option<&'a Webhook>,
);

/// The notifier `HEALTH_WEBHOOK_URL` names (feature `http-client`).
#[cfg(feature = "http-client")]
struct Webhook(crate::webhook::WebhookNotifier);

#[cfg(not(feature = "http-client"))]
enum Webhook {}

#[cfg(feature = "http-client")]
fn webhook(config: &HealthConfig) -> Result<Option<Webhook>, ConfigError> {
    config
        .webhook_url()
        .map(|url| {
            Ok(Webhook(
                crate::webhook::WebhookNotifier::builder(url).build()?,
            ))
        })
        .transpose()
}

#[cfg(not(feature = "http-client"))]
fn webhook(config: &HealthConfig) -> Result<Option<Webhook>, ConfigError> {
    match config.webhook_url() {
        None => Ok(None),
        Some(_) => Err(ConfigError::Env {
            variable: crate::config::var::WEBHOOK_URL.to_owned(),
            value: "***".to_owned(),
            reason: "a webhook needs the `http-client` feature".to_owned(),
        }),
    }
}

#[cfg(feature = "http-client")]
impl Webhook {
    /// The checker's changes go to the notifier.
    fn listen(&self, checker: HealthCheckerBuilder) -> HealthCheckerBuilder {
        checker.on_change(self.0.listener())
    }

    /// Its figures on `/metrics`.
    fn show(&self, health: HealthLayer) -> HealthLayer {
        health.webhook(&self.0)
    }

    /// A shared outage's changes posted once for the fleet.
    #[cfg(feature = "redis")]
    fn fleet(&self, builder: crate::fleet::FleetBuilder) -> crate::fleet::FleetBuilder {
        builder.webhook(&self.0)
    }
}

#[cfg(not(feature = "http-client"))]
impl Webhook {
    fn listen(&self, _: HealthCheckerBuilder) -> HealthCheckerBuilder {
        match *self {}
    }

    fn show(&self, _: HealthLayer) -> HealthLayer {
        match *self {}
    }

    #[cfg(feature = "redis")]
    fn fleet(&self, _: crate::fleet::FleetBuilder) -> crate::fleet::FleetBuilder {
        match *self {}
    }
}

/// The fleet `HEALTH_FLEET_REDIS_URL` names, publishing from now on when built on a runtime
/// (else from [`Setup::run`]).
#[cfg(feature = "redis")]
fn fleet(
    config: &HealthConfig,
    url: &str,
    (checker, metrics, info, webhook): FleetParts<'_>,
) -> Result<Fleet, ConfigError> {
    let mut store = crate::fleet::RedisFleetStore::new(url)?;
    if let Some(prefix) = &config.fleet_prefix {
        store = store.prefix(prefix)?;
    }
    let mut builder = Fleet::builder(checker.clone(), store).metrics(metrics.clone());
    if let Some(info) = info {
        builder = builder.info(info);
    }
    if let Some(webhook) = webhook {
        builder = webhook.fleet(builder);
    }
    let fleet = builder.config(config).build()?;
    fleet.spawn();
    Ok(fleet)
}

#[cfg(not(feature = "redis"))]
fn fleet(_: &HealthConfig, _: &str, _: FleetParts<'_>) -> Result<Fleet, ConfigError> {
    Err(ConfigError::Env {
        variable: crate::config::var::FLEET_REDIS_URL.to_owned(),
        value: "***".to_owned(),
        reason: "a Redis store needs the `redis` feature".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_info_is_completed_from_the_configuration_given_after_it() {
        let mut config = HealthConfig::default();
        config.environment = Some("staging".to_owned());
        let setup = Setup::builder()
            .info(AppInfo::new("shop", "1.0.0"))
            .config(config)
            .build()
            .unwrap();
        assert!(format!("{:?}", setup.health_layer()).contains("staging"));
    }

    #[test]
    fn a_layer_step_that_fails_fails_the_build() {
        let error = Setup::builder()
            .health(|layer| layer.prefix("no-slash"))
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("no-slash"), "{error}");
    }
}
