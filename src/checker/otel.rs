//! The health status as OpenTelemetry observable gauges (feature `opentelemetry`), read from
//! each check's last result when the SDK collects: no check runs for it.

use std::sync::Weak;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

use super::{HealthChecker, Shared};
use crate::health_report::HealthStatus;

impl HealthChecker {
    /// Reports the health status through `meter` (feature `opentelemetry`; the opentelemetry
    /// 0.33 API) as two observable gauges, one-hot as the Prometheus families are:
    /// `vitals.health.status` — 1 for the worst state of the checks' last results, 0 for the
    /// other states (attribute `state`: `healthy`, `degraded`, `unknown`, `unhealthy`) — and
    /// `vitals.health.component.status` the same per check (attributes `component`,
    /// `state`). A check that has not finished a run is `unknown`. Read when the SDK
    /// collects, from the last results: nothing runs for it, and once every clone of the
    /// checker is dropped the gauges report nothing.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// use opentelemetry_sdk::metrics::SdkMeterProvider;
    /// use tower_vitals::HealthChecker;
    ///
    /// let provider = SdkMeterProvider::builder().build(); // with the app's reader and exporter
    /// let checker = HealthChecker::builder().check("db", || async {}).build()?;
    /// checker.report_to_opentelemetry(&provider.meter("shop"));
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn report_to_opentelemetry(&self, meter: &Meter) {
        let weak = std::sync::Arc::downgrade(&self.shared);
        meter
            .i64_observable_gauge("vitals.health.status")
            .with_description(
                "1 for the service's health state (the worst of its checks), 0 for the others.",
            )
            .with_callback(move |observer| {
                if let Some(statuses) = last_statuses(&weak) {
                    let worst = statuses.iter().map(|(_, status)| *status).max();
                    let worst = worst.unwrap_or(HealthStatus::Healthy);
                    for state in HealthStatus::ALL {
                        let attributes = [KeyValue::new("state", state.as_str())];
                        observer.observe(i64::from(state == worst), &attributes);
                    }
                }
            })
            .build();
        let weak = std::sync::Arc::downgrade(&self.shared);
        meter
            .i64_observable_gauge("vitals.health.component.status")
            .with_description("1 for each check's health state, 0 for the others.")
            .with_callback(move |observer| {
                for (name, status) in last_statuses(&weak).unwrap_or_default() {
                    for state in HealthStatus::ALL {
                        let attributes = [
                            KeyValue::new("component", name.clone()),
                            KeyValue::new("state", state.as_str()),
                        ];
                        observer.observe(i64::from(state == status), &attributes);
                    }
                }
            })
            .build();
    }
}

/// Each check's name and last shown status (`unknown` before a first run), while the checker
/// lives.
fn last_statuses(shared: &Weak<Shared>) -> Option<Vec<(String, HealthStatus)>> {
    let shared = shared.upgrade()?;
    let statuses = shared.slots.iter().map(|slot| {
        let status = slot
            .last()
            .map_or(HealthStatus::Unknown, |(status, _)| status);
        (slot.spec.name.clone(), status)
    });
    Some(statuses.collect())
}
