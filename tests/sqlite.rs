//! `SqlxCheck` on a real SQLite database (a file, through the app's sqlx pool of one
//! connection): healthy with the pool's figures; a slow query is interrupted at the checker's
//! timeout — also when the checker drops the run first — and the connection goes back to the
//! pool without the check's interrupt, so the app's own long query on it still runs to its end;
//! a database that cannot be opened shows SQLite's own error.
#![cfg(feature = "sqlx-sqlite")]

use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tower_vitals::checks::SqlxCheck;
use tower_vitals::{Check, ComponentStatus, HealthCheck, HealthChecker, HealthStatus};

const TIMEOUT: Duration = Duration::from_millis(300);

/// Counts to a million million in SQL, about 1 s per 10 million rows: a query that never ends
/// within a test unless interrupted, so the app's query after it (on the pool's one
/// connection, which sqlx waits 30 s for) only gets the connection if the check's was stopped.
const SLOW: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000) SELECT count(*) FROM c";
const APP: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) SELECT count(*) FROM c";

fn pool(dir: &std::path::Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(dir.join("app.db"))
        .create_if_missing(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options)
}

async fn report(check: impl HealthCheck) -> ComponentStatus {
    HealthChecker::builder()
        .register(Check::new("sqlite", check).timeout(TIMEOUT).retries(0))
        .build()
        .unwrap()
        .report()
        .await
        .components
        .remove(0)
}

/// The app's own query, about as long as the check's limit, on the pool's one connection: it
/// counts every row, so nothing the check left on the connection (an interrupt, a progress
/// handler past its deadline) cut it short.
async fn app_query_runs_to_its_end(pool: &SqlitePool) {
    let (count,): (i64,) = sqlx::query_as(APP).fetch_one(pool).await.unwrap();
    assert_eq!(count, 5_000_000, "the app's query was cut short");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queries_are_interrupted_and_the_connection_comes_back_clean() {
    let dir = tempdir();
    let pool = pool(&dir);

    let up = report(SqlxCheck::new(pool.clone())).await;
    assert_eq!(up.status, HealthStatus::Healthy, "{up:?}");
    assert_eq!(up.metadata["pool_max"], 1);

    // Interrupted at the limit the checker's timeout leaves.
    let slow = report(SqlxCheck::new(pool.clone()).query(SLOW)).await;
    assert_eq!(slow.status, HealthStatus::Unhealthy);
    let message = slow.message.unwrap();
    assert!(message.contains("interrupted"), "{message}");
    app_query_runs_to_its_end(&pool).await;

    // The checker gives up first (the check's own limit is far longer): interrupted anyway,
    // or the app's query would wait for the connection until sqlx's acquire timeout.
    let dropped = report(
        SqlxCheck::new(pool.clone())
            .query(SLOW)
            .timeout(Duration::from_secs(60)),
    )
    .await;
    assert_eq!(dropped.message.as_deref(), Some("timed out after 300 ms"));
    app_query_runs_to_its_end(&pool).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_database_that_cannot_open_shows_sqlites_error() {
    let options = SqliteConnectOptions::new().filename("/nonexistent/dir/app.db");
    let pool = SqlitePoolOptions::new().connect_lazy_with(options);
    let down = report(SqlxCheck::new(pool)).await;
    assert_eq!(down.status, HealthStatus::Unhealthy);
    let message = down.message.unwrap();
    assert!(
        message.contains("unable to open database file"),
        "{message}"
    );
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-vitals-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
