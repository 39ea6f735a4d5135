//! The reliability report: the detailed health report plus request, process and runtime
//! figures, the anomalies the rules find in them, and notes. Made at most once per TTL, by one
//! task however many ask.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::time::Instant;

use super::rules::{self, Anomaly, ComponentObservation, Observations, Rule, Severity};
use crate::checker::{CheckCounters, HealthChecker};
use crate::error::ConfigError;
use crate::fleet::Fleet;
use crate::health_report::{HealthStatus, SystemHealthStatus};
use crate::info::AppInfo;
use crate::metrics::{Exemplar, MetricsCollector, MetricsSnapshot};
use crate::probe::RuntimeStats;
use crate::validate;
use crate::vitals::gather::{FLAP_WINDOW, SOURCE_TIMEOUT, WebhookSource, validate_source_name};
use crate::vitals::source::{IntoFigures, NamedSource};
use crate::vitals::{ProcessFigures, Source, Vitals, VitalsGatherer, Want};

/// Settings of the reliability report.
///
/// ```
/// use std::time::Duration;
/// use tower_vitals::reliability::{ReliabilityConfig, Rule, Severity};
///
/// let config = ReliabilityConfig::new()
///     .cache_ttl(Duration::from_secs(10))?
///     .threshold("HIGH_P95_LATENCY", 800.0)?
///     .severity("HIGH_ERROR_RATE", Severity::Critical)?
///     .disable("LOW_CACHE_HIT_RATE")?
///     .rule(Rule::above("MANY_IN_FLIGHT", Severity::Warning, 1000.0, |o| {
///         o.in_flight.map(|n| n as f64)
///     }))?;
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ReliabilityConfig {
    ttl: Duration,
    source_timeout: Duration,
    flap_window: Duration,
    rules: Vec<Rule>,
    sources: Vec<NamedSource>,
}

impl Default for ReliabilityConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            source_timeout: Duration::from_secs(2),
            flap_window: Duration::from_secs(600),
            rules: rules::defaults(),
            sources: Vec::new(),
        }
    }
}

impl ReliabilityConfig {
    /// The defaults: reports cached 30 s, each source given 2 s, flaps counted over 10 min, and
    /// the rules `HIGH_CPU` (> 85 %), `HIGH_P95_LATENCY` (> 1500 ms), `HIGH_ERROR_RATE`
    /// (> 0.05 with at least 20 requests in the window), `LOW_CACHE_HIT_RATE` (< 0.2 with more
    /// than 100 lookups, info), `SLOW_CHECK` (a check run > 1000 ms), `FLAPPING_COMPONENT`
    /// (more than 3 status changes in the flap window) and `RUNTIME_LAG` (a timer more than
    /// 100 ms late), all warnings unless said otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a report is reused (default 30 s; 0 to 1 h).
    pub fn cache_ttl(mut self, ttl: Duration) -> Result<Self, ConfigError> {
        let allowed = (Duration::ZERO..=Duration::from_secs(3600), "0 to 1 h");
        self.ttl = validate::duration("reliability cache TTL", ttl, allowed)?;
        Ok(self)
    }

    /// How long each source (checks, requests, process, runtime) may take before it is reported
    /// as failed (default 2 s; 1 ms to 60 s).
    pub fn source_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.source_timeout =
            validate::duration("reliability source timeout", timeout, SOURCE_TIMEOUT)?;
        Ok(self)
    }

    /// The window in which status changes count towards `FLAPPING_COMPONENT` (default 10 min;
    /// 1 s to 24 h).
    pub fn flap_window(mut self, window: Duration) -> Result<Self, ConfigError> {
        self.flap_window = validate::duration("flap window", window, FLAP_WINDOW)?;
        Ok(self)
    }

    /// Sets a rule's threshold.
    pub fn threshold(mut self, rule: &str, threshold: f64) -> Result<Self, ConfigError> {
        if !threshold.is_finite() {
            return Err(ConfigError::InvalidNumber {
                setting: format!("threshold of {rule}"),
                value: threshold.to_string(),
            });
        }
        self.find(rule)?.threshold = threshold;
        Ok(self)
    }

    /// Sets a rule's severity.
    pub fn severity(mut self, rule: &str, severity: Severity) -> Result<Self, ConfigError> {
        self.find(rule)?.severity = severity;
        Ok(self)
    }

    /// Removes a rule.
    pub fn disable(mut self, rule: &str) -> Result<Self, ConfigError> {
        self.find(rule)?;
        self.rules.retain(|r| r.name != rule);
        Ok(self)
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: Rule) -> Result<Self, ConfigError> {
        if self.rules.iter().any(|r| r.name == rule.name) {
            return Err(ConfigError::DuplicateRule(rule.name));
        }
        self.rules.push(rule);
        Ok(self)
    }

    /// Adds an application source to the report: an async closure returning a JSON object (or
    /// a `Result` of one), gathered concurrently with the built-in sources under the same
    /// timeout and shown under `metrics.<name>`, or as `{"error": …}` when it fails or times
    /// out (the report itself does not fail). Rules see it through
    /// [`Observations::source`].
    ///
    /// ```
    /// use tower_vitals::reliability::{ReliabilityConfig, Rule, Severity};
    ///
    /// let config = ReliabilityConfig::new()
    ///     .source("ingestion", || async { serde_json::json!({ "latency_ms": 120.0 }) })?
    ///     .rule(Rule::above("SLOW_INGEST", Severity::Warning, 5000.0, |o| {
    ///         o.source("ingestion")?.get("latency_ms")?.as_f64()
    ///     }))?;
    /// # drop(config);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn source<F, Fut>(self, name: &str, source: F) -> Result<Self, ConfigError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoFigures,
    {
        self.add_source(NamedSource::new(name.to_owned(), false, source))
    }

    /// Like [`source`](Self::source), gathered only when the caller asks for it with
    /// `?include=<name>` (such reports are made afresh, not cached): for figures too
    /// expensive to gather every time.
    pub fn optional_source<F, Fut>(self, name: &str, source: F) -> Result<Self, ConfigError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoFigures,
    {
        self.add_source(NamedSource::new(name.to_owned(), true, source))
    }

    fn add_source(mut self, source: NamedSource) -> Result<Self, ConfigError> {
        validate_source_name(&source.name)?;
        if self.sources.iter().any(|s| s.name == source.name) {
            return Err(ConfigError::DuplicateSource(source.name));
        }
        self.sources.push(source);
        Ok(self)
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    fn find(&mut self, name: &str) -> Result<&mut Rule, ConfigError> {
        self.rules
            .iter_mut()
            .find(|r| r.name == name)
            .ok_or_else(|| ConfigError::UnknownRule(name.to_owned()))
    }
}

/// One reliability report.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReliabilityReport {
    /// The checks' status raised by the anomalies (see [`Severity`]).
    pub status: HealthStatus,
    /// The detailed health report the checks gave.
    pub health: SystemHealthStatus,
    /// Request figures.
    pub requests: Source<MetricsSnapshot>,
    /// Process figures.
    pub process: Source<ProcessFigures>,
    /// Runtime figures.
    pub runtime: Source<RuntimeStats>,
    /// Per-check counters.
    pub checks: Vec<CheckCounters>,
    /// The application's sources ([`ReliabilityConfig::source`]), by name.
    pub sources: Vec<(String, Source<serde_json::Value>)>,
    /// What the rules found.
    pub anomalies: Vec<Anomaly>,
    /// Plain-language remarks: what is off, missing or unusual.
    pub notes: Vec<String>,
    /// How long making the report took.
    pub generation_time: Duration,
}

/// Makes and caches reports for one layer, from its [`VitalsGatherer`].
#[derive(Debug)]
pub(crate) struct Reporter {
    ttl: Duration,
    rules: Vec<Rule>,
    gatherer: VitalsGatherer,
    cache: Mutex<Cache>,
}

type Pending = Shared<BoxFuture<'static, Arc<ReliabilityReport>>>;

#[derive(Default)]
struct Cache {
    report: Option<(Instant, Arc<ReliabilityReport>)>,
    pending: Option<Pending>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("report", &self.report.as_ref().map(|(made, _)| made))
            .field("pending", &self.pending.is_some())
            .finish()
    }
}

impl Reporter {
    pub(crate) fn new(
        config: ReliabilityConfig,
        checker: HealthChecker,
        metrics: Option<MetricsCollector>,
        info: Option<Arc<AppInfo>>,
        webhooks: &[WebhookSource],
        fleet: Option<&Fleet>,
    ) -> Self {
        let mut gatherer = VitalsGatherer::builder(checker)
            .source_timeout(config.source_timeout)
            .flap_window(config.flap_window)
            .named_sources(config.sources);
        if let Some(metrics) = metrics {
            gatherer = gatherer.metrics(metrics);
        }
        if let Some(info) = info {
            gatherer = gatherer.shared_info(info);
        }
        for source in webhooks {
            gatherer = gatherer.webhook_source(source.clone());
        }
        if let Some(fleet) = fleet {
            gatherer = gatherer.fleet(fleet.clone());
        }
        Self {
            ttl: config.ttl,
            rules: config.rules,
            // Every setting was checked when it was set.
            gatherer: gatherer
                .build()
                .expect("reliability settings are validated"),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The gatherer every endpoint of the layer renders from.
    pub(crate) fn gatherer(&self) -> &VitalsGatherer {
        &self.gatherer
    }

    /// A report within the TTL, if there is one.
    pub(crate) fn cached(&self) -> Option<Arc<ReliabilityReport>> {
        let cache = self.cache.lock();
        cache
            .report
            .as_ref()
            .filter(|(made, _)| made.elapsed() < self.ttl)
            .map(|(_, report)| report.clone())
    }

    /// The last report made, however old; when it is past the TTL (or there is none), a new one
    /// is started in its own task for the next caller. Never waits.
    pub(crate) fn latest(self: &Arc<Self>) -> Option<Arc<ReliabilityReport>> {
        let (last, fresh) = {
            let cache = self.cache.lock();
            let fresh = cache
                .report
                .as_ref()
                .is_some_and(|(made, _)| made.elapsed() < self.ttl);
            (
                cache.report.as_ref().map(|(_, report)| report.clone()),
                fresh,
            )
        };
        if !fresh && let Ok(runtime) = Handle::try_current() {
            let reporter = self.clone();
            runtime.spawn(async move {
                reporter.report().await;
            });
        }
        last
    }

    /// A report with the optional sources named in `include`: made afresh each time.
    pub(crate) async fn report_including(&self, include: &[String]) -> ReliabilityReport {
        self.generate(include).await
    }

    /// The cached report, or a new one: made once by its own task for every concurrent caller.
    pub(crate) async fn report(self: &Arc<Self>) -> Arc<ReliabilityReport> {
        let pending = {
            let mut cache = self.cache.lock();
            if let Some((made, report)) = &cache.report
                && made.elapsed() < self.ttl
            {
                return report.clone();
            }
            match &cache.pending {
                Some(pending) => pending.clone(),
                None => match self.spawn_report() {
                    Ok(pending) => {
                        cache.pending = Some(pending.clone());
                        pending
                    }
                    Err(why) => return Arc::new(self.unavailable(why)),
                },
            }
        };
        pending.await
    }

    /// Starts making a report in its own task, so that a caller that goes away does not stop it.
    fn spawn_report(self: &Arc<Self>) -> Result<Pending, &'static str> {
        let runtime = Handle::try_current().map_err(|_| "not on a Tokio runtime")?;
        let reporter = self.clone();
        let task = runtime.spawn(async move {
            let report = Arc::new(reporter.generate(&[]).await);
            let mut cache = reporter.cache.lock();
            cache.report = Some((Instant::now(), report.clone()));
            cache.pending = None;
            report
        });
        let reporter = self.clone();
        let pending = async move {
            match task.await {
                Ok(report) => report,
                Err(error) => {
                    reporter.cache.lock().pending = None;
                    let why = format!("report task failed: {error}");
                    Arc::new(reporter.unavailable(&why))
                }
            }
        };
        Ok(pending.boxed().shared())
    }

    async fn generate(&self, include: &[String]) -> ReliabilityReport {
        let started = Instant::now();
        let want = Want {
            sources: Some(include),
            ..Want::ALL
        };
        let vitals = self.gatherer.gather_with(&want).await;
        let observations = observe(&vitals);
        let mut anomalies = Vec::new();
        for rule in &self.rules {
            rule.evaluate(&observations, &mut anomalies);
        }
        let health = &vitals.health;
        let status = anomalies
            .iter()
            .map(|a| a.severity.escalates_to())
            .fold(health.status, HealthStatus::max);
        let mut notes = vitals.notes.clone();
        write_notes(&mut notes, &vitals, status, &anomalies);
        ReliabilityReport {
            status,
            health: vitals.health,
            requests: vitals.requests,
            process: vitals.process,
            runtime: vitals.runtime,
            checks: vitals.checks,
            sources: vitals.sources,
            anomalies,
            notes,
            generation_time: started.elapsed(),
        }
    }

    fn unavailable(&self, why: &str) -> ReliabilityReport {
        ReliabilityReport {
            status: HealthStatus::Degraded,
            health: self.gatherer.placeholder_health(),
            requests: Source::Failed(why.to_owned()),
            process: Source::Failed(why.to_owned()),
            runtime: Source::Failed(why.to_owned()),
            checks: Vec::new(),
            sources: Vec::new(),
            anomalies: Vec::new(),
            notes: vec![format!("report unavailable: {why}")],
            generation_time: Duration::ZERO,
        }
    }
}

fn observe(vitals: &Vitals) -> Observations {
    let (health, requests, process) = (&vitals.health, &vitals.requests, &vitals.process);
    let metrics = requests.ready();
    let window = metrics.map(|m| &m.window);
    Observations {
        cpu_percent: process.ready().and_then(|p| p.cpu_percent),
        p95_latency_ms: window
            .filter(|w| w.count > 0)
            .map(|w| w.latency.p95.as_secs_f64() * 1e3),
        error_rate: window.and_then(|w| w.error_rate),
        window_requests: window.map_or(0, |w| w.count),
        cache_hit_rate: metrics.and_then(|m| m.cache.hit_rate),
        cache_operations: metrics.map_or(0, |m| m.cache.hits + m.cache.misses),
        runtime_lag_ms: vitals.runtime.ready().and_then(|r| r.max_lag_ms),
        in_flight: metrics.map(|m| m.in_flight),
        resident_memory_bytes: process.ready().map(|p| p.stats.resident_memory_bytes),
        components: health
            .components
            .iter()
            .map(|component| {
                let counters = vitals.checks.iter().find(|c| c.name == component.name);
                ComponentObservation {
                    name: component.name.clone(),
                    status: component.status,
                    response_time_ms: component.response_time_ms,
                    timeout_ms: counters.map_or(0.0, |c| c.timeout.as_secs_f64() * 1e3),
                    recent_transitions: counters.map_or(0, |c| c.recent_transitions),
                }
            })
            .collect(),
        sources: vitals
            .sources
            .iter()
            .filter_map(|(name, source)| Some((name.clone(), source.ready()?.clone())))
            .collect(),
        slowest_traces: metrics.map(slowest_traces).unwrap_or_default(),
    }
}

/// The trace ids of the three slowest exemplars recorded within the window, slowest first.
fn slowest_traces(metrics: &MetricsSnapshot) -> Vec<String> {
    let since = SystemTime::now()
        .checked_sub(metrics.window.span)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut exemplars: Vec<&Exemplar> = metrics
        .series
        .iter()
        .flat_map(|series| series.exemplars.iter().flatten())
        .filter(|exemplar| exemplar.at >= since)
        .collect();
    exemplars.sort_by_key(|exemplar| std::cmp::Reverse(exemplar.duration));
    exemplars.dedup_by(|a, b| a.trace == b.trace);
    exemplars
        .iter()
        .take(3)
        .map(|exemplar| exemplar.trace.trace_id_hex())
        .collect()
}

fn write_notes(
    notes: &mut Vec<String>,
    vitals: &Vitals,
    status: HealthStatus,
    anomalies: &[Anomaly],
) {
    let (health, requests) = (&vitals.health, &vitals.requests);
    let (process, runtime) = (&vitals.process, &vitals.runtime);
    if !health.accepting_traffic {
        notes.push("the service is marked not ready: readiness answers 503".to_owned());
    }
    for component in &health.components {
        if component.status != HealthStatus::Healthy {
            let why = component.message.as_deref().unwrap_or("no message");
            notes.push(format!("{} is {}: {why}", component.name, component.status));
        }
        if !component.fresh {
            notes.push(format!(
                "{}: served from a result {} ms old while a new run is under way",
                component.name, component.age_ms
            ));
        }
    }
    if status > health.status {
        notes.push(format!(
            "status raised from {} to {status} by {} anomal{}",
            health.status,
            anomalies
                .iter()
                .filter(|a| a.severity.escalates_to() > health.status)
                .count(),
            if anomalies.len() == 1 { "y" } else { "ies" }
        ));
    }
    match requests {
        Source::Off => notes.push(
            "request figures are off: give the HealthLayer a MetricsCollector (HealthLayer::metrics)".to_owned(),
        ),
        Source::Failed(error) => notes.push(format!("request figures unavailable: {error}")),
        Source::Ready(metrics) if metrics.window.count == 0 => {
            notes.push("no requests ended in the metrics window".to_owned());
        }
        Source::Ready(_) => {}
    }
    if let Source::Failed(error) = process {
        notes.push(format!("process figures unavailable: {error}"));
    }
    for (name, source) in &vitals.sources {
        if let Source::Failed(error) = source {
            notes.push(format!("source {name} unavailable: {error}"));
        }
    }
    match runtime {
        Source::Failed(error) => notes.push(format!("runtime figures unavailable: {error}")),
        Source::Ready(stats) if stats.max_lag_ms.is_none() => {
            notes.push("runtime lag not measured yet: the probe has just started".to_owned());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_settings_name_the_rule() {
        assert_eq!(
            ReliabilityConfig::new()
                .threshold("NO_SUCH_RULE", 1.0)
                .unwrap_err(),
            ConfigError::UnknownRule("NO_SUCH_RULE".into())
        );
        assert!(
            ReliabilityConfig::new()
                .threshold("HIGH_CPU", f64::NAN)
                .is_err()
        );
        let duplicate =
            ReliabilityConfig::new().rule(Rule::above("HIGH_CPU", Severity::Info, 1.0, |_| None));
        assert_eq!(
            duplicate.unwrap_err(),
            ConfigError::DuplicateRule("HIGH_CPU".into())
        );
        let config = ReliabilityConfig::new().disable("RUNTIME_LAG").unwrap();
        assert!(config.rules().all(|r| r.name() != "RUNTIME_LAG"));
        assert!(
            ReliabilityConfig::new()
                .cache_ttl(Duration::from_secs(7200))
                .is_err()
        );
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_report_until_the_ttl_ends() {
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = runs.clone();
        let checker = HealthChecker::builder()
            .check("db", move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {}
            })
            .cache_ttl(Duration::ZERO)
            .build()
            .unwrap();
        let reporter = Arc::new(Reporter::new(
            ReliabilityConfig::new(),
            checker,
            None,
            None,
            &[],
            None,
        ));
        let reports = futures_util::future::join_all((0..20).map(|_| reporter.report())).await;
        assert!(
            reports.iter().all(|r| Arc::ptr_eq(r, &reports[0])),
            "one report for all"
        );
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(reporter.cached().is_some());
        assert!(matches!(reports[0].requests, Source::Off));
    }

    #[tokio::test]
    async fn a_source_that_hangs_becomes_a_placeholder_with_its_error() {
        let checker = HealthChecker::builder()
            .register(
                crate::checker::Check::new("stuck", std::future::pending::<()>)
                    .timeout(Duration::from_secs(30)),
            )
            .deadline(Duration::from_secs(10))
            .build()
            .unwrap();
        let config = ReliabilityConfig::new()
            .source_timeout(Duration::from_millis(50))
            .unwrap();
        let reporter = Arc::new(Reporter::new(config, checker, None, None, &[], None));
        let report = reporter.report().await;
        assert_eq!(report.status, HealthStatus::Degraded);
        assert!(
            report
                .notes
                .iter()
                .any(|n| n == "checks unavailable: no answer within 50 ms"),
            "{:?}",
            report.notes
        );
    }
}
