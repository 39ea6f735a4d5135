//! `/metrics`: the Prometheus text format, OpenMetrics or (feature `protobuf`) the protobuf
//! exposition, as the request's `Accept` asks,
//! rendered from the vitals (process figures read on a blocking thread, never on the request
//! path).

use http::{HeaderValue, StatusCode, header};

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
use crate::render::ScrapeFormat;
use crate::vitals::Want;

pub(super) const ENDPOINT: Descriptor = Descriptor {
    name: "metrics",
    default_path: Some("/metrics"),
    methods: GET_HEAD,
    access: Access::Guarded,
    runs_checks: true,
    answer,
};

fn answer(ask: &Ask<'_>) -> Answer {
    let reporter = ask.settings.reporter(ask.checker).clone();
    let gatherer = reporter.gatherer().clone();
    let (settings, head) = (ask.settings.clone(), ask.head);
    let accept = ask.request.headers.get(header::ACCEPT);
    let format = ScrapeFormat::negotiate(accept.and_then(|value| value.to_str().ok()));
    Answer::Later(Box::pin(async move {
        let vitals = gatherer.gather_with(&Want::METRICS).await;
        // The last reliability report's anomalies (a new report is made behind, past its TTL).
        let report = reporter.latest();
        let anomalies = report.as_deref().map(|report| report.anomalies.as_slice());
        let rendered =
            settings
                .prometheus
                .rendered_for_scrape(&vitals, format, anomalies, &settings.appended);
        let mut response = frame(StatusCode::OK, rendered, head);
        // Caches keep one answer per format.
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept"));
        response
    }))
}

#[cfg(all(test, feature = "process", target_os = "linux"))]
mod tests {
    use http::Request;
    use tower::{ServiceExt, service_fn};
    use tower_layer::Layer;

    use crate::checker::HealthChecker;
    use crate::health::HealthLayer;
    use crate::probe::READ_ON;

    /// On a current-thread runtime the request is answered on this thread: a `/proc` read on
    /// it would block every other request.
    #[tokio::test(flavor = "current_thread")]
    async fn the_request_path_does_no_blocking_proc_read() {
        let checker = HealthChecker::builder()
            .check("db", || async {})
            .build()
            .unwrap();
        let app = service_fn(|_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        });
        let service = HealthLayer::new(checker).layer(app);
        let request = Request::get("/metrics").body(()).unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let reads = READ_ON.lock();
        assert!(!reads.is_empty(), "the process figures were read");
        assert!(
            !reads.contains(&std::thread::current().id()),
            "/metrics read /proc on the request path"
        );
    }
}
