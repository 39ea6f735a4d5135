//! Settings from the environment: the builder and layer applying them, and the axum example
//! run as a real process with `HEALTH_*` variables.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tower_vitals::{Check, ConfigError, HealthChecker, HealthConfig, HealthLayer, Setup};

fn config(vars: &[(&str, &str)]) -> HealthConfig {
    HealthConfig::from_vars(vars.iter().copied()).unwrap()
}

#[test]
fn a_setup_gives_every_part_the_one_configuration() {
    let setup = Setup::builder()
        .config(config(&[
            ("HEALTH_CHECK_DB_TIMEOUT_MS", "700"),
            ("HEALTH_READY_PATH", "/ready"),
            ("HEALTH_DRAIN_DELAY_MS", "0"),
        ]))
        .check("db", || async {})
        .build()
        .unwrap();
    let timeouts: Vec<Duration> = setup
        .checker()
        .counters(Duration::from_secs(1))
        .iter()
        .map(|c| c.timeout)
        .collect();
    assert_eq!(timeouts, [Duration::from_millis(700)], "the checker's");
    assert!(
        setup.health_layer().paths().any(|p| p == "/ready"),
        "the layer's"
    );
    assert!(
        format!("{:?}", setup.drain()).contains("delay: 0ns"),
        "the drain's"
    );

    // A setting for a check that is not registered: an error naming the variable.
    let error = Setup::builder()
        .config(config(&[("HEALTH_CHECK_SEARCH_TIMEOUT_MS", "300")]))
        .check("db", || async {})
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("HEALTH_CHECK_SEARCH_TIMEOUT_MS"),
        "{error}"
    );
}

#[tokio::test]
async fn enabled_components_and_per_check_timeouts_apply() {
    let config = config(&[
        ("HEALTH_CHECK_ENABLED_COMPONENTS", "db,search-index"),
        ("HEALTH_CHECK_SEARCH_INDEX_TIMEOUT_MS", "50"),
        ("HEALTH_CHECK_RETRY_COUNT", "0"),
    ]);
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .check("cache", || async {})
        .register(
            Check::new("search-index", std::future::pending::<()>).timeout(Duration::from_secs(5)),
        )
        .config(&config)
        .build()
        .unwrap();
    assert_eq!(
        checker.check_names().collect::<Vec<_>>(),
        ["db", "search-index"]
    );
    let report = checker.report().await;
    assert_eq!(
        report.components[1].message.as_deref(),
        Some("timed out after 50 ms")
    );
}

#[test]
fn settings_that_name_unknown_checks_are_errors_naming_the_variable() {
    let build = |vars: &[(&str, &str)]| {
        HealthChecker::builder()
            .check("db", || async {})
            .config(&config(vars))
            .build()
            .unwrap_err()
    };
    assert_eq!(
        build(&[("HEALTH_CHECK_ENABLED_COMPONENTS", "db,redis")]),
        ConfigError::UnknownCheck {
            setting: "HEALTH_CHECK_ENABLED_COMPONENTS".into(),
            name: "redis".into(),
            known: vec!["db".into()]
        }
    );
    assert_eq!(
        build(&[("HEALTH_CHECK_REDIS_TIMEOUT_MS", "100")]).to_string(),
        "HEALTH_CHECK_REDIS_TIMEOUT_MS names \"REDIS\", which is not a registered check (registered: DB)"
    );
}

#[test]
fn layer_settings_apply_and_bad_ones_name_their_variable() {
    let checker = HealthChecker::builder().build().unwrap();
    let layer = HealthLayer::new(checker.clone())
        .config(&config(&[
            ("HEALTH_PATH_PREFIX", "/internal"),
            ("HEALTH_READY_PATH", "/readyz"),
            ("HEALTH_METRICS_PATH", ""),
            ("HEALTH_STARTUP_PATH", "/startupz"),
        ]))
        .unwrap();
    let paths: Vec<&str> = layer.paths().collect();
    let mut expected = vec![
        "/internal/health/live",
        "/internal/readyz",
        "/internal/health",
        "/internal/health/reliability",
        "/internal/startupz",
        "/internal/health/history",
        "/internal/health/incidents",
        "/internal/health/dashboard",
    ];
    if cfg!(feature = "openapi") {
        expected.push("/internal/health/openapi.json");
    }
    assert_eq!(paths, expected);
    let bad_path =
        HealthLayer::new(checker.clone()).config(&config(&[("HEALTH_READY_PATH", "readyz")]));
    assert_eq!(
        bad_path.unwrap_err().to_string(),
        "HEALTH_READY_PATH=\"readyz\": invalid path \"readyz\": it must start with '/'"
    );
    let bad_rule = HealthLayer::new(checker)
        .config(&config(&[("HEALTH_ANOMALY_NO_SUCH_RULE_THRESHOLD", "3")]));
    assert_eq!(
        bad_rule.unwrap_err().to_string(),
        "HEALTH_ANOMALY_NO_SUCH_RULE_THRESHOLD=\"3\": no anomaly rule is named \"NO_SUCH_RULE\""
    );
}

/// The axum example, built by `cargo test` next to the test binaries.
fn example() -> Command {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    let binary = path.join("examples").join("axum");
    assert!(
        binary.exists(),
        "{} is missing: `cargo test` builds the examples",
        binary.display()
    );
    let mut command = Command::new(binary);
    command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn the_example_refuses_a_bad_variable_with_a_clear_error() {
    let output = example()
        .env("HEALTH_CHECK_TIMEOUT_MS", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: HEALTH_CHECK_TIMEOUT_MS=\"0\": out of range (1 to 60000 ms)"
    );
}

#[tokio::test]
async fn the_example_serves_the_paths_its_environment_asks_for() {
    let mut child = example()
        .env("ADDR", "127.0.0.1:0")
        .env("HEALTH_READY_PATH", "/readyz")
        .env("HEALTH_CHECK_DEADLINE_MS", "700")
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first.trim().rsplit(' ').next().unwrap().to_owned();
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    let old = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(old.status(), 404);
}
