//! The health-check engine: registered checks, run concurrently with timeouts, retries and
//! isolation, cached with single-flight, answered within a deadline.

mod background;
mod borrow;
mod builder;
mod check;
mod defaults;
mod health_check;
mod history;
mod incidents;
mod lifecycle;
mod listen;
#[cfg(feature = "opentelemetry")]
mod otel;
mod run;
mod select;
mod slot;
mod time_left;
mod timeline;
mod tuning;
mod warm_up;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

pub use builder::HealthCheckerBuilder;
pub(crate) use builder::validate_timeline;
pub use check::{Check, MAX_NAME_CHARS};
pub use health_check::{CheckError, CheckFuture, HealthCheck, IntoCheckResult};
pub use incidents::Incident;
pub use lifecycle::{Lifecycle, Phase};
pub use listen::StatusChange;
pub use select::Selector;
pub use time_left::check_time_left;
pub use timeline::{StatusTimeline, TimelinePoint, TimelineSettings};
pub use warm_up::WarmUp;

pub(crate) use self::borrow::{Borrowed, Gate};
pub(crate) use self::slot::Latest;
use self::slot::{Begin, Slot, View};
use crate::health_report::{ComponentStatus, HealthStatus, SystemHealthStatus, WarmUpStatus};
use crate::round::millis;

/// Runs the registered checks and reports on them. A cheap `Clone` handle: clones share the
/// checks, their cached results and the ready switch.
///
/// Checks run on the Tokio runtime of the caller, each in its own task: a check that panics,
/// errors or hangs becomes that component's failure status with a message and never affects the
/// caller or the other checks. Results are cached for the TTL (default 1 s) and concurrent
/// callers share one run per check. A report waits at most for the deadline (default 800 ms,
/// below kubelet's 1 s probe timeout); a check still running then is shown with its last result,
/// marked stale.
///
/// ```
/// use tower_vitals::{Check, HealthChecker, HealthStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let checker = HealthChecker::builder()
///     .check("database", || async { Ok::<_, std::io::Error>(HealthStatus::Healthy) })
///     .register(Check::new("cache", || async { Err::<(), _>("refused") }).critical(false))
///     .build()
///     .unwrap();
///
/// let report = checker.report().await;
/// assert_eq!(report.status, HealthStatus::Degraded);
/// assert_eq!(report.components[1].message.as_deref(), Some("refused"));
/// # }
/// ```
#[derive(Clone)]
pub struct HealthChecker {
    shared: Arc<Shared>,
}

struct Shared {
    slots: Box<[Arc<Slot>]>,
    /// As they stand ([`reconfigure`](HealthChecker::reconfigure) changes them).
    cache_ttl: tuning::AtomicDuration,
    deadline: tuning::AtomicDuration,
    /// The defaults as built, what a reconfiguration starts from.
    built: defaults::Defaults,
    /// Settings read from a source at run time: what was applied and refused.
    settings: parking_lot::Mutex<Option<crate::health_report::SettingsStatus>>,
    accepting_traffic: AtomicBool,
    lifecycle: lifecycle::LifecycleState,
    started: Instant,
    /// How finely and how far back the timelines reach.
    timeline: TimelineSettings,
    /// Every check's incidents.
    incidents: Arc<parking_lot::Mutex<incidents::IncidentLog>>,
    /// Woken on every status change, ready switch and warm-up gate opened or closed.
    changes: Arc<tokio::sync::Notify>,
    /// Warm-up gates still pending.
    gates: Arc<warm_up::Gates>,
    /// The fleet's say on once-per-fleet checks.
    gate: Arc<borrow::GateCell>,
}

impl HealthChecker {
    /// A builder with the default settings and no checks.
    pub fn builder() -> HealthCheckerBuilder {
        HealthCheckerBuilder::default()
    }

    /// The report over every check.
    pub async fn report(&self) -> SystemHealthStatus {
        self.report_for(&Selector::all()).await
    }

    /// The report over the checks `selector` picks, running those whose cached result expired.
    pub async fn report_for(&self, selector: &Selector) -> SystemHealthStatus {
        let started = Instant::now();
        let ttl = self.shared.cache_ttl.get();
        let slots: Vec<&Arc<Slot>> = self.selected(selector).collect();
        let mut begun: Vec<Begin> = slots.iter().map(|slot| slot.begin(ttl, started)).collect();
        for begin in &mut begun {
            if let Begin::Wait(_, run) = begin
                && let Some(run) = run.take()
            {
                run.start();
            }
        }
        if begun.iter().any(|begin| matches!(begin, Begin::Wait(..))) {
            // Every run is under way in its own task, so waiting for them one after the other
            // takes as long as the slowest. One timer for the whole report: checks still running
            // at the deadline show stale.
            let runs = async {
                for begin in &mut begun {
                    if let Begin::Wait(finished, _) = begin {
                        let _ = finished.changed().await;
                    }
                }
            };
            let _ = tokio::time::timeout_at(started + self.shared.deadline.get(), runs).await;
        }
        let now = (Instant::now(), crate::clock::now());
        let components = slots
            .iter()
            .zip(begun)
            .map(|(slot, begin)| {
                let view = match begin {
                    Begin::Done(view) => view,
                    Begin::Wait(..) => slot.settle(ttl, started),
                };
                slot.component(view, self.shared.deadline.get(), now)
            })
            .collect();
        self.assemble(components, started, now)
    }

    /// The report when every selected check has a result within the TTL, without running any.
    pub fn cached_report(&self, selector: &Selector) -> Option<SystemHealthStatus> {
        let now = (Instant::now(), crate::clock::now());
        let components = self
            .selected(selector)
            .map(|slot| {
                let record = slot.fresh(self.shared.cache_ttl.get(), now.0)?;
                Some(slot.component(View::fresh(record), self.shared.deadline.get(), now))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(self.assemble(components, now.0, now))
    }

    /// The overall status when every selected check has a result within the TTL, without running
    /// any or building a report: the fast path of a readiness probe.
    pub fn cached_status(&self, selector: &Selector) -> Option<HealthStatus> {
        let now = Instant::now();
        self.selected(selector)
            .try_fold(HealthStatus::Healthy, |worst, slot| {
                let record = slot.fresh(self.shared.cache_ttl.get(), now)?;
                Some(worst.max(record.status))
            })
    }

    /// Marks the service not ready: readiness answers 503 whatever the checks say, for
    /// instance while draining connections on shutdown. Liveness is not affected.
    pub fn mark_not_ready(&self) {
        if self.shared.accepting_traffic.swap(false, Ordering::SeqCst) {
            tracing::info!("service marked not ready");
            self.shared.changes.notify_waiters();
        }
    }

    /// Undoes [`mark_not_ready`](Self::mark_not_ready).
    pub fn mark_ready(&self) {
        if !self.shared.accepting_traffic.swap(true, Ordering::SeqCst) {
            tracing::info!("service marked ready");
            self.shared.changes.notify_waiters();
        }
    }

    /// Declares the process broken (Spring's `LivenessState.BROKEN`): liveness answers 503 with
    /// `reason` (redacted) until [`mark_alive`](Self::mark_alive), so Kubernetes restarts the
    /// container. For a state the process cannot leave by itself — a poisoned pool, a lost
    /// invariant; a dependency that is down is readiness' business. Liveness still runs no
    /// checks.
    pub fn mark_broken(&self, reason: impl AsRef<str>) {
        if self.shared.lifecycle.break_with(reason.as_ref()) {
            let reason = self.shared.lifecycle.broken().unwrap_or_default();
            tracing::error!(%reason, "service marked broken: liveness answers 503");
        }
    }

    /// Undoes [`mark_broken`](Self::mark_broken).
    pub fn mark_alive(&self) {
        if self.shared.lifecycle.mend() {
            tracing::info!("service marked alive again");
        }
    }

    /// Why the service was marked broken, while it is (redacted).
    pub fn broken(&self) -> Option<String> {
        self.shared.lifecycle.broken()
    }

    /// The service's phase (serving, draining, shutting down) and the drain's timings.
    pub fn lifecycle(&self) -> Lifecycle {
        self.shared.lifecycle.snapshot()
    }

    /// Moves the service to `phase` (for the drain).
    pub(crate) fn enter(&self, phase: Phase, delay: Duration, budget: Duration) {
        self.shared.lifecycle.enter(phase, delay, budget);
        self.shared.changes.notify_waiters();
    }

    /// Completes at the next change of any component's shown status or of the ready switch
    /// (for bridges that mirror the checker, like the gRPC health service).
    pub async fn changed(&self) {
        self.shared.changes.notified().await;
    }

    /// `false` between [`mark_not_ready`](Self::mark_not_ready) and
    /// [`mark_ready`](Self::mark_ready), and while a [warm-up gate](Self::warm_up) is pending.
    pub fn accepting_traffic(&self) -> bool {
        self.shared.accepting_traffic.load(Ordering::SeqCst) && !self.shared.gates.any()
    }

    /// Why readiness answers 503 whatever the checks say, if it does: `marked not ready`, or
    /// the pending warm-up gates (`warming up: cache-preload (12s), model (3s)`).
    pub fn not_ready_reason(&self) -> Option<String> {
        if !self.shared.accepting_traffic.load(Ordering::SeqCst) {
            return Some("marked not ready".to_owned());
        }
        self.warming_up_reason()
    }

    /// The pending warm-up gates as a probe names them, while one is.
    pub(crate) fn warming_up_reason(&self) -> Option<String> {
        self.shared.gates.reason()
    }

    /// Opens a warm-up gate named `name` (a check name's rules: 1 to 128 characters, no control
    /// characters): readiness and the startup probe answer 503 until [`WarmUp::done`]. Several
    /// gates may be pending, under the same name too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_vitals::HealthChecker;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), tower_vitals::ConfigError> {
    /// let checker = HealthChecker::builder().build()?;
    /// let gate = checker.warm_up("model-load")?;
    /// tokio::time::sleep(Duration::from_secs(12)).await;
    /// assert_eq!(checker.not_ready_reason().as_deref(), Some("warming up: model-load (12s)"));
    /// gate.done();
    /// assert_eq!(checker.not_ready_reason(), None);
    /// # Ok(()) }
    /// ```
    pub fn warm_up(&self, name: &str) -> Result<WarmUp, crate::error::ConfigError> {
        self.shared.gates.open(name, self.shared.changes.clone())
    }

    /// The warm-up gates still pending, oldest first.
    pub fn warming_up(&self) -> Vec<WarmUpStatus> {
        self.shared.gates.statuses()
    }

    /// Time since the checker was built.
    pub fn uptime(&self) -> Duration {
        self.shared.started.elapsed()
    }

    /// The wall-clock time now on the crate's one time base (monotonic time, by Tokio's
    /// clock, mapped to the wall clock; a step of the wall clock is taken over and logged
    /// once): what every report, timeline and incident is dated by.
    pub fn now(&self) -> SystemTime {
        crate::clock::now()
    }

    /// How finely and how far back the status timelines reach.
    pub(crate) fn timeline_settings(&self) -> TimelineSettings {
        self.shared.timeline
    }

    /// `component`'s shown status from `since` to `until`: a point per interval of the
    /// timeline (see [`HealthCheckerBuilder::timeline`]) — the fine one when it reaches back
    /// to `since` — or per `step`, rounded down to whole intervals. `None` for an unknown
    /// component.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_vitals::HealthChecker;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let checker = HealthChecker::builder().check("db", || async {}).build()?;
    /// checker.report().await;
    /// tokio::time::sleep(Duration::from_millis(20)).await;
    /// let now = checker.now();
    /// let timeline = checker.timeline("db", now - Duration::from_secs(60), now, None).unwrap();
    /// // Nothing before the checker's start: one 10 s interval so far.
    /// assert_eq!(timeline.step, Duration::from_secs(10));
    /// assert_eq!(timeline.points.len(), 1);
    /// assert_eq!(timeline.points[0].status, Some(tower_vitals::HealthStatus::Healthy));
    /// let hour = checker.availability("db", now - Duration::from_secs(3600), now);
    /// assert_eq!(hour, Some(100.0));
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// # }).unwrap();
    /// ```
    pub fn timeline(
        &self,
        component: &str,
        since: SystemTime,
        until: SystemTime,
        step: Option<Duration>,
    ) -> Option<StatusTimeline> {
        self.timeline_within(component, (since, until), step, MAX_TIMELINE_POINTS)
    }

    /// [`timeline`](Self::timeline) in at most `max_points` points: the step is widened (to
    /// whole intervals) where `since`..`until` at `step` would give more.
    pub(crate) fn timeline_within(
        &self,
        component: &str,
        (since, until): (SystemTime, SystemTime),
        step: Option<Duration>,
        max_points: usize,
    ) -> Option<StatusTimeline> {
        let slot = self.slot(component)?;
        let now = Instant::now();
        let until = self.instant_of(until).min(now);
        let since = self.instant_of(since).min(until);
        Some(slot.timeline((since, until), now, step, max_points))
    }

    /// The percentage of the known time from `since` to `until` that `component` was shown
    /// healthy (degraded, unknown and unhealthy are not); `None` for an unknown component or
    /// while nothing is known.
    pub fn availability(
        &self,
        component: &str,
        since: SystemTime,
        until: SystemTime,
    ) -> Option<f64> {
        self.timeline(component, since, until, None)?
            .availability_percent()
    }

    /// The incidents of `component` (or every component) that lasted into `since` or began
    /// after it, oldest first. They stay after the component recovers.
    pub fn incidents(&self, component: Option<&str>, since: SystemTime) -> Vec<Incident> {
        self.shared.incidents.lock().since(
            component,
            crate::clock::instant_of(since),
            Instant::now(),
            crate::clock::wall_of,
        )
    }

    /// The checker's `Instant` of a wall-clock time (clamped to its start).
    fn instant_of(&self, at: SystemTime) -> Instant {
        crate::clock::instant_of(at).max(self.shared.started)
    }

    fn slot(&self, component: &str) -> Option<&Arc<Slot>> {
        self.shared
            .slots
            .iter()
            .find(|slot| slot.spec.name == component)
    }

    /// Each check's name, whether it is [shared](Check::shared), and its last shown status
    /// (`None` before a first result), without running anything, in registration order.
    pub(crate) fn latest(&self) -> impl Iterator<Item = (&str, bool, Option<Latest>)> {
        self.shared
            .slots
            .iter()
            .map(|slot| (slot.spec.name.as_str(), slot.spec.shared, slot.latest()))
    }

    /// The [once-per-fleet](Check::once_per_fleet) checks' names.
    pub(crate) fn once_per_fleet(&self) -> impl Iterator<Item = &str> {
        let slots = self.shared.slots.iter();
        slots
            .filter(|slot| slot.spec.once)
            .map(|slot| slot.spec.name.as_str())
    }

    /// Starts a run of the check named `name` now, unless one is under way (a replica that
    /// just took a once-per-fleet check's lease over runs it at once; one that needs a fresh
    /// result to judge a shared check against the fleet too): the run's task, which ends with
    /// the run.
    pub(crate) fn run_now(&self, name: &str) -> Option<tokio::task::JoinHandle<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let run = self.slot(name)?.claim_run(&runtime)?;
        Some(run.start())
    }

    /// Lets `gate` decide which once-per-fleet checks this replica runs.
    pub(crate) fn set_gate(&self, gate: std::sync::Weak<dyn Gate>) {
        self.shared.gate.set(gate);
    }

    /// Whether any check is [shared](Check::shared).
    pub(crate) fn has_shared(&self) -> bool {
        self.shared.slots.iter().any(|slot| slot.spec.shared)
    }

    /// Whether the check named `name` is [shared](Check::shared).
    pub(crate) fn is_shared(&self, name: &str) -> bool {
        self.slot(name).is_some_and(|slot| slot.spec.shared)
    }

    /// The registered check names, in registration order.
    pub fn check_names(&self) -> impl Iterator<Item = &str> {
        self.shared.slots.iter().map(|slot| slot.spec.name.as_str())
    }

    /// Per-check counters: runs, failed runs, status changes (in all, and within `recent`),
    /// and the last result's status and run time.
    pub fn counters(&self, recent: Duration) -> Vec<CheckCounters> {
        let now = Instant::now();
        self.shared
            .slots
            .iter()
            .map(|slot| {
                let (runs, failures) = slot.counts();
                let (transitions, recent_transitions) = slot.transitions(recent, now);
                let last = slot.last();
                CheckCounters {
                    name: slot.spec.name.clone(),
                    runs,
                    failures,
                    transitions,
                    recent_transitions,
                    status: last.map(|(status, _)| status),
                    last_duration: last.map(|(_, duration)| duration),
                    polled: slot.polled(),
                    timeout: slot.tuning.get().timeout,
                }
            })
            .collect()
    }

    fn selected<'a>(&'a self, selector: &'a Selector) -> impl Iterator<Item = &'a Arc<Slot>> {
        self.shared
            .slots
            .iter()
            .filter(move |slot| slot.tuning.enabled() && selector.matches(&slot.spec))
    }

    fn assemble(
        &self,
        components: Vec<ComponentStatus>,
        started: Instant,
        (now, wall): (Instant, SystemTime),
    ) -> SystemHealthStatus {
        SystemHealthStatus {
            status: HealthStatus::worst(components.iter().map(|c| c.status)),
            accepting_traffic: self.accepting_traffic(),
            timestamp: wall,
            duration_ms: millis(now - started),
            components,
            warming_up: self.warming_up(),
            settings: self.settings_status(),
        }
    }
}

/// The most points [`HealthChecker::timeline`] answers with: past it, the step is widened.
pub const MAX_TIMELINE_POINTS: usize = 10_000;

/// Counters of one check since start, from [`HealthChecker::counters`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckCounters {
    /// The check's name.
    pub name: String,
    /// Runs that finished.
    pub runs: u64,
    /// Runs that ended failing (error, panic, timeout or a non-healthy status), before
    /// thresholds.
    pub failures: u64,
    /// Changes of the shown status since start.
    pub transitions: u64,
    /// Of those, how many fell within the `recent` window asked for (at most 32 are kept).
    pub recent_transitions: usize,
    /// The shown status of the last run, if there was one.
    pub status: Option<HealthStatus>,
    /// How long the last run took.
    pub last_duration: Option<Duration>,
    /// The check's per-attempt timeout.
    pub timeout: Duration,
    /// Time the check's own code held a runtime thread (inside `poll`), every run: micro- or
    /// milliseconds for async code, about the whole run time for code that blocks.
    pub polled: Duration,
}

impl std::fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecker")
            .field("checks", &self.check_names().collect::<Vec<_>>())
            .field("cache_ttl", &self.shared.cache_ttl.get())
            .field("deadline", &self.shared.deadline.get())
            .field("accepting_traffic", &self.accepting_traffic())
            .finish()
    }
}

#[cfg(test)]
mod tests;
