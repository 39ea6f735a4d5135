//! [`TlsCertCheck`]: how long until a server's TLS certificate expires (feature `tls`)?

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Limit;
use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::{ConfigError, causes};
use crate::health_report::{CheckResult, HealthStatus};
use crate::round::millis;
use crate::tls::ExtraRoots;

/// Connects to `host:port` over TLS, verifies the chain as a client would (the webpki roots
/// plus any CA given), and judges the days left on the server's certificate (default: degraded
/// from 30 days left, unhealthy once expired), like Spring Boot's SSL health. A handshake that fails is
/// unhealthy with the TLS error. Metadata: `days_left`, `not_after`, `subject`, `handshake_ms`.
///
/// ```
/// use tower_vitals::checks::{Limit, TlsCertCheck};
///
/// let check = TlsCertCheck::new("payments.internal:443")?
///     .days_left(Limit::below(21.0, 3.0)?);
/// # drop(check);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TlsCertCheck {
    address: String,
    server_name: ServerName<'static>,
    roots: ExtraRoots,
    connector: TlsConnector,
    days_left: Limit,
}

impl TlsCertCheck {
    /// A check of the certificate served at `address`, `host:port`; `host` is the name the
    /// certificate must carry.
    pub fn new(address: impl Into<String>) -> Result<Self, ConfigError> {
        let address = address.into();
        let invalid = |reason| ConfigError::InvalidPath {
            path: address.clone(),
            reason,
        };
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid("it must be host:port"))?;
        port.parse::<u16>()
            .map_err(|_| invalid("the port is not a number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| invalid("the host is not a DNS name or an IP address"))?;
        let roots = ExtraRoots::default();
        Ok(Self {
            connector: TlsConnector::from(roots.client_config()),
            address,
            server_name,
            roots,
            days_left: Limit::below(30.0, 0.0).expect("ordered"),
        })
    }

    /// Where the days left turn the check degraded and unhealthy.
    #[must_use]
    pub fn days_left(mut self, limit: Limit) -> Self {
        self.days_left = limit;
        self
    }

    /// Also trusts the CA certificates in `pem`.
    pub fn root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        self.roots.add_pem(pem)?;
        self.connector = TlsConnector::from(self.roots.client_config());
        Ok(self)
    }

    async fn certificate(&self) -> Result<(Vec<u8>, Instant), CheckError> {
        let started = Instant::now();
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| CheckError::new(format!("connect to {}: {e}", self.address)))?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| CheckError::new(format!("TLS with {}: {}", self.address, causes(&e))))?;
        let (_, session) = tls.get_ref();
        let leaf = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or_else(|| CheckError::new(format!("{} sent no certificate", self.address)))?;
        Ok((leaf.to_vec(), started))
    }
}

impl HealthCheck for TlsCertCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let (der, started) = self.certificate().await?;
            let handshake = started.elapsed();
            let (_, certificate) = x509_parser::parse_x509_certificate(&der)
                .map_err(|e| CheckError::new(format!("unreadable certificate: {e}")))?;
            let not_after = certificate.validity().not_after.timestamp();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let days = (not_after - now) as f64 / 86_400.0;
            let status = self.days_left.status(days);
            let not_after_text = certificate
                .validity()
                .not_after
                .to_rfc2822()
                .unwrap_or_else(|_| not_after.to_string());
            let mut result = CheckResult::new(status)
                .with_metadata("days_left", (days * 10.0).round() / 10.0)
                .with_metadata("not_after", not_after_text)
                .with_metadata("subject", certificate.subject().to_string())
                .with_metadata("handshake_ms", millis(handshake));
            if status != HealthStatus::Healthy {
                let why = self
                    .days_left
                    .describe("certificate days left", days, "days");
                result = result.with_message(why);
            }
            Ok(result)
        })
    }
}

impl std::fmt::Debug for TlsCertCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCertCheck")
            .field("address", &self.address)
            .field("days_left", &self.days_left)
            .finish_non_exhaustive()
    }
}
