//! A real Axum server on 127.0.0.1 and a real HTTP client.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
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
    let app = layer.around(router);
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
        let response = self
            .client
            .get(self.url(path))
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .unwrap();
        Reply::read(response).await
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
