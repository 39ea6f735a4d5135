//! Built-in checks: dependencies (TCP, HTTP, DNS), the process and host (CPU, memory, file
//! descriptors, threads, disk), the Tokio runtime, and live traffic.
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
//! For a database pool or Redis, write the check as a closure over your client (see the
//! README): a round trip such as `SELECT 1` or `PING`, mapped to `Ok(())` or an error.

mod dns;
#[cfg(feature = "http-client")]
mod http;
mod limit;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(all(feature = "process", target_os = "linux"))]
mod process;
#[cfg(feature = "redis")]
mod redis;
mod runtime;
mod tcp;
#[cfg(feature = "tls")]
mod tls_cert;
mod traffic;

pub use dns::DnsCheck;
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
pub use http::HttpCheck;
pub use limit::Limit;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresCheck;
#[cfg(all(feature = "process", target_os = "linux"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "process", target_os = "linux"))))]
pub use process::{DiskSpaceCheck, ProcessCheck};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCheck;
pub use runtime::RuntimeCheck;
pub use tcp::TcpCheck;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls_cert::TlsCertCheck;
pub use traffic::TrafficCheck;
