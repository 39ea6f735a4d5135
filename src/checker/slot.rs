//! One registered check's state: the cached result, the single in-flight run, thresholds,
//! history.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde_json::{Map, Value};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

use super::background;
use super::borrow::GateCell;
use super::check::CheckSpec;
use super::history::{Entry, History};
use super::incidents::IncidentLog;
use super::listen::{Listener, StatusChange, notify};
use super::run::{self, Outcome};
use super::timeline::{StatusTimeline, Timeline};
use super::tuning::Tuning;
use crate::health_report::{ComponentStatus, HealthStatus};
use crate::redact::{redact, redact_metadata};
use crate::round::millis;

/// What [`Slot::begin`] found.
pub(crate) enum Begin {
    /// A result to use as it is.
    Done(View),
    /// A run is under way (the receiver changes when it ends); the caller starts it if it is
    /// this caller's to start.
    Wait(watch::Receiver<u64>, Option<Run>),
}

/// A run of a check that has not started yet. Dropped unstarted, it releases the slot (its
/// guard does), so waiting callers are not left hanging.
pub(crate) struct Run {
    future: Pin<Box<dyn Future<Output = ()> + Send>>,
    runtime: Handle,
}

impl Run {
    /// Spawns the run, so it goes on whatever happens to the caller — and never runs inside the
    /// caller's poll: a check that blocks its thread holds up its own task, not the probe that
    /// started it (on a multi-thread runtime; on a current-thread one it holds up everything).
    pub(crate) fn start(self) -> tokio::task::JoinHandle<()> {
        let future = self.future;
        if multi_thread(&self.runtime) {
            self.runtime.spawn(async move {
                hand_off().await;
                future.await;
            })
        } else {
            self.runtime.spawn(future)
        }
    }

    /// Runs it in the current task.
    pub(crate) async fn here(self) {
        if multi_thread(&self.runtime) {
            hand_off().await;
        }
        self.future.await;
    }
}

fn multi_thread(runtime: &Handle) -> bool {
    matches!(
        runtime.runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread
    )
}

/// On a multi-thread runtime, a task just spawned or woken alone sits in its worker's LIFO
/// slot, which no other worker may steal and for which none is woken: if that task then blocks
/// (a check calling blocking code), and this worker was the one driving timers and I/O, the
/// whole runtime stalls — probes included. Yielding once first moves the task to the worker's
/// queue and wakes an idle worker, which then takes over timers and I/O while this one runs the
/// check.
async fn hand_off() {
    tokio::task::yield_now().await;
}

/// A finished run, after thresholds were applied.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) status: HealthStatus,
    pub(crate) message: Option<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) figures: Vec<(String, f64)>,
    pub(crate) duration: Duration,
    pub(crate) completed: Instant,
    pub(crate) consecutive_failures: u32,
    /// When the shown status began.
    pub(crate) since: Instant,
}

/// A check's last shown status, when it finished and since when it has been shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Latest {
    pub(crate) status: HealthStatus,
    pub(crate) completed: Instant,
    pub(crate) since: Instant,
}

struct State {
    last: Option<Arc<Record>>,
    running: bool,
    /// Whether the shown status is a failing one (thresholds move it, not single runs).
    failing: bool,
    consecutive_failures: u32,
    consecutive_successes: u32,
    history: History,
    /// The shown status over time.
    timeline: Timeline,
}

/// Why a view has no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// The first run had not finished at the deadline.
    Deadline,
    /// There is no Tokio runtime to run it on.
    NoRuntime,
    /// A background check before its first run finished.
    Background,
}

/// What a caller gets for one check: a record (if any) and whether it is fresh.
pub(crate) struct View {
    pub(crate) record: Option<Arc<Record>>,
    pub(crate) fresh: bool,
    pub(crate) missing: Missing,
}

impl View {
    pub(crate) fn fresh(record: Arc<Record>) -> Self {
        Self {
            record: Some(record),
            fresh: true,
            missing: Missing::Deadline,
        }
    }
}

pub(crate) struct Slot {
    pub(crate) spec: CheckSpec,
    state: Mutex<State>,
    /// Bumped after every run ends (finished or cancelled); waiters watch it.
    done: watch::Sender<u64>,
    executions: AtomicU64,
    failures: AtomicU64,
    /// Nanoseconds the check's own code spent in `poll`, every run.
    polled_ns: AtomicU64,
    listeners: Arc<[Listener]>,
    /// The checker's incident log, shared by every check.
    incidents: Arc<Mutex<IncidentLog>>,
    background_started: AtomicBool,
    /// The settings that can change while it runs (timeout, retries, thresholds, maximum
    /// staleness: past it a result is not served as current, the component is unknown).
    pub(crate) tuning: Tuning,
    /// The fleet's say on once-per-fleet checks, shared by every check.
    gate: Arc<GateCell>,
}

impl Slot {
    pub(crate) fn new(
        spec: CheckSpec,
        history: usize,
        tuning: Tuning,
        listeners: Arc<[Listener]>,
        timeline: Timeline,
        (incidents, gate): (Arc<Mutex<IncidentLog>>, Arc<GateCell>),
    ) -> Self {
        Self {
            gate,
            tuning,
            spec,
            state: Mutex::new(State {
                last: None,
                running: false,
                failing: false,
                consecutive_failures: 0,
                consecutive_successes: 0,
                history: History::new(history),
                timeline,
            }),
            done: watch::Sender::new(0),
            executions: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            polled_ns: AtomicU64::new(0),
            listeners,
            incidents,
            background_started: AtomicBool::new(false),
        }
    }

    /// Runs that finished, and runs that ended failing (before thresholds).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.executions.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }

    /// Time the check's own code held its thread (inside `poll`), every run.
    pub(crate) fn polled(&self) -> Duration {
        Duration::from_nanos(self.polled_ns.load(Ordering::Relaxed))
    }

    /// Status changes since start, and those within `recent` of `now`.
    pub(crate) fn transitions(&self, recent: Duration, now: Instant) -> (u64, usize) {
        let state = self.state.lock();
        (
            state.history.transitions,
            state.history.changes_within(recent, now),
        )
    }

    /// The last result's status and run time, if there is one.
    pub(crate) fn last(&self) -> Option<(HealthStatus, Duration)> {
        let state = self.state.lock();
        state
            .last
            .as_ref()
            .map(|record| (record.status, record.duration))
    }

    /// The last result's status and when it completed, without running anything.
    pub(crate) fn latest(&self) -> Option<Latest> {
        let state = self.state.lock();
        state.last.as_ref().map(|record| Latest {
            status: record.status,
            completed: record.completed,
            since: record.since,
        })
    }

    /// How long a result counts as fresh: the cache TTL, or for a background check two of its
    /// intervals (so one late run does not make it stale).
    fn freshness(&self, ttl: Duration) -> Duration {
        self.spec.background.map_or(ttl, |interval| interval * 2)
    }

    /// The cached record when it is still fresh.
    pub(crate) fn fresh(&self, ttl: Duration, now: Instant) -> Option<Arc<Record>> {
        let window = self.freshness(ttl);
        let state = self.state.lock();
        state
            .last
            .as_ref()
            .filter(|record| now.saturating_duration_since(record.completed) < window)
            .cloned()
    }

    /// Starts the background schedule once, on the current runtime (no-op for on-demand checks
    /// or without a runtime).
    pub(crate) fn ensure_background(self: &Arc<Self>) {
        let Some(interval) = self.spec.background else {
            return;
        };
        let Ok(runtime) = Handle::try_current() else {
            return;
        };
        if !self.background_started.swap(true, Ordering::AcqRel) {
            background::spawn(self, interval, &runtime);
        }
    }

    /// The background schedule's task is gone: the next report starts a new one.
    pub(crate) fn background_stopped(&self) {
        self.background_started.store(false, Ordering::Release);
    }

    /// The result when a fresh one is cached (or, for a background check, whatever it has).
    /// An expired healthy one within the maximum staleness is served at once while one refresh
    /// starts in a task of its own (stale-while-revalidate); an expired failure is not, so a
    /// recovery shows at the probe that started its run. Otherwise starts a run (or joins the one under way) and returns what
    /// to wait on before calling [`settle`](Self::settle).
    pub(crate) fn begin(self: &Arc<Self>, ttl: Duration, asked: Instant) -> Begin {
        if self.spec.background.is_some() {
            self.ensure_background();
            let record = self.state.lock().last.clone();
            let window = self.freshness(ttl);
            let fresh = record
                .as_ref()
                .is_some_and(|record| asked.saturating_duration_since(record.completed) < window);
            return Begin::Done(View {
                record,
                fresh,
                missing: Missing::Background,
            });
        }
        let mut state = self.state.lock();
        if let Some(record) = &state.last
            && asked.saturating_duration_since(record.completed) < ttl
        {
            return Begin::Done(View::fresh(record.clone()));
        }
        let Ok(runtime) = Handle::try_current() else {
            tracing::error!(check = %self.spec.name, "health check not run: no Tokio runtime");
            return Begin::Done(View {
                record: state.last.clone(),
                fresh: false,
                missing: Missing::NoRuntime,
            });
        };
        let finished = self.done.subscribe();
        let run = (!state.running).then(|| {
            state.running = true;
            self.run(runtime)
        });
        // A stale failure is not served while its refresh may be the recovery: the caller waits
        // for the run (up to its deadline), so recovery is seen by the probe that asked.
        let servable = state.last.as_ref().is_some_and(|record| {
            asked.saturating_duration_since(record.completed) < self.tuning.max_staleness()
                && record.status == HealthStatus::Healthy
        });
        if !servable {
            return Begin::Wait(finished, run);
        }
        drop(state);
        if let Some(run) = run {
            run.start();
        }
        let record = self.state.lock().last.clone();
        let fresh = record
            .as_ref()
            .is_some_and(|record| record.completed >= asked);
        Begin::Done(View {
            record,
            fresh,
            missing: Missing::Deadline,
        })
    }

    /// The result after waiting for a run: fresh if it finished after `asked` or is still
    /// within `ttl`, stale otherwise (the run outlived the wait).
    pub(crate) fn settle(&self, ttl: Duration, asked: Instant) -> View {
        let record = self.state.lock().last.clone();
        let fresh = record.as_ref().is_some_and(|record| {
            record.completed >= asked || asked.duration_since(record.completed) < ttl
        });
        View {
            record,
            fresh,
            missing: Missing::Deadline,
        }
    }

    /// A run for the background schedule, unless one is under way already.
    pub(crate) fn claim_run(self: &Arc<Self>, runtime: &Handle) -> Option<Run> {
        let mut state = self.state.lock();
        (!state.running).then(|| {
            state.running = true;
            self.run(runtime.clone())
        })
    }

    /// A run of the check, to be [started](Run::start) once the slot's lock is released.
    fn run(self: &Arc<Self>, runtime: Handle) -> Run {
        let guard = RunGuard {
            slot: self.clone(),
            finished: false,
        };
        let future = Box::pin(async move {
            let slot = &guard.slot;
            let borrowed = match slot.spec.once {
                true => slot.gate.borrowed(&slot.spec.name),
                false => None,
            };
            let outcome = match borrowed {
                Some(outcome) => outcome,
                None => run::execute(&slot.tuning.spec_for_run(&slot.spec)).await,
            };
            guard.complete(outcome);
        });
        Run { future, runtime }
    }

    /// Stores a run's outcome, applying the failure/recovery thresholds.
    fn finish(&self, outcome: Outcome) {
        let spec = &self.spec;
        let mut figures = Vec::new();
        let (raw, message, metadata) = match outcome.result {
            Ok(mut result) => {
                figures = result.take_figures();
                let (status, message, mut metadata) = result.into_parts();
                let message = message.as_deref().map(redact);
                redact_metadata(&mut metadata);
                (status.min(spec.failure_status), message, metadata)
            }
            Err(failure) => (spec.failure_status, Some(failure.to_string()), Map::new()),
        };
        let raw_failing = raw != HealthStatus::Healthy;
        self.count((outcome.borrowed, outcome.polled), raw_failing);

        let mut state = self.state.lock();
        if raw_failing {
            state.consecutive_failures += 1;
            state.consecutive_successes = 0;
        } else {
            state.consecutive_successes += 1;
            state.consecutive_failures = 0;
        }
        state.history.push(Entry {
            at: outcome.finished,
            passed: !raw_failing,
            duration: outcome.duration,
        });
        let previous = state.last.clone();
        let (status, message) = match &previous {
            Some(previous) if raw_failing != state.failing && !self.crossed_threshold(&state) => {
                // Held at the previous status until enough runs agree.
                let raw_message = message.as_deref().unwrap_or(raw.as_str());
                let note = self.held_note(&state, raw_failing, raw_message, previous);
                (previous.status, Some(note))
            }
            _ => {
                state.failing = raw_failing;
                (raw, message)
            }
        };
        let changed = previous.as_ref().is_none_or(|p| p.status != status);
        if changed && previous.is_some() {
            state.history.changed(outcome.finished);
        }
        let since = match &previous {
            Some(previous) if !changed => previous.since,
            _ => outcome.finished,
        };
        let record = Arc::new(Record {
            status,
            message,
            metadata,
            figures,
            duration: outcome.duration,
            completed: outcome.finished,
            consecutive_failures: state.consecutive_failures,
            since,
        });
        state.last = Some(record.clone());
        state.running = false;
        state
            .timeline
            .run(outcome.finished, status, raw_failing, outcome.duration);
        drop(state);
        self.incidents.lock().run(
            &spec.name,
            previous.as_ref().map(|p| p.status),
            status,
            record.message.as_deref(),
            outcome.finished,
        );
        self.done.send_modify(|generation| *generation += 1);
        if changed {
            self.announce(previous.map(|p| p.status), &record, outcome.attempts);
        }
    }

    /// Counts a run of this replica's (a borrowed result is none).
    fn count(&self, (borrowed, polled): (bool, Duration), failing: bool) {
        if borrowed {
            return;
        }
        self.executions.fetch_add(1, Ordering::Relaxed);
        let polled = u64::try_from(polled.as_nanos()).unwrap_or(u64::MAX);
        self.polled_ns.fetch_add(polled, Ordering::Relaxed);
        if failing {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Why a run's status is not shown yet: the threshold it has to reach.
    fn held_note(&self, state: &State, failing: bool, raw: &str, previous: &Record) -> String {
        if failing {
            format!(
                "failure {} of {} before the check counts as failed: {raw}",
                state.consecutive_failures,
                self.tuning.failure_threshold(),
            )
        } else {
            format!(
                "passed {} of {} runs needed to recover; {}",
                state.consecutive_successes,
                self.tuning.success_threshold(),
                previous
                    .message
                    .as_deref()
                    .unwrap_or(previous.status.as_str())
            )
        }
    }

    /// The shown status from `since` to `until`, counted up to `now`, in at most `max_points`
    /// points (the step widened if need be).
    pub(crate) fn timeline(
        &self,
        (since, until): (Instant, Instant),
        now: Instant,
        step: Option<Duration>,
        max_points: usize,
    ) -> StatusTimeline {
        let mut state = self.state.lock();
        state.timeline.advance(now);
        let resolution = state.timeline.resolution(since, now, step);
        let resolution = state.timeline.widen(resolution, (since, until), max_points);
        StatusTimeline {
            step: state.timeline.step(resolution),
            points: state.timeline.points(since, until, resolution),
        }
    }

    /// Logs a change of the shown status and tells the listeners.
    fn announce(&self, from: Option<HealthStatus>, record: &Record, attempts: u32) {
        log_transition(&self.spec, from, record, attempts);
        if !self.listeners.is_empty() {
            let change = StatusChange {
                check: self.spec.name.clone(),
                from,
                to: record.status,
                message: record.message.clone(),
                at: crate::clock::now(),
            };
            notify(&self.listeners, &change);
        }
    }

    fn crossed_threshold(&self, state: &State) -> bool {
        if state.failing {
            state.consecutive_successes >= self.tuning.success_threshold()
        } else {
            state.consecutive_failures >= self.tuning.failure_threshold()
        }
    }

    /// Why a non-healthy record is not healthy, for the report's reason.
    fn failing_reason(&self, record: &Record, lasted: Duration) -> String {
        let spec = &self.spec;
        format!(
            "{} {} for {:.0} s: {} ({} failed run{} in a row, threshold {})",
            spec.name,
            record.status,
            lasted.as_secs_f64(),
            record.message.as_deref().unwrap_or("no message"),
            record.consecutive_failures,
            if record.consecutive_failures == 1 {
                ""
            } else {
                "s"
            },
            self.tuning.failure_threshold(),
        )
    }

    /// The report entry for a view, as of `now` (wall clock `wall`).
    pub(crate) fn component(
        &self,
        view: View,
        deadline: Duration,
        (now, wall): (Instant, SystemTime),
    ) -> ComponentStatus {
        let spec = &self.spec;
        let history = self.state.lock().history.summary();
        let mut component = ComponentStatus {
            name: spec.name.clone(),
            status: HealthStatus::Unknown.min(spec.failure_status),
            message: None,
            response_time_ms: 0.0,
            metadata: Map::new(),
            checked_at: None,
            fresh: view.fresh,
            age_ms: 0.0,
            critical: spec.critical(),
            tags: spec.tags.clone(),
            consecutive_failures: 0,
            since: None,
            reason: None,
            judgement: None,
            history,
            figures: Vec::new(),
        };
        match view.record {
            Some(record)
                if now.saturating_duration_since(record.completed)
                    > self.tuning.max_staleness() =>
            {
                let age = now.saturating_duration_since(record.completed);
                let message = format!(
                    "no current result: the last one ({}) is {} ms old, past the maximum staleness of {} ms; the check has not finished since",
                    record.status,
                    age.as_millis(),
                    self.tuning.max_staleness().as_millis()
                );
                component.checked_at = wall.checked_sub(age);
                component.age_ms = millis(age);
                component.response_time_ms = millis(record.duration);
                component.reason = Some(format!("{} unknown: {message}", spec.name));
                component.message = Some(message);
            }
            Some(record) => {
                let age = now.saturating_duration_since(record.completed);
                let lasted = now.saturating_duration_since(record.since);
                component.status = record.status;
                component.message = record.message.clone();
                component.response_time_ms = millis(record.duration);
                component.metadata = record.metadata.clone();
                component.figures = record.figures.clone();
                component.checked_at = wall.checked_sub(age);
                component.age_ms = millis(age);
                component.consecutive_failures = record.consecutive_failures;
                component.since = wall.checked_sub(lasted);
                if record.status != HealthStatus::Healthy {
                    component.reason = Some(self.failing_reason(&record, lasted));
                }
            }
            None => {
                let message = match view.missing {
                    Missing::NoRuntime => "not run: no Tokio runtime".to_owned(),
                    Missing::Background => format!(
                        "no result yet: the check runs in the background every {} ms",
                        spec.background.unwrap_or_default().as_millis()
                    ),
                    Missing::Deadline => format!(
                        "no result yet: the first run had not finished after the {} ms deadline",
                        deadline.as_millis()
                    ),
                };
                component.reason = Some(format!("{} unknown: {message}", spec.name));
                component.message = Some(message);
            }
        }
        component
    }
}

/// Lives inside the run's task: if the task is dropped before the run finished (runtime shut
/// down, task aborted), the slot is released so the next caller starts a new run.
struct RunGuard {
    slot: Arc<Slot>,
    finished: bool,
}

impl RunGuard {
    fn complete(mut self, outcome: Outcome) {
        self.slot.finish(outcome);
        self.finished = true;
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.slot.state.lock().running = false;
            self.slot.done.send_modify(|generation| *generation += 1);
        }
    }
}

fn log_transition(
    spec: &CheckSpec,
    previous: Option<HealthStatus>,
    record: &Record,
    attempts: u32,
) {
    let from = previous.map_or("unknown", HealthStatus::as_str);
    let reason = record.message.as_deref().unwrap_or("");
    let duration_ms = millis(record.duration);
    if record.status > previous.unwrap_or(HealthStatus::Healthy) {
        tracing::warn!(check = %spec.name, from = %from, to = %record.status, reason, attempts, duration_ms, "health check status changed");
    } else {
        tracing::info!(check = %spec.name, from = %from, to = %record.status, reason, attempts, duration_ms, "health check status changed");
    }
}
