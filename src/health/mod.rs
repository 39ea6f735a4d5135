//! `HealthLayer`: liveness, readiness and the detailed report on any Tower HTTP service.
//!
//! | path (default) | answers | runs checks |
//! |---|---|---|
//! | `/health/live` | 200 `{"status":"healthy"}` while the process serves | never |
//! | `/health/ready` | 200 when no gating check is unhealthy, else 503; `?verbose` lists them | the readiness [`Selector`](crate::Selector)'s |
//! | `/health` | the detailed report, 200 or 503 by overall status | all |
//!
//! GET and HEAD are answered (HEAD: same headers, no body), other methods get 405 with `Allow`.
//! One trailing slash is accepted. `?exclude=name` leaves a check out (Kubernetes convention).
//! Bodies are JSON with `Cache-Control: no-store` and `X-Health-Version`.
//!
//! # Example
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_vitals::{HealthChecker, HealthLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let checker = HealthChecker::builder()
//!     .check("database", || async { Ok::<_, std::io::Error>(()) })
//!     .build()
//!     .unwrap();
//! let app = service_fn(|_req: Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::from("app")))
//! });
//! let service = ServiceBuilder::new().layer(HealthLayer::new(checker)).service(app);
//!
//! let ready = service.clone().oneshot(Request::get("/health/ready").body(String::new()).unwrap());
//! assert_eq!(ready.await.unwrap().status(), StatusCode::OK);
//! let other = service.oneshot(Request::get("/orders").body(String::new()).unwrap()).await;
//! assert_eq!(other.unwrap().status(), StatusCode::OK); // answered by the app
//! # }
//! ```

mod answer;
mod body;
mod future;
mod layer;
mod paths;
mod service;

pub use answer::HEALTH_VERSION;
pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::HealthLayer;
pub use service::Health;
