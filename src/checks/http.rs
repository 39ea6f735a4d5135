//! [`HttpCheck`]: does an HTTP endpoint — a peer's health route, or a keyed external API —
//! answer as expected?

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::{ConfigError, causes};
use crate::health_report::CheckResult;
use crate::round::{millis, readable};
use crate::tls::{Connector, ExtraRoots};
use crate::uri::{header, http_uri};

/// The longest wait a `Retry-After` is taken for; a longer one is cut to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The first wait after a 429 without a usable `Retry-After`; doubled at each 429 in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest of those waits.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Healthy when a request to `uri` (`GET` by default) answers with a status in the expected
/// range (default 200–399) within the request timeout (default 1 s); hyper-util's client,
/// `https://` with the `tls` feature (rustls; the webpki roots plus any CA given with
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
///
/// # Keyed external APIs
///
/// For an API the app calls with a key — a model provider, a payment or mail service — the
/// check makes a light authenticated call and judges the answer as an API client would:
///
/// | answer | status | message |
/// |---|---|---|
/// | expected (2xx by default) | healthy | — |
/// | 401, 403 | unhealthy, not retried | `GET https://…: authentication failed (401 Unauthorized)` |
/// | 429 | degraded | `rate limited (429 Too Many Requests), retry after 30s` |
/// | 5xx, or any other | unhealthy | `GET https://… answered 503 Service Unavailable, expected 200-299` |
/// | the key's variable unset or empty | unhealthy, no call | `OPENAI_API_KEY is not set` |
///
/// After a 429 the check makes **no call** until the wait is over: the `Retry-After` given
/// (seconds or an HTTP date, at most an hour), else 1 s doubling with each 429 in a row up to
/// 5 min; meanwhile it answers degraded from what it knows (`…; calling again in 18s`). A
/// limited API is never hammered by probes.
///
/// Secret values — [`bearer_token`](Self::bearer_token), [`secret_header`](Self::secret_header)
/// and those read from the environment — are marked sensitive, never shown in a message,
/// metadata, `Debug` output or log line; a variable's value is read at each run (a rotated key
/// is picked up), its name alone is shown.
///
/// ```
/// use tower_vitals::checks::HttpCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let openai = HttpCheck::new("https://api.openai.com/v1/models")?
///     .bearer_token_from_env("OPENAI_API_KEY")
///     .expect_status(200..=299);
/// let anthropic = HttpCheck::new("https://api.anthropic.com/v1/models")?
///     .secret_header_from_env("x-api-key", "ANTHROPIC_API_KEY")?
///     .header("anthropic-version", "2023-06-01")?;
/// let checker = HealthChecker::builder()
///     .register(Check::new("openai", openai).critical(false))
///     .register(Check::new("anthropic", anthropic).critical(false))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpCheck {
    uri: Uri,
    method: Method,
    /// Sent as given; secret values marked sensitive.
    headers: HeaderMap,
    /// Headers whose values are read from the environment at each run: (header, variable,
    /// prefix such as `Bearer `).
    from_env: Vec<(HeaderName, String, &'static str)>,
    body: Bytes,
    expected: RangeInclusive<u16>,
    timeout: Duration,
    roots: ExtraRoots,
    client: Client<Connector, Full<Bytes>>,
    /// The wait after a 429, shared by clones.
    limited: Arc<Mutex<Option<Limited>>>,
}

/// What a 429 asked for.
#[derive(Debug, Clone, Copy)]
struct Limited {
    /// When the 429 came.
    at: Instant,
    /// How long to wait from then.
    wait: Duration,
    /// Whether the server gave the wait (else it is the back-off's).
    given: bool,
    /// 429s in a row.
    streak: u32,
}

impl HttpCheck {
    /// A check of `uri`, an absolute `http://` URI (or `https://` with the `tls` feature).
    pub fn new(uri: &str) -> Result<Self, ConfigError> {
        let parsed = http_uri(uri)?;
        let roots = ExtraRoots::default();
        Ok(Self {
            uri: parsed,
            method: Method::GET,
            headers: HeaderMap::new(),
            from_env: Vec::new(),
            body: Bytes::new(),
            expected: 200..=399,
            timeout: Duration::from_secs(1),
            client: Client::builder(TokioExecutor::new()).build(roots.connector()),
            roots,
            limited: Arc::default(),
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

    /// The request's method (default `GET`).
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// A body for the request, with its content type (`application/json`, say).
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Result<Self, ConfigError> {
        let (name, value) = header("content-type", content_type, false)?;
        self.headers.insert(name, value);
        self.body = body.into();
        Ok(self)
    }

    /// A header sent with every request, its value not secret (`anthropic-version`, say).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let (name, value) = header(name, value, false)?;
        self.headers.append(name, value);
        Ok(self)
    }

    /// A header whose value is secret (`x-api-key`): marked sensitive, never shown.
    pub fn secret_header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let (name, value) = header(name, value, true).map_err(|error| match error {
            ConfigError::InvalidHeader { name, reason } => ConfigError::InvalidHeader {
                name,
                reason: if reason.starts_with("its value") {
                    "its value has characters a header cannot carry (the value is not shown)"
                } else {
                    reason
                },
            },
            other => other,
        })?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// `Authorization: Bearer <token>`, secret.
    pub fn bearer_token(self, token: &str) -> Result<Self, ConfigError> {
        if token.trim().is_empty() {
            return Err(ConfigError::InvalidToken("the bearer token is empty"));
        }
        self.secret_header("authorization", &format!("Bearer {token}"))
    }

    /// A secret header whose value is the environment variable `variable`, read at each run;
    /// unset or empty, the check is unhealthy (`ANTHROPIC_API_KEY is not set`) and calls
    /// nothing.
    pub fn secret_header_from_env(
        mut self,
        name: &str,
        variable: &str,
    ) -> Result<Self, ConfigError> {
        let (name, _) = header(name, "", true)?;
        self.from_env.push((name, variable.to_owned(), ""));
        Ok(self)
    }

    /// `Authorization: Bearer <the value of variable>`, read at each run; unset or empty, the
    /// check is unhealthy (`OPENAI_API_KEY is not set`) and calls nothing.
    #[must_use]
    pub fn bearer_token_from_env(mut self, variable: &str) -> Self {
        let name = http::header::AUTHORIZATION;
        self.from_env.push((name, variable.to_owned(), "Bearer "));
        self
    }

    /// The request, with the secrets read from the environment; or why there is none.
    fn request(&self) -> Result<Request<Full<Bytes>>, String> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("tower-vitals/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, variable, prefix) in &self.from_env {
            let value = std::env::var(variable).unwrap_or_default();
            if value.trim().is_empty() {
                return Err(format!("{variable} is not set"));
            }
            let mut value = HeaderValue::try_from(format!("{prefix}{}", value.trim()))
                .map_err(|_| format!("{variable} has characters a header cannot carry"))?;
            value.set_sensitive(true);
            headers.insert(name.clone(), value);
        }
        Ok(request)
    }

    /// The answer while waiting after a 429, if still waiting.
    fn waiting(&self, now: Instant) -> Option<CheckResult> {
        let limited = (*self.limited.lock())?;
        let until = limited.at + limited.wait;
        (now < until).then(|| {
            let next = humantime::format_duration(readable(until - now));
            CheckResult::degraded(format!("{}; calling again in {next}", limited.describe()))
                .with_metadata("status", 429)
                .with_metadata("retry_in_ms", millis(until - now))
        })
    }

    /// The verdict on an answer's status.
    fn judge(
        &self,
        response: &Response<hyper::body::Incoming>,
        started: Instant,
    ) -> Result<CheckResult, CheckError> {
        let status = response.status();
        let code = status.as_u16();
        let shown = status_text(status);
        if code == 429 {
            let limited = {
                let mut limited = self.limited.lock();
                let streak = limited.map_or(0, |l| l.streak) + 1;
                let given = retry_after(response.headers(), SystemTime::now());
                let backoff = FIRST_BACKOFF.saturating_mul(1 << (streak - 1).min(16));
                let next = Limited {
                    at: Instant::now(),
                    wait: given.unwrap_or(backoff.min(MAX_BACKOFF)),
                    given: given.is_some(),
                    streak,
                };
                *limited = Some(next);
                next
            };
            return Ok(CheckResult::degraded(limited.describe())
                .with_metadata("status", code)
                .with_metadata("retry_in_ms", millis(limited.wait)));
        }
        *self.limited.lock() = None;
        let (method, uri) = (&self.method, &self.uri);
        if code == 401 || code == 403 {
            return Ok(CheckResult::unhealthy(format!(
                "{method} {uri}: authentication failed ({shown})"
            ))
            .with_metadata("status", code));
        }
        if !self.expected.contains(&code) {
            let (low, high) = (self.expected.start(), self.expected.end());
            return Err(CheckError::new(format!(
                "{method} {uri} answered {shown}, expected {low}-{high}"
            )));
        }
        Ok(CheckResult::healthy()
            .with_metadata("status", code)
            .with_metadata("response_ms", millis(started.elapsed())))
    }
}

impl Limited {
    fn describe(&self) -> String {
        let wait = humantime::format_duration(readable(self.wait));
        match self.given {
            true => format!("rate limited (429 Too Many Requests), retry after {wait}"),
            false => {
                format!("rate limited (429 Too Many Requests, no Retry-After), backing off {wait}")
            }
        }
    }
}

/// `503 Service Unavailable`, or the number alone for a status without a reason phrase.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The wait a `Retry-After` header asks for — delay-seconds or an HTTP date (RFC 9110
/// §10.2.3) — cut to an hour; `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if value.len() > 64 {
        return None;
    }
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

impl HealthCheck for HttpCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            if let Some(waiting) = self.waiting(started) {
                return Ok(waiting);
            }
            let request = match self.request() {
                Ok(request) => request,
                Err(why) => return Ok(CheckResult::unhealthy(why)),
            };
            let (method, uri) = (&self.method, &self.uri);
            let response = tokio::time::timeout(self.timeout, self.client.request(request))
                .await
                .map_err(|_| {
                    let within = self.timeout.as_millis();
                    CheckError::new(format!("{method} {uri}: no response within {within} ms"))
                })?
                .map_err(|e| CheckError::new(format!("{method} {uri}: {}", causes(&e))))?;
            self.judge(&response, started)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date_and_bounded() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::RETRY_AFTER, value.parse().unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(of("2"), Some(Duration::from_secs(2)));
        assert_eq!(of(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(of("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(of(&later), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(of(&earlier), Some(Duration::ZERO));
        assert_eq!(of("soon"), None);
        assert_eq!(of("-1"), None);
        assert_eq!(of(&"9".repeat(65)), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn secrets_stay_out_of_debug_output_and_errors() {
        let check = HttpCheck::new("http://127.0.0.1:9/v1/models")
            .unwrap()
            .bearer_token("sk-live-0123456789abcdef")
            .unwrap()
            .secret_header("x-api-key", "key-abcdef0123456789")
            .unwrap()
            .bearer_token_from_env("VITALS_TEST_UNSET_KEY");
        let debug = format!("{check:?}");
        assert!(
            !debug.contains("sk-live") && !debug.contains("key-abcdef"),
            "{debug}"
        );
        assert!(debug.contains("VITALS_TEST_UNSET_KEY"));
        let error = HttpCheck::new("http://127.0.0.1:9/")
            .unwrap()
            .secret_header("x-api-key", "bad\nkey-abcdef0123456789")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("key-abcdef"), "{error}");
        assert!(
            HttpCheck::new("http://127.0.0.1:9/")
                .unwrap()
                .bearer_token(" ")
                .is_err()
        );
        assert_eq!(
            check.request().unwrap_err(),
            "VITALS_TEST_UNSET_KEY is not set"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_the_check_waits_before_calling_again() {
        let check = HttpCheck::new("http://127.0.0.1:9/").unwrap();
        let now = Instant::now();
        *check.limited.lock() = Some(Limited {
            at: now,
            wait: Duration::from_secs(30),
            given: true,
            streak: 1,
        });
        let waiting = check.waiting(Instant::now()).unwrap();
        assert_eq!(
            waiting.message(),
            Some("rate limited (429 Too Many Requests), retry after 30s; calling again in 30s")
        );
        tokio::time::advance(Duration::from_secs(12)).await;
        let later = check.waiting(Instant::now()).unwrap();
        assert!(later.message().unwrap().ends_with("calling again in 18s"));
        tokio::time::advance(Duration::from_secs(18)).await;
        assert!(check.waiting(Instant::now()).is_none(), "the wait is over");
    }
}
