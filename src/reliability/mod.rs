//! The reliability report and its anomaly rules.
//!
//! `HealthLayer` answers `/health/reliability` with the detailed health report plus request,
//! process and runtime figures, the anomalies its rules find, and notes. Each source is
//! gathered concurrently with a timeout; one that fails is shown with its error instead of its
//! figures. Reports are cached (30 s by default) and made by one task however many ask.
//!
//! Anomalies raise the report's `status`: a `critical` one makes it unhealthy, a `warning` at
//! least degraded, an `info` one leaves it. The rules are data ([`Rule`]): change thresholds and
//! severities, disable rules or add your own with [`ReliabilityConfig`].
#![doc = include_str!("../../docs/reliability.md")]

mod report;
mod rules;

pub use crate::probe::RuntimeStats;
pub use crate::vitals::{ProcessFigures, Source};
pub(crate) use report::Reporter;
pub use report::{ReliabilityConfig, ReliabilityReport};
pub use rules::{Anomaly, ComponentObservation, Observations, Rule, Severity};
