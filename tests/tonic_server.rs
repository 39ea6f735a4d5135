//! A Tonic server with the layers and tonic-health fed by the checker, driven by tonic-health's
//! generated client (Check and Watch) and an HTTP/1 client on the same port.
#![cfg(feature = "tonic")]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tower_vitals::{
    Check, GrpcHealth, HealthChecker, HealthLayer, MetricsCollector, MetricsLayer, Selector,
};

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// A checker with one check tagged `orders`, and tonic-health's service fed by it for
/// `shop.Orders` (the bridge task runs until aborted).
fn orders() -> (HealthChecker, HealthServer<impl Health>, JoinHandle<()>) {
    let checker = HealthChecker::builder()
        .register(Check::new("orders-db", || async {}).tag("orders"))
        .build()
        .unwrap();
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let bridge = GrpcHealth::new(checker.clone(), reporter)
        .service("shop.Orders", Selector::tagged("orders"))
        .interval(Duration::from_millis(50))
        .unwrap()
        .spawn();
    (checker, health_service, bridge)
}

async fn connect(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

#[tokio::test]
async fn grpc_health_follows_the_checker_and_http_probes_share_the_port() {
    let (checker, health_service, bridge) = orders();
    let metrics = MetricsCollector::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        Server::builder()
            .accept_http1(true)
            .layer(HealthLayer::new(checker.clone()).metrics(metrics.clone()))
            .layer(MetricsLayer::new(metrics.clone()))
            .add_service(health_service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let mut client = connect(addr).await;
    let serving = |status: i32| ServingStatus::try_from(status).unwrap();
    // The bridge's first pass may still be under way.
    let mut overall = ServingStatus::Unknown;
    for _ in 0..50 {
        overall = serving(client.check(request("")).await.unwrap().into_inner().status);
        if overall == ServingStatus::Serving {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(overall, ServingStatus::Serving);
    let orders = client
        .check(request("shop.Orders"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serving(orders.status), ServingStatus::Serving);
    let missing = client.check(request("shop.Nothing")).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let mut watch = client
        .watch(request("shop.Orders"))
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(serving(first.status), ServingStatus::Serving);

    // HTTP/1 probes on the same port, answered by HealthLayer.
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    // Draining: every gRPC service turns NOT_SERVING, readiness 503.
    checker.mark_not_ready();
    let next = tokio::time::timeout(Duration::from_secs(2), watch.message())
        .await
        .unwrap();
    assert_eq!(
        serving(next.unwrap().unwrap().status),
        ServingStatus::NotServing
    );
    let overall = client.check(request("")).await.unwrap().into_inner();
    assert_eq!(serving(overall.status), ServingStatus::NotServing);
    let ready = http
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    // MetricsLayer saw the gRPC calls; NOT_FOUND (grpc-status 5) is a failure.
    let snapshot = metrics.snapshot();
    assert!(snapshot.totals.requests >= 4, "{:?}", snapshot.totals);
    assert_eq!(snapshot.totals.failures, 1, "the NOT_FOUND check");
    assert_eq!(
        snapshot
            .series
            .iter()
            .filter(|s| s.method == "POST")
            .map(|s| s.failures)
            .sum::<u64>(),
        1
    );

    bridge.abort();
    server.abort();
}

/// Inside tonic's router (`Routes::into_axum_router().layer(...)`), gRPC calls carry the route
/// Axum matched for their service, so they are counted per service instead of as `unmatched`.
#[tokio::test]
async fn grpc_calls_inside_the_router_are_labelled_by_service() {
    let (checker, health_service, bridge) = orders();
    let metrics = MetricsCollector::new();
    let routes = tonic::service::Routes::new(health_service)
        .into_axum_router()
        .layer(MetricsLayer::new(metrics.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        Server::builder()
            .accept_http1(true)
            .layer(HealthLayer::new(checker.clone()).metrics(metrics.clone()))
            .add_routes(routes.into())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let mut client = connect(addr).await;
    for _ in 0..50 {
        let status = client.check(request("shop.Orders")).await;
        if status.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let missing = client.check(request("shop.Nothing")).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // The probe on the same port is answered by HealthLayer, outside the router: not counted.
    let ready = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let snapshot = metrics.snapshot();
    let routes: Vec<&str> = snapshot.series.iter().map(|s| s.route.as_ref()).collect();
    assert!(
        routes
            .iter()
            .all(|&r| r == "/grpc.health.v1.Health/{*rest}"),
        "{routes:?}"
    );
    let count: u64 = snapshot.series.iter().map(|s| s.count).sum();
    assert_eq!(count, snapshot.totals.requests);
    assert!(count >= 2, "{:?}", snapshot.totals);
    assert_eq!(snapshot.totals.failures, 1, "the NOT_FOUND check");
    bridge.abort();
    server.abort();
}

/// The next status a Watch stream sends (a guard of 20 s against a hang, not a time limit).
async fn next_status(watch: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>) -> i32 {
    tokio::time::timeout(Duration::from_secs(20), watch.message())
        .await
        .expect("a status within the guard")
        .unwrap()
        .unwrap()
        .status
}

/// Waiting for a warm-up gate, then at the first moment of a drain, every service the bridge
/// reports turns NOT_SERVING (hyperium/tonic#1693) while the app is still served.
#[tokio::test]
async fn every_service_is_not_serving_while_warming_up_and_from_the_drains_first_moment() {
    let checker = HealthChecker::builder()
        .register(Check::new("orders-db", || async {}).tag("orders"))
        .register(Check::new("payments-api", || async {}).tag("payments"))
        .build()
        .unwrap();
    let warm_up = checker.warm_up("catalogue-load").unwrap();
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let bridge = GrpcHealth::new(checker.clone(), reporter)
        .service("shop.Orders", Selector::tagged("orders"))
        .service("shop.Payments", Selector::tagged("payments"))
        .spawn();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        Server::builder()
            .accept_http1(true)
            .layer(HealthLayer::new(checker.clone()))
            .add_service(health_service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let mut client = connect(addr).await;
    let mut watches = Vec::new();
    for service in ["", "shop.Orders", "shop.Payments"] {
        watches.push(client.watch(request(service)).await.unwrap().into_inner());
    }
    // Each stream's first status, then the next until SERVING: NOT_SERVING (or UNKNOWN until
    // the bridge's first pass) while the gate is pending.
    for watch in &mut watches {
        let first = next_status(watch).await;
        assert_ne!(first, ServingStatus::Serving as i32, "warming up");
    }
    let ready = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    warm_up.done();
    for watch in &mut watches {
        let mut status = next_status(watch).await;
        while status != ServingStatus::Serving as i32 {
            status = next_status(watch).await;
        }
    }

    let drain = tower_vitals::Drain::builder(checker.clone())
        .delay(Duration::from_secs(60))
        .build()
        .unwrap();
    drain.begin();
    for watch in &mut watches {
        assert_eq!(next_status(watch).await, ServingStatus::NotServing as i32);
    }
    for service in ["", "shop.Orders", "shop.Payments"] {
        let status = client.check(request(service)).await.unwrap().into_inner();
        assert_eq!(status.status, ServingStatus::NotServing as i32, "{service}");
    }
    bridge.abort();
    server.abort();
}
