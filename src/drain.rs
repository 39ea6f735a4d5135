//! [`Drain`]: a pod's shutdown done for the application.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::checker::{HealthChecker, Phase};
use crate::config::HealthConfig;
use crate::error::ConfigError;
use crate::metrics::MetricsCollector;
use crate::validate;

/// Where a drain is; only moves forward.
const SERVING: u8 = 0;
const DRAINING: u8 = 1;
const SHUTTING_DOWN: u8 = 2;
const FORCED: u8 = 3;

/// A pod's shutdown done for the application. On SIGTERM or SIGINT (Ctrl-C where
/// there are no Unix signals): mark not ready → keep serving for a propagation delay, so load
/// balancers and endpoint controllers stop sending → begin graceful shutdown → wait until the
/// requests in flight are done or a budget runs out → return. A second signal ends at once.
///
/// One [`shutdown_signal`](Drain::shutdown_signal) future serves axum's
/// `with_graceful_shutdown`, tonic's `serve_with_shutdown` and hyper-util's
/// `GracefulShutdown`; [`run`](Drain::run) bounds the whole by the budget.
///
/// ```no_run
/// use tower_vitals::{Drain, HealthChecker, HealthLayer};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let checker = HealthChecker::builder().check("db", || async {}).build()?;
/// let drain = Drain::builder(checker.clone()).build()?; // 5 s delay, 20 s budget
/// let app = axum::Router::new().layer(HealthLayer::new(checker));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let server = axum::serve(listener, app).with_graceful_shutdown(drain.shutdown_signal());
/// drain.run(server.into_future()).await??;
/// # Ok(()) }
/// ```
///
/// A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    checker: HealthChecker,
    metrics: Option<MetricsCollector>,
    delay: Duration,
    budget: Duration,
    stage: watch::Sender<u8>,
    listening: AtomicBool,
}

/// Settings of a [`Drain`], checked by [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct DrainBuilder {
    checker: HealthChecker,
    metrics: Option<MetricsCollector>,
    delay: Duration,
    budget: Duration,
}

/// Why [`Drain::run`] returned before the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stopped {
    /// The budget ran out with requests still in flight (their number, when known).
    BudgetSpent {
        /// Requests in flight at the end, from the metrics collector.
        in_flight: Option<u64>,
    },
    /// A second signal came.
    Forced,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BudgetSpent { in_flight: Some(n) } => {
                write!(f, "drain budget spent with {n} requests still in flight")
            }
            Self::BudgetSpent { in_flight: None } => write!(f, "drain budget spent"),
            Self::Forced => write!(f, "stopped at once by a second signal"),
        }
    }
}

impl std::error::Error for Stopped {}

impl Drain {
    /// Settings for draining `checker`'s service: a 5 s propagation delay and a 20 s budget,
    /// below Kubernetes' default 30 s grace period.
    pub fn builder(checker: HealthChecker) -> DrainBuilder {
        DrainBuilder {
            checker,
            metrics: None,
            delay: Duration::from_secs(5),
            budget: Duration::from_secs(20),
        }
    }

    /// Resolves when graceful shutdown should begin: the propagation delay after the first
    /// signal (at once after a second). Starts listening for signals on the current runtime.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        self.listen();
        let mut stage = self.inner.stage.subscribe();
        async move {
            let _ = stage.wait_for(|&s| s >= SHUTTING_DOWN).await;
        }
    }

    /// Drives `server` (whose graceful shutdown waits for [`shutdown_signal`](Self::shutdown_signal))
    /// to the end of the drain: its output once it ended and nothing is in flight, or why it
    /// was cut short — the budget ran out after shutdown began, or a second signal came.
    pub async fn run<F: Future>(&self, server: F) -> Result<F::Output, Stopped> {
        self.listen();
        let mut forced = self.inner.stage.subscribe();
        let forced = async move {
            let _ = forced.wait_for(|&s| s >= FORCED).await;
        };
        let budget = self.budget_spent();
        let drained = async {
            let output = server.await;
            self.in_flight_done().await;
            output
        };
        tokio::select! {
            output = drained => Ok(output),
            () = forced => Err(Stopped::Forced),
            () = budget => Err(Stopped::BudgetSpent {
                in_flight: self.inner.metrics.as_ref().map(MetricsCollector::in_flight),
            }),
        }
    }

    /// Begins draining as a signal would: for an application's own shutdown trigger, and tests.
    pub fn begin(&self) {
        self.inner.signal("begin()");
    }

    /// Starts the signal listener once, on the current runtime.
    fn listen(&self) {
        if self.inner.listening.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut signals = match Signals::new() {
                Ok(signals) => signals,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for shutdown signals");
                    return;
                }
            };
            loop {
                let name = signals.next().await;
                let Some(inner) = inner.upgrade() else { return };
                inner.signal(name);
            }
        });
    }

    async fn budget_spent(&self) {
        let mut stage = self.inner.stage.subscribe();
        let _ = stage.wait_for(|&s| s >= SHUTTING_DOWN).await;
        tokio::time::sleep(self.inner.budget).await;
    }

    /// Waits until the collector's in-flight gauge is 0 (at once without a collector).
    async fn in_flight_done(&self) {
        let Some(metrics) = &self.inner.metrics else {
            return;
        };
        while metrics.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Inner {
    /// A signal (or `begin()`): the first starts the drain, a second forces the end.
    fn signal(self: &Arc<Self>, name: &str) {
        let mut first = false;
        self.stage.send_modify(|stage| {
            first = *stage == SERVING;
            *stage = if first { DRAINING } else { FORCED };
        });
        if !first {
            tracing::warn!(signal = name, "second shutdown signal: stopping at once");
            return;
        }
        self.checker.mark_not_ready();
        self.checker.enter(Phase::Draining, self.delay, self.budget);
        tracing::info!(
            signal = name,
            delay_ms = self.delay.as_millis() as u64,
            budget_ms = self.budget.as_millis() as u64,
            "draining: readiness answers 503; still serving until the delay has passed"
        );
        let inner = Arc::downgrade(self);
        let delay = self.delay;
        let until = Instant::now() + delay;
        tokio::spawn(async move {
            tokio::time::sleep_until(until).await;
            let Some(inner) = inner.upgrade() else { return };
            inner.shut_down();
        });
    }

    fn shut_down(&self) {
        let mut moved = false;
        self.stage.send_modify(|stage| {
            moved = *stage == DRAINING;
            *stage = (*stage).max(SHUTTING_DOWN);
        });
        if moved {
            self.checker
                .enter(Phase::ShuttingDown, self.delay, self.budget);
            let in_flight = self.metrics.as_ref().map(MetricsCollector::in_flight);
            tracing::info!(
                in_flight,
                budget_ms = self.budget.as_millis() as u64,
                "graceful shutdown: no new connections; waiting for requests in flight"
            );
        }
    }
}

/// SIGTERM and SIGINT on Unix; Ctrl-C elsewhere.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

impl DrainBuilder {
    /// Waits for this collector's requests in flight before returning (without one, the
    /// server's own end is the end).
    pub fn metrics(mut self, collector: MetricsCollector) -> Self {
        self.metrics = Some(collector);
        self
    }

    /// How long to keep serving after the signal, with readiness failing, before graceful
    /// shutdown begins (default 5 s; 0 to 5 min): time for endpoint controllers and load
    /// balancers to stop sending.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// How long graceful shutdown may wait for requests in flight (default 20 s; 0 to 10 min).
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Applies `HEALTH_DRAIN_DELAY_MS` and `HEALTH_DRAIN_BUDGET_MS`.
    pub fn config(mut self, config: &HealthConfig) -> Self {
        self.delay = config.drain_delay.unwrap_or(self.delay);
        self.budget = config.drain_budget.unwrap_or(self.budget);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Drain, ConfigError> {
        let delay = (Duration::ZERO..=Duration::from_secs(300), "0 to 5 min");
        validate::duration("drain delay", self.delay, delay)?;
        let budget = (Duration::ZERO..=Duration::from_secs(600), "0 to 10 min");
        validate::duration("drain budget", self.budget, budget)?;
        Ok(Drain {
            inner: Arc::new(Inner {
                checker: self.checker,
                metrics: self.metrics,
                delay: self.delay,
                budget: self.budget,
                stage: watch::Sender::new(SERVING),
                listening: AtomicBool::new(false),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(delay_ms: u64, budget_ms: u64) -> (HealthChecker, Drain) {
        let checker = HealthChecker::builder().build().unwrap();
        let drain = Drain::builder(checker.clone())
            .delay(Duration::from_millis(delay_ms))
            .budget(Duration::from_millis(budget_ms))
            .build()
            .unwrap();
        (checker, drain)
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_marks_not_ready_then_shuts_down_after_the_delay() {
        let (checker, drain) = made(5000, 20_000);
        let signal = tokio::spawn(drain.shutdown_signal());
        let started = Instant::now();
        drain.begin();
        assert!(!checker.accepting_traffic());
        assert_eq!(checker.lifecycle().phase, Phase::Draining);
        signal.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(checker.lifecycle().phase, Phase::ShuttingDown);
        let output = drain.run(async { 7 }).await;
        assert_eq!(output, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_a_server_that_does_not_end_and_a_second_signal_ends_at_once() {
        let (_, drain) = made(100, 2000);
        drain.begin();
        let started = Instant::now();
        let stopped = drain.run(std::future::pending::<()>()).await;
        assert_eq!(stopped, Err(Stopped::BudgetSpent { in_flight: None }));
        assert_eq!(started.elapsed(), Duration::from_millis(2100));

        let (_, drain) = made(5000, 20_000);
        let forced = drain.clone();
        tokio::spawn(async move {
            forced.begin();
            tokio::time::sleep(Duration::from_millis(10)).await;
            forced.begin();
        });
        let stopped = drain.run(std::future::pending::<()>()).await;
        assert_eq!(stopped, Err(Stopped::Forced));
    }

    #[test]
    fn settings_are_checked() {
        let checker = HealthChecker::builder().build().unwrap();
        let error = Drain::builder(checker)
            .budget(Duration::from_secs(3600))
            .build()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "drain budget of 3600000 ms is out of range (0 to 10 min)"
        );
    }
}
