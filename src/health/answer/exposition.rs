//! `/metrics`: the Prometheus text format.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use super::{Answer, json};
use crate::export::prometheus;
use crate::health::layer::Settings;
use crate::metrics::MetricsCollector;
use crate::{HealthChecker, ProcessStats, Selector, SystemHealthStatus};

/// The window in which status changes are counted for the exposition.
const FLAP_WINDOW: Duration = Duration::from_secs(600);

pub(super) fn prometheus(head: bool, checker: &HealthChecker, settings: &Arc<Settings>) -> Answer {
    if let Some(report) = checker.cached_report(&Selector::ALL) {
        return Answer::Now(exposition(&report, checker, settings, head));
    }
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report().await;
        exposition(&report, &checker, &settings, head)
    }))
}

fn exposition(
    report: &SystemHealthStatus,
    checker: &HealthChecker,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    let metrics = settings.metrics.as_ref().map(MetricsCollector::snapshot);
    let process = ProcessStats::read().ok();
    let text = prometheus::Exposition {
        prefix: &settings.prometheus_prefix,
        metrics: metrics.as_ref(),
        report,
        counters: &checker.counters(FLAP_WINDOW),
        process: process.as_ref(),
        uptime: checker.uptime(),
    }
    .render();
    let mut response = json(StatusCode::OK, text.into(), head);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus::CONTENT_TYPE),
    );
    headers.remove(HeaderName::from_static("x-health-version"));
    response
}
