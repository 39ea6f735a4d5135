//! [`RedisCheck`]: does Redis answer `PING` (feature `redis`)?

use std::time::Instant;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::{ConfigError, causes};
use crate::health_report::CheckResult;
use crate::round::millis;

/// Healthy when Redis answers `PING` with `PONG`, through redis' `ConnectionManager`, which
/// reconnects by itself after a Redis restart (a plain multiplexed connection stays broken for
/// good). The manager is made on the first run (and again until one connects) or given with
/// [`with_manager`](Self::with_manager) to share the application's. A failure shows Redis' own
/// error. Metadata: `ping_ms`.
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
    client: Option<redis::Client>,
    manager: std::sync::Arc<OnceCell<ConnectionManager>>,
}

impl std::fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck")
            .field("connected", &self.manager.initialized())
            .finish_non_exhaustive()
    }
}

impl RedisCheck {
    /// A check of the Redis at `url` (`redis://host:port/db`, `rediss://` with redis' TLS
    /// features); nothing connects until the first run.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let client = redis::Client::open(url).map_err(|_| ConfigError::InvalidPath {
            path: crate::redact::redact(url),
            reason: "not a Redis URL",
        })?;
        Ok(Self {
            client: Some(client),
            manager: std::sync::Arc::default(),
        })
    }

    /// A check through the application's own `ConnectionManager` (cheap to clone).
    pub fn with_manager(manager: ConnectionManager) -> Self {
        Self {
            client: None,
            manager: std::sync::Arc::new(OnceCell::new_with(Some(manager))),
        }
    }

    async fn manager(&self) -> Result<ConnectionManager, CheckError> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let client = self.client.clone().expect("a client or a manager");
                ConnectionManager::new(client).await
            })
            .await
            .map_err(|e| CheckError::new(format!("connect: {}", causes(&e))))?;
        Ok(manager.clone())
    }
}

impl HealthCheck for RedisCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut connection = self.manager().await?;
            let started = Instant::now();
            let answer: String = redis::cmd("PING")
                .query_async(&mut connection)
                .await
                .map_err(|e| CheckError::new(format!("PING: {}", causes(&e))))?;
            if answer != "PONG" {
                return Err(CheckError::new(format!("PING answered {answer:?}")));
            }
            Ok(CheckResult::healthy().with_metadata("ping_ms", millis(started.elapsed())))
        })
    }
}
