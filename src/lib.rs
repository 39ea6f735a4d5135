//! Health endpoints and request metrics for any Tower HTTP service.
//!
//! [`HealthChecker`]: named async checks run concurrently, each with a timeout, retries with
//! exponential backoff and isolation; results cached with single-flight; answers within a
//! deadline; failure/recovery thresholds; a manual not-ready switch for draining.
#![forbid(unsafe_code)]

mod checker;
mod error;
mod status;

pub use checker::{
    Check, CheckError, CheckFuture, HealthCheck, HealthChecker, HealthCheckerBuilder,
    IntoCheckResult, MAX_NAME_CHARS, Selector,
};
pub use error::ConfigError;
pub use status::{CheckResult, ComponentStatus, HealthStatus, SystemHealthStatus};
