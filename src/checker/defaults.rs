//! Checker-wide defaults and their allowed ranges.

use std::time::Duration;

use super::check::CheckSpec;
use crate::config::HealthConfig;
use crate::error::ConfigError;
use crate::validate::{Range, count, duration};

/// Settings a [`Check`](crate::Check) inherits unless it sets its own, plus checker-wide ones.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) cache_ttl: Duration,
    pub(crate) deadline: Duration,
    /// `None`: worked out per check ([`Defaults::max_staleness_of`]).
    pub(crate) max_staleness: Option<Duration>,
}

impl Defaults {
    /// The checker-wide settings `config` gives replace these (per-check timeouts and enabled
    /// components are the caller's: they name checks).
    pub(crate) fn apply(&mut self, config: &HealthConfig) {
        self.timeout = config.timeout.unwrap_or(self.timeout);
        self.retries = config.retries.unwrap_or(self.retries);
        self.cache_ttl = config.cache_ttl.unwrap_or(self.cache_ttl);
        self.deadline = config.deadline.unwrap_or(self.deadline);
        self.max_staleness = config.max_staleness.or(self.max_staleness);
        self.failure_threshold = config.failure_threshold.unwrap_or(self.failure_threshold);
        self.success_threshold = config.success_threshold.unwrap_or(self.success_threshold);
    }

    pub(crate) const TIMEOUT_RANGE: Range<Duration> = (
        Duration::from_millis(1)..=Duration::from_secs(60),
        "1 ms to 60 s",
    );
    pub(crate) const DEADLINE_RANGE: Range<Duration> = Self::TIMEOUT_RANGE;
    pub(crate) const TTL_RANGE: Range<Duration> =
        (Duration::ZERO..=Duration::from_secs(3600), "0 to 1 h");
    pub(crate) const BACKOFF_RANGE: Range<Duration> =
        (Duration::ZERO..=Duration::from_secs(60), "0 to 60 s");
    pub(crate) const RETRIES_RANGE: Range<u32> = (0..=10, "0 to 10");
    pub(crate) const THRESHOLD_RANGE: Range<u32> = (1..=100, "1 to 100");

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        duration("timeout", self.timeout, Self::TIMEOUT_RANGE)?;
        duration("deadline", self.deadline, Self::DEADLINE_RANGE)?;
        duration("cache TTL", self.cache_ttl, Self::TTL_RANGE)?;
        if let Some(age) = self.max_staleness {
            let allowed = (
                self.cache_ttl.max(Duration::from_millis(1))..=Duration::from_secs(86_400),
                "at least the cache TTL and 1 ms, at most 24 h",
            );
            duration("maximum staleness", age, allowed)?;
        }
        duration("backoff base", self.backoff_base, Self::BACKOFF_RANGE)?;
        duration("backoff maximum", self.backoff_max, Self::BACKOFF_RANGE)?;
        count("retries", self.retries, Self::RETRIES_RANGE)?;
        count(
            "failure threshold",
            self.failure_threshold,
            Self::THRESHOLD_RANGE,
        )?;
        count(
            "success threshold",
            self.success_threshold,
            Self::THRESHOLD_RANGE,
        )?;
        Ok(())
    }
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(2000),
            retries: 1,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            failure_threshold: 1,
            success_threshold: 1,
            cache_ttl: Duration::from_secs(1),
            deadline: Duration::from_millis(800),
            max_staleness: None,
        }
    }
}

impl Defaults {
    /// How old `spec`'s result may be served: the setting, or three freshness windows plus the
    /// longest run.
    pub(crate) fn max_staleness_of(&self, spec: &CheckSpec) -> Duration {
        self.max_staleness.unwrap_or_else(|| {
            let window = spec
                .background
                .map_or(self.cache_ttl, |interval| interval * 2);
            window.saturating_mul(3).saturating_add(spec.longest_run())
        })
    }
}
