//! `HealthLayer` and `MetricsLayer` on a plain Hyper 1.x server (hyper-util), unchanged, driven
//! by hyper-util's client: placed by hand, and as a `Setup`'s one layer.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, service_fn};
use tower_vitals::health::DetailPolicy;
use tower_vitals::{
    Check, HealthChecker, HealthCheckerBuilder, HealthLayer, MetricsCollector, MetricsLayer, Setup,
};

/// Two checks: one healthy, one non-critical failing with "index missing".
fn checks(builder: HealthCheckerBuilder) -> HealthCheckerBuilder {
    builder.check("database", || async {}).register(
        Check::new("search", || async { Err::<(), _>("index missing") })
            .critical(false)
            .retries(0),
    )
}

/// The app: answers its path, `/fail` with a 502.
fn app() -> impl tower::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    service_fn(|request: Request<Incoming>| async move {
        let status = if request.uri().path() == "/fail" {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::OK
        };
        let mut response = Response::new(Full::new(Bytes::from(format!(
            "app saw {}",
            request.uri().path()
        ))));
        *response.status_mut() = status;
        Ok::<_, Infallible>(response)
    })
}

#[tokio::test]
async fn the_layers_serve_health_and_time_the_rest_on_a_hyper_server() {
    let metrics = MetricsCollector::new();
    let service = ServiceBuilder::new()
        .layer(
            HealthLayer::new(checks(HealthChecker::builder()).build().unwrap())
                .details(DetailPolicy::Always)
                .metrics(metrics.clone()),
        )
        .layer(MetricsLayer::new(metrics.clone()))
        .service(app());
    serves_health_and_times_the_rest(service, &metrics).await;
}

#[tokio::test]
async fn a_setup_wires_the_same_with_one_layer() {
    let setup = Setup::builder()
        .checker(checks)
        .details(DetailPolicy::Always)
        .build()
        .unwrap();
    let service = ServiceBuilder::new().layer(setup.layer()).service(app());
    serves_health_and_times_the_rest(service, setup.metrics()).await;
}

/// Serves `service` on a plain hyper-util server and calls it with hyper-util's client: the
/// health paths answered, the app's reached, and only the app's counted in `metrics`.
async fn serves_health_and_times_the_rest<S, B>(service: S, metrics: &MetricsCollector)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let call = |method: Method, path: &str| {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(Empty::new())
            .unwrap();
        let response = client.request(request);
        async move {
            let response = response.await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        }
    };

    let (status, body) = call(Method::GET, "/health/ready").await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], br#"{"status":"degraded","ready":true}"#);
    let (_, report) = call(Method::GET, "/health").await;
    let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
    assert_eq!(report["components"][1]["message"], "index missing");
    assert_eq!(
        call(Method::GET, "/orders/7").await.1,
        &b"app saw /orders/7"[..]
    );
    assert_eq!(call(Method::GET, "/fail").await.0, 502);
    assert_eq!(call(Method::DELETE, "/health").await.0, 405);

    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.totals.requests, 2, "health paths are not counted");
    assert_eq!(snapshot.totals.failures, 1, "the 502");
    assert_eq!(snapshot.in_flight, 0);
    server.abort();
}
