//! A health group (`HealthLayer::group`): the checks' report over the group's checks, with the
//! group's detail policy and status codes.

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, Target, frame};
use crate::render;

pub(crate) const ENDPOINT: Descriptor = Descriptor {
    name: "group",
    default_path: None,
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: true,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let Target::Group(index) = ask.target else {
        unreachable!("routed to a group");
    };
    let (group, _) = &ask.settings.groups[index];
    let details = group
        .details
        .as_ref()
        .map_or(ask.details, |policy| policy.allows(ask.request));
    let selector = ask.query.select(&group.selector).into_owned();
    let (checker, settings, head) = (ask.checker.clone(), ask.settings.clone(), ask.head);
    Answer::Later(Box::pin(async move {
        let report = checker.report_for(&selector).await;
        let (group, _) = &settings.groups[index];
        let code = group.code(report.status, settings.code(report.status));
        let body = if details {
            render::group(&group.name, &report)
        } else {
            render::status_only(report.status)
        };
        frame(code, body, head)
    }))
}
