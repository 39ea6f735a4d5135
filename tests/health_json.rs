//! `application/health+json` (the IETF draft "Health Check Response Format for HTTP APIs",
//! draft-inadarei-api-health-check-06) on `/health` and readiness, over a real server: asked for
//! in `Accept`, every answer in every state validates against the draft's fields
//! (`tests/schemas/health+json.schema.json`, by the `jsonschema` crate), its status agrees with
//! the HTTP code as the draft ties them, and without the header the crate's JSON is unchanged.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::Value;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{AppInfo, CheckResult, HealthChecker, HealthLayer};

const HEALTH_JSON: &str = "application/health+json";

fn validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("schemas/health+json.schema.json")).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    // The schema refuses what the draft does not define.
    for bad in [
        serde_json::json!({"status": "healthy"}),
        serde_json::json!({"status": "pass", "components": []}),
        serde_json::json!({"status": "pass", "checks": {"db:time": [{"time": "yesterday"}]}}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
    validator
}

/// `body` is valid for the draft; its status is allowed with `code`.
fn check(validator: &jsonschema::Validator, code: u16, body: &Value) {
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{body:#}");
    let status = body["status"].as_str().unwrap();
    match status {
        "pass" | "warn" => assert!((200..400).contains(&code), "{status} answered {code}"),
        _ => assert!((400..600).contains(&code), "{status} answered {code}"),
    }
}

/// A checker whose `db:primary` check answers as `state` says (0 healthy, 1 degraded, 2
/// unhealthy), with a second check always healthy.
fn checker(state: &Arc<AtomicU8>) -> HealthChecker {
    let state = state.clone();
    HealthChecker::builder()
        .check("db:primary", move || {
            let state = state.load(Ordering::SeqCst);
            async move {
                match state {
                    0 => CheckResult::healthy(),
                    1 => CheckResult::degraded("replication lag 12 s"),
                    _ => CheckResult::unhealthy("connection refused"),
                }
            }
        })
        .check("cache", || async {})
        .cache_ttl(std::time::Duration::ZERO)
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_state_answers_the_drafts_fields_when_asked() {
    let validator = validator();
    let state = Arc::new(AtomicU8::new(0));
    let checker = checker(&state);
    let layer = HealthLayer::new(checker.clone())
        .details(DetailPolicy::Always)
        .info(AppInfo::new("orders", "2.4.1"))
        .unwrap();
    let server = common::serve(layer).await;
    let mut seen = Vec::new();
    for (value, word, code) in [(0, "pass", 200), (1, "warn", 200), (2, "fail", 503)] {
        state.store(value, Ordering::SeqCst);
        for path in ["/health", "/health/ready?verbose"] {
            // An expired result is served while a fresh run goes on: ask until it shows.
            let mut reply = server.get_accepting(path, HEALTH_JSON).await;
            for _ in 0..250 {
                if reply.json()["status"] == word {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                reply = server.get_accepting(path, HEALTH_JSON).await;
            }
            assert_eq!(reply.header("content-type"), HEALTH_JSON, "{path}");
            assert_eq!(reply.header("vary"), "accept");
            let body = reply.json();
            let expected = if path == "/health" || value != 1 {
                code
            } else {
                200
            };
            assert_eq!(reply.status, expected, "{path} {body:#}");
            check(&validator, reply.status, &body);
            assert_eq!(body["status"], word, "{path}");
            assert_eq!(
                (body["version"].as_str(), body["serviceId"].as_str()),
                (Some("2.4.1"), Some("orders"))
            );
            let db = &body["checks"]["db_primary:responseTime"][0];
            assert_eq!(db["componentId"], "db:primary");
            assert_eq!(db["observedUnit"], "ms");
            assert!(db["observedValue"].is_number());
            match word {
                "pass" => {
                    assert!(body.get("output").is_none());
                    assert!(db.get("output").is_none());
                }
                "warn" => assert!(db["output"].as_str().unwrap().contains("replication lag")),
                _ => {
                    assert!(
                        body["output"]
                            .as_str()
                            .unwrap()
                            .contains("connection refused")
                    );
                    assert_eq!(db["status"], "fail");
                }
            }
            seen.push(body["status"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["pass", "pass", "warn", "warn", "fail", "fail"]);

    // Not ready (draining): readiness fails with the reason in `notes`.
    state.store(0, Ordering::SeqCst);
    for _ in 0..250 {
        if server.get("/health/ready").await.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    checker.mark_not_ready();
    let reply = server.get_accepting("/health/ready", HEALTH_JSON).await;
    assert_eq!(reply.status, 503);
    let body = reply.json();
    check(&validator, 503, &body);
    assert_eq!(body["status"], "fail");
    assert!(!body["notes"][0].as_str().unwrap().is_empty(), "{body:#}");

    // Without the header, or preferring the crate's JSON: the crate's JSON, as before.
    for accept in [
        "application/json",
        "application/json, application/health+json;q=0.5",
        "*/*",
    ] {
        let reply = server.get_accepting("/health", accept).await;
        assert_eq!(reply.header("content-type"), "application/json", "{accept}");
        assert!(reply.json()["components"].is_array());
    }
    let plain = server.get("/health/ready").await;
    assert_eq!(plain.header("content-type"), "application/json");
    assert_eq!(plain.json()["ready"], false);
}

/// Clients the detail policy does not show details get the status alone, or components'
/// names and statuses under the components policy — in the draft's format too.
#[tokio::test]
async fn clients_without_details_get_what_the_policies_allow() {
    let validator = validator();
    let state = Arc::new(AtomicU8::new(2));
    let layer = HealthLayer::new(checker(&state)).details(DetailPolicy::Never);
    let server = common::serve(layer).await;
    let reply = server.get_accepting("/health", HEALTH_JSON).await;
    assert_eq!(reply.status, 503);
    let body = reply.json();
    check(&validator, 503, &body);
    assert!(
        body.get("checks").is_none() && body.get("output").is_none(),
        "{body:#}"
    );

    let layer = HealthLayer::new(checker(&state))
        .details(DetailPolicy::Never)
        .components(DetailPolicy::Always);
    let server = common::serve(layer).await;
    let body = server.get_accepting("/health", HEALTH_JSON).await.json();
    check(&validator, 503, &body);
    let db = body["checks"]["db_primary:responseTime"][0]
        .as_object()
        .unwrap();
    let keys: Vec<&str> = db.keys().map(String::as_str).collect();
    assert_eq!(keys, ["componentId", "status"]);
    assert!(body.get("output").is_none(), "no messages without details");
}
