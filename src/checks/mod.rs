//! Built-in checks: dependencies (TCP, HTTP and keyed APIs, DNS, databases, Redis, gRPC), the
//! process and host (CPU, memory, file descriptors, threads, disk), the Tokio runtime, live
//! traffic, and work off the request path (heartbeats, supervised tasks, jobs, queues, caches,
//! circuit breakers).
//!
//! Each is a [`HealthCheck`](crate::HealthCheck): register it with [`Check::new`](crate::Check::new)
//! like a closure. The checker's timeout, retries and thresholds apply to them as to any check.
//!
//! ```
//! use std::time::Duration;
//! use tower_vitals::checks::{Limit, TcpCheck};
//! use tower_vitals::{Check, HealthChecker};
//!
//! let checker = HealthChecker::builder()
//!     .register(Check::new("postgres", TcpCheck::new("127.0.0.1:5432")).timeout(Duration::from_millis(300)))
//!     .build()
//!     .unwrap();
//! # drop(checker);
//! ```
//!
//! Dependencies behind features: `SqlxCheck` (PostgreSQL, MySQL, SQLite through the app's
//! sqlx pool), `DeadpoolPostgresCheck`, `PostgresCheck`, `RedisCheck` and `GrpcCheck`
//! (`grpc.health.v1` of another service). Each stops its work on the server when the checker
//! gives up (see [`check_time_left`](crate::check_time_left)) and shows the server's own error.
//! For any other client, write the check as a closure: a round trip such as `SELECT 1` or
//! `PING`, mapped to `Ok(())` or an error.
#![cfg_attr(all(feature = "http-client", feature = "process"), doc = include_str!("../../docs/checks.md"))]
#![cfg_attr(
    all(feature = "sqlx-postgres", feature = "redis", feature = "tonic"),
    doc = include_str!("../../docs/checks_dependencies.md")
)]

mod budget;
mod cache;
#[cfg(feature = "tower-resilience")]
mod circuit_breaker;
#[cfg(feature = "deadpool-postgres")]
mod deadpool_postgres;
mod dns;
#[cfg(feature = "tonic")]
mod grpc;
mod heartbeat;
#[cfg(feature = "http-client")]
mod http;
mod job;
mod limit;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(all(feature = "process", target_os = "linux"))]
mod process;
mod queue;
#[cfg(feature = "redis")]
mod redis;
mod runtime;
#[cfg(any(
    feature = "postgres",
    feature = "sqlx-postgres",
    feature = "sqlx-mysql",
    feature = "sqlx-sqlite"
))]
mod sql;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-mysql",
    feature = "sqlx-sqlite"
))]
mod sqlx;
mod task;
mod tcp;
#[cfg(feature = "tls")]
mod tls_cert;
mod traffic;

pub use cache::{CacheCheck, CacheSize};
#[cfg(feature = "tower-resilience")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower-resilience")))]
pub use circuit_breaker::{CircuitBreakerCheck, MAX_BREAKERS};
#[cfg(feature = "deadpool-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool-postgres")))]
pub use deadpool_postgres::DeadpoolPostgresCheck;
pub use dns::DnsCheck;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use grpc::GrpcCheck;
pub use heartbeat::{HeartbeatCheck, MAX_HEARTBEAT_FIGURES};
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
pub use http::HttpCheck;
pub use job::JobCheck;
pub use limit::Limit;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresCheck;
#[cfg(all(feature = "process", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "process", target_os = "linux"))))]
pub use process::{DiskSpaceCheck, ProcessCheck};
pub use queue::{QueueCheck, QueueFigures};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCheck;
pub use runtime::RuntimeCheck;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-mysql",
    feature = "sqlx-sqlite"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite"
    )))
)]
pub use sqlx::{SqlxCheck, SqlxDatabase};
pub use task::{TaskCheck, TaskOutcome};
pub use tcp::TcpCheck;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls_cert::TlsCertCheck;
pub use traffic::TrafficCheck;
