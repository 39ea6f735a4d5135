//! Anomaly rules: data, not code paths. Each has a name, a severity, a threshold and what it
//! observes; the analyzer compares and reports.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::health_report::HealthStatus;
use crate::round::round3;

/// How serious an anomaly is, and what it does to the overall status of the reliability report:
/// `critical` makes it unhealthy, `warning` at least degraded, `info` nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no effect on the status.
    Info,
    /// Makes the status at least degraded.
    Warning,
    /// Makes the status unhealthy.
    Critical,
}

impl Severity {
    /// `info`, `warning` or `critical`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// The least status an anomaly of this severity leaves the report with.
    pub fn escalates_to(self) -> HealthStatus {
        match self {
            Self::Info => HealthStatus::Healthy,
            Self::Warning => HealthStatus::Degraded,
            Self::Critical => HealthStatus::Unhealthy,
        }
    }
}

/// What the analyzer sees: figures gathered for one reliability report. A figure is `None`
/// when its source is off, failed, or has too few samples to judge.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Observations {
    /// Process CPU use since the previous report, in percent of the available cores.
    pub cpu_percent: Option<f64>,
    /// p95 request latency over the metrics window, in milliseconds.
    pub p95_latency_ms: Option<f64>,
    /// Failed / ended requests over the window.
    pub error_rate: Option<f64>,
    /// Requests that ended in the window.
    pub window_requests: u64,
    /// Cache hit rate since start.
    pub cache_hit_rate: Option<f64>,
    /// Cache lookups since start.
    pub cache_operations: u64,
    /// The largest lateness of the runtime probe's timer since the previous report, in
    /// milliseconds.
    pub runtime_lag_ms: Option<f64>,
    /// Requests in flight.
    pub in_flight: Option<u64>,
    /// Resident memory, in bytes.
    pub resident_memory_bytes: Option<u64>,
    /// Per checked component.
    pub components: Vec<ComponentObservation>,
    /// The application's sources that were gathered, by name
    /// ([`ReliabilityConfig::source`](super::ReliabilityConfig::source)).
    pub sources: Vec<(String, serde_json::Value)>,
    /// Trace ids of the slowest traced requests of the window (from the histogram exemplars),
    /// slowest first: the evidence a latency anomaly points to.
    pub slowest_traces: Vec<String>,
}

impl Observations {
    /// A gathered application source's figures, by name: `None` when it is unknown, failed or
    /// timed out.
    pub fn source(&self, name: &str) -> Option<&serde_json::Value> {
        self.sources
            .iter()
            .find(|(source, _)| source == name)
            .map(|(_, figures)| figures)
    }
}

/// What the analyzer sees of one component.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ComponentObservation {
    /// The check's name.
    pub name: String,
    /// Its status.
    pub status: HealthStatus,
    /// How long its last run took, in milliseconds.
    pub response_time_ms: f64,
    /// Its per-attempt timeout, in milliseconds.
    pub timeout_ms: f64,
    /// Status changes within the flap window.
    pub recent_transitions: usize,
}

type Global = dyn Fn(&Observations) -> Option<f64> + Send + Sync;
type PerComponent = dyn Fn(&ComponentObservation) -> Option<f64> + Send + Sync;

#[derive(Clone)]
enum Observe {
    Global(Arc<Global>),
    PerComponent(Arc<PerComponent>),
}

/// One anomaly rule.
///
/// ```
/// use tower_vitals::reliability::{Rule, Severity};
///
/// // Degrade when more than 500 requests are in flight.
/// let rule = Rule::above("HIGH_IN_FLIGHT", Severity::Warning, 500.0, |o| o.in_flight.map(|n| n as f64))
///     .unit("requests");
/// # drop(rule);
/// ```
#[derive(Clone)]
#[must_use]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) severity: Severity,
    pub(crate) threshold: f64,
    above: bool,
    unit: &'static str,
    observe: Observe,
    /// Whether an anomaly names the slowest traced requests as evidence.
    traces: bool,
}

impl Rule {
    /// Fires when the observed value is above `threshold`.
    pub fn above(
        name: impl Into<String>,
        severity: Severity,
        threshold: f64,
        observe: impl Fn(&Observations) -> Option<f64> + Send + Sync + 'static,
    ) -> Self {
        Self::new(
            name,
            severity,
            threshold,
            true,
            Observe::Global(Arc::new(observe)),
        )
    }

    /// Fires when the observed value is below `threshold`.
    pub fn below(
        name: impl Into<String>,
        severity: Severity,
        threshold: f64,
        observe: impl Fn(&Observations) -> Option<f64> + Send + Sync + 'static,
    ) -> Self {
        Self::new(
            name,
            severity,
            threshold,
            false,
            Observe::Global(Arc::new(observe)),
        )
    }

    /// Fires for each component whose observed value is above `threshold`.
    pub fn above_per_component(
        name: impl Into<String>,
        severity: Severity,
        threshold: f64,
        observe: impl Fn(&ComponentObservation) -> Option<f64> + Send + Sync + 'static,
    ) -> Self {
        Self::new(
            name,
            severity,
            threshold,
            true,
            Observe::PerComponent(Arc::new(observe)),
        )
    }

    fn new(
        name: impl Into<String>,
        severity: Severity,
        threshold: f64,
        above: bool,
        observe: Observe,
    ) -> Self {
        Self {
            name: name.into(),
            severity,
            threshold,
            above,
            unit: "",
            observe,
            traces: false,
        }
    }

    /// The unit of the threshold and observed value, shown in the anomaly (`ms`, `%`, …).
    pub fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn fires(&self, value: f64) -> bool {
        if self.above {
            value > self.threshold
        } else {
            value < self.threshold
        }
    }

    /// The anomalies this rule finds in `observations`.
    pub(crate) fn evaluate(&self, observations: &Observations, out: &mut Vec<Anomaly>) {
        match &self.observe {
            Observe::Global(observe) => {
                if let Some(value) = observe(observations).filter(|v| self.fires(*v)) {
                    let mut anomaly = self.anomaly(None, value);
                    if self.traces {
                        anomaly.traces.clone_from(&observations.slowest_traces);
                    }
                    out.push(anomaly);
                }
            }
            Observe::PerComponent(observe) => {
                for component in &observations.components {
                    if let Some(value) = observe(component).filter(|v| self.fires(*v)) {
                        out.push(self.anomaly(Some(&component.name), value));
                    }
                }
            }
        }
    }

    fn anomaly(&self, component: Option<&str>, observed: f64) -> Anomaly {
        let relation = if self.above { "above" } else { "below" };
        let subject = component.map_or(String::new(), |name| format!("{name}: "));
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        Anomaly {
            rule: self.name.clone(),
            severity: self.severity,
            component: component.map(str::to_owned),
            observed: round3(observed),
            threshold: self.threshold,
            unit: self.unit,
            message: format!(
                "{subject}{} {relation} the threshold of {}{unit}",
                round3(observed),
                self.threshold
            ),
            traces: Vec::new(),
        }
    }

    /// An anomaly of this rule names the slowest traced requests of the window (their trace
    /// ids, from the histogram exemplars) as evidence; the built-in `HIGH_P95_LATENCY` does.
    pub fn with_slowest_traces(mut self) -> Self {
        self.traces = true;
        self
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("severity", &self.severity)
            .field("threshold", &self.threshold)
            .field("above", &self.above)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Anomaly {
    /// The rule's name, e.g. `HIGH_P95_LATENCY`.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// The component, for per-component rules.
    pub component: Option<String>,
    /// The value that crossed the threshold.
    pub observed: f64,
    /// The threshold.
    pub threshold: f64,
    /// The unit of both.
    pub unit: &'static str,
    /// One line saying what happened.
    pub message: String,
    /// Trace ids of requests that show it (a latency rule's slowest traced requests), slowest
    /// first; left out of the JSON when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<String>,
}

/// The built-in rules and their default thresholds.
pub(crate) fn defaults() -> Vec<Rule> {
    vec![
        Rule::above("HIGH_CPU", Severity::Warning, 85.0, |o| o.cpu_percent).unit("%"),
        Rule::above("HIGH_P95_LATENCY", Severity::Warning, 1500.0, |o| {
            o.p95_latency_ms
        })
        .unit("ms")
        .with_slowest_traces(),
        Rule::above("HIGH_ERROR_RATE", Severity::Warning, 0.05, |o| {
            // Too few requests say nothing about a rate.
            o.error_rate.filter(|_| o.window_requests >= 20)
        }),
        Rule::below("LOW_CACHE_HIT_RATE", Severity::Info, 0.2, |o| {
            o.cache_hit_rate.filter(|_| o.cache_operations > 100)
        }),
        Rule::above_per_component("SLOW_CHECK", Severity::Warning, 1000.0, |c| {
            Some(c.response_time_ms)
        })
        .unit("ms"),
        Rule::above_per_component("FLAPPING_COMPONENT", Severity::Warning, 3.0, |c| {
            Some(c.recent_transitions as f64)
        })
        .unit("status changes"),
        Rule::above("RUNTIME_LAG", Severity::Warning, 100.0, |o| {
            o.runtime_lag_ms
        })
        .unit("ms"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(observations: &Observations) -> Vec<String> {
        let mut anomalies = Vec::new();
        for rule in defaults() {
            rule.evaluate(observations, &mut anomalies);
        }
        anomalies
            .into_iter()
            .map(|a| a.message_with_rule())
            .collect()
    }

    impl Anomaly {
        fn message_with_rule(self) -> String {
            format!("{} {}", self.rule, self.message)
        }
    }

    #[test]
    fn nothing_fires_on_quiet_figures() {
        assert!(fired(&Observations::default()).is_empty());
    }

    #[test]
    fn each_default_rule_fires_past_its_threshold() {
        let observations = Observations {
            cpu_percent: Some(91.5),
            p95_latency_ms: Some(1800.0),
            error_rate: Some(0.5),
            window_requests: 40,
            cache_hit_rate: Some(0.1),
            cache_operations: 500,
            runtime_lag_ms: Some(250.0),
            components: vec![ComponentObservation {
                name: "db".into(),
                status: HealthStatus::Healthy,
                response_time_ms: 1200.0,
                timeout_ms: 2000.0,
                recent_transitions: 6,
            }],
            ..Observations::default()
        };
        assert_eq!(
            fired(&observations),
            [
                "HIGH_CPU 91.5 above the threshold of 85 %",
                "HIGH_P95_LATENCY 1800 above the threshold of 1500 ms",
                "HIGH_ERROR_RATE 0.5 above the threshold of 0.05",
                "LOW_CACHE_HIT_RATE 0.1 below the threshold of 0.2",
                "SLOW_CHECK db: 1200 above the threshold of 1000 ms",
                "FLAPPING_COMPONENT db: 6 above the threshold of 3 status changes",
                "RUNTIME_LAG 250 above the threshold of 100 ms",
            ]
        );
    }

    #[test]
    fn rates_need_enough_samples() {
        let few = Observations {
            error_rate: Some(1.0),
            window_requests: 3,
            cache_hit_rate: Some(0.0),
            cache_operations: 100,
            ..Observations::default()
        };
        assert!(fired(&few).is_empty());
    }

    #[test]
    fn severities_escalate_as_documented() {
        assert_eq!(Severity::Info.escalates_to(), HealthStatus::Healthy);
        assert_eq!(Severity::Warning.escalates_to(), HealthStatus::Degraded);
        assert_eq!(Severity::Critical.escalates_to(), HealthStatus::Unhealthy);
    }
}
