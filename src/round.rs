//! Number formats shared by reports: milliseconds and three decimals.

use std::time::Duration;

/// Milliseconds, rounded to the microsecond.
pub(crate) fn millis(duration: Duration) -> f64 {
    round3(duration.as_secs_f64() * 1e3)
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
    }
}
