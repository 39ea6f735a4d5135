//! [`Vitals`]: one snapshot of everything the endpoints show — the checks' report and counters,
//! request figures, process and runtime figures, and the application's own report sources —
//! gathered by one async function ([`VitalsGatherer::gather`]) with a timeout per source.
//!
//! `/health`, `/health/reliability` and `/metrics` all render from it, and so can an
//! application with the [renderers](crate::render), without [`HealthLayer`](crate::HealthLayer):
//!
//! ```
//! use tower_vitals::HealthChecker;
//! use tower_vitals::metrics::MetricsCollector;
//! use tower_vitals::vitals::VitalsGatherer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_vitals::ConfigError> {
//! let checker = HealthChecker::builder().check("db", || async {}).build()?;
//! let gatherer = VitalsGatherer::builder(checker)
//!     .metrics(MetricsCollector::new())
//!     .source("queue", || async { serde_json::json!({ "depth": 3 }) })
//!     .build()?;
//!
//! let vitals = gatherer.gather().await;
//! let text = tower_vitals::render::prometheus(&vitals);
//! assert!(text.contains(r#"vitals_health_component_status{component="db",state="healthy"} 1"#));
//! assert_eq!(vitals.source("queue").and_then(|q| q.ready()).unwrap()["depth"], 3);
//! # Ok(())
//! # }
//! ```

pub(crate) mod gather;
mod process_history;
pub(crate) mod source;

use std::time::Duration;

use std::sync::Arc;

use crate::checker::{CheckCounters, Lifecycle};
use crate::fleet::FleetFigures;
use crate::health_report::SystemHealthStatus;
use crate::info::AppInfo;
use crate::metrics::MetricsSnapshot;
use crate::probe::{ProcessStats, RuntimeStats};
use crate::webhook::WebhookStats;

pub(crate) use gather::Want;
pub use gather::{VitalsGatherer, VitalsGathererBuilder};
pub use process_history::{ProcessPoint, ProcessTimeline};
pub use source::{IntoFigures, SourceFuture};

/// A source of figures: gathered, failed (with why), or not configured.
#[derive(Debug, Clone, PartialEq)]
pub enum Source<T> {
    /// Gathered.
    Ready(T),
    /// Failed or timed out, with why.
    Failed(String),
    /// Not configured.
    Off,
}

impl<T> Source<T> {
    /// The figures, when gathered.
    pub fn ready(&self) -> Option<&T> {
        match self {
            Self::Ready(value) => Some(value),
            _ => None,
        }
    }
}

/// Process figures with the CPU use derived from them.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ProcessFigures {
    /// What `/proc` said.
    pub stats: ProcessStats,
    /// CPU use since the previous reading, in percent of the available cores.
    pub cpu_percent: Option<f64>,
}

/// Everything the endpoints show, gathered at one moment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Vitals {
    /// The checks' report.
    pub health: SystemHealthStatus,
    /// Per-check counters (status changes counted within the flap window).
    pub checks: Vec<CheckCounters>,
    /// Request figures from the [`MetricsCollector`](crate::metrics::MetricsCollector).
    pub requests: Source<MetricsSnapshot>,
    /// Process figures (read on a blocking thread, never on the request path).
    pub process: Source<ProcessFigures>,
    /// Tokio runtime figures.
    pub runtime: Source<RuntimeStats>,
    /// The application's own sources, by name, in the order they were added.
    pub sources: Vec<(String, Source<serde_json::Value>)>,
    /// The webhook notifiers' figures, by receiver (host, `#2` after a repeated one), when
    /// the per-check counters are gathered.
    pub webhooks: Vec<(String, WebhookStats)>,
    /// The fleet's figures, when the gatherer was given a fleet and the per-check counters are
    /// gathered.
    pub fleet: Option<FleetFigures>,
    /// Time since the checker was built.
    pub uptime: Duration,
    /// The service's phase (serving, draining, shutting down) and the drain's timings.
    pub lifecycle: Lifecycle,
    /// The application's build and runtime information, when given.
    pub info: Option<Arc<AppInfo>>,
    /// Why the application marked the process broken (liveness fails), while it is.
    pub broken: Option<String>,
    /// What could not be gathered, one sentence each (e.g. the checks timed out).
    pub notes: Vec<String>,
    /// How long gathering took.
    pub generation_time: Duration,
}

impl Vitals {
    /// An application source's figures, by name.
    pub fn source(&self, name: &str) -> Option<&Source<serde_json::Value>> {
        self.sources
            .iter()
            .find(|(source, _)| source == name)
            .map(|(_, figures)| figures)
    }
}
