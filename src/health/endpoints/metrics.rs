//! `/metrics`: the Prometheus text format, rendered from the vitals (process figures read on a
//! blocking thread, never on the request path).

use http::StatusCode;

use super::{Access, Answer, Ask, Descriptor, GET_HEAD, frame};
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
    let gatherer = ask.settings.reporter(ask.checker).gatherer().clone();
    let (settings, head) = (ask.settings.clone(), ask.head);
    Answer::Later(Box::pin(async move {
        let vitals = gatherer.gather_with(&Want::METRICS).await;
        let rendered = settings.prometheus.rendered(&vitals);
        frame(StatusCode::OK, rendered, head)
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
