//! [`GrpcHealth`]: tonic-health's `grpc.health.v1` service fed by the checker (feature `tonic`).

use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::checker::{HealthChecker, Selector};
use crate::error::ConfigError;
use crate::health_report::HealthStatus;
use crate::validate;

/// Mirrors the checker into a tonic-health [`HealthReporter`]: the overall service `""` from the
/// readiness checks, and each named gRPC service from its own checks. A service is `SERVING`
/// while its checks are healthy or degraded, `NOT_SERVING` when one is unhealthy, `UNKNOWN`
/// while one has no result yet, and every service is `NOT_SERVING` while the checker is marked
/// not ready (from the first moment of a [`Drain`](crate::Drain)) or a
/// [warm-up gate](HealthChecker::warm_up) is pending.
/// Updates follow status changes at once and are refreshed every interval (default 1 s).
///
/// ```no_run
/// use tower_vitals::{GrpcHealth, HealthChecker, Selector};
///
/// # #[tokio::main] async fn main() {
/// let checker = HealthChecker::builder().check("db", || async {}).build().unwrap();
/// let (reporter, health_service) = tonic_health::server::health_reporter();
/// GrpcHealth::new(checker, reporter)
///     .service("shop.Orders", Selector::tagged("orders"))
///     .spawn();
/// // Server::builder().add_service(health_service) …
/// # drop(health_service); }
/// ```
#[derive(Debug)]
#[must_use]
pub struct GrpcHealth {
    checker: HealthChecker,
    reporter: HealthReporter,
    services: Vec<(String, Selector)>,
    interval: Duration,
}

impl GrpcHealth {
    /// Feeds `reporter` from `checker`; the overall service `""` follows every check.
    pub fn new(checker: HealthChecker, reporter: HealthReporter) -> Self {
        Self {
            checker,
            reporter,
            services: vec![(String::new(), Selector::all())],
            interval: Duration::from_secs(1),
        }
    }

    /// Which checks the overall service `""` follows (default: all).
    pub fn overall(mut self, selector: Selector) -> Self {
        self.services[0].1 = selector;
        self
    }

    /// Reports the gRPC service `name` (e.g. `"shop.Orders"`) from the checks `selector` picks.
    pub fn service(mut self, name: impl Into<String>, selector: Selector) -> Self {
        self.services.push((name.into(), selector));
        self
    }

    /// How often statuses are refreshed besides on changes (default 1 s; 10 ms to 1 h).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use tower_vitals::{GrpcHealth, HealthChecker};
    ///
    /// let checker = HealthChecker::builder().build().unwrap();
    /// let (reporter, _service) = tonic_health::server::health_reporter();
    /// let error = GrpcHealth::new(checker, reporter).interval(Duration::ZERO).unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "gRPC health refresh interval of 0 ms is out of range (10 ms to 1 h)"
    /// );
    /// # }
    /// ```
    pub fn interval(mut self, interval: Duration) -> Result<Self, ConfigError> {
        let allowed = (
            Duration::from_millis(10)..=Duration::from_secs(3600),
            "10 ms to 1 h",
        );
        self.interval = validate::duration("gRPC health refresh interval", interval, allowed)?;
        Ok(self)
    }

    /// Starts mirroring on the current Tokio runtime; the task runs until aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut shown: Vec<Option<ServingStatus>> = vec![None; self.services.len()];
        loop {
            for ((name, selector), shown) in self.services.iter().zip(&mut shown) {
                let status = self.serving(selector).await;
                if *shown != Some(status) {
                    self.reporter.set_service_status(name, status).await;
                    tracing::debug!(service = %name, %status, "gRPC health status set");
                    *shown = Some(status);
                }
            }
            tokio::select! {
                () = self.checker.changed() => {}
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    async fn serving(&self, selector: &Selector) -> ServingStatus {
        if !self.checker.accepting_traffic() {
            return ServingStatus::NotServing;
        }
        let status = match self.checker.cached_status(selector) {
            Some(status) => status,
            None => self.checker.report_for(selector).await.status,
        };
        match status {
            HealthStatus::Healthy | HealthStatus::Degraded => ServingStatus::Serving,
            HealthStatus::Unknown => ServingStatus::Unknown,
            HealthStatus::Unhealthy => ServingStatus::NotServing,
        }
    }
}
