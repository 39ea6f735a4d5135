//! `/metrics`: the Prometheus text format, rendered from the vitals (process figures read on a
//! blocking thread, never on the request path).

use http::StatusCode;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
use crate::vitals::Want;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "metrics",
    default_path: Some("/metrics"),
    methods: GET_HEAD,
    access: Access::Public,
    runs_checks: true,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let gatherer = ask.settings.reporter(ask.checker).gatherer().clone();
    let (settings, head) = (ask.settings.clone(), ask.head);
    Answer::Later(Box::pin(async move {
        let vitals = gatherer.gather_with(&Want::METRICS).await;
        let rendered = settings.prometheus.rendered(&vitals);
        frame(StatusCode::OK, rendered, head)
    }))
}
