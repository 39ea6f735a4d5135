//! The detailed report and the reliability report: in full for clients the detail policy
//! allows, as a bare status for the others.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::header::{HeaderName, HeaderValue};

use super::query::Query;
use super::{Answer, RELIABILITY_VERSION, json};
use crate::export::json as body;
use crate::health::layer::Settings;
use crate::report::ReliabilityReport;
use crate::{HealthChecker, HealthStatus, Selector, SystemHealthStatus};

pub(super) fn detail(
    query: Query,
    details: bool,
    head: bool,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
) -> Answer {
    static ALL: Selector = Selector::ALL;
    let selector = query.select(&ALL);
    if !details && let Some(status) = checker.cached_status(&selector) {
        return Answer::Now(bare(status, settings, head));
    }
    if details && let Some(report) = checker.cached_report(&selector) {
        return Answer::Now(report_response(&report, settings, head));
    }
    let selector = selector.into_owned();
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&selector).await;
        if details {
            report_response(&report, &settings, head)
        } else {
            bare(report.status, &settings, head)
        }
    }))
}

fn report_response(
    report: &SystemHealthStatus,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    let metrics = settings
        .metrics
        .as_ref()
        .map(|collector| collector.summary());
    let text = body::report(report, metrics.as_ref());
    json(settings.code(report.status), text.into(), head)
}

/// `{"status":…}` with the status's HTTP code: what clients without details see.
fn bare(status: HealthStatus, settings: &Settings, head: bool) -> Response<Bytes> {
    json(
        settings.code(status),
        body::status_only(status).into(),
        head,
    )
}

pub(super) fn reliability(
    details: bool,
    head: bool,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
) -> Answer {
    let reporter = settings.reporter(checker);
    if let Some(report) = reporter.cached() {
        return Answer::Now(reliability_response(&report, details, settings, head));
    }
    let (reporter, settings) = (reporter.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = reporter.report().await;
        reliability_response(&report, details, &settings, head)
    }))
}

fn reliability_response(
    report: &ReliabilityReport,
    details: bool,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    let mut response = if details {
        json(
            settings.code(report.status),
            body::reliability(report).into(),
            head,
        )
    } else {
        bare(report.status, settings, head)
    };
    response.headers_mut().insert(
        HeaderName::from_static("x-reliability-version"),
        HeaderValue::from_static(RELIABILITY_VERSION),
    );
    response
}
