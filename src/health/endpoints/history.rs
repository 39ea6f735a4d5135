//! `/health/history`: each component's shown status over time — a point per interval or per
//! `step`, with its worst status, availability (share of time healthy), runs, failures and run
//! durations — and, without `component`, the request traffic of the layer's collector, for
//! clients the detail policy allows (others get 401).
//! `?component=db&since=-1h&until=now&step=1m`.

use std::time::Duration;

use http::StatusCode;

use super::range::{self, Range};
use super::{Access, Answer, Ask, Descriptor, GET_HEAD, unauthorized};
use crate::render;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "history",
    default_path: Some("/health/history"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: false,
    answer,
};

const KEYS: &[&str] = &["component", "since", "until", "step"];

fn answer(ask: &Ask<'_>) -> Answer {
    if !ask.details {
        return Answer::Now(unauthorized(ask.head));
    }
    let checker = ask.checker;
    let hour = Duration::from_secs(3600);
    let range = match range::parse(ask.request.uri.query(), checker.now(), hour, KEYS) {
        Ok(range) => range,
        Err(error) => {
            return Answer::Now(ask.frame(StatusCode::BAD_REQUEST, render::bad_query(&error)));
        }
    };
    let Range {
        component,
        since,
        until,
        step,
    } = range;
    let names: Vec<&str> = match &component {
        Some(name) if checker.check_names().any(|n| n == name) => vec![name.as_str()],
        Some(name) => {
            return Answer::Now(ask.frame(StatusCode::NOT_FOUND, render::no_component(name)));
        }
        None => checker.check_names().collect(),
    };
    let timelines: Vec<_> = names
        .into_iter()
        .filter_map(|name| Some((name, checker.timeline(name, since, until, step)?)))
        .collect();
    // Request traffic too, when the layer has a collector and no one component was asked.
    let traffic = match (&ask.settings.metrics, &component) {
        (Some(metrics), None) => Some(metrics.traffic(since, until, step)),
        _ => None,
    };
    let process = component.is_none().then(|| {
        let reporter = ask.settings.reporter(checker);
        reporter.gatherer().process_timeline(since, until, step)
    });
    let rendered = render::history(since, until, &timelines, traffic.as_ref(), process.as_ref());
    Answer::Now(ask.frame(StatusCode::OK, rendered))
}
