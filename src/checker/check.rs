//! [`Check`]: a check plus its name and per-check settings, validated when the checker is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::defaults::Defaults;
use super::health_check::HealthCheck;
use crate::error::ConfigError;
use crate::health_report::HealthStatus;
use crate::validate::{count, duration};

/// Longest accepted check name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// A named check with its settings; unset settings take the checker's defaults.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::{Check, HealthChecker};
///
/// let cache = Check::new("cache", || async { Ok::<_, std::io::Error>(()) })
///     .timeout(Duration::from_millis(300))
///     .critical(false) // a cache outage degrades, it does not take the service down
///     .tag("ready");
/// let checker = HealthChecker::builder().register(cache).build().unwrap();
/// assert_eq!(checker.check_names().collect::<Vec<_>>(), ["cache"]);
/// ```
#[must_use]
pub struct Check {
    name: String,
    check: Arc<dyn HealthCheck>,
    timeout: Option<Duration>,
    retries: Option<u32>,
    failure_status: HealthStatus,
    tags: Vec<String>,
    failure_threshold: Option<u32>,
    success_threshold: Option<u32>,
    background: Option<Duration>,
    shared: bool,
    once: bool,
}

impl Check {
    /// A check named `name` (validated by [`HealthCheckerBuilder::build`](crate::HealthCheckerBuilder::build)).
    pub fn new(name: impl Into<String>, check: impl HealthCheck) -> Self {
        Self {
            name: name.into(),
            check: Arc::new(check),
            timeout: None,
            retries: None,
            failure_status: HealthStatus::Unhealthy,
            tags: Vec::new(),
            failure_threshold: None,
            success_threshold: None,
            background: None,
            shared: false,
            once: false,
        }
    }

    /// How long one attempt may take before it counts as a failure (default: the checker's,
    /// 2000 ms). The attempt is cancelled when it runs out.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times a failed attempt is retried, with exponential backoff (default: the
    /// checker's, 1).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// `false` makes a failure show as [`HealthStatus::Degraded`] instead of `Unhealthy`, so the
    /// check never fails readiness on its own. Default `true`.
    pub fn critical(self, critical: bool) -> Self {
        self.failure_status(if critical {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Degraded
        })
    }

    /// The status a failure (error, panic, timeout) is reported as. It also caps what the check
    /// can report: a check with failure status `Degraded` is never shown as `Unhealthy`.
    pub fn failure_status(mut self, status: HealthStatus) -> Self {
        self.failure_status = status;
        self
    }

    /// Adds a tag; a [`Selector`](crate::Selector) can pick checks by tag (readiness, say).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Failed runs in a row needed before the check shows as failed (default: the checker's, 1).
    pub fn failure_threshold(mut self, runs: u32) -> Self {
        self.failure_threshold = Some(runs);
        self
    }

    /// Passing runs in a row needed before a failed check shows as recovered (default: the
    /// checker's, 1).
    pub fn success_threshold(mut self, runs: u32) -> Self {
        self.success_threshold = Some(runs);
        self
    }

    /// Runs the check on its own schedule, every `interval` (± 10 % jitter), never on the probe
    /// path: for expensive checks. Reports show its last result (fresh while younger than two
    /// intervals) and `unknown` until the first run finished. 100 ms to 1 h.
    pub fn background(mut self, interval: Duration) -> Self {
        self.background = Some(interval);
        self
    }

    /// Marks the check as one of a dependency every replica of the fleet shares (the database,
    /// say). With a [`Fleet`](crate::fleet::Fleet) given to the `HealthLayer`, readiness judges
    /// its failure against the other replicas': failing on most of them is a shared outage
    /// and readiness stays ready (pulling every replica would only trade the app's fast error
    /// for refused connections); failing here while the others pass is a local fault and
    /// readiness fails. A replica that sees another begin to fail it runs it again at once
    /// and publishes the result, so that a local fault is told within 1.4 of the fleet's
    /// intervals of its first failing run. Without a fleet, it changes nothing.
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Runs the check on one replica of the fleet only — an expensive check, or one of a
    /// rate-limited API — instead of on every one: with a [`Fleet`](crate::fleet::Fleet), the
    /// replica holding the check's lease in the store runs it (renewing the lease every
    /// interval) and the others show the result it published, with its age and who ran it
    /// (`run once per fleet by shop-2, 0.4 s ago`). A holder that stops loses the lease when
    /// it expires (three fleet intervals) and another replica takes it over. Without a fleet,
    /// with the store out of reach, and before this replica's first exchange, each replica
    /// runs it itself. Best with [`background`](Self::background), so the holder runs it on a
    /// schedule of its own.
    pub fn once_per_fleet(mut self) -> Self {
        self.once = true;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which settings it was given itself (not left to the checker's defaults).
    pub(crate) fn own(&self) -> super::tuning::Own {
        super::tuning::Own {
            timeout: self.timeout.is_some(),
            retries: self.retries.is_some(),
            failure_threshold: self.failure_threshold.is_some(),
            success_threshold: self.success_threshold.is_some(),
        }
    }

    pub(crate) fn resolve(self, defaults: &Defaults) -> Result<CheckSpec, ConfigError> {
        validate_name(&self.name)?;
        let setting = |what: &str| format!("check {:?} {what}", self.name);
        let timeout = self.timeout.unwrap_or(defaults.timeout);
        duration(&setting("timeout"), timeout, Defaults::TIMEOUT_RANGE)?;
        let retries = self.retries.unwrap_or(defaults.retries);
        count(&setting("retries"), retries, Defaults::RETRIES_RANGE)?;
        let failure_threshold = self.failure_threshold.unwrap_or(defaults.failure_threshold);
        count(
            &setting("failure threshold"),
            failure_threshold,
            Defaults::THRESHOLD_RANGE,
        )?;
        let success_threshold = self.success_threshold.unwrap_or(defaults.success_threshold);
        count(
            &setting("success threshold"),
            success_threshold,
            Defaults::THRESHOLD_RANGE,
        )?;
        if let Some(interval) = self.background {
            duration(
                &setting("background interval"),
                interval,
                (
                    Duration::from_millis(100)..=Duration::from_secs(3600),
                    "100 ms to 1 h",
                ),
            )?;
        }
        Ok(CheckSpec {
            background: self.background,
            shared: self.shared,
            once: self.once,
            name: self.name,
            check: self.check,
            timeout,
            retries,
            backoff_base: defaults.backoff_base,
            backoff_max: defaults.backoff_max,
            failure_status: self.failure_status,
            tags: self.tags,
            failure_threshold,
            success_threshold,
        })
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("failure_status", &self.failure_status)
            .field("tags", &self.tags)
            .field("shared", &self.shared)
            .field("once_per_fleet", &self.once)
            .finish_non_exhaustive()
    }
}

/// A check with every setting resolved.
#[derive(Clone)]
pub(crate) struct CheckSpec {
    pub(crate) name: String,
    pub(crate) check: Arc<dyn HealthCheck>,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) failure_status: HealthStatus,
    pub(crate) tags: Vec<String>,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) background: Option<Duration>,
    /// Judged against the fleet ([`Check::shared`]).
    pub(crate) shared: bool,
    /// Run by the lease holder only ([`Check::once_per_fleet`]).
    pub(crate) once: bool,
}

impl CheckSpec {
    /// The pause before retry number `retry` (1-based): base × 2^(retry-1), at most the maximum.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .map_or(self.backoff_max, |delay| delay.min(self.backoff_max))
    }

    /// The longest a run can take: every attempt timing out, with the pauses between them.
    pub(crate) fn longest_run(&self) -> Duration {
        let attempts = self.timeout.saturating_mul(self.retries.saturating_add(1));
        (1..=self.retries).fold(attempts, |total, retry| {
            total.saturating_add(self.backoff(retry))
        })
    }

    pub(crate) fn critical(&self) -> bool {
        self.failure_status == HealthStatus::Unhealthy
    }
}

pub(crate) fn validate_name(name: &str) -> Result<(), ConfigError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("it is longer than 128 characters")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.trim() != name {
        Some("it starts or ends with whitespace")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConfigError::InvalidCheckName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> Result<CheckSpec, ConfigError> {
        Check::new(name, || async {}).resolve(&Defaults::default())
    }

    #[test]
    fn names_are_validated() {
        assert!(spec("db").is_ok());
        assert!(spec("cache \"primary\" ✓").is_ok());
        for bad in ["", " db", "db\n", "a\u{7}b", &"x".repeat(129)] {
            let err = spec(bad).err().expect(bad);
            assert!(matches!(err, ConfigError::InvalidCheckName { .. }), "{err}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let spec = spec("db").unwrap();
        assert_eq!(spec.backoff(1), Duration::from_millis(50));
        assert_eq!(spec.backoff(2), Duration::from_millis(100));
        assert_eq!(spec.backoff(3), Duration::from_millis(200));
        assert_eq!(spec.backoff(40), spec.backoff_max);
    }

    #[test]
    fn per_check_settings_are_range_checked() {
        let zero = Check::new("db", || async {})
            .timeout(Duration::ZERO)
            .resolve(&Defaults::default());
        assert_eq!(
            zero.err().unwrap().to_string(),
            "check \"db\" timeout of 0 ms is out of range (1 ms to 60 s)"
        );
        let never = Check::new("db", || async {})
            .failure_threshold(0)
            .resolve(&Defaults::default());
        assert!(matches!(never, Err(ConfigError::InvalidCount { .. })));
    }
}
