//! [`SqlxCheck`]: does the database answer a query on a connection of the app's sqlx pool
//! (features `sqlx-postgres`, `sqlx-mysql`, `sqlx-sqlite`)?

use std::future::Future;
use std::pin::Pin;
#[cfg(feature = "sqlx-sqlite")]
use std::sync::Arc;
#[cfg(feature = "sqlx-sqlite")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Connection, Pool};

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::causes;
use crate::health_report::CheckResult;
use crate::round::millis;

use super::budget::budget;
use super::sql::PoolFigures;

/// Healthy when a connection of the app's sqlx [`Pool`] answers a query (default `SELECT 1`):
/// the check sees what the app's requests see, a full pool included. For PostgreSQL, MySQL
/// (or MariaDB) and SQLite, each behind its feature.
///
/// A run takes nine tenths of the time the checker's timeout leaves it (see
/// [`check_time_left`](crate::check_time_left)), or what [`timeout`](Self::timeout) sets: half
/// of it at most to get a connection, the rest for the query, which is stopped where it runs
/// when that is up — also when the checker gives up on the check first:
/// - PostgreSQL: `SET LOCAL statement_timeout` in the query's own message, so the server ends
///   it and the connection goes back unchanged;
/// - MySQL and MariaDB: `KILL QUERY` for the connection's id, sent on a connection of its own;
/// - SQLite: the query is interrupted (a progress handler, removed before the connection goes
///   back to the pool).
///
/// A failure shows the database's own error. sqlx's pool keeps retrying a refused connection
/// until its acquire timeout and then says only "pool timed out"; when no connection comes in
/// time the check connects once on its own, so the reason is the real one (`Connection
/// refused`, an authentication error) — or, when that connection works, how full the pool was.
/// Metadata: `acquire_ms`, `query_ms`, and the pool as the run found it: `pool_size`, `pool_idle`,
/// `pool_max`.
///
/// ```
/// use std::time::Duration;
/// use sqlx::postgres::PgPoolOptions;
/// use tower_vitals::checks::SqlxCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = PgPoolOptions::new().max_connections(5).connect_lazy("postgres://app@127.0.0.1/app")?;
/// let checker = HealthChecker::builder()
///     .register(Check::new("postgres", SqlxCheck::new(pool.clone())).timeout(Duration::from_millis(500)))
///     .build()?;
/// # drop(checker); Ok(()) }
/// ```
pub struct SqlxCheck<DB: SqlxDatabase> {
    pool: Pool<DB>,
    query: &'static str,
    timeout: Option<Duration>,
}

impl<DB: SqlxDatabase> Clone for SqlxCheck<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            query: self.query,
            timeout: self.timeout,
        }
    }
}

impl<DB: SqlxDatabase> std::fmt::Debug for SqlxCheck<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlxCheck")
            .field("database", &DB::NAME)
            .field("query", &self.query)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<DB: SqlxDatabase> SqlxCheck<DB> {
    /// A check on connections of `pool` (a clone of the app's: clones share the pool).
    pub fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            query: "SELECT 1",
            timeout: None,
        }
    }

    /// The query run (default `SELECT 1`); its rows are not read.
    #[must_use]
    pub fn query(mut self, query: &'static str) -> Self {
        self.query = query;
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
        PoolFigures {
            size: self.pool.size() as usize,
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections() as usize,
            waiting: None,
        }
    }

    /// Why no connection came from the pool: a connection of the check's own, made with the
    /// pool's options, either fails with the real error or shows the pool was full.
    async fn diagnose(&self, waited: Duration, left: Duration) -> CheckError {
        let options = self.pool.connect_options();
        match tokio::time::timeout(left, options.connect()).await {
            Ok(Err(error)) => CheckError::new(format!("connect: {}", causes(&error))),
            Ok(Ok(connection)) => {
                tokio::spawn(connection.close());
                CheckError::new(self.figures().starved(waited))
            }
            Err(_) => CheckError::new(format!(
                "{}; connecting: no answer within {} ms",
                self.figures().starved(waited),
                left.as_millis()
            )),
        }
    }
}

impl<DB: SqlxDatabase> HealthCheck for SqlxCheck<DB> {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let budget = budget(self.timeout);
            // The pool as the check found it.
            let figures = self.figures();
            let started = Instant::now();
            let connection = match tokio::time::timeout(budget / 2, self.pool.acquire()).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => {
                    let waited = started.elapsed();
                    // Within what is left, short of the checker's own timeout.
                    let left = budget.saturating_sub(waited) * 9 / 10;
                    return Err(self.diagnose(waited, left).await);
                }
                Ok(Err(error)) => return Err(CheckError::new(causes(&error))),
            };
            let acquired = started.elapsed();
            let limit = budget
                .saturating_sub(acquired)
                .max(Duration::from_millis(1));
            let query_started = Instant::now();
            DB::run_bounded(connection, &self.pool, self.query, limit)
                .await
                .map_err(|e| CheckError::new(format!("{}: {e}", self.query)))?;
            let result = CheckResult::healthy()
                .with_metadata("acquire_ms", millis(acquired))
                .with_metadata("query_ms", millis(query_started.elapsed()));
            Ok(figures.add_to(result))
        })
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A database [`SqlxCheck`] can stop a query on: `sqlx::Postgres`, `sqlx::MySql` and
/// `sqlx::Sqlite`, each with its feature. Not for implementing outside this crate.
pub trait SqlxDatabase: sqlx::Database + sealed::Sealed {
    /// Runs `query` on `connection`, stopped where it runs after `limit`; the error as shown.
    #[doc(hidden)]
    fn run_bounded(
        connection: PoolConnection<Self>,
        pool: &Pool<Self>,
        query: &'static str,
        limit: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;
}

/// The error of a query stopped at `limit`, or any other.
fn query_error(error: &sqlx::Error, ran: Duration, limit: Duration) -> String {
    let shown = causes(error);
    if ran >= limit {
        format!("stopped after {} ms: {shown}", limit.as_millis())
    } else {
        shown
    }
}

#[cfg(feature = "sqlx-postgres")]
impl sealed::Sealed for sqlx::Postgres {}

#[cfg(feature = "sqlx-postgres")]
impl SqlxDatabase for sqlx::Postgres {
    fn run_bounded(
        mut connection: PoolConnection<Self>,
        _: &Pool<Self>,
        query: &'static str,
        limit: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>> {
        Box::pin(async move {
            let sql = super::sql::postgres_bounded(query, limit);
            let started = Instant::now();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *connection)
                .await
                .map(drop)
                .map_err(|e| query_error(&e, started.elapsed(), limit))
        })
    }
}

#[cfg(feature = "sqlx-mysql")]
impl sealed::Sealed for sqlx::MySql {}

#[cfg(feature = "sqlx-mysql")]
impl SqlxDatabase for sqlx::MySql {
    fn run_bounded(
        mut connection: PoolConnection<Self>,
        pool: &Pool<Self>,
        query: &'static str,
        limit: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>> {
        let options = pool.connect_options();
        Box::pin(async move {
            let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                .fetch_one(&mut *connection)
                .await
                .map_err(|e| causes(&e))?;
            let mut kill = KillOnDrop {
                options: Some(options),
                id,
            };
            let started = Instant::now();
            let run = sqlx::raw_sql(query).execute(&mut *connection);
            match tokio::time::timeout(limit, run).await {
                Ok(result) => {
                    kill.options = None;
                    result
                        .map(drop)
                        .map_err(|e| query_error(&e, started.elapsed(), limit))
                }
                Err(_) => {
                    // The connection's state is unknown after the kill: it is not reused.
                    connection.close_on_drop();
                    Err(format!(
                        "stopped after {} ms (KILL QUERY {id})",
                        limit.as_millis()
                    ))
                }
            }
        })
    }
}

/// Ends the running query of MySQL connection `id` from a connection of its own, when dropped
/// armed: at the limit, or when the checker drops the run.
#[cfg(feature = "sqlx-mysql")]
struct KillOnDrop {
    options: Option<std::sync::Arc<sqlx::mysql::MySqlConnectOptions>>,
    id: u64,
}

#[cfg(feature = "sqlx-mysql")]
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let (Some(options), id) = (self.options.take(), self.id) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let kill = async {
                let mut connection = options.connect().await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL QUERY {id}")))
                    .execute(&mut connection)
                    .await?;
                connection.close().await
            };
            if let Err(error) = kill.await {
                tracing::warn!(connection = id, error = %crate::redact::redact(&causes(&error)), "health check: could not end an abandoned MySQL query");
            }
        });
    }
}

#[cfg(feature = "sqlx-sqlite")]
impl sealed::Sealed for sqlx::Sqlite {}

#[cfg(feature = "sqlx-sqlite")]
impl SqlxDatabase for sqlx::Sqlite {
    fn run_bounded(
        connection: PoolConnection<Self>,
        _: &Pool<Self>,
        query: &'static str,
        limit: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>> {
        Box::pin(async move {
            let started = Instant::now();
            let deadline = started + limit;
            let abandoned = Arc::new(AtomicBool::new(false));
            let go_on = abandoned.clone();
            let mut guard = Interruptible {
                connection: Some(connection),
                abandoned,
            };
            let connection = guard.connection.as_mut().expect("held");
            connection
                .lock_handle()
                .await
                .map_err(|e| causes(&e))?
                .set_progress_handler(1_000, move || {
                    !go_on.load(Ordering::Relaxed) && Instant::now() < deadline
                });
            let result = sqlx::raw_sql(query).execute(&mut **connection).await;
            let disarmed = connection.lock_handle().await.map(|mut handle| {
                handle.remove_progress_handler();
            });
            if disarmed.is_ok() {
                // Back to the pool without the handler.
                drop(guard.connection.take());
            }
            result
                .map(drop)
                .map_err(|e| query_error(&e, started.elapsed(), limit))
        })
    }
}

/// A SQLite connection with the check's progress handler: when dropped still holding it (the
/// checker gave up, or the handler could not be removed), the query is interrupted at once and
/// the handler removed — once the query has ended — before the connection goes back to the
/// pool, or the connection is closed.
#[cfg(feature = "sqlx-sqlite")]
struct Interruptible {
    connection: Option<PoolConnection<sqlx::Sqlite>>,
    abandoned: Arc<AtomicBool>,
}

#[cfg(feature = "sqlx-sqlite")]
impl Drop for Interruptible {
    fn drop(&mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        self.abandoned.store(true, Ordering::Relaxed);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let removed = match connection.lock_handle().await {
                        Ok(mut handle) => {
                            handle.remove_progress_handler();
                            true
                        }
                        Err(_) => false,
                    };
                    if !removed {
                        connection.close_on_drop();
                    }
                });
            }
            Err(_) => connection.close_on_drop(),
        }
    }
}
