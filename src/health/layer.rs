//! [`HealthLayer`] and the settings it carries.

use std::sync::Arc;

use http::StatusCode;
use tower_layer::Layer;

use super::paths::{Endpoint, Paths};
use super::service::Health;
use crate::metrics::MetricsCollector;
use crate::{ConfigError, HealthChecker, HealthStatus, Selector};

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
    settings: Arc<Settings>,
}

/// What the endpoints answer where, shared by every service the layer makes.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) paths: Paths,
    pub(crate) readiness: Selector,
    codes: [StatusCode; 3],
    pub(crate) metrics: Option<MetricsCollector>,
}

impl Settings {
    /// The HTTP status for a health status (readiness and the detailed report).
    pub(crate) fn code(&self, status: HealthStatus) -> StatusCode {
        self.codes[status as usize]
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            paths: Paths::default(),
            readiness: Selector::all(),
            codes: [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::SERVICE_UNAVAILABLE,
            ],
            metrics: None,
        }
    }
}

impl HealthLayer {
    /// Serves `checker`'s results at `/health/live`, `/health/ready` and `/health`.
    pub fn new(checker: HealthChecker) -> Self {
        Self {
            checker,
            settings: Arc::new(Settings::default()),
        }
    }

    /// Puts every endpoint under `prefix` (`/internal` makes `/internal/health/live`, …).
    pub fn prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        Arc::make_mut(&mut self.settings).paths.set_prefix(prefix)?;
        Ok(self)
    }

    /// The liveness path (default `/health/live`): 200 while the process serves; runs no checks.
    pub fn live_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path(Endpoint::Live, path)
    }

    /// The readiness path (default `/health/ready`): the checks the readiness
    /// [`Selector`] picks.
    pub fn ready_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path(Endpoint::Ready, path)
    }

    /// The detailed report's path (default `/health`): every check.
    pub fn health_path(self, path: &str) -> Result<Self, ConfigError> {
        self.path(Endpoint::Detail, path)
    }

    /// Which checks gate readiness (default: all).
    pub fn readiness(mut self, selector: Selector) -> Self {
        Arc::make_mut(&mut self.settings).readiness = selector;
        self
    }

    /// The HTTP status answered for `status` by readiness and the detailed report (defaults:
    /// healthy 200, degraded 200, unhealthy 503).
    pub fn status_code(mut self, status: HealthStatus, code: StatusCode) -> Self {
        Arc::make_mut(&mut self.settings).codes[status as usize] = code;
        self
    }

    /// Adds `performance` (request rate, error rate, avg/p95/p99 latency over the window,
    /// in-flight) and `cache` sections from `collector` to the detailed report.
    pub fn metrics(mut self, collector: MetricsCollector) -> Self {
        Arc::make_mut(&mut self.settings).metrics = Some(collector);
        self
    }

    /// The checker the endpoints answer from.
    pub fn checker(&self) -> &HealthChecker {
        &self.checker
    }

    fn path(mut self, endpoint: Endpoint, path: &str) -> Result<Self, ConfigError> {
        Arc::make_mut(&mut self.settings)
            .paths
            .set(endpoint, path)?;
        Ok(self)
    }
}

impl<S> Layer<S> for HealthLayer {
    type Service = Health<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Health::new(inner, self.checker.clone(), self.settings.clone())
    }
}
