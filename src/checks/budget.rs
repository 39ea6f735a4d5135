//! How long a run of a check that bounds its own work (a query, a call) may take.

use std::time::Duration;

use crate::checker::check_time_left;

/// A run's limit when neither the check nor the checker gives one.
const FALLBACK: Duration = Duration::from_secs(2);

/// The limit set on the check, else nine tenths of what the checker's timeout leaves of this
/// attempt (so the check's own limit ends the work first, and its error — the server's, or
/// "stopped after …" — is the one reported rather than the checker's "timed out"), else 2 s;
/// at least 1 ms.
#[cfg_attr(
    not(any(
        feature = "postgres",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite",
        feature = "tonic",
        feature = "redis"
    )),
    allow(dead_code)
)]
pub(super) fn budget(configured: Option<Duration>) -> Duration {
    configured
        .or_else(|| check_time_left().map(|left| left * 9 / 10))
        .unwrap_or(FALLBACK)
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_then_the_checker_then_two_seconds() {
        assert_eq!(
            budget(Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(budget(None), FALLBACK);
        assert_eq!(budget(Some(Duration::ZERO)), Duration::from_millis(1));
    }
}
