//! One component at `/health/{name}` and health groups with their own path, detail policy and
//! status codes — over a real Axum server.
#![cfg(feature = "axum")]

mod common;

use http::StatusCode;
use tower_vitals::health::{DetailPolicy, HealthGroup};
use tower_vitals::metrics::{MetricsCollector, MetricsLayer};
use tower_vitals::{Check, HealthChecker, HealthLayer, HealthStatus, Selector};

fn checker() -> HealthChecker {
    HealthChecker::builder()
        .register(Check::new("db", || async {}).tag("payments"))
        .register(
            Check::new("fraud-api", || async {
                Err::<(), _>("timed out (token=abc123)")
            })
            .tag("payments")
            .critical(false),
        )
        .register(Check::new("search index", || async {
            Err::<(), _>("index closed")
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn one_component_answers_at_its_own_path() {
    let layer = HealthLayer::new(checker()).details(DetailPolicy::bearer_token("ops").unwrap());
    let server = common::serve(layer).await;

    let db = server.get("/health/db").await;
    assert_eq!(db.status, 200);
    assert_eq!(db.json(), serde_json::json!({"status": "healthy"}));
    let search = server.get("/health/search%20index").await;
    assert_eq!(search.status, 503);
    assert_eq!(
        server.get("/health/fraud-api/").await.status,
        200,
        "degraded answers 200"
    );

    let detailed = server
        .client
        .get(server.url("/health/search%20index"))
        .bearer_auth("ops")
        .send()
        .await
        .unwrap();
    let detailed = common::Reply::read(detailed).await.json();
    assert_eq!(detailed["name"], "search index");
    assert_eq!(detailed["message"], "index closed");

    let unknown = server.get("/health/nope").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["component"], "nope");
    assert_eq!(
        server.get("/health/live").await.status,
        200,
        "endpoints come first"
    );
    assert_eq!(
        server.get("/health/db/more").await.status,
        404,
        "the app's 404"
    );
}

#[tokio::test]
async fn a_group_has_its_own_path_policy_and_codes() {
    let collector = MetricsCollector::new();
    let layer = HealthLayer::new(checker())
        .metrics(collector.clone())
        .group(
            HealthGroup::new("payments", Selector::tagged("payments"))
                .details(DetailPolicy::Always)
                .status_code(HealthStatus::Degraded, StatusCode::SERVICE_UNAVAILABLE),
        )
        .unwrap()
        .group(HealthGroup::new("core", Selector::all().excluding("search index")).path("/corez"))
        .unwrap()
        .prefix("/internal")
        .unwrap();
    assert!(layer.paths().any(|p| p == "/internal/health/payments"));
    assert!(layer.paths().any(|p| p == "/internal/corez"));
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .layer(layer)
        .layer(MetricsLayer::new(collector.clone()));
    let server = common::serve_router(app).await;

    let payments = server.get("/internal/health/payments").await;
    assert_eq!(payments.status, 503, "the group maps degraded to 503");
    let body = payments.json();
    assert_eq!(body["group"], "payments");
    assert_eq!(body["status"], "degraded");
    let names: Vec<_> = body["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "fraud-api"]);
    let message = body["components"][1]["message"].as_str().unwrap();
    assert!(!message.contains("abc123"), "{message}");

    let core = server.get("/internal/corez").await;
    assert_eq!(core.status, 200, "degraded: the layer's mapping");
    assert_eq!(
        core.json(),
        serde_json::json!({"status": "degraded"}),
        "layer policy: Never"
    );
    assert_eq!(server.get("/internal/health").await.status, 503);
    assert_eq!(
        collector.snapshot().totals.requests,
        0,
        "group paths are not traffic"
    );
}

#[test]
fn group_paths_must_be_free_and_names_one_segment() {
    let taken = HealthLayer::new(checker())
        .group(HealthGroup::new("ready", Selector::all()))
        .unwrap_err();
    assert_eq!(
        taken.to_string(),
        "path \"/health/ready\" is used by more than one endpoint"
    );
    assert!(
        HealthLayer::new(checker())
            .group(HealthGroup::new("a/b", Selector::all()))
            .is_err()
    );
    let twice = HealthLayer::new(checker())
        .group(HealthGroup::new("x", Selector::all()))
        .unwrap()
        .group(HealthGroup::new("y", Selector::all()).path("/health/x"));
    assert!(twice.is_err());
}
