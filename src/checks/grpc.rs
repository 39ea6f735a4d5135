//! [`GrpcCheck`]: does a gRPC dependency answer `grpc.health.v1.Health/Check` with `SERVING`
//! (feature `tonic`)?

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::{ConfigError, causes};
use crate::health_report::CheckResult;
use crate::round::millis;

use super::budget::budget;

/// Healthy when a gRPC dependency answers the standard health call
/// (`grpc.health.v1.Health/Check`, through tonic-health's client) with `SERVING` for the
/// service asked about (default `""`, the whole server). `NOT_SERVING`, `UNKNOWN` and
/// `SERVICE_UNKNOWN` are unhealthy answers; a failed call is a failure showing the gRPC status
/// and its cause (`Unavailable: … Connection refused`, `NotFound` from a server without the
/// health service, `Unimplemented` …).
///
/// The call carries a `grpc-timeout` of nine tenths of the time the checker's timeout leaves (see
/// [`check_time_left`](crate::check_time_left)) or of [`timeout`](Self::timeout), so the
/// dependency stops working on a call the check gave up on. The channel is tonic's: it
/// connects on first use and reconnects by itself. Metadata: `rpc_ms`.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::checks::GrpcCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let inventory = GrpcCheck::new("http://inventory:50051")?.service("shop.Inventory");
/// let checker = HealthChecker::builder()
///     .register(Check::new("inventory", inventory).timeout(Duration::from_millis(500)))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
///
/// For TLS or any other channel setting, build the [`Channel`] and use
/// [`with_channel`](Self::with_channel).
#[derive(Debug, Clone)]
pub struct GrpcCheck {
    endpoint: Option<Endpoint>,
    channel: std::sync::Arc<OnceLock<Channel>>,
    service: String,
    timeout: Option<Duration>,
}

impl GrpcCheck {
    /// A check of the server at `uri` (`http://host:port`); nothing connects until the first
    /// run.
    pub fn new(uri: &str) -> Result<Self, ConfigError> {
        let endpoint =
            Endpoint::from_shared(uri.to_owned()).map_err(|_| ConfigError::InvalidPath {
                path: crate::redact::redact(uri),
                reason: "not a gRPC endpoint URI",
            })?;
        Ok(Self {
            endpoint: Some(endpoint),
            channel: std::sync::Arc::default(),
            service: String::new(),
            timeout: None,
        })
    }

    /// A check over a channel of the app's (TLS, a load-balanced channel …; cheap to clone).
    pub fn with_channel(channel: Channel) -> Self {
        Self {
            endpoint: None,
            channel: std::sync::Arc::new(OnceLock::from(channel)),
            service: String::new(),
            timeout: None,
        }
    }

    /// The service asked about (e.g. `"shop.Inventory"`; default `""`, the whole server).
    #[must_use]
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// A fixed deadline for the call, instead of the time the checker's timeout leaves (or 2 s
    /// when the check is called directly).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn channel(&self) -> Channel {
        self.channel
            .get_or_init(|| {
                // Within the runtime that runs the check, as tonic's channel needs.
                self.endpoint
                    .as_ref()
                    .expect("an endpoint or a channel")
                    .connect_lazy()
            })
            .clone()
    }
}

impl HealthCheck for GrpcCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: self.service.clone(),
            });
            request.set_timeout(budget(self.timeout));
            let started = Instant::now();
            let answer = HealthClient::new(self.channel())
                .check(request)
                .await
                .map_err(|status| CheckError::new(shown(&status)))?;
            let rpc_ms = millis(started.elapsed());
            let status = answer.into_inner().status();
            let result = match status {
                ServingStatus::Serving => CheckResult::healthy(),
                other => CheckResult::unhealthy(other.as_str_name()),
            };
            Ok(result.with_metadata("rpc_ms", rpc_ms))
        })
    }
}

/// A failed call as `Code: message: cause …`, without tonic's metadata and details.
fn shown(status: &tonic::Status) -> String {
    let mut text = format!("{:?}", status.code());
    if !status.message().is_empty() {
        text.push_str(": ");
        text.push_str(status.message());
    }
    if let Some(source) = std::error::Error::source(status) {
        let cause = causes(source);
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
