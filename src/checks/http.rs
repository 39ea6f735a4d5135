//! [`HttpCheck`]: does an HTTP endpoint answer with an expected status?

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::{ConfigError, causes};
use crate::health_report::CheckResult;
use crate::round::millis;
use crate::tls::{Connector, ExtraRoots};
use crate::uri::http_uri;

/// Healthy when `GET uri` answers with a status in the expected range (default 200–399) within
/// the request timeout (default 1 s); hyper-util's client, `https://` with the `tls` feature
/// (rustls; the webpki roots plus any CA given with
/// [`root_certificate_pem`](Self::root_certificate_pem)). The body is not read. Metadata: the
/// status and the time to the response head; a failure says why, TLS errors included.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::checks::HttpCheck;
///
/// let check = HttpCheck::new("http://127.0.0.1:8080/healthz")?
///     .expect_status(200..=204)
///     .request_timeout(Duration::from_millis(500));
/// # drop(check);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpCheck {
    uri: Uri,
    expected: RangeInclusive<u16>,
    timeout: Duration,
    roots: ExtraRoots,
    client: Client<Connector, Empty<Bytes>>,
}

impl HttpCheck {
    /// A check of `uri`, an absolute `http://` URI (or `https://` with the `tls` feature).
    pub fn new(uri: &str) -> Result<Self, ConfigError> {
        let parsed = http_uri(uri)?;
        let roots = ExtraRoots::default();
        Ok(Self {
            uri: parsed,
            expected: 200..=399,
            timeout: Duration::from_secs(1),
            client: Client::builder(TokioExecutor::new()).build(roots.connector()),
            roots,
        })
    }

    /// Also trusts the CA certificates in `pem` (feature `tls`), e.g. a cluster's own CA.
    pub fn root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        self.roots.add_pem(pem)?;
        self.client = Client::builder(TokioExecutor::new()).build(self.roots.connector());
        Ok(self)
    }

    /// The statuses that count as healthy.
    #[must_use]
    pub fn expect_status(mut self, statuses: RangeInclusive<u16>) -> Self {
        self.expected = statuses;
        self
    }

    /// How long to wait for the response head.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl HealthCheck for HttpCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let request = Request::get(self.uri.clone())
                .header(
                    http::header::USER_AGENT,
                    concat!("tower-vitals/", env!("CARGO_PKG_VERSION")),
                )
                .body(Empty::new())
                .map_err(|e| CheckError::new(e.to_string()))?;
            let response = tokio::time::timeout(self.timeout, self.client.request(request))
                .await
                .map_err(|_| {
                    CheckError::new(format!(
                        "GET {}: no response within {} ms",
                        self.uri,
                        self.timeout.as_millis()
                    ))
                })?
                .map_err(|e| CheckError::new(format!("GET {}: {}", self.uri, causes(&e))))?;
            let status = response.status().as_u16();
            if !self.expected.contains(&status) {
                return Err(CheckError::new(format!(
                    "GET {} answered {status}, expected {}-{}",
                    self.uri,
                    self.expected.start(),
                    self.expected.end()
                )));
            }
            Ok(CheckResult::healthy()
                .with_metadata("status", status)
                .with_metadata("response_ms", millis(started.elapsed())))
        })
    }
}
