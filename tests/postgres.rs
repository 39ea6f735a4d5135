//! The PostgreSQL checks against a real PostgreSQL (Debian's, a throw-away cluster per test on
//! a free loopback port, stopped by pg_ctl): `PostgresCheck` (its own connection),
//! `DeadpoolPostgresCheck` and `SqlxCheck` (the app's pool). For each: healthy with its
//! figures; a `pg_sleep(5)` under a 500 ms check timeout leaves nothing running on the server
//! (`pg_stat_activity`), where the same query with a long limit does; the server stopped →
//! PostgreSQL's own error (`Connection refused`, not "timed out"); started again → healthy by
//! itself. For the pools, a pool with every connection taken says so. `.ci/run` sets
//! REQUIRE_POSTGRES=1, so there these must run.
#![cfg(feature = "postgres")]

#[path = "support/dependency.rs"]
mod dependency;
#[path = "support/pg_cluster.rs"]
mod pg_cluster;
#[path = "support/skip.rs"]
mod skip;

use std::time::Duration;

use dependency::{TTL, checker, says_the_pool_is_full};
use pg_cluster::Cluster;
use tower_vitals::checks::PostgresCheck;
use tower_vitals::{ComponentStatus, HealthCheck, HealthChecker, HealthStatus};

fn cluster() -> Option<Cluster> {
    Cluster::new()
}

/// A slow query under the check's timeout is ended by the server; the same query with a limit
/// far beyond it (the control) runs on. `slow(limit)` makes the check.
async fn slow_queries_end_on_the_server<C: HealthCheck>(
    cluster: &Cluster,
    slow: impl Fn(Option<Duration>) -> C,
) {
    let component = checker(slow(None)).report().await.components.remove(0);
    assert_eq!(component.status, HealthStatus::Unhealthy);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cluster.running("pg_sleep(5)").await,
        0,
        "the server ended the abandoned query"
    );

    let _ = checker(slow(Some(Duration::from_secs(60)))).report().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cluster.running("pg_sleep(5)").await,
        1,
        "control: a query with a long limit runs on"
    );
}

/// The stop-and-restart scenario on `cluster`.
async fn stops_and_recovers(cluster: &Cluster, checker: &HealthChecker) -> ComponentStatus {
    dependency::stops_and_recovers(checker, || cluster.stop(), || cluster.start()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_check_is_bounded_on_the_server_and_recovers() {
    let Some(cluster) = cluster() else { return };
    slow_queries_end_on_the_server(&cluster, |limit| {
        let check = PostgresCheck::new(&cluster.url())
            .unwrap()
            .query("SELECT pg_sleep(5)");
        match limit {
            Some(limit) => check.statement_timeout(limit),
            None => check,
        }
    })
    .await;
    let checker = checker(PostgresCheck::new(&cluster.url()).unwrap());
    let up = stops_and_recovers(&cluster, &checker).await;
    assert!(up.metadata["server_version"].as_str().is_some());
}

/// The pool figures of a healthy pool check, with `max` connections, run again after a run
/// left its connection idle in the pool.
async fn assert_pool_figures(checker: &HealthChecker, max: u64) {
    // Past the TTL the report serves the last result and runs the check again behind it. (A
    // refresh an earlier report started may end during the sleep and make the result fresh
    // again: then past the TTL once more.)
    let mut served_stale = false;
    for _ in 0..20 {
        tokio::time::sleep(TTL).await;
        if !checker.report().await.components.remove(0).fresh {
            served_stale = true;
            break;
        }
    }
    assert!(
        served_stale,
        "past the TTL the last result is served while a run refreshes it"
    );
    let component = loop {
        let component = checker.report().await.components.remove(0);
        if component.fresh {
            break component;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(component.status, HealthStatus::Healthy, "{component:?}");
    for key in ["acquire_ms", "query_ms"] {
        assert!(
            component.metadata[key].as_f64().is_some(),
            "{key}: {component:?}"
        );
    }
    assert_eq!(component.metadata["pool_max"], max);
    assert!(component.metadata["pool_size"].as_u64().unwrap() >= 1);
    assert!(component.metadata["pool_idle"].as_u64().unwrap() >= 1);
    if let Some(waiting) = component.metadata.get("pool_waiting") {
        assert_eq!(waiting, 0);
    }
}

#[cfg(feature = "deadpool-postgres")]
fn deadpool(cluster: &Cluster, max: usize) -> deadpool_postgres::Pool {
    let mut config = deadpool_postgres::Config::new();
    config.url = Some(cluster.url());
    config.pool = Some(deadpool_postgres::PoolConfig::new(max));
    config
        .create_pool(
            Some(deadpool_postgres::Runtime::Tokio1),
            tokio_postgres::NoTls,
        )
        .unwrap()
}

#[cfg(feature = "deadpool-postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_check_uses_the_apps_pool_bounded_on_the_server() {
    use tower_vitals::checks::DeadpoolPostgresCheck;
    let Some(cluster) = cluster() else { return };
    let pool = deadpool(&cluster, 2);
    slow_queries_end_on_the_server(&cluster, |limit| {
        let check = DeadpoolPostgresCheck::new(pool.clone()).query("SELECT pg_sleep(5)");
        match limit {
            Some(limit) => check.timeout(limit),
            None => check,
        }
    })
    .await;

    let pool = deadpool(&cluster, 2);
    let checker = checker(DeadpoolPostgresCheck::new(pool.clone()));
    stops_and_recovers(&cluster, &checker).await;
    assert_pool_figures(&checker, 2).await;

    // Every connection taken by the app: the check says the pool is full, not "timed out".
    let held = [pool.get().await.unwrap(), pool.get().await.unwrap()];
    says_the_pool_is_full(&checker, 2).await;
    drop(held);
}

#[cfg(feature = "sqlx-postgres")]
fn sqlx_pool(cluster: &Cluster, max: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .connect_lazy(&cluster.url())
        .unwrap()
}

#[cfg(feature = "sqlx-postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_check_uses_the_apps_pool_and_shows_the_real_error() {
    use tower_vitals::checks::SqlxCheck;
    let Some(cluster) = cluster() else { return };
    let pool = sqlx_pool(&cluster, 2);
    slow_queries_end_on_the_server(&cluster, |limit| {
        let check = SqlxCheck::new(pool.clone()).query("SELECT pg_sleep(5)");
        match limit {
            Some(limit) => check.timeout(limit),
            None => check,
        }
    })
    .await;

    let pool = sqlx_pool(&cluster, 2);
    let checker = checker(SqlxCheck::new(pool.clone()));
    // sqlx's own pool says only "pool timed out" while the server is down; the check does not.
    stops_and_recovers(&cluster, &checker).await;
    assert_pool_figures(&checker, 2).await;

    let held = [pool.acquire().await.unwrap(), pool.acquire().await.unwrap()];
    says_the_pool_is_full(&checker, 2).await;
    drop(held);
}
