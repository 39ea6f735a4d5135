//! [`VitalsGatherer`]: gathers a [`Vitals`] from its sources concurrently, each within a
//! timeout, reading `/proc` on a blocking thread.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::Instant;

use super::process_history::{ProcessHistory, ProcessTimeline};
use super::source::{IntoFigures, NamedSource};
use super::{ProcessFigures, Source, Vitals};
use crate::checker::{HealthChecker, Selector, TimelineSettings};
use crate::error::ConfigError;
use crate::fleet::Fleet;
use crate::health_report::{HealthStatus, SystemHealthStatus};
use crate::info::AppInfo;
use crate::metrics::MetricsCollector;
use crate::probe::{CpuSampler, ProcessStats, RuntimeProbe};
use crate::redact::redact;
use crate::validate;
use crate::webhook::WebhookStats;

/// Gathers [`Vitals`]; cheap to clone (one shared state). Made by [`VitalsGatherer::builder`].
#[derive(Debug, Clone)]
pub struct VitalsGatherer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    checker: HealthChecker,
    metrics: Option<MetricsCollector>,
    timeout: Duration,
    flap_window: Duration,
    sources: Vec<NamedSource>,
    info: Option<Arc<AppInfo>>,
    webhooks: Vec<WebhookSource>,
    fleet: Option<Fleet>,
    cpu: CpuSampler,
    probe: RuntimeProbe,
    /// The process over time, sampled from the first gathering on.
    process_history: Arc<ProcessHistory>,
}

/// Settings of a [`VitalsGatherer`], checked by [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct VitalsGathererBuilder {
    checker: HealthChecker,
    metrics: Option<MetricsCollector>,
    timeout: Duration,
    flap_window: Duration,
    sources: Vec<NamedSource>,
    info: Option<Arc<AppInfo>>,
    webhooks: Vec<WebhookSource>,
    fleet: Option<Fleet>,
}

/// What one gathering needs: endpoints ask only for what they show.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Want<'a> {
    /// Which checks' report.
    pub(crate) selector: &'a Selector,
    /// Per-series request figures (`/metrics`), or the window and totals only.
    pub(crate) series: bool,
    /// Per-check counters.
    pub(crate) counters: bool,
    pub(crate) process: bool,
    pub(crate) runtime: bool,
    /// The application's sources: `None` for none, else every regular one plus the optional
    /// ones named here.
    pub(crate) sources: Option<&'a [String]>,
}

impl Want<'_> {
    /// Everything there is (optional sources aside).
    pub(crate) const ALL: Want<'static> = Want {
        selector: &Selector::ALL,
        series: true,
        counters: true,
        process: true,
        runtime: true,
        sources: Some(&[]),
    };

    /// What the detailed report shows: the checks and the request window.
    pub(crate) const HEALTH: Want<'static> = Want {
        selector: &Selector::ALL,
        series: false,
        counters: false,
        process: false,
        runtime: false,
        sources: None,
    };

    /// What the Prometheus exposition shows.
    pub(crate) const METRICS: Want<'static> = Want {
        selector: &Selector::ALL,
        series: true,
        counters: true,
        process: true,
        runtime: true,
        sources: None,
    };
}

impl VitalsGatherer {
    /// Settings for gathering from `checker`: each source given 2 s, status changes counted
    /// over 10 minutes, no request figures until [`metrics`](VitalsGathererBuilder::metrics).
    pub fn builder(checker: HealthChecker) -> VitalsGathererBuilder {
        VitalsGathererBuilder {
            checker,
            metrics: None,
            timeout: Duration::from_secs(2),
            flap_window: Duration::from_secs(600),
            sources: Vec::new(),
            info: None,
            webhooks: Vec::new(),
            fleet: None,
        }
    }

    /// Every source (optional ones aside), concurrently, each within the timeout.
    pub async fn gather(&self) -> Vitals {
        self.gather_with(&Want::ALL).await
    }

    /// Every source plus the optional ones named in `include`.
    pub async fn gather_including(&self, include: &[String]) -> Vitals {
        self.gather_with(&Want {
            sources: Some(include),
            ..Want::ALL
        })
        .await
    }

    /// The process (CPU, resident memory, the runtime's scheduling lag) from `since` to
    /// `until`, per `step`; sampled every 10 s from the first gathering on.
    pub fn process_timeline(
        &self,
        since: std::time::SystemTime,
        until: std::time::SystemTime,
        step: Option<Duration>,
    ) -> ProcessTimeline {
        self.process_timeline_within((since, until), step, crate::checker::MAX_TIMELINE_POINTS)
    }

    /// [`process_timeline`](Self::process_timeline) in at most `max_points` points.
    pub(crate) fn process_timeline_within(
        &self,
        (since, until): (std::time::SystemTime, std::time::SystemTime),
        step: Option<Duration>,
        max_points: usize,
    ) -> ProcessTimeline {
        self.start_process_history();
        self.inner
            .process_history
            .timeline((since, until), step, max_points)
    }

    fn start_process_history(&self) {
        self.inner.probe.ensure_started();
        self.inner.process_history.ensure_started(&self.inner.probe);
    }

    /// The checker it gathers from.
    pub fn checker(&self) -> &HealthChecker {
        &self.inner.checker
    }

    /// Whether an optional source of this name exists.
    pub(crate) fn has_optional(&self, name: &str) -> bool {
        self.inner
            .sources
            .iter()
            .any(|source| source.optional && source.name == name)
    }

    /// What `want` asks for, at once, when nothing in it needs waiting for: the checks' results
    /// are cached and neither process figures nor the application's sources are wanted.
    pub(crate) fn gather_now(&self, want: &Want<'_>) -> Option<Vitals> {
        if want.process || want.sources.is_some() {
            return None;
        }
        let started = Instant::now();
        let health = self.inner.checker.cached_report(want.selector)?;
        Some(self.assemble(want, started, health, None, Vec::new(), Vec::new()))
    }

    /// What `want` asks for: the sources concurrently, each within the timeout.
    pub(crate) async fn gather_with(&self, want: &Want<'_>) -> Vitals {
        self.start_process_history();
        let started = Instant::now();
        let inner = &*self.inner;
        let timeout = inner.timeout;
        let checks = within(timeout, async {
            Ok(inner.checker.report_for(want.selector).await)
        });
        let process = async {
            match want.process {
                true => Some(within(timeout, read_process()).await),
                false => None,
            }
        };
        let sources =
            futures_util::future::join_all(self.selected(want.sources).map(|source| async move {
                let figures = match within(timeout, source.run()).await {
                    Ok(figures) => Source::Ready(figures),
                    Err(error) => Source::Failed(redact(&error)),
                };
                (source.name.clone(), figures)
            }));
        let (checks, process, sources) = tokio::join!(checks, process, sources);
        let mut notes = Vec::new();
        let health = checks.unwrap_or_else(|error| {
            notes.push(format!("checks unavailable: {error}"));
            self.placeholder_health()
        });
        self.assemble(want, started, health, process, sources, notes)
    }

    fn selected<'a>(
        &'a self,
        include: Option<&'a [String]>,
    ) -> impl Iterator<Item = &'a NamedSource> + 'a {
        self.inner
            .sources
            .iter()
            .filter(move |source| match include {
                None => false,
                Some(names) => !source.optional || names.contains(&source.name),
            })
    }

    fn assemble(
        &self,
        want: &Want<'_>,
        started: Instant,
        health: SystemHealthStatus,
        process: Option<Result<ProcessStats, String>>,
        sources: Vec<(String, Source<serde_json::Value>)>,
        notes: Vec<String>,
    ) -> Vitals {
        let inner = &*self.inner;
        let requests = match &inner.metrics {
            None => Source::Off,
            Some(metrics) if want.series => Source::Ready(metrics.snapshot()),
            Some(metrics) => Source::Ready(metrics.summary()),
        };
        let process = match process {
            None => Source::Off,
            Some(Ok(stats)) => Source::Ready(ProcessFigures {
                cpu_percent: inner.cpu.percent(&stats),
                stats,
            }),
            Some(Err(error)) => Source::Failed(error),
        };
        let runtime = if want.runtime {
            inner.probe.ensure_started();
            inner
                .probe
                .read()
                .map_or_else(Source::Failed, Source::Ready)
        } else {
            Source::Off
        };
        Vitals {
            health,
            checks: match want.counters {
                true => inner.checker.counters(inner.flap_window),
                false => Vec::new(),
            },
            requests,
            process,
            runtime,
            sources,
            webhooks: match want.counters {
                true => webhook_figures(&inner.webhooks),
                false => Vec::new(),
            },
            fleet: inner
                .fleet
                .as_ref()
                .filter(|_| want.counters)
                .map(Fleet::figures),
            uptime: inner.checker.uptime(),
            lifecycle: inner.checker.lifecycle(),
            info: inner.info.clone(),
            broken: inner.checker.broken(),
            notes,
            generation_time: started.elapsed(),
        }
    }

    /// The report shown when the checks could not be gathered.
    pub(crate) fn placeholder_health(&self) -> SystemHealthStatus {
        SystemHealthStatus {
            status: HealthStatus::Degraded,
            accepting_traffic: self.inner.checker.accepting_traffic(),
            timestamp: crate::clock::now(),
            duration_ms: 0.0,
            components: Vec::new(),
            warming_up: self.inner.checker.warming_up(),
            settings: self.inner.checker.settings_status(),
        }
    }
}

/// A webhook notifier's figures, read when gathered, and its receiver's host.
#[derive(Clone)]
pub(crate) struct WebhookSource {
    receiver: String,
    read: Arc<dyn Fn() -> WebhookStats + Send + Sync>,
}

impl WebhookSource {
    #[cfg(feature = "http-client")]
    pub(crate) fn of(notifier: &crate::webhook::WebhookNotifier) -> Self {
        let notifier = notifier.clone();
        Self {
            receiver: notifier.receiver(),
            read: Arc::new(move || notifier.stats()),
        }
    }
}

impl std::fmt::Debug for WebhookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSource")
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

/// Each notifier's figures under its receiver's host; a host seen before gets `#2`, `#3`…
/// so that every label is distinct.
fn webhook_figures(sources: &[WebhookSource]) -> Vec<(String, WebhookStats)> {
    let mut figures: Vec<(String, WebhookStats)> = Vec::with_capacity(sources.len());
    for source in sources {
        let receiver = source.receiver.clone();
        let seen = figures
            .iter()
            .filter(|(label, _)| label == &receiver || label.starts_with(&format!("{receiver} #")))
            .count();
        let label = match seen {
            0 => receiver,
            n => format!("{receiver} #{}", n + 1),
        };
        figures.push((label, (source.read)()));
    }
    figures
}

impl VitalsGathererBuilder {
    /// Adds request figures from `collector`.
    pub fn metrics(mut self, collector: MetricsCollector) -> Self {
        self.metrics = Some(collector);
        self
    }

    /// How long each source may take before it is shown as failed (default 2 s; 1 ms to 60 s).
    pub fn source_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The window in which checks' status changes are counted as recent (default 10 min;
    /// 1 s to 24 h).
    pub fn flap_window(mut self, window: Duration) -> Self {
        self.flap_window = window;
        self
    }

    /// Adds an application source: an async closure returning a JSON object (or a `Result` of
    /// one), gathered with the others under the same timeout. A failure shows as
    /// `{"error": …}` in its place without failing the rest.
    pub fn source<F, Fut>(mut self, name: impl Into<String>, source: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoFigures,
    {
        self.sources
            .push(NamedSource::new(name.into(), false, source));
        self
    }

    /// Like [`source`](Self::source), gathered only when asked for by name
    /// ([`VitalsGatherer::gather_including`], or `?include=<name>` on the reliability report):
    /// for figures too expensive to gather every time.
    pub fn optional_source<F, Fut>(mut self, name: impl Into<String>, source: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoFigures,
    {
        self.sources
            .push(NamedSource::new(name.into(), true, source));
        self
    }

    /// Adds the application's build and runtime information ([`crate::app_info!`]).
    pub fn info(self, info: AppInfo) -> Self {
        self.shared_info(Arc::new(info))
    }

    /// Adds a webhook notifier's figures (deliveries, drops, attempts, its queue), labelled
    /// with its receiver's host.
    #[cfg(feature = "http-client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
    pub fn webhook(self, notifier: &crate::webhook::WebhookNotifier) -> Self {
        self.webhook_source(WebhookSource::of(notifier))
    }

    /// Adds the fleet's figures (replicas fresh and stale, exchanges with the store, records
    /// refused).
    pub fn fleet(mut self, fleet: Fleet) -> Self {
        self.fleet = Some(fleet);
        self
    }

    pub(crate) fn webhook_source(mut self, source: WebhookSource) -> Self {
        self.webhooks.push(source);
        self
    }

    pub(crate) fn shared_info(mut self, info: Arc<AppInfo>) -> Self {
        self.info = Some(info);
        self
    }

    pub(crate) fn named_sources(mut self, sources: Vec<NamedSource>) -> Self {
        self.sources.extend(sources);
        self
    }

    /// Checks the settings: timeout and window in range, source names non-empty and unique.
    pub fn build(self) -> Result<VitalsGatherer, ConfigError> {
        validate::duration("source timeout", self.timeout, SOURCE_TIMEOUT)?;
        validate::duration("flap window", self.flap_window, FLAP_WINDOW)?;
        for (i, source) in self.sources.iter().enumerate() {
            validate_source_name(&source.name)?;
            if self.sources[..i].iter().any(|s| s.name == source.name) {
                return Err(ConfigError::DuplicateSource(source.name.clone()));
            }
        }
        Ok(VitalsGatherer {
            inner: Arc::new(Inner {
                checker: self.checker,
                metrics: self.metrics,
                timeout: self.timeout,
                flap_window: self.flap_window,
                sources: self.sources,
                info: self.info,
                webhooks: self.webhooks,
                fleet: self.fleet,
                cpu: CpuSampler::new(),
                probe: RuntimeProbe::new(Duration::from_millis(100)),
                process_history: Arc::new(ProcessHistory::new(&TimelineSettings::default())),
            }),
        })
    }
}

/// The allowed source timeouts.
pub(crate) const SOURCE_TIMEOUT: validate::Range<Duration> = (
    Duration::from_millis(1)..=Duration::from_secs(60),
    "1 ms to 60 s",
);

/// The allowed flap windows.
pub(crate) const FLAP_WINDOW: validate::Range<Duration> = (
    Duration::from_secs(1)..=Duration::from_secs(86_400),
    "1 s to 24 h",
);

/// Source names are JSON keys and query values: 1 to 64 of `[a-z0-9_-]`, and not a built-in
/// section's name.
pub(crate) fn validate_source_name(name: &str) -> Result<(), ConfigError> {
    const BUILT_IN: [&str; 4] = ["requests", "process", "runtime", "checks"];
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !BUILT_IN.contains(&name);
    if valid {
        Ok(())
    } else {
        Err(ConfigError::InvalidSourceName(name.to_owned()))
    }
}

/// Reads `/proc` on a blocking thread: never on a runtime worker.
async fn read_process() -> Result<ProcessStats, String> {
    let runtime = Handle::try_current().map_err(|_| "not on a Tokio runtime".to_owned())?;
    runtime
        .spawn_blocking(ProcessStats::read)
        .await
        .map_err(|e| format!("reading process figures failed: {e}"))?
}

/// Runs a source with a timeout; its error or the timeout becomes the message.
pub(crate) async fn within<T>(
    timeout: Duration,
    source: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    if Handle::try_current().is_err() {
        // No runtime, so no timer: the source runs unbounded (and a blocking one says why).
        return source.await;
    }
    match tokio::time::timeout(timeout, source).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

#[cfg(all(test, feature = "process", target_os = "linux"))]
mod tests {
    use crate::probe::READ_ON;

    use super::*;

    /// On a current-thread runtime the gathering runs on this thread: a `/proc` read on it
    /// would block every other task.
    #[tokio::test(flavor = "current_thread")]
    async fn process_figures_are_read_on_a_blocking_thread() {
        let checker = HealthChecker::builder()
            .check("db", || async {})
            .build()
            .unwrap();
        let gatherer = VitalsGatherer::builder(checker).build().unwrap();
        let vitals = gatherer.gather().await;
        assert!(vitals.process.ready().is_some());
        let here = std::thread::current().id();
        assert!(
            !READ_ON.lock().contains(&here),
            "read on the runtime's thread"
        );
    }
}
