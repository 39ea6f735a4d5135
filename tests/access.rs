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
    server.get_with(path, "authorization", authorization).await
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

#[tokio::test]
async fn the_settings_show_details_over_the_codes_policy() {
    let dir = std::env::temp_dir().join(format!("tower-vitals-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "from-the-secret\n").unwrap();
    let config = tower_vitals::HealthConfig::from_vars([
        ("HEALTH_SHOW_DETAILS", "when_authorized"),
        ("HEALTH_SHOW_COMPONENTS", "never"),
        ("HEALTH_DETAILS_TOKEN_FILE", token.to_str().unwrap()),
    ])
    .unwrap();
    // The code says always, for details and components; the settings say otherwise, whatever
    // the order of the calls.
    let layer = HealthLayer::new(checker())
        .config(&config)
        .unwrap()
        .details(DetailPolicy::Always)
        .components(DetailPolicy::Always);
    let server = common::serve(layer).await;
    assert_eq!(
        server.get("/health").await.json(),
        serde_json::json!({"status": "unhealthy"})
    );
    assert_eq!(server.get("/health/incidents").await.status, 401);
    let full = get_with(&server, "/health", "Bearer from-the-secret").await;
    assert_eq!(full.json()["components"][1]["name"], "search");
    let incidents = get_with(&server, "/health/incidents", "Bearer from-the-secret").await;
    assert_eq!(incidents.status, 200);
    std::fs::remove_dir_all(&dir).unwrap();

    // A token file that cannot be read fails the layer's build, naming the variable.
    let error = HealthLayer::new(checker()).config(&config).unwrap_err();
    assert!(
        error.to_string().starts_with("HEALTH_DETAILS_TOKEN_FILE="),
        "{error}"
    );
}
