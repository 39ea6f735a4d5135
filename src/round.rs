//! Number formats shared by reports: milliseconds and three decimals.

use std::time::Duration;

/// Milliseconds, rounded to the microsecond.
pub(crate) fn millis(duration: Duration) -> f64 {
    round3(duration.as_secs_f64() * 1e3)
}

/// A duration as a message shows it: whole seconds from a second up, milliseconds below
/// (`1m 35s`, `160ms` once formatted by humantime).
pub(crate) fn readable(duration: Duration) -> Duration {
    if duration >= Duration::from_secs(1) {
        Duration::from_secs(duration.as_secs())
    } else {
        Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Rounded to three decimals.
pub(crate) fn round3(value: f64) -> f64 {
    (value * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(millis(Duration::from_nanos(1_234_567)), 1.235);
        assert_eq!(round3(2.0 / 3.0), 0.667);
        assert_eq!(
            readable(Duration::from_millis(95_700)),
            Duration::from_secs(95)
        );
        assert_eq!(
            readable(Duration::from_micros(160_900)),
            Duration::from_millis(160)
        );
    }
}
