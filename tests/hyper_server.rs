//! `HealthLayer` on a plain Hyper 1.x server (hyper-util), unchanged.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::Reply;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Layer, service_fn};
use tower_vitals::{Check, HealthChecker, HealthLayer};

#[tokio::test]
async fn the_layer_serves_health_and_passes_the_rest_on_a_hyper_server() {
    let checker = HealthChecker::builder()
        .check("database", || async {})
        .register(
            Check::new("search", || async { Err::<(), _>("index missing") })
                .critical(false)
                .retries(0),
        )
        .build()
        .unwrap();
    let app = service_fn(|request: Request<Incoming>| async move {
        let body = format!("app saw {}", request.uri().path());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    });
    let service = HealthLayer::new(checker).layer(app);

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

    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(format!("http://{addr}{path}")).send();
        async move { Reply::read(request.await.unwrap()).await }
    };
    let ready = get("/health/ready").await;
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json(),
        serde_json::json!({"status": "degraded", "ready": true})
    );
    let report = get("/health").await.json();
    assert_eq!(report["components"][1]["message"], "index missing");
    let app = get("/orders/7").await;
    assert_eq!(app.body, b"app saw /orders/7");
    assert_eq!(get("/health/live").await.status, 200);
    server.abort();
}
