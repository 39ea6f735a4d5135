//! One component, `/health/{name}` (Kubernetes' `/livez/<check>`): its status with the
//! status's HTTP code; its details for clients the detail policy allows; 404 for a name no check
//! has.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, Target, frame};
use crate::checker::Selector;
use crate::health::layer::Settings;
use crate::health_report::ComponentStatus;
use crate::render;

pub(crate) const ENDPOINT: Descriptor = Descriptor {
    name: "component",
    default_path: None,
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: false,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let Target::Component(name) = &ask.target else {
        unreachable!("routed to a component");
    };
    if !ask.checker.check_names().any(|known| known == name) {
        return Answer::Now(frame(
            StatusCode::NOT_FOUND,
            render::no_component(name),
            ask.head,
        ));
    }
    let selector = Selector::all().only(name.clone());
    let (checker, settings) = (ask.checker.clone(), ask.settings.clone());
    let (details, head) = (ask.details, ask.head);
    if let Some(mut report) = checker.cached_report(&selector) {
        return Answer::Now(one(report.components.remove(0), details, &settings, head));
    }
    Answer::Later(Box::pin(async move {
        let mut report = checker.report_for(&selector).await;
        one(report.components.remove(0), details, &settings, head)
    }))
}

fn one(
    component: ComponentStatus,
    details: bool,
    settings: &Settings,
    head: bool,
) -> Response<Bytes> {
    let code = settings.code(component.status);
    let body = if details {
        render::component(&component)
    } else {
        render::status_only(component.status)
    };
    frame(code, body, head)
}
