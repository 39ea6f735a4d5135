//! Secrets never leave through health output: a table of realistic error messages, each with
//! its secret and the masked text expected, run through the whole path — failing checks on a
//! real server, then `/health`, `/health/reliability`, the WARN log line (captured by a
//! `tracing` subscriber), an `on_change` listener and a webhook receiver. The secret must
//! appear in none of them.
#![cfg(all(feature = "axum", feature = "http-client"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, CheckResult, HealthChecker, HealthLayer, WebhookNotifier};

/// One case: the message a check fails with, the secret in it, the message expected out.
struct Case {
    message: String,
    secret: String,
    expected: String,
    /// A metadata entry `(key, value)` the check adds, with the secret in the value.
    metadata: Option<(&'static str, String)>,
}

fn case(message: String, secret: &str, expected: String) -> Case {
    Case {
        message,
        secret: secret.to_owned(),
        expected,
        metadata: None,
    }
}

/// Key shapes × value formats: 26 keys in 6 formats.
fn pairs(cases: &mut Vec<Case>) {
    let keys = [
        "password",
        "passwd",
        "pwd",
        "dbPassword",
        "DB_PASSWORD",
        "sslpassword",
        "passphrase",
        "secret",
        "client_secret",
        "clientSecret",
        "api_key",
        "apiKey",
        "x-api-key",
        "api-key",
        "accessToken",
        "access_token",
        "refresh_token",
        "token",
        "auth_token",
        "private_key",
        "privateKey",
        "credentials",
        "aws_secret_access_key",
        "aws_access_key_id",
        "sessionId",
        "jwt",
    ];
    type Format = fn(&str, &str) -> String;
    let formats: [Format; 6] = [
        |k, v| format!("{k}={v}"),
        |k, v| format!("{k} : {v}"),
        |k, v| format!("{{\"{k}\":\"{v}\"}}"),
        |k, v| format!("Config {{ user: \"app\", {k}: \"{v}\" }}"),
        |k, v| format!("{k}='{v}'"),
        |k, v| format!("{{\\\"{k}\\\": \\\"{v}\\\"}}"),
    ];
    for (i, key) in keys.iter().enumerate() {
        for (j, format) in formats.iter().enumerate() {
            let secret = format!("Hx7k{i:02}{j}q9Zr");
            cases.push(case(
                format!("connect failed: {}; retry later", format(key, &secret)),
                &secret,
                format!("connect failed: {}; retry later", format(key, "***")),
            ));
        }
    }
}

/// Spacing, separators and encodings.
fn spacing(cases: &mut Vec<Case>) {
    let shapes: [(&str, &str); 8] = [
        ("password = {}", "password = ***"),
        ("password:\t{}", "password:\t***"),
        ("password:\n{}", "password:\n***"),
        ("password%3D{}&user=app", "password%3D***&user=app"),
        ("password%3a{}", "password%3a***"),
        ("password => {}", "password => ***"),
        (
            "{{\"password\": \"{} with space\"}}",
            "{\"password\": \"***\"}",
        ),
        ("PASSWORD={}", "PASSWORD=***"),
    ];
    for (i, (shape, expected)) in shapes.iter().enumerate() {
        let secret = format!("Sp4c{i}eQ7w");
        cases.push(case(
            shape
                .replace("{}", &secret)
                .replace("{{", "{")
                .replace("}}", "}"),
            &secret,
            (*expected).to_owned(),
        ));
    }
}

/// Headers, bare schemes, URLs and token shapes: message, secret, expected.
const EXPLICIT: [(&str, &str, &str); 24] = [
    (
        "Authorization: Token 9fK2mQ8xLp",
        "9fK2mQ8xLp",
        "Authorization: Token ***",
    ),
    (
        "authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "authorization: Bearer ***",
    ),
    (
        "Authorization: Basic YXBwOmh1bnRlcjI=",
        "YXBwOmh1bnRlcjI=",
        "Authorization: Basic ***",
    ),
    (
        "Authorization: Digest username=\"app\", response=\"6629fae49393a05397450978507c4ef1\"",
        "6629fae49393a05397450978507c4ef1",
        "Authorization: Digest ***",
    ),
    (
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "Authorization: AWS4-HMAC-SHA256 ***",
    ),
    (
        "Proxy-Authorization: Basic cHJveHk6c2VjcmV0",
        "cHJveHk6c2VjcmV0",
        "Proxy-Authorization: Basic ***",
    ),
    (
        "Cookie: session=8sd7f6g5h4j3; theme=dark",
        "8sd7f6g5h4j3",
        "Cookie: ***",
    ),
    (
        "Set-Cookie: sid=Zq8Wn3Ke1Lm; HttpOnly",
        "Zq8Wn3Ke1Lm",
        "Set-Cookie: ***",
    ),
    (
        "upstream said 401 to Bearer Tq5Nv8Rw2Yx1",
        "Tq5Nv8Rw2Yx1",
        "upstream said 401 to Bearer ***",
    ),
    (
        "sent Basic dXNlcjpwYXNzd29yZA== and failed",
        "dXNlcjpwYXNzd29yZA==",
        "sent Basic *** and failed",
    ),
    (
        "connect postgres://app:Pg5ecr3t@db:5432/shop refused",
        "Pg5ecr3t",
        "connect postgres://***@db:5432/shop refused",
    ),
    (
        "mysql://user:pa/ss9w@db.internal/app",
        "pa/ss9w",
        "mysql://***@db.internal/app",
    ),
    (
        "mysql://user:pa#ss8w@db.internal/app",
        "pa#ss8w",
        "mysql://***@db.internal/app",
    ),
    (
        "mysql://user:pa?ss7w@db.internal",
        "pa?ss7w",
        "mysql://***@db.internal",
    ),
    (
        "via //proxyuser:Pr0xyPw@proxy:3128 timed out",
        "Pr0xyPw",
        "via //***@proxy:3128 timed out",
    ),
    (
        "redis://:R3disPw@cache:6379/0",
        "R3disPw",
        "redis://***@cache:6379/0",
    ),
    (
        "amqp://guest:Gu3stPw@mq/vhost",
        "Gu3stPw",
        "amqp://***@mq/vhost",
    ),
    (
        "https://deploy:Gh7tokenX@git.example.com/repo.git",
        "Gh7tokenX",
        "https://***@git.example.com/repo.git",
    ),
    (
        "signed with AKIAIOSFODNN7EXAMPLE in us-east-1",
        "AKIAIOSFODNN7EXAMPLE",
        "signed with *** in us-east-1",
    ),
    (
        "jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.sIgNaTuRe_value rejected",
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.sIgNaTuRe_value",
        "jwt *** rejected",
    ),
    (
        "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 revoked",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "token *** revoked",
    ),
    (
        "slack xoxb-1234567890-abcdefghij rejected",
        "xoxb-1234567890-abcdefghij",
        "slack *** rejected",
    ),
    (
        "stripe key sk_live_51HxAbCdEfGhIjKl invalid",
        "sk_live_51HxAbCdEfGhIjKl",
        "stripe key *** invalid",
    ),
    (
        "x-api-key:\tK3yV4lu3 refused",
        "K3yV4lu3",
        "x-api-key:\t*** refused",
    ),
];

/// The families the crate recognises by themselves (each made up, in its published format):
/// signed URLs, signature headers, a PEM private key, webhook URLs, provider tokens, a random
/// value after a word naming a credential.
const FAMILIES: [(&str, &str, &str); 10] = [
    (
        "GET https://b.s3.amazonaws.com/k?X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6&X-Amz-Expires=60 403",
        "5d672d79c15b13162d9279b0855cfba6",
        "GET https://b.s3.amazonaws.com/k?X-Amz-Signature=***&X-Amz-Expires=60 403",
    ),
    (
        "https://a.blob.core.windows.net/c?sv=2022-11-02&sig=Qm9vbXNhc3NpZ25hdHVyZQ%3D%3D 403",
        "Qm9vbXNhc3NpZ25hdHVyZQ%3D%3D",
        "https://a.blob.core.windows.net/c?sv=2022-11-02&sig=*** 403",
    ),
    (
        "Stripe-Signature: t=1796300000,v1=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
        "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
        "Stripe-Signature: ***",
    ),
    (
        "bad key -----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ\\n-----END PRIVATE KEY-----",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ",
        "bad key -----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----",
    ),
    (
        "POST https://hooks.slack.com/services/T0ABCDEF1/B0GHIJKL2/q8Wn3Ke1LmZx9Rt5Yv7Pb2Jc 404",
        "q8Wn3Ke1LmZx9Rt5Yv7Pb2Jc",
        "POST https://hooks.slack.com/services/*** 404",
    ),
    (
        "gitlab refused glpat-xY7zQ2wP9rT4kL6mN8bV",
        "glpat-xY7zQ2wP9rT4kL6mN8bV",
        "gitlab refused ***",
    ),
    (
        "anthropic 401 for sk-ant-api03-Zx9Rt5Yv7Pb2Jc8Wn3Ke1LmQ4sD6fG0hJ2kL",
        "sk-ant-api03-Zx9Rt5Yv7Pb2Jc8Wn3Ke1LmQ4sD6fG0hJ2kL",
        "anthropic 401 for ***",
    ),
    (
        "maps: AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW denied",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
        "maps: *** denied",
    ),
    (
        "vault said 403 to hvs.CAESIJz8Wn3Ke1LmZx9Rt5Yv7Pb2Jc",
        "hvs.CAESIJz8Wn3Ke1LmZx9Rt5Yv7Pb2Jc",
        "vault said 403 to ***",
    ),
    (
        "invalid api key 9fK2mQ7xLp3vR8tZ1wYb4nC6 for project",
        "9fK2mQ7xLp3vR8tZ1wYb4nC6",
        "invalid api key *** for project",
    ),
];

fn headers_urls_and_shapes(cases: &mut Vec<Case>) {
    for (message, secret, expected) in FAMILIES {
        cases.push(case(message.to_owned(), secret, expected.to_owned()));
    }
    for (message, secret, expected) in EXPLICIT {
        cases.push(case(message.to_owned(), secret, expected.to_owned()));
    }
}

/// Secrets in metadata values.
fn metadata(cases: &mut Vec<Case>) {
    for (i, key) in ["dsn", "url", "connection_string", "password"]
        .into_iter()
        .enumerate()
    {
        let secret = format!("M3taPw{i}x");
        cases.push(Case {
            message: "pool exhausted".to_owned(),
            secret: secret.clone(),
            expected: "pool exhausted".to_owned(),
            metadata: Some((key, format!("postgres://app:{secret}@db/app"))),
        });
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    pairs(&mut cases);
    spacing(&mut cases);
    headers_urls_and_shapes(&mut cases);
    metadata(&mut cases);
    cases
}

/// One failing check per case, heard by the webhook and a listener.
fn checker(
    cases: &[Case],
    webhook: &WebhookNotifier,
    heard: &Arc<Mutex<Vec<String>>>,
) -> HealthChecker {
    let listener = heard.clone();
    let mut builder = HealthChecker::builder()
        .on_change(webhook.listener())
        .on_change(move |change| listener.lock().push(format!("{change:?}")));
    for (i, case) in cases.iter().enumerate() {
        let (message, metadata) = (case.message.clone(), case.metadata.clone());
        builder = builder.register(
            Check::new(format!("c{i:03}"), move || {
                let mut result = CheckResult::unhealthy(message.clone());
                if let Some((key, value)) = &metadata {
                    result = result.with_metadata(*key, value.clone());
                }
                async move { result }
            })
            .retries(0),
        );
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_leaves_through_any_output() {
    let (log, _guard) = common::Captured::install(tracing::Level::INFO);

    let cases = cases();
    assert!(cases.len() >= 120, "{} cases", cases.len());
    let (receiver, bodies) = common::webhook_receiver().await;
    let webhook = WebhookNotifier::builder(&receiver.url("/hooks"))
        .batch(50, Duration::from_millis(50))
        .build()
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let checker = checker(&cases, &webhook, &heard);
    let server = common::serve(HealthLayer::new(checker).details(DetailPolicy::Always)).await;

    let health = server.get("/health").await;
    assert_eq!(health.status, 503);
    let report = health.json();
    let reliability = String::from_utf8(server.get("/health/reliability").await.body).unwrap();
    for _ in 0..100 {
        let delivered: usize = bodies
            .lock()
            .iter()
            .map(|b| b.matches("\"check\"").count())
            .sum();
        if delivered >= cases.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health_text = String::from_utf8(health.body.clone()).unwrap();
    let log = log.text();
    let heard = heard.lock().join("\n");
    let posted = bodies.lock().join("\n");
    assert!(log.contains("WARN"), "the status changes were logged");
    assert!(
        posted.matches("\"check\"").count() >= cases.len(),
        "every change posted"
    );

    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let component = &report["components"][i];
        if component["message"] != case.expected.as_str() {
            failures.push(format!(
                "c{i:03}: {:?}\n   got      {}\n   expected {:?}",
                case.message, component["message"], case.expected
            ));
        }
        for (place, text) in [
            ("/health", health_text.as_str()),
            ("/health/reliability", reliability.as_str()),
            ("the log", log.as_str()),
            ("the listener", heard.as_str()),
            ("the webhook", posted.as_str()),
        ] {
            if text.contains(&case.secret) {
                failures.push(format!("c{i:03}: {:?} leaked into {place}", case.secret));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
