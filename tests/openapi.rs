//! The health endpoints' OpenAPI document (`HealthLayer::openapi`, feature `openapi`), served
//! by a real server: PyPI's `openapi-spec-validator` accepts it, and every answer the server
//! gives in every state a test can make it — healthy, degraded, unhealthy, unknown, draining,
//! broken, starting, a group, one component, an unknown one, a refused client, a wrong method,
//! in full, components only, status only and `application/health+json` — validates against
//! the schema the document gives for its path, status and content type (by the `jsonschema`
//! crate, a validator written apart from this crate). So do the document's own examples and
//! the responses recorded under `tests/recorded/v1/`, the format's current version, which every
//! later version must keep readable.
#![cfg(all(feature = "openapi", feature = "axum"))]

mod common;
#[cfg(feature = "redis")]
#[path = "support/dependency.rs"]
mod dependency;
#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/skip.rs"]
mod skip;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::{Value, json};
use tower_vitals::health::{DetailPolicy, HealthGroup};
use tower_vitals::{AppInfo, CheckResult, HealthChecker, HealthLayer, MetricsCollector, Selector};

const TOKEN: &str = "Bearer s3cret-token";

/// The operation the document serves at `path` (a group's as `health_group`), and its item.
fn operation_at<'a>(document: &'a Value, path: &str) -> (String, &'a Value) {
    let paths = document["paths"].as_object().unwrap();
    // A path of its own before a template that also fits it, as OpenAPI says.
    let item = paths
        .get(path)
        .or_else(|| {
            paths
                .iter()
                .find(|(template, _)| matches(template, path))
                .map(|(_, item)| item)
        })
        .unwrap_or_else(|| panic!("no path item for {path}"));
    (operation_of(item), item)
}

fn operation_of(item: &Value) -> String {
    let id = item["get"]["operationId"].as_str().unwrap();
    match id.starts_with("health_group_") {
        true => "health_group".to_owned(),
        false => id.to_owned(),
    }
}

/// The schema the document gives an answer to `path` with `status` and `content_type`.
fn schema_for(document: &Value, path: &str, status: u16, content_type: &str) -> Value {
    let (_, item) = operation_at(document, path);
    schema_of(document, item, status, content_type)
}

/// The schema `item` gives an answer with `status` and `content_type`.
fn schema_of(document: &Value, item: &Value, status: u16, content_type: &str) -> Value {
    let path = item["get"]["operationId"].as_str().unwrap();
    let mut response = item["get"]["responses"][status.to_string()].clone();
    assert!(
        !response.is_null(),
        "{path}: no {status} response documented"
    );
    if let Some(reference) = response["$ref"].as_str() {
        response = resolve(document, reference);
    }
    let media = content_type.split(';').next().unwrap().trim();
    let schema = response["content"][media]["schema"].clone();
    assert!(
        !schema.is_null(),
        "{path} {status}: no {media} content documented"
    );
    schema
}

/// Whether `path` fits the path template `template` (`{name}` is one segment).
fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

fn resolve(document: &Value, reference: &str) -> Value {
    document
        .pointer(reference.trim_start_matches('#'))
        .unwrap_or_else(|| panic!("{reference} resolves"))
        .clone()
}

/// Validates `body` against `schema`, whose references point into `document`.
fn validate(document: &Value, schema: &Value, body: &Value) -> Result<(), Vec<String>> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    // Under `oneOf`, each branch's own errors say more than "none of them".
    let mut errors = errors;
    for branch in schema["oneOf"].as_array().into_iter().flatten() {
        if let Err(more) = validate(document, branch, body) {
            errors.extend(more.into_iter().map(|e| format!("  {branch}: {e}")));
        }
    }
    Err(errors)
}

/// One answer, checked against the document; what it was, for the recording.
struct Seen {
    name: String,
    operation: String,
    status: u16,
    content_type: String,
    body: Value,
}

struct Client<'a> {
    server: &'a common::Server,
    document: &'a Value,
    seen: Vec<Seen>,
}

impl Client<'_> {
    /// GETs `path` (with the token when `token`, with `accept` when given), checks the answer
    /// against the document, and keeps it as `name`.
    async fn get(&mut self, name: &str, path: &str, token: bool, accept: Option<&str>) -> Value {
        let mut request = self.server.client.get(self.server.url(path));
        if token {
            request = request.header("authorization", TOKEN);
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        self.check(name, path, response).await
    }

    /// GETs `path`, whose answer is not JSON (the exposition, the dashboard): its status and
    /// content type are documented, with a string schema.
    async fn get_text(&mut self, path: &str, accept: Option<&str>) -> (u16, String) {
        let mut request = self.server.client.get(self.server.url(path));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let schema = schema_for(self.document, path, status, &content_type);
        assert_eq!(schema["type"], "string", "{path} {content_type}");
        response.bytes().await.unwrap();
        (status, content_type)
    }

    async fn check(&mut self, name: &str, path: &str, response: reqwest::Response) -> Value {
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let template_path = path.split('?').next().unwrap();
        let schema = schema_for(self.document, template_path, status, &content_type);
        if let Err(errors) = validate(self.document, &schema, &body) {
            panic!("{name}: {path} {status} does not fit its schema: {errors:#?}\n{body:#}");
        }
        self.seen.push(Seen {
            name: name.to_owned(),
            operation: operation_at(self.document, template_path).0,
            status,
            content_type,
            body: body.clone(),
        });
        body
    }
}

/// Checks named `db` and `cache:primary`, each answering as its state says (0 healthy, 1
/// degraded, 2 unhealthy, 3 slow enough to be unknown at first).
fn checker(db: &Arc<AtomicU8>) -> HealthChecker {
    let db = db.clone();
    HealthChecker::builder()
        .check("db", move || {
            let state = db.load(Ordering::SeqCst);
            async move {
                match state {
                    0 => CheckResult::healthy(),
                    1 => CheckResult::degraded("replication lag 12 s")
                        .with_metadata("lag_seconds", 12),
                    _ => CheckResult::unhealthy("Connection refused (os error 111)"),
                }
            }
        })
        .check("cache:primary", || async {})
        .cache_ttl(std::time::Duration::ZERO)
        .build()
        .unwrap()
}

/// Asks `path` until its status word is `word` (an expired result is served while a new run
/// goes on), at most 5 s.
async fn until(server: &common::Server, path: &str, word: &str) {
    for _ in 0..250 {
        let body = server.get_with(path, "authorization", TOKEN).await.json();
        if body["status"] == word {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{path} never became {word}");
}

#[tokio::test]
async fn every_answer_in_every_state_fits_the_served_document() {
    let db = Arc::new(AtomicU8::new(0));
    let checker = checker(&db);
    let collector = MetricsCollector::new();
    let layer = HealthLayer::new(checker.clone())
        .prefix("/internal")
        .unwrap()
        .details(DetailPolicy::bearer_token("s3cret-token").unwrap())
        .metrics(collector.clone())
        .info(AppInfo::new("orders", "2.4.1").environment("test"))
        .unwrap()
        .startup_path("/health/startup")
        .unwrap()
        .group(HealthGroup::new("payments", Selector::all().only("db")))
        .unwrap();
    let app = axum::Router::new()
        .route("/orders", axum::routing::get(|| async { "[]" }))
        .layer(layer.clone())
        .layer(tower_vitals::MetricsLayer::new(collector));
    let server = common::serve_router(app).await;
    server.get("/orders").await;

    // The document, for a client shown details; a 401 for others.
    let served = server
        .client
        .get(server.url("/internal/health/openapi.json"))
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    let document: Value = serde_json::from_slice(&served.bytes().await.unwrap()).unwrap();
    assert_eq!(document, serde_json::to_value(layer.openapi()).unwrap());
    spec_validator(&document);
    examples_fit(&document);
    let mut client = Client {
        server: &server,
        document: &document,
        seen: Vec::new(),
    };
    client
        .get(
            "openapi-refused",
            "/internal/health/openapi.json",
            false,
            None,
        )
        .await;

    for (state, word) in [(0, "healthy"), (1, "degraded"), (2, "unhealthy")] {
        db.store(state, Ordering::SeqCst);
        until(&server, "/internal/health", word).await;
        client
            .get(&format!("report-{word}"), "/internal/health", true, None)
            .await;
        client
            .get(
                &format!("report-{word}-status-only"),
                "/internal/health",
                false,
                None,
            )
            .await;
        let rfc = Some("application/health+json");
        client
            .get(
                &format!("report-{word}-health-json"),
                "/internal/health",
                true,
                rfc,
            )
            .await;
        client
            .get(
                &format!("ready-{word}"),
                "/internal/health/ready",
                false,
                None,
            )
            .await;
        client
            .get(
                &format!("ready-{word}-verbose"),
                "/internal/health/ready?verbose",
                true,
                None,
            )
            .await;
        client
            .get(
                &format!("ready-{word}-health-json"),
                "/internal/health/ready",
                false,
                rfc,
            )
            .await;
        client
            .get(
                &format!("component-{word}"),
                "/internal/health/db",
                true,
                None,
            )
            .await;
        client
            .get(
                &format!("component-{word}-status-only"),
                "/internal/health/db",
                false,
                None,
            )
            .await;
        client
            .get(
                &format!("group-{word}"),
                "/internal/health/payments",
                true,
                None,
            )
            .await;
        client
            .get(
                &format!("group-{word}-status-only"),
                "/internal/health/payments",
                false,
                None,
            )
            .await;
        client
            .get(
                &format!("live-{word}"),
                "/internal/health/live",
                false,
                None,
            )
            .await;
        client
            .get(
                &format!("startup-{word}"),
                "/internal/health/startup",
                false,
                None,
            )
            .await;
    }
    // Over time: history (all, one component), incidents, information.
    let history = client
        .get(
            "history",
            "/internal/health/history?since=-5m&step=1s",
            true,
            None,
        )
        .await;
    assert!(history["traffic"]["points"].is_array() && history["process"].is_object());
    client
        .get(
            "history-component",
            "/internal/health/history?component=db",
            true,
            None,
        )
        .await;
    client
        .get("history-refused", "/internal/health/history", false, None)
        .await;
    let bad = client
        .get(
            "history-bad-since",
            "/internal/health/history?since=yesterday",
            true,
            None,
        )
        .await;
    assert!(bad["error"].as_str().unwrap().contains("since"), "{bad}");
    client
        .get(
            "history-unknown-component",
            "/internal/health/history?component=nope",
            true,
            None,
        )
        .await;
    let incidents = client
        .get(
            "incidents",
            "/internal/health/incidents?since=-1h",
            true,
            None,
        )
        .await;
    assert!(
        !incidents["incidents"].as_array().unwrap().is_empty(),
        "{incidents}"
    );
    client
        .get(
            "incidents-component",
            "/internal/health/incidents?component=db",
            true,
            None,
        )
        .await;
    client
        .get(
            "incidents-bad-since",
            "/internal/health/incidents?since=-1fortnight",
            true,
            None,
        )
        .await;
    client
        .get(
            "incidents-refused",
            "/internal/health/incidents",
            false,
            None,
        )
        .await;
    // The reliability report, its status alone, an unknown source; the exposition in each
    // format, the dashboard.
    let report = client
        .get("reliability", "/internal/health/reliability", true, None)
        .await;
    assert!(
        report["metrics"]["requests"]["routes"].is_array(),
        "{report:#}"
    );
    client
        .get(
            "reliability-status-only",
            "/internal/health/reliability",
            false,
            None,
        )
        .await;
    client
        .get(
            "reliability-unknown-source",
            "/internal/health/reliability?include=queue",
            true,
            None,
        )
        .await;
    let (_, text) = client.get_text("/internal/metrics", None).await;
    assert!(text.starts_with("text/plain"));
    let openmetrics = "application/openmetrics-text;version=1.0.0";
    let (_, om) = client
        .get_text("/internal/metrics", Some(openmetrics))
        .await;
    assert!(om.starts_with("application/openmetrics-text"));
    #[cfg(feature = "protobuf")]
    {
        let protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        let (_, pb) = client.get_text("/internal/metrics", Some(protobuf)).await;
        assert!(pb.starts_with("application/vnd.google.protobuf"));
    }
    let (status, html) = client.get_text("/internal/health/dashboard", None).await;
    assert_eq!((status, html.starts_with("text/html")), (200, true));
    let info = client
        .get("info", "/internal/health/info", true, None)
        .await;
    assert_eq!(info["environment"], "test");
    client
        .get(
            "info-name-and-version",
            "/internal/health/info",
            false,
            None,
        )
        .await;
    let component = client
        .get("component-unknown", "/internal/health/nope", true, None)
        .await;
    assert_eq!(component["component"], "nope");
    client
        .get(
            "component-colon",
            "/internal/health/cache%3Aprimary",
            true,
            None,
        )
        .await;

    // A wrong method.
    let response = server
        .client
        .post(server.url("/internal/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    client
        .check("ready-post", "/internal/health/ready", response)
        .await;

    // Draining: not ready, the report says so; broken: liveness fails.
    db.store(0, Ordering::SeqCst);
    until(&server, "/internal/health", "healthy").await;
    checker.mark_not_ready();
    let draining = client
        .get("ready-draining", "/internal/health/ready", false, None)
        .await;
    assert_eq!(draining["ready"], false);
    client
        .get(
            "ready-draining-health-json",
            "/internal/health/ready",
            false,
            Some("application/health+json"),
        )
        .await;
    let report = client
        .get("report-draining", "/internal/health", true, None)
        .await;
    assert_eq!(report["accepting_traffic"], false);
    checker.mark_broken("worker pool wedged");
    let live = client
        .get("live-broken", "/internal/health/live", false, None)
        .await;
    assert_eq!(live["reason"], "worker pool wedged");

    let statuses: std::collections::BTreeSet<u16> = client.seen.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [200, 400, 401, 404, 405, 503]
    );
    record(&client.seen);
}

/// Components' names and statuses (the components policy without details), and the startup
/// probe while a check is still running its first time (unknown).
#[tokio::test]
async fn components_only_and_starting_fit_too() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .check("slow", || async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        })
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let layer = HealthLayer::new(checker)
        .components(DetailPolicy::Always)
        .startup_path("/health/startup")
        .unwrap();
    let document = serde_json::to_value(layer.openapi()).unwrap();
    let server = common::serve(layer).await;
    let mut client = Client {
        server: &server,
        document: &document,
        seen: Vec::new(),
    };
    let startup = client
        .get("startup-unknown", "/health/startup", false, None)
        .await;
    assert_eq!(startup["started"], false);
    let report = client
        .get("report-components-only", "/health", false, None)
        .await;
    assert!(report["components"].is_array() && report.get("timestamp").is_none());
    let rfc = client
        .get(
            "report-components-only-health-json",
            "/health",
            false,
            Some("application/health+json"),
        )
        .await;
    assert!(rfc["checks"].is_object());
    record(&client.seen);
}

/// The answers recorded under `tests/recorded/v1/` (the format's current version) still fit
/// the schema today's document gives their operation, status and content type — so a change
/// that breaks what clients of version 1 read fails here. `RECORD_RESPONSES=1 cargo test
/// --all-features --test openapi` writes this run's answers there (review the diff).
#[test]
fn recorded_answers_of_version_1_still_fit() {
    let layer = HealthLayer::new(HealthChecker::builder().build().unwrap())
        .startup_path("/health/startup")
        .unwrap()
        .group(HealthGroup::new("payments", Selector::ALL))
        .unwrap()
        .info(AppInfo::new("orders", "2.4.1"))
        .unwrap();
    // With a fleet (never started: only its path and document are wanted).
    #[cfg(feature = "redis")]
    let layer = {
        use tower_vitals::fleet::{Fleet, RedisFleetStore};
        let checker = HealthChecker::builder().build().unwrap();
        let store = RedisFleetStore::new("redis://127.0.0.1:1/").unwrap();
        layer.fleet(Fleet::builder(checker, store).build().unwrap())
    };
    let document = serde_json::to_value(layer.openapi()).unwrap();
    let items: Vec<&Value> = document["paths"].as_object().unwrap().values().collect();
    let mut checked = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(recorded_dir()).expect("tests/recorded/v1 is kept") {
        let path = entry.unwrap().path();
        let recorded: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let operation = recorded["operation"].as_str().unwrap();
        if cfg!(not(feature = "redis")) && operation == "health_fleet" {
            continue;
        }
        let item = items
            .iter()
            .find(|item| operation_of(item) == operation)
            .unwrap_or_else(|| panic!("{}: no operation {operation}", path.display()));
        let status = recorded["status"].as_u64().unwrap() as u16;
        let content_type = recorded["content_type"].as_str().unwrap();
        let schema = schema_of(&document, item, status, content_type);
        if let Err(errors) = validate(&document, &schema, &recorded["body"]) {
            panic!("{} no longer fits version 1: {errors:#?}", path.display());
        }
        *checked.entry(operation.to_owned()).or_insert(0) += 1;
    }
    // Every operation of the document with JSON answers has recorded answers (the
    // exposition and the dashboard are text, checked by content type above).
    let json_answers =
        |item: &&&Value| !item["get"]["responses"]["200"]["content"]["application/json"].is_null();
    for item in items.iter().filter(json_answers) {
        assert!(
            checked.contains_key(&operation_of(item)),
            "{} recorded",
            operation_of(item)
        );
    }
}

fn recorded_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/recorded/v1")
}

/// With a fleet through a real Redis (feature `redis`): `/health/fleet`, and a shared check
/// failing on one replica only — judged local there, in `/health` and readiness — fit too.
#[cfg(feature = "redis")]
#[tokio::test]
async fn a_fleet_fits_too() {
    use tower_vitals::Check;
    use tower_vitals::fleet::{Fleet, RedisFleetStore};

    let port = dependency::free_port();
    let Some(_redis) = redis_server::start(port, &[]) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let replica = |id: &'static str, passes: bool| {
        let url = url.clone();
        async move {
            let checker = HealthChecker::builder()
                .register(Check::new("postgres", move || async move { passes }).shared())
                .cache_ttl(std::time::Duration::from_millis(100))
                .build()
                .unwrap();
            checker.report().await;
            let store = RedisFleetStore::new(&url)
                .unwrap()
                .prefix("test:openapi")
                .unwrap();
            let fleet = Fleet::builder(checker.clone(), store)
                .name("shop")
                .unwrap()
                .id(id)
                .unwrap()
                .interval(std::time::Duration::from_millis(200))
                .build()
                .unwrap();
            fleet.spawn();
            let layer = HealthLayer::new(checker)
                .details(DetailPolicy::bearer_token("s3cret-token").unwrap())
                .fleet(fleet.clone());
            (fleet, layer)
        }
    };
    let (_a_fleet, a_layer) = replica("shop-a", true).await;
    let (_b_fleet, b_layer) = replica("shop-b", false).await;
    let document = serde_json::to_value(b_layer.openapi()).unwrap();
    examples_fit(&document);
    let a = common::serve(a_layer).await;
    let b = common::serve(b_layer).await;
    let mut client = Client {
        server: &b,
        document: &document,
        seen: Vec::new(),
    };
    // Until both replicas are fresh in b's view and b judged its failure local.
    for _ in 0..500 {
        let reply = b.client.get(b.url("/health/ready")).send().await.unwrap();
        let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        if body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("only this replica"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let view = client.get("fleet", "/health/fleet", true, None).await;
    assert_eq!(view["replicas"].as_array().unwrap().len(), 2, "{view:#}");
    client
        .get("fleet-refused", "/health/fleet", false, None)
        .await;
    let ready = client
        .get("ready-local-fault", "/health/ready", false, None)
        .await;
    assert!(
        ready["reason"]
            .as_str()
            .unwrap()
            .contains("only this replica"),
        "{ready}"
    );
    let report = client
        .get("report-local-fault", "/health", true, None)
        .await;
    assert_eq!(report["components"][0]["judgement"], "local", "{report:#}");
    let mut client = Client {
        server: &a,
        document: &document,
        seen: client.seen,
    };
    client
        .get("fleet-other-replica", "/health/fleet", true, None)
        .await;
    record(&client.seen);
}

/// PyPI's `openapi-spec-validator` (OpenAPI 3.1) accepts the document; skipped, and listed,
/// without it (CI installs it and sets REQUIRE_OPENAPI_VALIDATOR).
fn spec_validator(document: &Value) {
    const SCRIPT: &str = "import json, sys\n\
        from openapi_spec_validator import validate\n\
        validate(json.load(sys.stdin))\n\
        print('valid')\n";
    let available = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        skip::unavailable(
            "PyPI's openapi-spec-validator",
            "REQUIRE_OPENAPI_VALIDATOR",
            "python3 -c 'import openapi_spec_validator' failed",
        );
        return;
    }
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the document:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every example in the document fits the schema beside it.
fn examples_fit(document: &Value) {
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (status, response) in item["get"]["responses"].as_object().unwrap() {
            let response = match response["$ref"].as_str() {
                Some(reference) => resolve(document, reference),
                None => response.clone(),
            };
            let Some(content) = response["content"].as_object() else {
                continue;
            };
            for (media, entry) in content {
                for (name, example) in entry["examples"].as_object().into_iter().flatten() {
                    let example = match example["$ref"].as_str() {
                        Some(reference) => resolve(document, reference),
                        None => example.clone(),
                    };
                    if let Err(errors) = validate(document, &entry["schema"], &example["value"]) {
                        panic!("{path} {status} {media} example {name}: {errors:#?}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "{checked} examples");
}

/// With `RECORD_RESPONSES=1`, writes this run's answers to `tests/recorded/v1/`.
fn record(seen: &[Seen]) {
    if std::env::var_os("RECORD_RESPONSES").is_none() {
        return;
    }
    let dir = recorded_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for answer in seen {
        let recorded = json!({
            "operation": answer.operation,
            "status": answer.status,
            "content_type": answer.content_type,
            "body": answer.body,
        });
        let text = serde_json::to_string_pretty(&recorded).unwrap() + "\n";
        std::fs::write(dir.join(format!("{}.json", answer.name)), text).unwrap();
    }
}
