//! [`HealthGroup`]: a named set of checks with its own path, detail policy and status codes
//! (Spring Boot's health groups).

use http::StatusCode;

use super::policy::DetailPolicy;
use crate::checker::Selector;
use crate::health_report::HealthStatus;

/// A named group of checks served at its own path (default: the detailed report's path and
/// the group's name, `/health/payments`), with its own detail policy and status codes when
/// given, the layer's otherwise. Add it with [`HealthLayer::group`](super::HealthLayer::group).
///
/// ```
/// use http::StatusCode;
/// use tower_vitals::health::{DetailPolicy, HealthGroup};
/// use tower_vitals::{HealthChecker, HealthLayer, HealthStatus, Selector};
///
/// let checker = HealthChecker::builder().build()?;
/// let layer = HealthLayer::new(checker).group(
///     HealthGroup::new("payments", Selector::tagged("payments"))
///         .details(DetailPolicy::Always)
///         .status_code(HealthStatus::Degraded, StatusCode::SERVICE_UNAVAILABLE),
/// )?;
/// assert!(layer.paths().any(|path| path == "/health/payments"));
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct HealthGroup {
    pub(crate) name: String,
    pub(crate) selector: Selector,
    pub(crate) path: Option<String>,
    pub(crate) details: Option<DetailPolicy>,
    pub(crate) codes: Vec<(HealthStatus, StatusCode)>,
}

impl HealthGroup {
    /// The group `name` over the checks `selector` picks.
    pub fn new(name: impl Into<String>, selector: Selector) -> Self {
        Self {
            name: name.into(),
            selector,
            path: None,
            details: None,
            codes: Vec::new(),
        }
    }

    /// Its path, under the layer's prefix (default: the detailed report's path + `/name`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Who sees its details (default: the layer's policy).
    pub fn details(mut self, policy: DetailPolicy) -> Self {
        self.details = Some(policy);
        self
    }

    /// The HTTP status it answers for `status` (default: the layer's mapping).
    pub fn status_code(mut self, status: HealthStatus, code: StatusCode) -> Self {
        self.codes.push((status, code));
        self
    }
}

/// A group as the layer keeps it: its path checked and relative to the prefix.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) selector: Selector,
    pub(crate) relative: String,
    pub(crate) details: Option<DetailPolicy>,
    pub(crate) codes: Vec<(HealthStatus, StatusCode)>,
}

impl Group {
    /// The code for `status`: the group's own, else `fallback`.
    pub(crate) fn code(&self, status: HealthStatus, fallback: StatusCode) -> StatusCode {
        self.codes
            .iter()
            .rev()
            .find(|(s, _)| *s == status)
            .map_or(fallback, |(_, code)| *code)
    }
}
