//! Status-change listeners: called once per change of a component's shown status.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::health_report::HealthStatus;

/// A component's shown status changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatusChange {
    /// The check's name.
    pub check: String,
    /// The status before (`None` for the first result).
    pub from: Option<HealthStatus>,
    /// The status now.
    pub to: HealthStatus,
    /// The check's message, if any.
    pub message: Option<String>,
    /// When it changed.
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    pub at: SystemTime,
}

pub(crate) type Listener = Arc<dyn Fn(&StatusChange) + Send + Sync>;

/// Calls every listener; one that panics is logged and does not stop the others.
pub(crate) fn notify(listeners: &[Listener], change: &StatusChange) {
    for listener in listeners {
        if std::panic::catch_unwind(AssertUnwindSafe(|| listener(change))).is_err() {
            tracing::error!(check = %change.check, "a status-change listener panicked");
        }
    }
}
