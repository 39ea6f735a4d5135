//! `HealthLayer`: liveness, readiness and the detailed report on any Tower HTTP service.
//!
//! | path (default) | answers | runs checks |
//! |---|---|---|
//! | `/health/live` | 200 `{"status":"healthy"}` while the process serves | never |
//! | `/health/ready` | 200 when no gating check is unhealthy, else 503; `?verbose` lists them | the readiness [`Selector`](crate::Selector)'s |
//! | `/health` | the detailed report, 200 or 503 by overall status | all |
//! | `/health/reliability` | the [reliability report](crate::reliability): the detailed report plus figures, anomalies and notes, 200 or 503; `?include=name` adds an optional source | all (cached 30 s) |
//! | `/metrics` | Prometheus text format 0.0.4, or OpenMetrics 1.0 when `Accept` asks for it ([families](#prometheus-families)); its own access policy ([`HealthLayer::metrics_access`]) | all |
//! | `/health/{name}` | one component: its status (details for clients shown them) and code; 404 for an unknown name | that check |
//! | a group's path (`/health/<group>`) | the group's checks, with its own detail policy and codes ([`HealthGroup`]) | the group's |
//!
//! GET and HEAD are answered (HEAD: same headers, no body), other methods get 405 with `Allow`.
//! One trailing slash is accepted. `?exclude=name` leaves a check out (Kubernetes convention).
//! Bodies are JSON with `Cache-Control: no-store` and `X-Health-Version`. Every endpoint is
//! an entry of one table (path, methods, access, whether it runs checks, its answer), and every
//! body comes from a [renderer](crate::render) over one [`Vitals`](crate::vitals::Vitals)
//! snapshot: `/health`, `/health/reliability` and `/metrics` show the same figures.
//!
//! # Prometheus families
//!
//! With the default prefix `vitals_` ([`HealthLayer::prometheus_prefix`]); every family has
//! HELP and TYPE. Health states use one gauge per state (1 for the current one, 0 for the
//! others), so `vitals_health_component_status{state="unhealthy"} == 1` selects failing
//! components.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `vitals_http_server_request_duration_seconds` | histogram | `route`, `method`, `status_class` |
//! | `vitals_http_server_request_duration_window_seconds` | summary (quantiles 0.5, 0.95, 0.99 over the window; `_sum`/`_count` since start) | — |
//! | `vitals_http_server_requests_total` | counter | `route`, `method`, `status_class` |
//! | `vitals_http_server_request_failures_total` | counter | `route`, `method`, `status_class` |
//! | `vitals_http_server_requests_cancelled_total` | counter | — |
//! | `vitals_http_server_requests_in_flight` | gauge | — |
//! | `vitals_http_server_time_to_headers_window_seconds` | summary: time to the response headers over the window | — |
//! | `vitals_runtime_workers`, `…_alive_tasks`, `…_global_queue_depth`, `…_scheduling_lag_seconds`, `…_scheduling_lag_max_seconds` | gauge: the Tokio runtime | — |
//! | `vitals_reliability_anomalies` | gauge: anomalies firing in the last reliability report | `rule`, `severity` |
//! | `vitals_http_server_latency_clamped_total` | counter | — |
//! | `vitals_cache_hits_total`, `…_misses_total`, `…_evictions_total` | counter | — |
//! | `vitals_health_status` | gauge, 1 for the current state, 0 for the others | `state` |
//! | `vitals_health_component_status` | gauge, 1 for the current state, 0 for the others | `component`, `state` |
//! | `vitals_health_check_duration_seconds` | gauge (last run) | `component` |
//! | `vitals_health_check_runs_total` | counter | `component` |
//! | `vitals_health_check_failures_total` | counter | `component` |
//! | `vitals_health_accepting_traffic` | gauge, 0 while marked not ready or warming up | — |
//! | `vitals_health_warm_up_pending_seconds` | gauge: how long each pending warm-up gate has held readiness (only while one is) | `gate` |
//! | `vitals_uptime_seconds` | gauge | — |
//! | `vitals_fleet_replicas` | gauge (with a [fleet](crate::fleet)): replicas seen | `state` (`fresh`, `stale`) |
//! | `vitals_fleet_store_reachable`, `vitals_fleet_exchange_seconds` | gauge: the last exchange with the fleet's store | — |
//! | `vitals_fleet_exchanges_total`, `vitals_fleet_records_refused_total` | counter | `outcome`; `reason` |
//! | `vitals_fleet_judgement` | gauge, 1 for each shared check's judgement, 0 for the others | `check`, `judgement` |
//! | `vitals_fleet_check_replicas` | gauge: fresh replicas running each shared check, and failing it | `check`, `state` (`all`, `failing`) |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads`, `process_start_time_seconds` | the standard process families | — |
//!
//! # Example
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_vitals::{HealthChecker, HealthLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let checker = HealthChecker::builder()
//!     .check("database", || async { Ok::<_, std::io::Error>(()) })
//!     .build()
//!     .unwrap();
//! let app = service_fn(|_req: Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::from("app")))
//! });
//! let service = ServiceBuilder::new().layer(HealthLayer::new(checker)).service(app);
//!
//! let ready = service.clone().oneshot(Request::get("/health/ready").body(String::new()).unwrap());
//! assert_eq!(ready.await.unwrap().status(), StatusCode::OK);
//! let other = service.oneshot(Request::get("/orders").body(String::new()).unwrap()).await;
//! assert_eq!(other.unwrap().status(), StatusCode::OK); // answered by the app
//! # }
//! ```
#![doc = include_str!("../../docs/health.md")]

#[cfg(feature = "axum")]
mod around;
mod body;
mod endpoints;
mod future;
mod group;
mod judged;
mod layer;
#[cfg(feature = "openapi")]
mod openapi;
mod paths;
pub(crate) mod policy;
mod query;
mod service;

pub use crate::config::Show;
pub use crate::render::{HEALTH_VERSION, RELIABILITY_VERSION};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use around::{AroundFuture, AroundRouter};
pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use group::HealthGroup;
pub use layer::HealthLayer;
pub use policy::DetailPolicy;
pub use service::{Health, PassThrough};
