//! Health statuses and the report types the checker produces and the renderers serialise.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// How healthy a component (or the whole system) is.
///
/// Ordered from best to worst, so the worst of several statuses is their maximum. `Unknown`
/// (a check with no result yet) ranks below `Unhealthy` and above `Degraded`: readiness answers
/// 503 for it.
///
/// ```
/// use tower_vitals::HealthStatus;
///
/// assert!(HealthStatus::Healthy < HealthStatus::Degraded);
/// assert!(HealthStatus::Degraded < HealthStatus::Unknown);
/// assert!(HealthStatus::Unknown < HealthStatus::Unhealthy);
/// let overall = [HealthStatus::Healthy, HealthStatus::Degraded].into_iter().max();
/// assert_eq!(overall, Some(HealthStatus::Degraded));
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Working normally.
    #[default]
    Healthy,
    /// Working, but impaired (slow, partly unavailable, non-critical dependency down).
    Degraded,
    /// Not known yet: the check has not finished a first run.
    Unknown,
    /// Not working.
    Unhealthy,
}

impl HealthStatus {
    /// Every status, best first.
    pub const ALL: [HealthStatus; 4] = [
        Self::Healthy,
        Self::Degraded,
        Self::Unknown,
        Self::Unhealthy,
    ];

    /// The lowercase name used in JSON and logs: `"healthy"`, `"degraded"`, `"unknown"` or
    /// `"unhealthy"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unknown => "unknown",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// The worst status of an iterator of statuses; `Healthy` when it is empty.
    pub fn worst<I: IntoIterator<Item = HealthStatus>>(statuses: I) -> Self {
        statuses.into_iter().max().unwrap_or_default()
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run of a check found: a status, an optional message and free-form metadata.
///
/// ```
/// use tower_vitals::{CheckResult, HealthStatus};
///
/// let result = CheckResult::degraded("replica lag 12 s").with_metadata("lag_seconds", 12);
/// assert_eq!(result.status(), HealthStatus::Degraded);
/// assert_eq!(result.metadata()["lag_seconds"], 12);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckResult {
    status: HealthStatus,
    message: Option<String>,
    metadata: Map<String, Value>,
    figures: Vec<(String, f64)>,
}

/// At most this many [figures](CheckResult::with_figure) are kept from one result.
pub const MAX_FIGURES: usize = 16;

/// Whether `name` may name a figure: `[a-z_][a-z0-9_]*`, 1 to 64 characters.
fn valid_figure(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=64).contains(&bytes.len())
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

impl CheckResult {
    /// A result with `status`, no message and no metadata.
    pub fn new(status: HealthStatus) -> Self {
        Self {
            status,
            message: None,
            metadata: Map::new(),
            figures: Vec::new(),
        }
    }

    /// A healthy result.
    pub fn healthy() -> Self {
        Self::new(HealthStatus::Healthy)
    }

    /// A degraded result with a message saying why.
    pub fn degraded(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Degraded).with_message(message)
    }

    /// An unhealthy result with a message saying why.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Unhealthy).with_message(message)
    }

    /// Sets the status.
    #[must_use]
    pub fn with_status(mut self, status: HealthStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Adds one metadata entry (shown under the component's `metadata` object).
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds a figure: a number shown in the component's `metadata` like
    /// [`with_metadata`](Self::with_metadata), and also on `/metrics` as
    /// `vitals_health_component_figure{component="…",figure="<name>"}` — a queue's depth, the
    /// age of a heartbeat, a cache's hit rate. Names are `[a-z_][a-z0-9_]*` of at most 64
    /// characters, with the unit last (`oldest_age_seconds`); at most [`MAX_FIGURES`] per
    /// result, the same name twice keeps the last. A name outside those rules, or a value
    /// that is not finite, is left out of `/metrics` (it still shows in the metadata).
    ///
    /// ```
    /// use tower_vitals::CheckResult;
    ///
    /// let result = CheckResult::healthy().with_figure("depth", 12.0);
    /// assert_eq!(result.metadata()["depth"], 12.0);
    /// assert_eq!(result.figures(), [("depth".to_owned(), 12.0)]);
    /// assert!(CheckResult::healthy().with_figure("Depth!", 1.0).figures().is_empty());
    /// ```
    #[must_use]
    pub fn with_figure(mut self, name: impl Into<String>, value: f64) -> Self {
        let name = name.into();
        if let Some(number) = serde_json::Number::from_f64(value) {
            self.metadata.insert(name.clone(), Value::Number(number));
        }
        if !valid_figure(&name) || !value.is_finite() {
            return self;
        }
        if let Some(slot) = self.figures.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value;
        } else if self.figures.len() < MAX_FIGURES {
            self.figures.push((name, value));
        }
        self
    }

    /// The figures, in the order they were added.
    pub fn figures(&self) -> &[(String, f64)] {
        &self.figures
    }

    /// The status.
    pub fn status(&self) -> HealthStatus {
        self.status
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The metadata object.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    pub(crate) fn into_parts(self) -> (HealthStatus, Option<String>, Map<String, Value>) {
        (self.status, self.message, self.metadata)
    }

    /// The figures, taken out before [`into_parts`](Self::into_parts).
    pub(crate) fn take_figures(&mut self) -> Vec<(String, f64)> {
        std::mem::take(&mut self.figures)
    }
}

impl From<HealthStatus> for CheckResult {
    fn from(status: HealthStatus) -> Self {
        Self::new(status)
    }
}

/// The judgement a [shared](crate::Check::shared) check is under on this replica, against the
/// fleet (see `tower_vitals::fleet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Judgement {
    /// It does not fail here: nothing to judge.
    Passing,
    /// It fails here, and the fleet has not shown yet whether elsewhere too: readiness holds.
    Pending,
    /// It fails here and on most fresh replicas: a shared outage, readiness stays ready
    /// (unless the fleet was built with `SharedOutage::NotReady`).
    Shared,
    /// It fails here while the others pass: readiness fails.
    Local,
    /// It fails here with no fresh view of the fleet: the local rule, readiness fails.
    Alone,
}

impl Judgement {
    /// Every judgement, in the order `/metrics` lists them.
    pub const ALL: [Judgement; 5] = [
        Self::Passing,
        Self::Pending,
        Self::Shared,
        Self::Local,
        Self::Alone,
    ];

    /// Its name on `/metrics` and in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Passing => "passing",
            Self::Pending => "pending",
            Self::Shared => "shared",
            Self::Local => "local",
            Self::Alone => "alone",
        }
    }
}

/// The state of one named component, as shown in reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ComponentStatus {
    /// The check's registered name.
    pub name: String,
    /// Its status after failure/recovery thresholds were applied.
    pub status: HealthStatus,
    /// Why it has that status, when the check said (errors, timeouts and panics always say).
    pub message: Option<String>,
    /// How long the last run took, retries included, in milliseconds.
    pub response_time_ms: f64,
    /// Free-form details the check attached.
    pub metadata: Map<String, Value>,
    /// When the last run finished; `None` while the first run is still under way.
    #[serde(serialize_with = "rfc3339_opt")]
    pub checked_at: Option<SystemTime>,
    /// `true` when the result is within the cache TTL or was computed for this request; `false`
    /// when the check was still running at the answer deadline and an older result is shown.
    pub fresh: bool,
    /// Age of the shown result in milliseconds (0 when it has none).
    pub age_ms: f64,
    /// Whether a failure of this check makes the system unhealthy (`false`: at worst degraded).
    pub critical: bool,
    /// The check's tags.
    pub tags: Vec<String>,
    /// Failed runs in a row, counted before thresholds.
    pub consecutive_failures: u32,
    /// When the shown status began.
    #[serde(serialize_with = "rfc3339_opt")]
    pub since: Option<SystemTime>,
    /// For a component that is not healthy, why, in one line: status, for how long, the
    /// message, failures in a row against the threshold.
    pub reason: Option<String>,
    /// For a [shared](crate::Check::shared) check failing here, how the fleet judged it (a
    /// shared outage, a local fault…; its reason leads `reason`). Absent without a fleet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judgement: Option<Judgement>,
    /// The recent runs, summarised.
    pub history: HistorySummary,
    /// The last result's [figures](CheckResult::with_figure), for `/metrics` (they show in
    /// `metadata` too).
    #[serde(skip)]
    pub figures: Vec<(String, f64)>,
}

/// A check's recent runs (the last 32 by default,
/// [`HealthCheckerBuilder::history`](crate::HealthCheckerBuilder::history)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HistorySummary {
    /// Runs kept.
    pub runs: usize,
    /// Share of those runs that passed (healthy before thresholds), in percent.
    pub availability_percent: Option<f64>,
    /// Their mean duration, in milliseconds.
    pub avg_duration_ms: Option<f64>,
    /// Status changes since the oldest kept run.
    pub flaps: usize,
}

/// The whole-system report: the overall status and every component it was made of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemHealthStatus {
    /// The worst status of the components (`healthy` when there are none).
    pub status: HealthStatus,
    /// `false` when the service was marked not ready (for instance while draining on shutdown).
    pub accepting_traffic: bool,
    /// When the report was made.
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: SystemTime,
    /// How long making it took, in milliseconds.
    pub duration_ms: f64,
    /// The components, in registration order.
    pub components: Vec<ComponentStatus>,
    /// The [warm-up gates](crate::HealthChecker::warm_up) still pending, oldest first (while
    /// any is, `accepting_traffic` is `false`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warming_up: Vec<WarmUpStatus>,
    /// Settings changed at run time, when they are read from a source
    /// ([`SettingsStatus`]); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsStatus>,
}

/// Settings changed at run time ([`HealthChecker::reconfigure`](crate::HealthChecker::reconfigure),
/// through `HEALTH_CONFIG_FILE`): where they come from, the last change applied, and the last
/// refused while it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SettingsStatus {
    /// Where they are read from (the file's path).
    pub source: String,
    /// Changes applied since start (the file as read at start included).
    pub applied: u64,
    /// Changes refused since start.
    pub refused: u64,
    /// When the running settings were last applied.
    #[serde(serialize_with = "rfc3339_opt")]
    pub applied_at: Option<SystemTime>,
    /// The source's current content, refused: why (the variable and value named, redacted), and
    /// when. Absent once a later change is applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

/// A change of settings refused: the running settings were kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Refusal {
    /// When.
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// Why: the variable and value, or the line, and what is wrong.
    pub error: String,
}

/// A gate still pending, from [`HealthChecker::warming_up`](crate::HealthChecker::warming_up).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WarmUpStatus {
    /// The gate's name.
    pub name: String,
    /// How long it has been pending, in milliseconds.
    pub pending_ms: f64,
    /// Its budget, in milliseconds, if it was given one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<f64>,
    /// `true` once the [`WarmUp`](crate::WarmUp) was dropped without
    /// [`done`](crate::WarmUp::done): the gate stays
    /// pending for good, as the work it stood for never finished.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub abandoned: bool,
}

pub(crate) fn rfc3339<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&crate::clock::Rfc3339::millis(*time))
}

pub(crate) fn rfc3339_opt<S: Serializer>(
    time: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => rfc3339(time, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_bounded_named_and_finite() {
        let mut result = CheckResult::healthy()
            .with_figure("depth", 1.0)
            .with_figure("depth", 2.0)
            .with_figure("9lives", 1.0)
            .with_figure("lag", f64::NAN);
        assert_eq!(result.figures(), [("depth".to_owned(), 2.0)]);
        assert_eq!(result.metadata()["9lives"], 1.0, "still in the metadata");
        assert!(
            !result.metadata().contains_key("lag"),
            "NaN is no JSON number"
        );
        for i in 0..40 {
            result = result.with_figure(format!("f{i}"), f64::from(i));
        }
        assert_eq!(result.figures().len(), MAX_FIGURES);
        assert_eq!(result.take_figures().len(), MAX_FIGURES);
        assert!(result.figures().is_empty());
    }

    #[test]
    fn worst_of_nothing_is_healthy() {
        assert_eq!(HealthStatus::worst([]), HealthStatus::Healthy);
        assert_eq!(
            HealthStatus::worst([HealthStatus::Unhealthy, HealthStatus::Degraded]),
            HealthStatus::Unhealthy
        );
    }

    #[test]
    fn statuses_serialise_lowercase() {
        assert_eq!(
            serde_json::to_string(&HealthStatus::Degraded).unwrap(),
            "\"degraded\""
        );
        assert_eq!(HealthStatus::Unhealthy.to_string(), "unhealthy");
    }

    #[test]
    fn report_timestamps_are_rfc3339() {
        let report = SystemHealthStatus {
            status: HealthStatus::Healthy,
            accepting_traffic: true,
            timestamp: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_500),
            duration_ms: 0.5,
            components: vec![],
            warming_up: vec![],
            settings: None,
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["timestamp"], "1970-01-01T00:00:01.500Z");
        assert_eq!(json["status"], "healthy");
    }
}
