//! [`HealthCheckerBuilder`]: checker-wide defaults, the checks, listeners; validated at build.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::time::Instant;

use super::borrow::GateCell;
use super::defaults::Defaults;
use super::incidents::IncidentLog;
use super::lifecycle::LifecycleState;
use super::listen::{self, StatusChange};
use super::slot::Slot;
use super::timeline::{Timeline, TimelineSettings};
use super::tuning::{AtomicDuration, Tuning};
use super::{Check, HealthCheck, HealthChecker, Shared};
use crate::config::{HealthConfig, env_name, var};
use crate::error::ConfigError;
use crate::validate::{count, duration};

/// Builds a [`HealthChecker`]: checker-wide defaults and the checks. Errors (bad names,
/// duplicates, out-of-range settings) are reported by [`build`](Self::build).
///
#[doc = include_str!("../../docs/checker.md")]
#[derive(Default)]
#[must_use]
pub struct HealthCheckerBuilder {
    defaults: Defaults,
    checks: Vec<Check>,
    history: Option<usize>,
    timeline: TimelineSettings,
    incident_log: Option<usize>,
    listeners: Vec<listen::Listener>,
    /// The setting that asked, and the names of the checks to keep.
    enabled: Option<(String, Vec<String>)>,
    /// Timeouts by the environment form of a check name.
    env_timeouts: BTreeMap<String, Duration>,
}

impl std::fmt::Debug for HealthCheckerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthCheckerBuilder")
            .field("defaults", &self.defaults)
            .field("checks", &self.checks)
            .field("history", &self.history)
            .field("listeners", &self.listeners.len())
            .field("enabled", &self.enabled)
            .field("env_timeouts", &self.env_timeouts)
            .finish()
    }
}

impl HealthCheckerBuilder {
    /// Registers `check` under `name` with the default settings.
    pub fn check(self, name: impl Into<String>, check: impl HealthCheck) -> Self {
        self.register(Check::new(name, check))
    }

    /// Registers a check with its own settings.
    pub fn register(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Default time one attempt may take (default 2000 ms; 1 ms to 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.defaults.timeout = timeout;
        self
    }

    /// Default number of retries after a failed attempt (default 1; at most 10).
    pub fn retries(mut self, retries: u32) -> Self {
        self.defaults.retries = retries;
        self
    }

    /// Pause before the first retry, doubled for each further one up to `max` (default 50 ms
    /// and 1 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.defaults.backoff_base = base;
        self.defaults.backoff_max = max;
        self
    }

    /// How long a result is reused before the check runs again (default 1 s; 0 runs it for
    /// every report, still once for concurrent ones).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.defaults.cache_ttl = ttl;
        self
    }

    /// The longest a report waits for running checks (default 800 ms); a check still running
    /// then is shown with its last result, marked stale.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.defaults.deadline = deadline;
        self
    }

    /// How old a result may be and still be served while a new run is under way; past it the
    /// component is `unknown` (readiness answers 503) with a reason saying so. Default, per
    /// check: three freshness windows (the cache TTL, or two background intervals) plus the
    /// longest the check's run can take (every attempt timing out, with the pauses); 1 ms to
    /// 24 h, and at least the cache TTL.
    ///
    /// Probes never wait for an expired result: they are answered from the last one at once
    /// and one refresh starts (single-flight). Only a check with no result yet, or one past
    /// this age, is waited for (up to the [deadline](Self::deadline)).
    pub fn max_staleness(mut self, age: Duration) -> Self {
        self.defaults.max_staleness = Some(age);
        self
    }

    /// Default failed runs in a row before a check shows as failed (default 1).
    pub fn failure_threshold(mut self, runs: u32) -> Self {
        self.defaults.failure_threshold = runs;
        self
    }

    /// Default passing runs in a row before a failed check shows as recovered (default 1).
    pub fn success_threshold(mut self, runs: u32) -> Self {
        self.defaults.success_threshold = runs;
        self
    }

    /// Runs kept per check for its history summary (default 32; 0 to 1024).
    pub fn history(mut self, runs: usize) -> Self {
        self.history = Some(runs);
        self
    }

    /// How finely and how far back each component's status over time is kept (default 10 s
    /// intervals for an hour and 1 min intervals for a day; steps of 1 s to 1 h, at most
    /// 100 000 intervals per ring, the coarse step a multiple of the fine one). Memory is fixed
    /// here: [`TimelineSettings::bytes_per_component`] per check (72 KB with the defaults).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_vitals::{HealthChecker, TimelineSettings};
    ///
    /// let minute = Duration::from_secs(60);
    /// let checker = HealthChecker::builder()
    ///     .timeline(TimelineSettings {
    ///         fine: (Duration::from_secs(10), 30 * minute),
    ///         coarse: (5 * minute, 7 * 24 * 60 * minute),
    ///     })
    ///     .build()?;
    /// # drop(checker);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn timeline(mut self, settings: TimelineSettings) -> Self {
        self.timeline = settings;
        self
    }

    /// How many incidents the log keeps, the newest (default 200; 0 to 100 000).
    pub fn incident_log(mut self, incidents: usize) -> Self {
        self.incident_log = Some(incidents);
        self
    }

    /// Calls `listener` once for every change of a component's shown status (and for its first
    /// result), from the task that ran the check. A listener that panics is logged and skipped.
    ///
    /// ```
    /// use tower_vitals::HealthChecker;
    ///
    /// let checker = HealthChecker::builder()
    ///     .check("db", || async {})
    ///     .on_change(|change| eprintln!("{} is now {}", change.check, change.to))
    ///     .build()
    ///     .unwrap();
    /// # drop(checker);
    /// ```
    pub fn on_change(mut self, listener: impl Fn(&StatusChange) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Keeps only the checks with these names; the others are left out. A name that is not
    /// registered is an error at [`build`](Self::build).
    pub fn enable_only<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        let names = names.into_iter().map(Into::into).collect();
        self.enabled = Some(("enable_only".to_owned(), names));
        self
    }

    /// Applies settings read from the environment ([`HealthConfig::from_env`]); they override
    /// what the builder and the checks set. A per-check timeout or an enabled component that
    /// names no registered check is an error at [`build`](Self::build), naming the variable.
    /// An example is in [`HealthConfig`]'s docs.
    pub fn config(mut self, config: &HealthConfig) -> Self {
        self.defaults.apply(config);
        if let Some(names) = &config.enabled_components {
            self.enabled = Some((var::ENABLED_COMPONENTS.to_owned(), names.clone()));
        }
        self.env_timeouts.extend(config.check_timeouts.clone());
        self
    }

    /// Validates the settings and every check.
    pub fn build(mut self) -> Result<HealthChecker, ConfigError> {
        self.apply_selection()?;
        self.defaults.validate()?;
        if self.defaults.backoff_base > self.defaults.backoff_max {
            duration(
                "backoff base (above the maximum)",
                self.defaults.backoff_base,
                (
                    Duration::ZERO..=self.defaults.backoff_max,
                    "at most the backoff maximum",
                ),
            )?;
        }
        let history = self.history.unwrap_or(32);
        if history > 1024 {
            return Err(ConfigError::InvalidCount {
                setting: "history".to_owned(),
                value: history as u64,
                allowed: "0 to 1024",
            });
        }
        validate_timeline(&self.timeline)?;
        let incident_log = self.incident_log.unwrap_or(200);
        count("incident log", incident_log, (0..=100_000, "0 to 100 000"))?;
        let started = Instant::now();
        let incidents = Arc::new(parking_lot::Mutex::new(IncidentLog::new(incident_log)));
        let gate = Arc::new(GateCell::default());
        let changes = Arc::new(tokio::sync::Notify::new());
        let notify = changes.clone();
        let mut listeners = self.listeners;
        listeners.push(Arc::new(move |_: &StatusChange| notify.notify_waiters()));
        let listeners: Arc<[listen::Listener]> = listeners.into();
        let mut slots: Vec<Arc<Slot>> = Vec::with_capacity(self.checks.len());
        for check in self.checks {
            let own = check.own();
            let spec = check.resolve(&self.defaults)?;
            if slots.iter().any(|slot| slot.spec.name == spec.name) {
                return Err(ConfigError::DuplicateCheckName(spec.name));
            }
            let max_staleness = self.defaults.max_staleness_of(&spec);
            let timeline = Timeline::new(&self.timeline, started);
            let tuning = Tuning::new(&spec, max_staleness, own);
            let slot = Slot::new(
                spec,
                history,
                tuning,
                listeners.clone(),
                timeline,
                (incidents.clone(), gate.clone()),
            );
            slots.push(Arc::new(slot));
        }
        // Background checks start now when built on a runtime, else on the first report.
        for slot in &slots {
            slot.ensure_background();
        }
        Ok(HealthChecker {
            shared: Arc::new(Shared {
                slots: slots.into(),
                cache_ttl: AtomicDuration::new(self.defaults.cache_ttl),
                deadline: AtomicDuration::new(self.defaults.deadline),
                built: self.defaults,
                settings: parking_lot::Mutex::new(None),
                accepting_traffic: AtomicBool::new(true),
                lifecycle: LifecycleState::default(),
                started,
                timeline: self.timeline,
                incidents,
                changes,
                gates: Arc::default(),
                gate,
            }),
        })
    }
}

impl HealthCheckerBuilder {
    /// Leaves out the checks not enabled and applies per-check timeouts from the environment.
    fn apply_selection(&mut self) -> Result<(), ConfigError> {
        if let Some((setting, names)) = self.enabled.take() {
            let known: Vec<String> = self.checks.iter().map(|c| c.name().to_owned()).collect();
            if let Some(name) = names.iter().find(|name| !known.contains(name)) {
                return Err(ConfigError::UnknownCheck {
                    setting,
                    name: name.clone(),
                    known,
                });
            }
            self.checks
                .retain(|check| names.iter().any(|name| name == check.name()));
        }
        for (key, timeout) in std::mem::take(&mut self.env_timeouts) {
            let Some(position) = self.checks.iter().position(|c| env_name(c.name()) == key) else {
                return Err(ConfigError::UnknownCheck {
                    setting: var::check_timeout(&key),
                    name: key,
                    known: self.checks.iter().map(|c| env_name(c.name())).collect(),
                });
            };
            let check = self.checks.remove(position);
            self.checks.insert(position, check.timeout(timeout));
        }
        Ok(())
    }
}

/// Steps of 1 s to 1 h, spans of at least a step and at most 100 000 intervals, the coarse
/// step a multiple of the fine one.
pub(crate) fn validate_timeline(settings: &TimelineSettings) -> Result<(), ConfigError> {
    for (name, (step, span)) in [("fine", settings.fine), ("coarse", settings.coarse)] {
        let setting = format!("timeline {name} step");
        duration(
            &setting,
            step,
            (
                Duration::from_secs(1)..=Duration::from_secs(3600),
                "1 s to 1 h",
            ),
        )?;
        let intervals = span.as_nanos() / step.as_nanos();
        if !(1..=100_000).contains(&intervals) {
            return Err(ConfigError::InvalidCount {
                setting: format!("timeline {name} intervals (span ÷ step)"),
                value: intervals as u64,
                allowed: "1 to 100 000",
            });
        }
    }
    if !settings
        .coarse
        .0
        .as_nanos()
        .is_multiple_of(settings.fine.0.as_nanos())
    {
        return Err(ConfigError::InvalidCount {
            setting: "timeline coarse step (in fine steps)".to_owned(),
            value: (settings.coarse.0.as_nanos() / settings.fine.0.as_nanos()) as u64,
            allowed: "a whole number of fine steps",
        });
    }
    Ok(())
}
