//! [`DeadpoolPostgresCheck`]: does PostgreSQL answer a query on a connection of the app's
//! deadpool-postgres pool (feature `deadpool-postgres`)?

use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, PoolError};

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::causes;
use crate::health_report::CheckResult;
use crate::round::millis;

use super::budget::budget;
use super::sql::{PoolFigures, postgres_bounded};

/// Healthy when a connection of the app's [`deadpool_postgres::Pool`] answers a query (default
/// `SELECT 1`): the check sees what the app's requests see, a full pool included.
///
/// A run takes nine tenths of the time the checker's timeout leaves it (see
/// [`check_time_left`](crate::check_time_left)), or what [`timeout`](Self::timeout) sets: half
/// of it at most to get a connection, the rest as the query's `statement_timeout`, set with
/// `SET LOCAL` so it ends with the query and the connection goes back to the pool unchanged.
/// The server itself ends a query the check gave up on. A failure shows PostgreSQL's own error
/// (a refused connection, an authentication failure), or how full the pool was when no
/// connection came. Metadata: `acquire_ms`, `query_ms`, and the pool as the run found it:
/// `pool_size`, `pool_idle`, `pool_max`, `pool_waiting`.
///
/// ```
/// use std::time::Duration;
/// use deadpool_postgres::{Config, Runtime};
/// use tower_vitals::checks::DeadpoolPostgresCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let mut config = Config::new();
/// config.url = Some("postgres://app@127.0.0.1:5432/app".to_owned());
/// let pool = config.create_pool(Some(Runtime::Tokio1), tokio_postgres::NoTls)?;
/// let checker = HealthChecker::builder()
///     .register(Check::new("postgres", DeadpoolPostgresCheck::new(pool.clone())).timeout(Duration::from_millis(500)))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DeadpoolPostgresCheck {
    pool: Pool,
    query: String,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for DeadpoolPostgresCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadpoolPostgresCheck")
            .field("query", &self.query)
            .field("timeout", &self.timeout)
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl DeadpoolPostgresCheck {
    /// A check on connections of `pool` (a clone of the app's: clones share the pool).
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            query: "SELECT 1".to_owned(),
            timeout: None,
        }
    }

    /// The query run (default `SELECT 1`); its rows are not read.
    #[must_use]
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// A fixed time for a run (getting a connection, then the query), instead of the time the
    /// checker's timeout leaves (or 2 s when the check is called directly).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn figures(&self) -> PoolFigures {
        let status = self.pool.status();
        PoolFigures {
            size: status.size,
            idle: status.available,
            max: status.max_size,
            waiting: Some(status.waiting),
        }
    }
}

impl HealthCheck for DeadpoolPostgresCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let budget = budget(self.timeout);
            // The pool as the check found it.
            let figures = self.figures();
            let started = Instant::now();
            let client = match tokio::time::timeout(budget / 2, self.pool.get()).await {
                Ok(Ok(client)) => client,
                Ok(Err(PoolError::Backend(error))) => {
                    return Err(CheckError::new(format!("connect: {}", causes(&error))));
                }
                Ok(Err(PoolError::Timeout(_))) | Err(_) => {
                    return Err(CheckError::new(self.figures().starved(started.elapsed())));
                }
                Ok(Err(error)) => return Err(CheckError::new(causes(&error))),
            };
            let acquired = started.elapsed();
            let limit = budget.saturating_sub(acquired);
            let query_started = Instant::now();
            client
                .simple_query(&postgres_bounded(&self.query, limit))
                .await
                .map_err(|e| CheckError::new(format!("{}: {}", self.query, causes(&e))))?;
            let query_ms = millis(query_started.elapsed());
            let result = CheckResult::healthy()
                .with_metadata("acquire_ms", millis(acquired))
                .with_metadata("query_ms", query_ms);
            Ok(figures.add_to(result))
        })
    }
}
