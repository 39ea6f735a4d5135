//! Who sees what: `/metrics` behind its own policy, the components level between the bare
//! status and full details, and bearer tokens as HTTP has them — over a real Axum server.
#![cfg(feature = "axum")]

mod common;

use tower_vitals::health::DetailPolicy;
use tower_vitals::{HealthChecker, HealthLayer};

fn checker() -> HealthChecker {
    HealthChecker::builder()
        .check("db", || async {})
        .check("search", || async {
            Err::<(), _>("index closed (api_key=k-123)")
        })
        .build()
        .unwrap()
}

async fn get_with(server: &common::Server, path: &str, authorization: &str) -> common::Reply {
    let response = server
        .client
        .get(server.url(path))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    common::Reply::read(response).await
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let layer = HealthLayer::new(checker())
        .metrics_access(DetailPolicy::bearer_token("scrape-t0ken").unwrap());
    let server = common::serve(layer).await;

    let refused = server.get("/metrics").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), "Bearer");
    assert!(!String::from_utf8_lossy(&refused.body).contains("search"));
    assert_eq!(
        get_with(&server, "/metrics", "Bearer wrong").await.status,
        401
    );
    for scheme in [
        "Bearer scrape-t0ken",
        "bearer scrape-t0ken",
        "BEARER scrape-t0ken",
    ] {
        let allowed = get_with(&server, "/metrics", scheme).await;
        assert_eq!(allowed.status, 200, "{scheme}");
        assert!(
            String::from_utf8(allowed.body)
                .unwrap()
                .contains("vitals_health_status")
        );
    }
    assert_eq!(
        server.get("/health/ready").await.status,
        503,
        "probes stay public"
    );
}

#[tokio::test]
async fn metrics_are_public_by_default() {
    let server = common::serve(HealthLayer::new(checker())).await;
    assert_eq!(server.get("/metrics").await.status, 200);
}

#[tokio::test]
async fn the_components_level_shows_names_and_statuses_only() {
    let layer = HealthLayer::new(checker())
        .details(DetailPolicy::bearer_token("ops").unwrap())
        .components(DetailPolicy::Always);
    let server = common::serve(layer).await;

    let reply = server.get("/health").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "status": "unhealthy",
            "components": [
                {"name": "db", "status": "healthy"},
                {"name": "search", "status": "unhealthy"},
            ],
        })
    );
    let full = get_with(&server, "/health", "Bearer ops").await.json();
    let message = full["components"][1]["message"].as_str().unwrap();
    assert!(
        message.starts_with("index closed") && !message.contains("k-123"),
        "{message}"
    );
}

#[test]
fn an_empty_token_is_a_configuration_error() {
    let unset = std::env::var("TOWER_VITALS_TEST_UNSET_TOKEN").unwrap_or_default();
    assert!(DetailPolicy::bearer_token(unset).is_err());
}
