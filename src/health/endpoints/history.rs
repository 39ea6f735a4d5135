//! `/health/history`: each component's shown status over time — a point per interval or per
//! `step`, with its worst status, availability (share of time healthy), runs, failures and run
//! durations — and, without `component`, the request traffic of the layer's collector, for
//! clients the detail policy allows (others get 401).
//! `?component=db&since=-1h&until=now&step=1m&offset=0`. Times are clamped to what is kept
//! (the coarse timeline's reach, a day by default), an answer holds at most [`MAX_POINTS`]
//! points (the step widened to fit) and [`MAX_COMPONENTS`] components (`offset` pages on;
//! `next_offset` says where).

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

const KEYS: &[&str] = &["component", "since", "until", "step", "offset"];

/// The most points of one answer, over every component and the traffic and process
/// timelines: past it, the step is widened (to whole intervals) until they fit.
pub(crate) const MAX_POINTS: usize = 20_000;
/// The most components of one answer; `offset` pages through more.
pub(crate) const MAX_COMPONENTS: usize = 500;
/// The largest body: the caps above keep an answer well under it (names are at most 128
/// characters); it is checked all the same.
pub(crate) const MAX_BODY_BYTES: usize = 8 << 20;

fn answer(ask: &Ask<'_>) -> Answer {
    if !ask.details {
        return Answer::Now(unauthorized(ask.head, &ask.settings.policies.details()));
    }
    let checker = ask.checker;
    let bounds = range::Bounds {
        now: checker.now(),
        retention: checker.timeline_settings().coarse.1,
        back: Duration::from_secs(3600),
    };
    let range = match range::parse(ask.request.uri.query(), bounds, KEYS) {
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
        offset,
    } = range;
    let names: Vec<&str> = match &component {
        Some(name) if checker.check_names().any(|n| n == name) => vec![name.as_str()],
        Some(name) => {
            return Answer::Now(ask.frame(StatusCode::NOT_FOUND, render::no_component(name)));
        }
        None => checker.check_names().collect(),
    };
    let total = names.len();
    let page: Vec<&str> = names
        .into_iter()
        .skip(offset)
        .take(MAX_COMPONENTS)
        .collect();
    let next = (offset + page.len() < total).then_some(offset + page.len());
    // Request traffic and the process too, when no one component was asked.
    let traffic = ask
        .settings
        .metrics
        .as_ref()
        .filter(|_| component.is_none());
    let series = page.len() + usize::from(traffic.is_some()) + usize::from(component.is_none());
    let max_points = MAX_POINTS / series.max(1);
    let timelines: Vec<_> = page
        .into_iter()
        .filter_map(|name| {
            let timeline = checker.timeline_within(name, (since, until), step, max_points)?;
            Some((name, timeline))
        })
        .collect();
    let traffic = traffic.map(|metrics| metrics.traffic_within((since, until), step, max_points));
    let process = component.is_none().then(|| {
        let reporter = ask.settings.reporter(checker);
        let gatherer = reporter.gatherer();
        gatherer.process_timeline_within((since, until), step, max_points)
    });
    let page = render::Page {
        total,
        offset,
        next,
    };
    let rendered = render::history(
        (since, until),
        &timelines,
        traffic.as_ref(),
        process.as_ref(),
        &page,
    );
    if rendered.body.len() > MAX_BODY_BYTES {
        let error = format!(
            "the answer would be {} bytes, over the cap of {MAX_BODY_BYTES}: ask for one component or fewer",
            rendered.body.len()
        );
        return Answer::Now(ask.frame(StatusCode::BAD_REQUEST, render::bad_query(&error)));
    }
    Answer::Now(ask.frame(StatusCode::OK, rendered))
}
