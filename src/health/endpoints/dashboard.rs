//! `/health/dashboard`: one self-contained HTML page — the overall status, each component with
//! its status over the last hour, availability, reason and last incident, request charts,
//! anomalies and incidents, and with a fleet every replica (stale ones marked), the shared
//! checks' judgements and who runs each once-per-fleet check — refreshed by its script from
//! the layer's other endpoints. The
//! current status is in the HTML itself; components only for clients the detail policy
//! allows (the page then asks for a token, given once as `#token=…`).

use http::StatusCode;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
use crate::health::DetailPolicy;
use crate::render::dashboard::{self, Sources};

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "dashboard",
    default_path: Some("/health/dashboard"),
    methods: GET_HEAD,
    access: Access::Details,
    runs_checks: false,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let (checker, settings) = (ask.checker.clone(), ask.settings.clone());
    let (details, head) = (ask.details, ask.head);
    Answer::Later(Box::pin(async move {
        let report = checker.report().await;
        let paths = &settings.paths;
        // The fleet under the same policy as /health/fleet: for clients shown details.
        let fleet = settings.fleet.as_ref().filter(|_| details);
        let sources = Sources {
            health: paths.path_of("detail").unwrap_or("/health"),
            history: paths.path_of("history").unwrap_or("/health/history"),
            incidents: paths.path_of("incidents").unwrap_or("/health/incidents"),
            reliability: paths.path_of("reliability"),
            fleet: fleet.and_then(|_| paths.path_of("fleet")),
        };
        let view = fleet.map(crate::fleet::Fleet::view);
        let components = details.then_some(report.components.as_slice());
        let off = matches!(settings.policies.details(), DetailPolicy::Never);
        let parts = (&sources, view.as_deref());
        let page = dashboard::page(report.status, (components, off), parts, checker.now());
        frame(StatusCode::OK, page, head)
    }))
}
