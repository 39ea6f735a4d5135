//! [`RedisCheck`]: does Redis answer `PING` (feature `redis`)?

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::ConnectionManager;

use super::budget::budget;
use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::{ConfigError, causes};
use crate::health_report::CheckResult;
use crate::redis_link::Link;
use crate::round::millis;

/// Healthy when Redis answers `PING` with `PONG`, through redis' `ConnectionManager`, which
/// reconnects by itself after a Redis restart (a plain multiplexed connection stays broken for
/// good). Metadata: `ping_ms`.
///
/// A failure shows Redis' own error, or the operating system's (`Connection refused (os error
/// 111)`, `broken pipe`), not only "timed out":
/// - [`new`](Self::new) makes its own manager, which tries each reconnection once, so a PING
///   while Redis is down fails at once with the connection's error;
/// - [`with_manager`](Self::with_manager) shares the application's, which may be retrying a
///   reconnection with back-off for seconds. When its PING has no answer within half the run's
///   time, the check connects once on its own (with the [`client`](Self::client) given) and
///   reports that connection's error; without a client it reports the last error Redis gave.
///
/// ```
/// use tower_vitals::checks::RedisCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let checker = HealthChecker::builder()
///     .register(Check::new("redis", RedisCheck::new("redis://127.0.0.1:6379/")?).critical(false))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisCheck {
    link: Link,
    /// The last error a PING got, shown when a later PING only waits.
    last_error: Arc<Mutex<Option<String>>>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck")
            .field("connected", &self.link.connected())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCheck {
    /// A check of the Redis at `url` (`redis://host:port/db`, `rediss://` with redis' TLS
    /// features); nothing connects until the first run.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            link: Link::open(url)?,
            last_error: Arc::default(),
            timeout: None,
        })
    }

    /// A check through the application's own `ConnectionManager` (cheap to clone).
    pub fn with_manager(manager: ConnectionManager) -> Self {
        Self {
            link: Link::with_manager(manager),
            last_error: Arc::default(),
            timeout: None,
        }
    }

    /// The client the application's manager was made from: when the manager's PING has no
    /// answer in time (it is waiting for its own reconnection), the check connects once with
    /// it and reports that connection's error — Redis' or the operating system's words.
    #[must_use]
    pub fn client(mut self, client: redis::Client) -> Self {
        self.link.set_client(client);
        self
    }

    /// How long a run may take (default: nine tenths of what the checker's timeout leaves,
    /// or 2 s when the check is called directly).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn ping(connection: &mut impl redis::aio::ConnectionLike) -> Result<(), String> {
        let answer: String = redis::cmd("PING")
            .query_async(connection)
            .await
            .map_err(|e| causes(&e))?;
        if answer == "PONG" {
            Ok(())
        } else {
            Err(format!("answered {answer:?}"))
        }
    }

    /// Why the PING had no answer within `waited`: a connection of the check's own, made within
    /// `left`, fails with the real error; else the last error seen, or just no answer.
    async fn diagnose(&self, waited: Duration, left: Duration) -> CheckError {
        let no_answer = format!("PING: no answer within {} ms", waited.as_millis());
        if let Some(client) = self.link.client() {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(left))
                .set_response_timeout(Some(left));
            let attempt = async {
                let mut connection = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| format!("connect: {}", causes(&e)))?;
                Self::ping(&mut connection)
                    .await
                    .map_err(|e| format!("PING on a new connection: {e}"))
            };
            match tokio::time::timeout(left, attempt).await {
                Ok(Err(error)) => return CheckError::new(format!("{no_answer}; {error}")),
                Ok(Ok(())) => {
                    return CheckError::new(format!(
                        "{no_answer} on the shared connection (a new connection answers)"
                    ));
                }
                Err(_) => {}
            }
        }
        match self.last_error.lock().clone() {
            Some(last) => CheckError::new(format!("{no_answer}; Redis' last error: {last}")),
            None => CheckError::new(no_answer),
        }
    }
}

impl HealthCheck for RedisCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let budget = budget(self.timeout);
            let mut connection = self.link.manager().await.map_err(CheckError::new)?;
            let started = Instant::now();
            match tokio::time::timeout(budget / 2, Self::ping(&mut connection)).await {
                Ok(Ok(())) => {
                    *self.last_error.lock() = None;
                    Ok(CheckResult::healthy().with_metadata("ping_ms", millis(started.elapsed())))
                }
                Ok(Err(error)) => {
                    *self.last_error.lock() = Some(error.clone());
                    Err(CheckError::new(format!("PING: {error}")))
                }
                Err(_) => {
                    let waited = started.elapsed();
                    let left = budget.saturating_sub(waited) * 9 / 10;
                    Err(self
                        .diagnose(waited, left.max(Duration::from_millis(1)))
                        .await)
                }
            }
        })
    }
}
