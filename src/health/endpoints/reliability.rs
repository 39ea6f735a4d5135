//! The reliability report: in full for clients the detail policy allows (with the optional
//! sources named in `?include=`), the bare status for the others.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
use crate::health::layer::Settings;
use crate::reliability::ReliabilityReport;
use crate::render;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "reliability",
    default_path: Some("/health/reliability"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: true,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let (details, head) = (ask.details, ask.head);
    let reporter = ask.settings.reporter(ask.checker).clone();
    let include = &ask.query.include;
    if details && !include.is_empty() {
        if let Some(unknown) = include
            .iter()
            .find(|name| !reporter.gatherer().has_optional(name))
        {
            return Answer::Now(unknown_source(unknown, head));
        }
        let (include, settings) = (include.clone(), ask.settings.clone());
        return Answer::Later(Box::pin(async move {
            let report = reporter.report_including(&include).await;
            response(&report, details, &settings, head)
        }));
    }
    if let Some(report) = reporter.cached() {
        return Answer::Now(response(&report, details, ask.settings, head));
    }
    let settings = ask.settings.clone();
    Answer::Later(Box::pin(async move {
        let report = reporter.report().await;
        response(&report, details, &settings, head)
    }))
}

fn response(
    report: &ReliabilityReport,
    details: bool,
    settings: &Arc<Settings>,
    head: bool,
) -> Response<Bytes> {
    let code = settings.code(report.status);
    if details {
        frame(code, render::reliability(report), head)
    } else {
        frame(code, render::reliability_status_only(report.status), head)
    }
}

/// 400 for `?include=` naming no optional source.
fn unknown_source(name: &str, head: bool) -> Response<Bytes> {
    let body = serde_json::json!({
        "error": "unknown source in ?include=: name an optional report source",
        "source": name,
    });
    let body = serde_json::to_vec(&body).expect("error serialises");
    frame(StatusCode::BAD_REQUEST, render::error(body), head)
}
