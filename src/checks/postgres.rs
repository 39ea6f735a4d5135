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

/// Healthy when PostgreSQL answers a query (default `SELECT 1`) on the check's own connection
/// (tokio-postgres, plain TCP or a Unix socket), made on the first run and again after any
/// failure. The connection carries `statement_timeout` (default 2 s: set it to the check's
/// timeout), so the server itself ends a query the check gave up on — an abandoned query
/// never keeps running and holding a connection. A failure shows PostgreSQL's own error.
/// Metadata: `query_ms`, `server_version`.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::checks::PostgresCheck;
/// use tower_vitals::{Check, HealthChecker};
///
/// let timeout = Duration::from_millis(500);
/// let check = PostgresCheck::new("host=127.0.0.1 port=5432 user=app dbname=app")?
///     .statement_timeout(timeout);
/// let checker = HealthChecker::builder()
///     .register(Check::new("postgres", check).timeout(timeout).retries(0))
///     .build()?;
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct PostgresCheck {
    config: Config,
    query: String,
    statement_timeout: Duration,
    client: Arc<Mutex<Option<Client>>>,
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
            statement_timeout: Duration::from_secs(2),
            client: Arc::default(),
        })
    }

    /// The query run (default `SELECT 1`); its rows are not read.
    #[must_use]
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// The connection's `statement_timeout` (default 2 s): the server ends a query running
    /// longer. Set it to the check's timeout.
    #[must_use]
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    async fn connect(&self) -> Result<Client, CheckError> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| CheckError::new(format!("connect: {}", causes(&e))))?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away.
            let _ = connection.await;
        });
        let millis = self.statement_timeout.as_millis().max(1);
        client
            .batch_execute(&format!("SET statement_timeout = {millis}"))
            .await
            .map_err(|e| CheckError::new(format!("SET statement_timeout: {}", causes(&e))))?;
        Ok(client)
    }
}

impl HealthCheck for PostgresCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            // One run at a time uses the connection (the checker runs a check once anyway).
            let mut slot = self.client.lock().await;
            if slot.as_ref().is_none_or(Client::is_closed) {
                *slot = Some(self.connect().await?);
            }
            let client = slot.as_ref().expect("connected");
            let started = Instant::now();
            let result = client.simple_query(&self.query).await;
            let query_ms = millis(started.elapsed());
            if let Err(error) = result {
                // A failed connection is made anew on the next run.
                *slot = None;
                return Err(CheckError::new(format!(
                    "{}: {}",
                    self.query,
                    causes(&error)
                )));
            }
            let version = client
                .simple_query("SHOW server_version")
                .await
                .ok()
                .and_then(|rows| {
                    rows.into_iter().find_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            row.get(0).map(str::to_owned)
                        }
                        _ => None,
                    })
                });
            let mut result = CheckResult::healthy().with_metadata("query_ms", query_ms);
            if let Some(version) = version {
                result = result.with_metadata("server_version", version);
            }
            Ok(result)
        })
    }
}
