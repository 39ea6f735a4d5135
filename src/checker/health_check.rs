//! The [`HealthCheck`] trait and what a check may return.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::health_report::{CheckResult, HealthStatus};

/// The future a [`HealthCheck`] returns.
pub type CheckFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CheckResult, CheckError>> + Send + 'a>>;

/// One named dependency check.
///
/// Any `Fn() -> impl Future` whose output implements [`IntoCheckResult`] is a check, so most
/// checks are async closures:
///
/// ```
/// use tower_vitals::{HealthChecker, HealthStatus};
///
/// let checker = HealthChecker::builder()
///     .check("always", || async { HealthStatus::Healthy })
///     .check("disk", || async {
///         std::fs::metadata("/").map(|_| ()) // Ok(()) is healthy, Err(e) a failure
///     })
///     .build()
///     .unwrap();
/// # drop(checker);
/// ```
///
/// For a check with state (a connection pool, a client), implement the trait:
///
/// ```
/// use tower_vitals::{CheckFuture, CheckResult, HealthCheck};
///
/// struct Pool { size: usize }
///
/// impl HealthCheck for Pool {
///     fn check(&self) -> CheckFuture<'_> {
///         Box::pin(async move {
///             if self.size == 0 {
///                 return Ok(CheckResult::unhealthy("pool is empty"));
///             }
///             Ok(CheckResult::healthy().with_metadata("size", self.size))
///         })
///     }
/// }
/// ```
///
/// A returned `Err`, a panic and a timeout are failures: the checker retries them and, if they
/// persist, reports the check's failure status with the error as message. A returned status is
/// an answer and is not retried.
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> CheckFuture<'_>;
}

impl<F, Fut> HealthCheck for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoCheckResult,
{
    fn check(&self) -> CheckFuture<'_> {
        let future = self();
        Box::pin(async move { future.await.into_check_result() })
    }
}

/// A check that could not produce a status: the dependency answered with an error.
///
/// Converts from any [`std::error::Error`], so `?` works inside checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    message: String,
}

impl CheckError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for CheckError {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { message }
    }
}

/// Values a check may return.
///
/// | returned | result |
/// |---|---|
/// | [`HealthStatus`], [`CheckResult`] | that status |
/// | `()` | healthy |
/// | `bool` | `true` healthy, `false` a failure |
/// | `Result<T, E>` (`T` any of these, `E: Display`) | `Ok` as `T`, `Err` a failure |
pub trait IntoCheckResult {
    /// Converts into a result or a failure.
    fn into_check_result(self) -> Result<CheckResult, CheckError>;
}

impl IntoCheckResult for CheckResult {
    fn into_check_result(self) -> Result<CheckResult, CheckError> {
        Ok(self)
    }
}

impl IntoCheckResult for HealthStatus {
    fn into_check_result(self) -> Result<CheckResult, CheckError> {
        Ok(CheckResult::new(self))
    }
}

impl IntoCheckResult for () {
    fn into_check_result(self) -> Result<CheckResult, CheckError> {
        Ok(CheckResult::healthy())
    }
}

impl IntoCheckResult for bool {
    fn into_check_result(self) -> Result<CheckResult, CheckError> {
        if self {
            Ok(CheckResult::healthy())
        } else {
            Err(CheckError::new("check returned false"))
        }
    }
}

/// A text answer — Redis' `PONG`, a version string — means the dependency answered: healthy,
/// with the answer (redacted, capped) as the `answer` metadata. Compare it yourself
/// (`pong == "PONG"`, a `bool`) when its content decides.
///
/// ```
/// use tower_vitals::{HealthChecker, HealthStatus};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// async fn redis_ping() -> Result<String, std::io::Error> {
///     Ok("PONG".to_owned())
/// }
/// let checker = HealthChecker::builder().check("redis", redis_ping).build().unwrap();
/// let report = checker.report().await;
/// assert_eq!(report.components[0].status, HealthStatus::Healthy);
/// assert_eq!(report.components[0].metadata["answer"], "PONG");
/// # }
/// ```
impl IntoCheckResult for String {
    fn into_check_result(self) -> Result<CheckResult, CheckError> {
        Ok(CheckResult::healthy().with_metadata("answer", self))
    }
}

impl IntoCheckResult for &'static str {
    fn into_check_result(self) -> Result<CheckResult, CheckError> {
        self.to_owned().into_check_result()
    }
}

impl<T: IntoCheckResult, E: fmt::Display> IntoCheckResult for Result<T, E> {
    fn into_check_result(self) -> Result<CheckResult, CheckError> {
        match self {
            Ok(value) => value.into_check_result(),
            Err(error) => Err(CheckError::new(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returned_values_convert() {
        assert_eq!(
            ().into_check_result().unwrap().status(),
            HealthStatus::Healthy
        );
        assert!(false.into_check_result().is_err());
        let err: Result<(), &str> = Err("refused");
        assert_eq!(err.into_check_result().unwrap_err().message(), "refused");
        let ok: Result<HealthStatus, String> = Ok(HealthStatus::Degraded);
        assert_eq!(
            ok.into_check_result().unwrap().status(),
            HealthStatus::Degraded
        );
    }

    #[test]
    fn error_sources_are_chained() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("query failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = CheckError::from(Outer(std::io::Error::other("connection reset")));
        assert_eq!(error.message(), "query failed: connection reset");
    }
}
