//! The detailed report: in full for clients the detail policy allows, components' names and
//! statuses for clients the components policy allows, the bare status for the others; 200 or
//! 503 by the overall status.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame, negotiated};
use crate::checker::{HealthChecker, Selector};
use crate::health::judged;
use crate::health::layer::Settings;
use crate::health_report::{ComponentStatus, HealthStatus, SystemHealthStatus};
use crate::render::{self, HealthJsonAnswer, Rendered, Shown};
use crate::vitals::{Vitals, Want};

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "detail",
    default_path: Some("/health"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: true,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    static ALL: Selector = Selector::ALL;
    let selector = ask.query.select(&ALL);
    let settings = ask.settings;
    let reply = Reply {
        head: ask.head,
        health_json: ask.wants_health_json(),
    };
    if !ask.details && ask.components {
        if let Some(report) = ask.checker.cached_report(&selector) {
            return Answer::Now(components(&report, settings, reply));
        }
        let (checker, settings) = (ask.checker.clone(), settings.clone());
        let selector = selector.into_owned();
        return Answer::Later(Box::pin(async move {
            let report = checker.report_for(&selector).await;
            components(&report, &settings, reply)
        }));
    }
    if !ask.details {
        if let Some(status) = ask.checker.cached_status(&selector) {
            return Answer::Now(bare(status, settings, reply));
        }
        let (checker, settings) = (ask.checker.clone(), settings.clone());
        let selector = selector.into_owned();
        return Answer::Later(Box::pin(async move {
            let status = checker.report_for(&selector).await.status;
            bare(status, &settings, reply)
        }));
    }
    let gatherer = settings.reporter(ask.checker).gatherer().clone();
    let want = Want {
        selector: &selector,
        ..Want::HEALTH
    };
    if let Some(vitals) = gatherer.gather_now(&want) {
        return Answer::Now(report(vitals, ask.checker, settings, reply));
    }
    let checker = ask.checker.clone();
    let (selector, settings) = (selector.into_owned(), settings.clone());
    Answer::Later(Box::pin(async move {
        let want = Want {
            selector: &selector,
            ..Want::HEALTH
        };
        let vitals = gatherer.gather_with(&want).await;
        report(vitals, &checker, &settings, reply)
    }))
}

/// How to answer: HEAD (no body), and in which JSON.
#[derive(Clone, Copy)]
struct Reply {
    head: bool,
    health_json: bool,
}

impl Reply {
    /// The answer for `status`: the crate's JSON `ours`, or the draft's format with the
    /// components as `shown`.
    fn frame(
        self,
        settings: &Settings,
        (status, components): (HealthStatus, Option<(&[ComponentStatus], Shown)>),
        ours: impl FnOnce() -> Rendered,
    ) -> Response<Bytes> {
        let code = settings.code(status);
        let rendered = if self.health_json {
            render::health_json(&HealthJsonAnswer {
                status,
                success: code.is_success() || code.is_redirection(),
                notes: None,
                components,
                info: settings.info.as_deref(),
                description: "health of the service and its components",
            })
        } else {
            ours()
        };
        negotiated(frame(code, rendered, self.head))
    }
}

/// The full report; with a fleet, failing shared checks carry the fleet's judgement.
fn report(
    mut vitals: Vitals,
    checker: &HealthChecker,
    settings: &Arc<Settings>,
    reply: Reply,
) -> Response<Bytes> {
    if let Some(fleet) = &settings.fleet
        && vitals.health.status == HealthStatus::Unhealthy
    {
        judged::judge(fleet, checker, &mut vitals.health.components);
    }
    let health = &vitals.health;
    let components = Some((health.components.as_slice(), Shown::Details));
    reply.frame(settings, (health.status, components), || {
        render::health(&vitals)
    })
}

/// Components' names and statuses, no messages or metadata.
fn components(report: &SystemHealthStatus, settings: &Settings, reply: Reply) -> Response<Bytes> {
    let components = Some((report.components.as_slice(), Shown::Names));
    reply.frame(settings, (report.status, components), || {
        render::components_only(report)
    })
}

/// `{"status":…}` with the status's HTTP code: what clients without details see.
fn bare(status: HealthStatus, settings: &Settings, reply: Reply) -> Response<Bytes> {
    reply.frame(settings, (status, None), || render::status_only(status))
}
