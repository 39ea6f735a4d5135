//! A real Axum server on 127.0.0.1 and a real HTTP client.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tower_vitals::HealthLayer;

/// An app with two routes, wrapped in `layer`, served on an ephemeral loopback port.
pub async fn serve(layer: HealthLayer) -> Server {
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .route(
            "/orders",
            get(|| async { ([("x-app", "orders")], "[1,2,3]") }).post(|| async { "created" }),
        )
        .layer(layer);
    serve_router(app).await
}

/// The same app with `layer` once around the whole router (`HealthLayer::around`).
pub async fn serve_around(layer: HealthLayer) -> Server {
    let router = Router::new().route("/", get(|| async { "home" })).route(
        "/orders",
        get(|| async { ([("x-app", "orders")], "[1,2,3]") }).post(|| async { "created" }),
    );
    serve_wrapped(layer.around(router)).await
}

/// A router wrapped by `Setup::around` (or `HealthLayer::around`), on an ephemeral loopback port.
pub async fn serve_wrapped(app: tower_vitals::health::AroundRouter) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service())
            .await
            .unwrap()
    });
    Server {
        addr,
        client: reqwest::Client::new(),
        task,
    }
}

pub async fn serve_router(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        addr,
        client: reqwest::Client::new(),
        task,
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path).await
    }

    /// A GET with an `Accept` header.
    pub async fn get_accepting(&self, path: &str, accept: &str) -> Reply {
        self.get_with(path, reqwest::header::ACCEPT.as_str(), accept)
            .await
    }

    /// A GET with one header (`Authorization`, `traceparent`, …), read whole.
    pub async fn get_with(&self, path: &str, name: &str, value: &str) -> Reply {
        let response = self
            .client
            .get(self.url(path))
            .header(name, value)
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// Polls `/health` until its first component satisfies `done`, and returns it (a hang
    /// guard of 1000 tries, not a time limit): an expired result is served once more while
    /// its check runs again, so a change shows at a later answer.
    pub async fn component_until(
        &self,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        for _ in 0..1000 {
            let component = self.get("/health").await.json()["components"][0].clone();
            if done(&component) {
                return component;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the component never showed what was waited for");
    }

    pub async fn send(&self, method: reqwest::Method, path: &str) -> Reply {
        let response = self
            .client
            .request(method, self.url(path))
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures this thread's log lines at `level` and above, without colour codes, until the
    /// guard is dropped (on a current-thread runtime: the test's tasks too).
    pub fn install(level: tracing::Level) -> (Self, tracing::subscriber::DefaultGuard) {
        let log = Self::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A webhook receiver on loopback keeping every body posted to `/hooks`.
pub async fn webhook_receiver() -> (Server, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let app = Router::new().route(
        "/hooks",
        post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    (serve_router(app).await, bodies)
}
