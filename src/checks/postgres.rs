//! [`PostgresCheck`]: does PostgreSQL answer a query, bounded on the server too (feature
//! `postgres`)?

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::error::{ConfigError, causes};
use crate::health_report::CheckResult;
use crate::round::millis;

use super::budget::budget;
use super::sql::postgres_bounded;

/// Healthy when PostgreSQL answers a query (default `SELECT 1`) on the check's own connection
/// (tokio-postgres, plain TCP or a Unix socket), made on the first run and again after any
/// failure — a connection of its own, so a check never waits behind the app's pool. Each
/// query carries a `statement_timeout` of nine tenths of the time the checker's timeout leaves
/// it (see [`check_time_left`](crate::check_time_left)), set with `SET LOCAL` so it ends with
/// the query: the server itself ends a query the check gave up on, which never keeps running
/// and holding a connection. A failure shows PostgreSQL's own error. Metadata: `query_ms`,
/// `server_version`.
///
/// For a check on the app's pool, see [`DeadpoolPostgresCheck`](crate::checks::DeadpoolPostgresCheck)
/// and [`SqlxCheck`](crate::checks::SqlxCheck).
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::checks::PostgresCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let check = PostgresCheck::new("host=127.0.0.1 port=5432 user=app dbname=app")?;
/// let checker = HealthChecker::builder()
///     .register(Check::new("postgres", check).timeout(Duration::from_millis(500)))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct PostgresCheck {
    config: Config,
    query: String,
    statement_timeout: Option<Duration>,
    connection: Arc<Mutex<Option<Connected>>>,
}

/// The check's connection, and the server's version read when it was made.
struct Connected {
    client: Client,
    version: Option<String>,
}

impl std::fmt::Debug for PostgresCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCheck")
            .field("query", &self.query)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresCheck {
    /// A check of the database `connection` names: a libpq key/value string
    /// (`host=… user=… dbname=…`) or a `postgres://` URL.
    pub fn new(connection: &str) -> Result<Self, ConfigError> {
        let config: Config = connection.parse().map_err(|_| ConfigError::InvalidPath {
            path: crate::redact::redact(connection),
            reason: "not a PostgreSQL connection string",
        })?;
        Ok(Self {
            config,
            query: "SELECT 1".to_owned(),
            statement_timeout: None,
            connection: Arc::default(),
        })
    }

    /// The query run (default `SELECT 1`); its rows are not read.
    #[must_use]
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// A fixed `statement_timeout` for the query, instead of the time the checker's timeout
    /// leaves (or 2 s when the check is called directly).
    #[must_use]
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    async fn connect(&self) -> Result<Connected, CheckError> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| CheckError::new(format!("connect: {}", causes(&e))))?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away.
            let _ = connection.await;
        });
        let version = client
            .simple_query("SHOW server_version")
            .await
            .ok()
            .and_then(|messages| {
                messages.into_iter().find_map(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                    _ => None,
                })
            });
        Ok(Connected { client, version })
    }
}

impl HealthCheck for PostgresCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let limit = budget(self.statement_timeout);
            // One run at a time uses the connection (the checker runs a check once anyway).
            let mut slot = self.connection.lock().await;
            if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
                *slot = Some(self.connect().await?);
            }
            let connected = slot.as_ref().expect("connected");
            let started = Instant::now();
            let result = connected
                .client
                .simple_query(&postgres_bounded(&self.query, limit))
                .await;
            let query_ms = millis(started.elapsed());
            if let Err(error) = result {
                if connected.client.is_closed() {
                    // Made anew on the next run.
                    *slot = None;
                }
                return Err(CheckError::new(format!(
                    "{}: {}",
                    self.query,
                    causes(&error)
                )));
            }
            let mut result = CheckResult::healthy().with_metadata("query_ms", query_ms);
            if let Some(version) = &connected.version {
                result = result.with_metadata("server_version", version.clone());
            }
            Ok(result)
        })
    }
}
