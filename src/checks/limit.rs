//! [`Limit`]: where a measured value turns a check degraded, then unhealthy.

use crate::error::ConfigError;
use crate::health_report::HealthStatus;

/// Two thresholds on one measured value: degraded from the first, unhealthy from the second.
///
/// ```
/// use tower_vitals::HealthStatus;
/// use tower_vitals::checks::Limit;
///
/// let cpu = Limit::above(80.0, 95.0).unwrap(); // percent: higher is worse
/// assert_eq!(cpu.status(85.0), HealthStatus::Degraded);
/// let free = Limit::below(0.10, 0.05).unwrap(); // share of disk free: lower is worse
/// assert_eq!(free.status(0.03), HealthStatus::Unhealthy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    degraded: f64,
    unhealthy: f64,
    higher_is_worse: bool,
}

impl Limit {
    /// Degraded from `degraded` up, unhealthy from `unhealthy` up (`degraded <= unhealthy`).
    pub fn above(degraded: f64, unhealthy: f64) -> Result<Self, ConfigError> {
        Self::new(degraded, unhealthy, true)
    }

    /// Degraded from `degraded` down, unhealthy from `unhealthy` down (`degraded >= unhealthy`).
    pub fn below(degraded: f64, unhealthy: f64) -> Result<Self, ConfigError> {
        Self::new(degraded, unhealthy, false)
    }

    fn new(degraded: f64, unhealthy: f64, higher_is_worse: bool) -> Result<Self, ConfigError> {
        let ordered = if higher_is_worse {
            degraded <= unhealthy
        } else {
            degraded >= unhealthy
        };
        if !degraded.is_finite() || !unhealthy.is_finite() || !ordered {
            return Err(ConfigError::InvalidNumber {
                setting: format!(
                    "limit (degraded {} unhealthy)",
                    if higher_is_worse {
                        "at most"
                    } else {
                        "at least"
                    }
                ),
                value: format!("degraded {degraded}, unhealthy {unhealthy}"),
            });
        }
        Ok(Self {
            degraded,
            unhealthy,
            higher_is_worse,
        })
    }

    /// The status for a measured value.
    pub fn status(&self, value: f64) -> HealthStatus {
        let crosses = |threshold: f64| {
            if self.higher_is_worse {
                value >= threshold
            } else {
                value <= threshold
            }
        };
        if crosses(self.unhealthy) {
            HealthStatus::Unhealthy
        } else if crosses(self.degraded) {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }

    /// Where degraded begins.
    pub(crate) fn degraded(&self) -> f64 {
        self.degraded
    }

    /// Where unhealthy begins.
    pub(crate) fn unhealthy(&self) -> f64 {
        self.unhealthy
    }

    /// How a value crosses the limit, as a message says it.
    pub(crate) fn relation(&self) -> &'static str {
        if self.higher_is_worse {
            "at or above"
        } else {
            "at or below"
        }
    }

    /// Describes the value against the limit, for a check message.
    pub(crate) fn describe(&self, what: &str, value: f64, unit: &str) -> String {
        let threshold = match self.status(value) {
            HealthStatus::Unhealthy => self.unhealthy,
            _ => self.degraded,
        };
        let relation = self.relation();
        let show = |v: f64| match unit {
            "" => format!("{}", round(v)),
            "%" => format!("{}%", round(v)),
            unit => format!("{} {unit}", round(v)),
        };
        format!("{what} {} is {relation} {}", show(value), show(threshold))
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_ordered_and_inclusive() {
        let limit = Limit::above(10.0, 20.0).unwrap();
        assert_eq!(limit.status(9.9), HealthStatus::Healthy);
        assert_eq!(limit.status(10.0), HealthStatus::Degraded);
        assert_eq!(limit.status(20.0), HealthStatus::Unhealthy);
        assert!(Limit::above(20.0, 10.0).is_err());
        assert!(Limit::below(0.05, 0.10).is_err());
        assert!(Limit::above(f64::NAN, 1.0).is_err());
        assert_eq!(
            limit.describe("lag", 25.0, "ms"),
            "lag 25 ms is at or above 20 ms"
        );
        assert_eq!(
            limit.describe("cpu", 12.345, "%"),
            "cpu 12.35% is at or above 10%"
        );
    }
}
