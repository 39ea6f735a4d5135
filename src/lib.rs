//! Health endpoints and request metrics for any Tower HTTP service — Axum, Tonic or plain Hyper —
//! with one `.layer(...)` call.
//!
//! - [`HealthChecker`]: named async checks run concurrently, each with a timeout, retries with
//!   exponential backoff and isolation (a check that panics, errors or hangs becomes that
//!   component's failure status); results cached with single-flight, so a probe storm runs each
//!   check once; an expired result is served at once while one refresh runs, up to a maximum
//!   staleness; failure/recovery thresholds against flapping; a manual not-ready switch.
//! - [`HealthLayer`]: answers `/health/live`, `/health/ready`, `/health`,
//!   `/health/reliability` and `/metrics` itself and passes every other request to your service
//!   untouched ([`health`]). Details are shown per a [`DetailPolicy`](health::DetailPolicy).
//! - [`MetricsLayer`] and [`MetricsCollector`]: request latency (rolling-window HDR
//!   histograms), outcomes, in-flight and cache figures, per-route histograms ([`metrics`]).
//! - [`vitals`]: one snapshot of every figure the endpoints show, gathered with a timeout per
//!   source (the application can add its own); [`render`]: public renderers (Prometheus text,
//!   JSON) over it, usable without `HealthLayer`.
//! - [`reliability`]: the reliability report and its anomaly rules; [`checks`]: built-in checks;
//!   [`HealthConfig`]: settings from environment variables; `WebhookNotifier` and `GrpcHealth`.
//!
//! How the parts fit (each imports only those below it) is in `ARCHITECTURE.md`.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | yes | route labels from Axum's `MatchedPath` |
//! | `process` | yes | process figures from `/proc`, `ProcessCheck`, `DiskSpaceCheck` (Linux) |
//! | `http-client` | no | `HttpCheck` and `WebhookNotifier` (hyper-util's client) |
//! | `tonic` | no | `GrpcHealth`, feeding tonic-health's `grpc.health.v1` service; `GrpcCheck`, asking a dependency's |
//! | `tls` | no | `https://` for `HttpCheck` and webhooks (rustls, webpki roots, a CA of your own), `TlsCertCheck`; with `redis`, `rediss://` for `RedisCheck` and the fleet |
//! | `tls-native-roots` | no | the operating system's roots as well |
//! | `postgres` | no | `PostgresCheck`: a query through tokio-postgres on a connection of its own, bounded on the server by `statement_timeout` |
//! | `deadpool-postgres` | no | `DeadpoolPostgresCheck`: the same on a connection of the app's deadpool-postgres pool, with the pool's figures |
//! | `sqlx-postgres`, `sqlx-mysql`, `sqlx-sqlite` | no | `SqlxCheck` on the app's sqlx 0.9 pool (Rust 1.94+): the query stopped on the server, the real connect error, the pool's figures |
//! | `redis` | no | `RedisCheck`: `PING` through redis' `ConnectionManager` (reconnects after a restart) |
//! | `opentelemetry` | no | exemplars from the current OpenTelemetry context (opentelemetry 0.33; with `tracing-opentelemetry` 0.34, the entered span's) |
//! | `tower-resilience` | no | `CircuitBreakerCheck`: tower-resilience's circuit breakers as one component |
//!
//! # Quick start (Axum)
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_vitals::{Check, HealthChecker, HealthLayer};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let checker = HealthChecker::builder()
//!     .check("database", || async {
//!         tokio::net::TcpStream::connect("127.0.0.1:5432").await.map(drop)
//!     })
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(HealthLayer::new(checker));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Checks run on the Tokio runtime that serves the request.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod checker;
pub mod checks;
mod clock;
mod config;
mod drain;
mod error;
#[cfg(feature = "tonic")]
mod grpc;
pub mod health;
mod health_report;
mod info;
pub mod metrics;
mod path;
mod probe;
mod redact;
#[cfg(feature = "redis")]
mod redis_link;
pub mod reliability;
mod reload;
pub mod render;
/// The former name of [`reliability`], kept so that existing imports compile.
#[doc(hidden)]
pub use reliability as report;
pub mod fleet;
mod ring;
mod round;
mod setup;
#[cfg(feature = "http-client")]
mod tls;
#[cfg(feature = "http-client")]
mod uri;
mod validate;
pub mod vitals;
mod webhook;

pub use checker::{
    Check, CheckCounters, CheckError, CheckFuture, HealthCheck, HealthChecker,
    HealthCheckerBuilder, Incident, IntoCheckResult, Lifecycle, MAX_NAME_CHARS,
    MAX_TIMELINE_POINTS, Phase, Selector, StatusChange, StatusTimeline, TimelinePoint,
    TimelineSettings, WarmUp, check_time_left,
};
pub use config::{HealthConfig, env_name};
pub use drain::{Drain, DrainBuilder, Stopped};
pub use error::ConfigError;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use grpc::GrpcHealth;
pub use health::HealthLayer;
pub use health_report::{
    CheckResult, ComponentStatus, HealthStatus, HistorySummary, MAX_FIGURES, Refusal,
    SettingsStatus, SystemHealthStatus, WarmUpStatus,
};
pub use info::AppInfo;
pub use metrics::{MetricsCollector, MetricsLayer};
pub use probe::ProcessStats;
pub use redact::{MAX_MESSAGE_CHARS, redact};
pub use setup::{Setup, SetupBuilder};
pub use webhook::WebhookStats;
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
pub use webhook::{WebhookBuilder, WebhookFormat, WebhookNotifier};
