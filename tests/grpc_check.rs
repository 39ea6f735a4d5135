//! `GrpcCheck` against real tonic servers on loopback, asked through tonic-health's client: the
//! reporter's answers (SERVING, NOT_SERVING, an unknown service); the server stopped → the
//! transport's own error; started again on the same port → healthy by itself; a slow
//! dependency gets the check's deadline as `grpc-timeout` and its handler is dropped when the
//! deadline passes.
#![cfg(feature = "tonic")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[path = "support/dependency.rs"]
mod dependency;

use dependency::{checker, report, runs, until};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower_vitals::HealthStatus;
use tower_vitals::checks::GrpcCheck;

/// tonic-health's service on `listener`: `""` serving, `shop.Inventory` not; stops when the
/// sender is dropped or sent to.
async fn serve_reporter(listener: TcpListener) -> oneshot::Sender<()> {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("shop.Inventory", ServingStatus::NotServing)
        .await;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        drop(reporter);
    });
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_errors_and_recovery_of_a_grpc_dependency() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = serve_reporter(listener).await;
    let uri = format!("http://{addr}");

    let up = report(GrpcCheck::new(&uri).unwrap()).await;
    assert_eq!(up.status, HealthStatus::Healthy, "{up:?}");
    assert!(up.metadata["rpc_ms"].as_f64().is_some());
    let not_serving = report(GrpcCheck::new(&uri).unwrap().service("shop.Inventory")).await;
    assert_eq!(not_serving.status, HealthStatus::Unhealthy);
    assert_eq!(not_serving.message.as_deref(), Some("NOT_SERVING"));
    let unknown = report(GrpcCheck::new(&uri).unwrap().service("shop.Nothing")).await;
    assert_eq!(unknown.status, HealthStatus::Unhealthy);
    let message = unknown.message.unwrap();
    assert!(message.starts_with("NotFound"), "{message}");

    let checker = checker(GrpcCheck::new(&uri).unwrap());
    let (_, _) = until(&checker, HealthStatus::Healthy, Duration::from_secs(5)).await;
    drop(stop);
    let stopped_at = runs(&checker);
    let (down, _) = until(&checker, HealthStatus::Unhealthy, Duration::from_secs(30)).await;
    let message = down.message.unwrap();
    assert!(
        message.starts_with("Unavailable") && message.contains("Connection refused"),
        "the transport's error: {message}"
    );
    let took = runs(&checker) - stopped_at;
    assert!(took <= 2, "unhealthy only after {took} runs");

    let listener = TcpListener::bind(addr).await.unwrap();
    let _stop = serve_reporter(listener).await;
    let (back, waited) = until(&checker, HealthStatus::Healthy, Duration::from_secs(5)).await;
    assert_eq!(
        back.status,
        HealthStatus::Healthy,
        "never recovered: {back:?}"
    );
    eprintln!("restarted: healthy again after {waited:?}");
}

/// A health service that answers after 5 s, noting the deadline it was given and whether its
/// handler was dropped before answering.
#[derive(Default, Clone)]
struct Slow {
    deadline: Arc<Mutex<Option<String>>>,
    abandoned: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tonic::async_trait]
impl Health for Slow {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        let timeout = request.metadata().get("grpc-timeout");
        *self.deadline.lock() = timeout.map(|t| t.to_str().unwrap().to_owned());
        let guard = SetOnDrop(self.abandoned.clone());
        tokio::time::sleep(Duration::from_secs(5)).await;
        std::mem::forget(guard);
        Ok(tonic::Response::new(HealthCheckResponse { status: 1 }))
    }

    type WatchStream = tokio_stream::Empty<Result<HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not here"))
    }
}

async fn serve_slow(slow: Slow) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(HealthServer::new(slow))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_dependency_gets_the_checks_deadline() {
    let slow = Slow::default();
    let addr = serve_slow(slow.clone()).await;
    let check = GrpcCheck::new(&format!("http://{addr}")).unwrap();
    let component = report(check).await;
    assert_eq!(component.status, HealthStatus::Unhealthy);
    let message = component.message.unwrap();
    assert!(
        message.starts_with("Cancelled")
            || message.starts_with("DeadlineExceeded")
            || message.starts_with("timed out"),
        "{message}"
    );
    // grpc-timeout as gRPC writes it: an integer and a unit (`m` for milliseconds, `u` …).
    let sent = slow.deadline.lock().clone().expect("a grpc-timeout header");
    let (value, unit) = sent.split_at(sent.len() - 1);
    let micros: u64 = value.parse::<u64>().unwrap()
        * match unit {
            "m" => 1_000,
            "u" => 1,
            "n" => 0,
            other => panic!("unit {other}"),
        };
    // What the checker's 500 ms timeout leaves, nine tenths of it: never more than 450 ms.
    assert!(
        (1..=450_000).contains(&micros),
        "the deadline sent is what the checker's timeout leaves: {sent}"
    );
    // The server sees the call dropped (a hang guard, not a time limit).
    for _ in 0..1000 {
        if slow.abandoned.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        slow.abandoned.load(Ordering::SeqCst),
        "the server dropped the call"
    );
}
