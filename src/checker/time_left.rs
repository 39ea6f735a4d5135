//! [`check_time_left`]: how long the running attempt of a check has before the checker's
//! timeout, so a check can bound its own work (a statement timeout, a gRPC deadline) to it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The time left before the checker times out the attempt of the check whose future calls
/// this; `None` outside a check run by a [`HealthChecker`](crate::HealthChecker) (a check called
/// directly, or code in a task the check spawned).
///
/// A check that starts work elsewhere — a query on a database server, a call to another
/// service — passes this on as that work's own limit, so nothing goes on running after the
/// checker has given up: the built-in database and gRPC checks do.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::{Check, HealthChecker, HealthStatus, check_time_left};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let checker = HealthChecker::builder()
///     .register(
///         Check::new("limit", || async {
///             let left = check_time_left().expect("run by the checker");
///             assert!(left <= Duration::from_millis(300));
///         })
///         .timeout(Duration::from_millis(300)),
///     )
///     .build()
///     .unwrap();
/// assert_eq!(checker.report().await.status, HealthStatus::Healthy);
/// assert_eq!(check_time_left(), None);
/// # }
/// ```
pub fn check_time_left() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// Runs `future` with `deadline` as what [`check_time_left`] counts down to.
pub(crate) async fn until<F: Future>(deadline: Instant, future: F) -> F::Output {
    DEADLINE.scope(deadline, future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_down_inside_and_is_none_outside() {
        assert_eq!(check_time_left(), None);
        let deadline = Instant::now() + Duration::from_millis(500);
        until(deadline, async {
            assert_eq!(check_time_left(), Some(Duration::from_millis(500)));
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(check_time_left(), Some(Duration::from_millis(300)));
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert_eq!(check_time_left(), Some(Duration::ZERO));
        })
        .await;
    }
}
