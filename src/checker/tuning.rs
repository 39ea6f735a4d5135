//! The settings of a running checker that can change without a restart
//! ([`HealthChecker::reconfigure`](super::HealthChecker::reconfigure)): each check's timeout,
//! retries, thresholds, maximum staleness and whether it is enabled, and the checker's cache TTL
//! and deadline. Kept in atomics beside what they tune, so a run, a probe or a report reads
//! them without a lock and a change touches no cached result, history point or incident.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::check::CheckSpec;
use super::defaults::Defaults;
use crate::config::{HealthConfig, env_name, var};
use crate::error::ConfigError;
use crate::health_report::{Refusal, SettingsStatus};

/// A check's tunable settings, as they stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tuned {
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) max_staleness: Duration,
    pub(crate) enabled: bool,
}

/// Which of a check's settings were its own at build (its registration, or a
/// `HEALTH_CHECK_<NAME>_TIMEOUT_MS`): a checker-wide value does not replace those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Own {
    pub(crate) timeout: bool,
    pub(crate) retries: bool,
    pub(crate) failure_threshold: bool,
    pub(crate) success_threshold: bool,
}

/// A check's tunable settings, read without a lock.
#[derive(Debug)]
pub(crate) struct Tuning {
    timeout_ns: AtomicU64,
    retries: AtomicU32,
    failure_threshold: AtomicU32,
    success_threshold: AtomicU32,
    max_staleness_ns: AtomicU64,
    enabled: AtomicBool,
    /// As built: what a reconfiguration starts from.
    pub(crate) built: Tuned,
    pub(crate) own: Own,
}

pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Tuning {
    pub(crate) fn new(spec: &CheckSpec, max_staleness: Duration, own: Own) -> Self {
        let built = Tuned {
            timeout: spec.timeout,
            retries: spec.retries,
            failure_threshold: spec.failure_threshold,
            success_threshold: spec.success_threshold,
            max_staleness,
            enabled: true,
        };
        let tuning = Self {
            timeout_ns: AtomicU64::new(0),
            retries: AtomicU32::new(0),
            failure_threshold: AtomicU32::new(0),
            success_threshold: AtomicU32::new(0),
            max_staleness_ns: AtomicU64::new(0),
            enabled: AtomicBool::new(true),
            built,
            own,
        };
        tuning.set(&built);
        tuning
    }

    /// Applies `tuned`; the next run, probe or report sees it.
    pub(crate) fn set(&self, tuned: &Tuned) {
        self.timeout_ns
            .store(nanos(tuned.timeout), Ordering::Relaxed);
        self.retries.store(tuned.retries, Ordering::Relaxed);
        self.failure_threshold
            .store(tuned.failure_threshold, Ordering::Relaxed);
        self.success_threshold
            .store(tuned.success_threshold, Ordering::Relaxed);
        self.max_staleness_ns
            .store(nanos(tuned.max_staleness), Ordering::Relaxed);
        self.enabled.store(tuned.enabled, Ordering::Release);
    }

    /// The settings as they stand.
    pub(crate) fn get(&self) -> Tuned {
        Tuned {
            timeout: Duration::from_nanos(self.timeout_ns.load(Ordering::Relaxed)),
            retries: self.retries.load(Ordering::Relaxed),
            failure_threshold: self.failure_threshold.load(Ordering::Relaxed),
            success_threshold: self.success_threshold.load(Ordering::Relaxed),
            max_staleness: self.max_staleness(),
            enabled: self.enabled(),
        }
    }

    pub(crate) fn failure_threshold(&self) -> u32 {
        self.failure_threshold.load(Ordering::Relaxed)
    }

    pub(crate) fn success_threshold(&self) -> u32 {
        self.success_threshold.load(Ordering::Relaxed)
    }

    pub(crate) fn max_staleness(&self) -> Duration {
        Duration::from_nanos(self.max_staleness_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// `spec` with the timeout and retries as they stand, for one run.
    pub(crate) fn spec_for_run(&self, spec: &CheckSpec) -> CheckSpec {
        let tuned = self.get();
        CheckSpec {
            timeout: tuned.timeout,
            retries: tuned.retries,
            failure_threshold: tuned.failure_threshold,
            success_threshold: tuned.success_threshold,
            ..spec.clone()
        }
    }
}

/// A duration in an atomic: the checker's cache TTL and deadline.
#[derive(Debug)]
pub(crate) struct AtomicDuration(AtomicU64);

impl AtomicDuration {
    pub(crate) fn new(duration: Duration) -> Self {
        Self(AtomicU64::new(nanos(duration)))
    }

    pub(crate) fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, duration: Duration) {
        self.0.store(nanos(duration), Ordering::Relaxed);
    }
}

impl super::HealthChecker {
    /// Applies `config`'s runtime settings to this running checker — the timeouts
    /// (`HEALTH_CHECK_TIMEOUT_MS`, `HEALTH_CHECK_<NAME>_TIMEOUT_MS`), `HEALTH_CHECK_RETRY_COUNT`,
    /// the failure and success thresholds, `HEALTH_CHECK_CACHE_TTL_MS`,
    /// `HEALTH_CHECK_DEADLINE_MS`, `HEALTH_CHECK_MAX_STALENESS_MS` and
    /// `HEALTH_CHECK_ENABLED_COMPONENTS` — on top of the settings it was built with: a variable
    /// `config` leaves unset keeps the value as built (so taking a variable out of a config file
    /// undoes it), and a checker-wide value leaves alone a check that was given its own (by its
    /// registration or its `HEALTH_CHECK_<NAME>_TIMEOUT_MS` at start), as at build.
    ///
    /// Validated as at build, and refused whole: on an error (a per-check timeout or an enabled
    /// component that names no check, a maximum staleness below the cache TTL…) nothing changes
    /// and the error names the variable and its value. Applied, it takes effect at the next run
    /// of each check and the next probe; no cached result, history point or incident is lost,
    /// and no probe waits. A disabled check is not run and leaves the reports (its history and
    /// incidents stay); enabled again, it runs at the next report. Only checks registered at
    /// build can be enabled. Paths, the fleet, webhooks and the drain are read at start only.
    ///
    /// ```
    /// use tower_vitals::{HealthChecker, HealthConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_vitals::ConfigError> {
    /// let checker = HealthChecker::builder()
    ///     .check("db", || async {})
    ///     .check("cache", || async {})
    ///     .build()?;
    /// let changed = HealthConfig::from_vars([
    ///     ("HEALTH_CHECK_TIMEOUT_MS", "5000"),
    ///     ("HEALTH_CHECK_ENABLED_COMPONENTS", "db"),
    /// ])?;
    /// checker.reconfigure(&changed)?;
    /// assert_eq!(checker.report().await.components.len(), 1);
    ///
    /// let typo = HealthConfig::from_vars([("HEALTH_CHECK_ENABLED_COMPONENTS", "dbb")])?;
    /// let refused = checker.reconfigure(&typo).unwrap_err().to_string();
    /// assert!(refused.contains("HEALTH_CHECK_ENABLED_COMPONENTS") && refused.contains("dbb"));
    /// assert_eq!(checker.report().await.components.len(), 1, "the running settings kept");
    /// # Ok(())
    /// # }
    /// ```
    pub fn reconfigure(&self, config: &crate::config::HealthConfig) -> Result<(), ConfigError> {
        let shared = &*self.shared;
        let mut defaults = shared.built.clone();
        defaults.apply(config);
        defaults.validate()?;
        let names: Vec<&str> = shared.slots.iter().map(|s| s.spec.name.as_str()).collect();
        for key in config.check_timeouts.keys() {
            if !names.iter().any(|name| env_name(name) == *key) {
                return Err(ConfigError::UnknownCheck {
                    setting: var::check_timeout(key),
                    name: key.clone(),
                    known: names.iter().map(|name| env_name(name)).collect(),
                });
            }
        }
        if let Some(enabled) = &config.enabled_components
            && let Some(name) = enabled.iter().find(|name| !names.contains(&name.as_str()))
        {
            return Err(ConfigError::UnknownCheck {
                setting: var::ENABLED_COMPONENTS.to_owned(),
                name: name.clone(),
                known: names.iter().map(|name| (*name).to_owned()).collect(),
            });
        }
        let tuned: Vec<Tuned> = shared
            .slots
            .iter()
            .map(|slot| tuned(&slot.spec, &slot.tuning, config, &defaults))
            .collect();
        shared.cache_ttl.set(defaults.cache_ttl);
        shared.deadline.set(defaults.deadline);
        let mut changed = 0;
        for (slot, tuned) in shared.slots.iter().zip(&tuned) {
            changed += usize::from(slot.tuning.get() != *tuned);
            slot.tuning.set(tuned);
        }
        tracing::info!(checks_changed = changed, "health settings reconfigured");
        Ok(())
    }
}

impl super::HealthChecker {
    /// Applies the settings read from `source` (or records why they could not be read) and
    /// keeps the outcome for `/health` and `/metrics`. A refusal is logged once while it
    /// stands (the same error again is not logged again); its text is redacted.
    pub(crate) fn reconfigure_from(
        &self,
        source: &str,
        config: Result<HealthConfig, ConfigError>,
    ) -> Result<(), ConfigError> {
        let outcome = config.and_then(|config| self.reconfigure(&config).map(|()| config));
        let mut settings = self.shared.settings.lock();
        let status = settings.get_or_insert_with(|| SettingsStatus {
            source: source.to_owned(),
            applied: 0,
            refused: 0,
            applied_at: None,
            refusal: None,
        });
        let now = crate::clock::now();
        match outcome {
            Ok(_) => {
                status.applied += 1;
                status.applied_at = Some(now);
                status.refusal = None;
                Ok(())
            }
            Err(error) => {
                let text = crate::redact::redact(&error.to_string());
                let again = status.refusal.as_ref().is_some_and(|r| r.error == text);
                if !again {
                    tracing::warn!(
                        source,
                        error = %text,
                        "health settings refused: the running settings are kept"
                    );
                }
                status.refused += 1;
                status.refusal = Some(Refusal {
                    at: now,
                    error: text,
                });
                Err(error)
            }
        }
    }

    /// Settings read from a source at run time: what was applied and what refused (`None`
    /// when none is read).
    pub fn settings_status(&self) -> Option<SettingsStatus> {
        self.shared.settings.lock().clone()
    }
}

/// A check's settings under `config`, from what it was built with.
fn tuned(spec: &CheckSpec, tuning: &Tuning, config: &HealthConfig, defaults: &Defaults) -> Tuned {
    let (built, own) = (tuning.built, tuning.own);
    let timeout = config
        .check_timeouts
        .get(&env_name(&spec.name))
        .copied()
        .or(config.timeout.filter(|_| !own.timeout))
        .unwrap_or(built.timeout);
    let pick = |own: bool, given: Option<u32>, built: u32| match own {
        true => built,
        false => given.unwrap_or(built),
    };
    let retries = pick(own.retries, config.retries, built.retries);
    let run = CheckSpec {
        timeout,
        retries,
        ..spec.clone()
    };
    Tuned {
        timeout,
        retries,
        failure_threshold: pick(
            own.failure_threshold,
            config.failure_threshold,
            built.failure_threshold,
        ),
        success_threshold: pick(
            own.success_threshold,
            config.success_threshold,
            built.success_threshold,
        ),
        max_staleness: defaults.max_staleness_of(&run),
        enabled: config
            .enabled_components
            .as_ref()
            .is_none_or(|names| names.contains(&spec.name)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use crate::checker::{Check, HealthChecker};
    use crate::config::{HealthConfig, var};
    use crate::health_report::HealthStatus;

    fn config(vars: &[(&str, &str)]) -> HealthConfig {
        HealthConfig::from_vars(vars.iter().copied()).unwrap()
    }

    /// A check that takes 300 ms, and how many times it ran.
    fn slow(
        runs: &Arc<AtomicU64>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
    + Send
    + Sync
    + 'static {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            Box::pin(tokio::time::sleep(Duration::from_millis(300)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_raised_timeout_applies_at_the_next_run_and_keeps_history_and_incidents() {
        let runs = Arc::new(AtomicU64::new(0));
        let checker = HealthChecker::builder()
            .check("db", slow(&runs))
            .timeout(Duration::from_millis(100))
            .cache_ttl(Duration::ZERO)
            .build()
            .unwrap();
        let report = checker.report().await;
        assert_eq!(report.components[0].status, HealthStatus::Unhealthy);
        let incidents = checker.incidents(None, std::time::UNIX_EPOCH).len();
        assert_eq!(incidents, 1);
        let history = report.components[0].history.runs;

        checker
            .reconfigure(&config(&[(var::TIMEOUT, "1000")]))
            .unwrap();
        let report = checker.report().await;
        let db = &report.components[0];
        assert_eq!(db.status, HealthStatus::Healthy, "{db:?}");
        assert_eq!(db.history.runs, history + 1, "the history goes on");
        let log = checker.incidents(None, std::time::UNIX_EPOCH);
        assert_eq!(log.len(), 1, "the incident is kept");
        assert!(log[0].end.is_some(), "and now over");

        // Taken out of the config again: the timeout as built. (The first report after serves
        // the healthy result while a refresh runs, as always.)
        checker.reconfigure(&config(&[])).unwrap();
        checker.report().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let report = checker.report().await;
        assert_eq!(report.components[0].status, HealthStatus::Unhealthy);
    }

    #[tokio::test(start_paused = true)]
    async fn a_disabled_component_leaves_the_reports_and_is_not_run_until_enabled_again() {
        let runs = Arc::new(AtomicU64::new(0));
        let counted = runs.clone();
        let checker = HealthChecker::builder()
            .check("db", || async {})
            .check("cache", move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async {}
            })
            .cache_ttl(Duration::ZERO)
            .build()
            .unwrap();
        checker.report().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        checker
            .reconfigure(&config(&[(var::ENABLED_COMPONENTS, "db")]))
            .unwrap();
        for _ in 0..3 {
            let report = checker.report().await;
            let names: Vec<&str> = report.components.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["db"]);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "not run while disabled");
        checker.reconfigure(&config(&[])).unwrap();
        // Back in the reports at once (its last result served while it runs again).
        assert_eq!(checker.report().await.components.len(), 2);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let report = checker.report().await;
        assert_eq!(report.components[1].history.runs, 2, "its history kept");
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_change_is_refused_whole_with_the_variable_named() {
        let checker = HealthChecker::builder()
            .check("db", || async {})
            .register(Check::new("cache", || async {}).timeout(Duration::from_millis(50)))
            .cache_ttl(Duration::from_secs(2))
            .build()
            .unwrap();
        let before: Vec<_> = checker
            .shared
            .slots
            .iter()
            .map(|s| s.tuning.get())
            .collect();
        let redis = var::check_timeout("REDIS");
        let unknown_enabled = format!("{} names \"dbb\"", var::ENABLED_COMPONENTS);
        let unknown_timeout = format!("{redis} names \"REDIS\"");
        for (vars, said) in [
            (
                &[(var::TIMEOUT, "900"), (var::ENABLED_COMPONENTS, "db,dbb")][..],
                unknown_enabled.as_str(),
            ),
            (
                &[(var::RETRY_COUNT, "2"), (redis.as_str(), "100")][..],
                unknown_timeout.as_str(),
            ),
            (&[(var::MAX_STALENESS, "500")][..], "maximum staleness"),
        ] {
            let refused = checker.reconfigure(&config(vars)).unwrap_err().to_string();
            assert!(refused.contains(said), "{refused}");
            let after: Vec<_> = checker
                .shared
                .slots
                .iter()
                .map(|s| s.tuning.get())
                .collect();
            assert_eq!(after, before, "nothing changed");
            assert_eq!(checker.shared.cache_ttl.get(), Duration::from_secs(2));
        }
        // A checker-wide timeout leaves a check's own alone; a per-check one replaces it.
        checker
            .reconfigure(&config(&[(var::TIMEOUT, "900")]))
            .unwrap();
        let timeouts: Vec<u128> = checker
            .shared
            .slots
            .iter()
            .map(|s| s.tuning.get().timeout.as_millis())
            .collect();
        assert_eq!(timeouts, [900, 50]);
        checker
            .reconfigure(&config(&[(var::check_timeout("CACHE").as_str(), "70")]))
            .unwrap();
        assert_eq!(
            checker.shared.slots[1].tuning.get().timeout,
            Duration::from_millis(70)
        );
    }
}
