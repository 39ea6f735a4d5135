//! The answers of the health endpoints.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use super::future::Checking;
use super::layer::Settings;
use super::paths::Endpoint;
use crate::export::json::{self, Readiness};
use crate::export::prometheus;
use crate::metrics::MetricsCollector;
use crate::report::ReliabilityReport;
use crate::{HealthChecker, HealthStatus, ProcessStats, Selector, SystemHealthStatus};

/// Version of the JSON bodies' layout, sent as `X-Health-Version`.
pub const HEALTH_VERSION: &str = "1";

/// Version of the reliability report's layout, sent as `X-Reliability-Version`.
pub const RELIABILITY_VERSION: &str = "1";

/// Names accepted in `?exclude=`; more are ignored.
const MAX_EXCLUDES: usize = 32;

/// A response ready now, or one that waits for checks to run.
pub(crate) enum Answer {
    Now(Response<Bytes>),
    Later(Checking),
}

/// What the query string of a health request asks for (Kubernetes conventions).
#[derive(Debug, Default, PartialEq, Eq)]
struct Query {
    /// `?verbose` (any value): list the components.
    verbose: bool,
    /// `?exclude=name` (repeatable): leave these checks out.
    exclude: Vec<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Self {
        let mut parsed = Self::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "verbose" => parsed.verbose = true,
                "exclude" if parsed.exclude.len() < MAX_EXCLUDES => {
                    parsed.exclude.push(value.into_owned());
                }
                _ => {}
            }
        }
        parsed
    }

    fn select<'a>(&self, base: &'a Selector) -> Cow<'a, Selector> {
        if self.exclude.is_empty() {
            return Cow::Borrowed(base);
        }
        let selector = self
            .exclude
            .iter()
            .fold(base.clone(), |s, name| s.excluding(name.clone()));
        Cow::Owned(selector)
    }
}

pub(crate) fn answer(
    endpoint: Endpoint,
    method: &Method,
    query: Option<&str>,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
) -> Answer {
    let head = match *method {
        Method::GET => false,
        Method::HEAD => true,
        _ => return Answer::Now(method_not_allowed()),
    };
    match endpoint {
        Endpoint::Live => Answer::Now(json(StatusCode::OK, Bytes::from_static(json::LIVE), head)),
        Endpoint::Ready => ready(Query::parse(query), head, checker, settings),
        Endpoint::Detail => detail(Query::parse(query), head, checker, settings),
        Endpoint::Reliability => reliability(head, checker, settings),
        Endpoint::Prometheus => prometheus(head, checker, settings),
        Endpoint::Startup => startup(head, checker, settings),
    }
}

fn startup(head: bool, checker: &HealthChecker, settings: &Arc<Settings>) -> Answer {
    if settings.started.load(Ordering::Acquire) {
        return Answer::Now(started(HealthStatus::Healthy, settings, head));
    }
    if let Some(status) = checker.cached_status(&settings.startup) {
        return Answer::Now(started(status, settings, head));
    }
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&settings.startup).await;
        started(report.status, &settings, head)
    }))
}

/// The startup answer: latches once the startup checks are neither unhealthy nor unknown.
fn started(status: HealthStatus, settings: &Settings, head: bool) -> Response<Bytes> {
    let done = settings.started.load(Ordering::Acquire) || status <= HealthStatus::Degraded;
    if done {
        settings.started.store(true, Ordering::Release);
        json(StatusCode::OK, Bytes::from_static(json::STARTED), head)
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            json::starting(status).into(),
            head,
        )
    }
}

fn reliability(head: bool, checker: &HealthChecker, settings: &Arc<Settings>) -> Answer {
    let reporter = settings.reporter(checker);
    if let Some(report) = reporter.cached() {
        return Answer::Now(reliability_response(&report, settings, head));
    }
    let (reporter, settings) = (reporter.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = reporter.report().await;
        reliability_response(&report, &settings, head)
    }))
}

fn reliability_response(
    report: &ReliabilityReport,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    let mut response = json(
        settings.code(report.status),
        json::reliability(report).into(),
        head,
    );
    response.headers_mut().insert(
        HeaderName::from_static("x-reliability-version"),
        HeaderValue::from_static(RELIABILITY_VERSION),
    );
    response
}

fn prometheus(head: bool, checker: &HealthChecker, settings: &Arc<Settings>) -> Answer {
    if let Some(report) = checker.cached_report(&Selector::ALL) {
        return Answer::Now(exposition(&report, checker, settings, head));
    }
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report().await;
        exposition(&report, &checker, &settings, head)
    }))
}

/// The window in which status changes are counted for the exposition.
const FLAP_WINDOW: Duration = Duration::from_secs(600);

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
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus::CONTENT_TYPE),
    );
    response
        .headers_mut()
        .remove(HeaderName::from_static("x-health-version"));
    response
}

fn ready(query: Query, head: bool, checker: &HealthChecker, settings: &Arc<Settings>) -> Answer {
    let selector = query.select(&settings.readiness);
    if !query.verbose {
        if let Some(status) = checker.cached_status(&selector) {
            return Answer::Now(readiness(status, None, checker, settings, head));
        }
    } else if let Some(report) = checker.cached_report(&selector) {
        return Answer::Now(readiness(
            report.status,
            Some(&report),
            checker,
            settings,
            head,
        ));
    }
    let selector = selector.into_owned();
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&selector).await;
        let components = query.verbose.then_some(&report);
        readiness(report.status, components, &checker, &settings, head)
    }))
}

fn detail(query: Query, head: bool, checker: &HealthChecker, settings: &Arc<Settings>) -> Answer {
    static ALL: Selector = Selector::ALL;
    let selector = query.select(&ALL);
    if let Some(report) = checker.cached_report(&selector) {
        return Answer::Now(report_response(&report, settings, head));
    }
    let selector = selector.into_owned();
    let (checker, settings) = (checker.clone(), settings.clone());
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&selector).await;
        report_response(&report, &settings, head)
    }))
}

fn readiness(
    status: HealthStatus,
    report: Option<&SystemHealthStatus>,
    checker: &HealthChecker,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    let accepting = checker.accepting_traffic();
    let code = if accepting {
        settings.code(status)
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status,
        ready: code.is_success(),
        reason: (!accepting).then_some("marked not ready"),
        components: report.map(|report| report.components.as_slice()),
    };
    json(code, body.to_vec().into(), head)
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
    let body = json::report(report, metrics.as_ref());
    json(settings.code(report.status), body.into(), head)
}

fn method_not_allowed() -> Response<Bytes> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        Bytes::from_static(json::METHOD_NOT_ALLOWED),
        false,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// A JSON response; for HEAD, the same headers (`Content-Length` included) and no body.
fn json(status: StatusCode, body: Bytes, head: bool) -> Response<Bytes> {
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(if head { Bytes::new() } else { body });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("x-health-version"),
        HeaderValue::from_static(HEALTH_VERSION),
    );
    headers.insert(header::CONTENT_LENGTH, length);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_follow_kubernetes_conventions() {
        assert_eq!(Query::parse(None), Query::default());
        let query = Query::parse(Some("verbose&exclude=db&exclude=cache%20%22x%22&other=1"));
        assert!(query.verbose);
        assert_eq!(query.exclude, ["db", "cache \"x\""]);
        assert!(
            Query::parse(Some("verbose=false")).verbose,
            "presence means verbose"
        );
    }

    #[test]
    fn excludes_are_capped() {
        let long = vec!["exclude=x"; 10_000].join("&");
        assert_eq!(Query::parse(Some(&long)).exclude.len(), MAX_EXCLUDES);
    }

    #[test]
    fn head_keeps_the_length_of_the_body_it_leaves_out() {
        let response = json(StatusCode::OK, Bytes::from_static(b"{}"), true);
        assert!(response.body().is_empty());
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "2");
    }
}
