//! `/health/info`, the `info` section of the detailed report and `vitals_build_info`, over a
//! real Axum server; and proof that `app_info!` records the *calling* crate's name and version.
#![cfg(feature = "axum")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use tower_vitals::health::DetailPolicy;
use tower_vitals::{HealthChecker, HealthConfig, HealthLayer, app_info};

#[tokio::test]
async fn info_is_served_in_full_to_details_and_name_and_version_to_others() {
    let config = HealthConfig::from_vars([
        ("HEALTH_GIT_COMMIT", "4f2c9e1"),
        ("HEALTH_ENVIRONMENT", "staging"),
    ])
    .unwrap();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let layer = HealthLayer::new(checker)
        .details(DetailPolicy::bearer_token("ops").unwrap())
        .info(app_info!().config(&config))
        .unwrap();
    let server = common::serve(layer).await;

    let public = server.get("/health/info").await;
    assert_eq!(public.status, 200);
    assert_eq!(
        public.json(),
        serde_json::json!({"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")})
    );

    let full = server
        .client
        .get(server.url("/health/info"))
        .bearer_auth("ops");
    let full = common::Reply::read(full.send().await.unwrap()).await.json();
    assert_eq!(full["git_commit"], "4f2c9e1");
    assert_eq!(full["environment"], "staging");
    assert_eq!(full["pid"], std::process::id());
    assert!(
        full["rust_version"]
            .as_str()
            .unwrap()
            .starts_with("rustc 1.")
    );
    assert!(!full["host"].as_str().unwrap().is_empty());
    assert!(full["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(full["uptime_seconds"].as_f64().unwrap() >= 0.0);

    let report = server.client.get(server.url("/health")).bearer_auth("ops");
    let report = common::Reply::read(report.send().await.unwrap())
        .await
        .json();
    assert_eq!(report["info"]["git_commit"], "4f2c9e1");

    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let line = metrics
        .lines()
        .find(|line| line.starts_with("vitals_build_info{"))
        .expect("a build_info sample");
    assert!(line.ends_with("} 1"), "{line}");
    assert!(line.contains(r#"commit="4f2c9e1""#) && line.contains(r#"environment="staging""#));
}

#[tokio::test]
async fn without_info_the_path_is_not_served() {
    let checker = HealthChecker::builder().build().unwrap();
    let server = common::serve(HealthLayer::new(checker)).await;
    assert_eq!(server.get("/health/info").await.status, 404);
}

/// The rlib `cargo test` built for this test, found beside this test's executable.
fn library() -> (PathBuf, PathBuf) {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let newest = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libtower_vitals-") && name.ends_with(".rlib")
        })
        .max_by_key(|entry| entry.metadata().unwrap().modified().unwrap())
        .expect("the library's rlib");
    (deps, newest.path())
}

/// An application crate compiled against this library as cargo compiles a dependent crate:
/// its own `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`. The macro must report those.
#[test]
fn app_info_records_the_calling_application_not_this_crate() {
    let (deps, rlib) = library();
    let work = std::env::temp_dir().join(format!("tower-vitals-app-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let source = work.join("main.rs");
    std::fs::write(
        &source,
        "fn main() { let i = tower_vitals::app_info!(); println!(\"{} {}\", i.name(), i.version()); }",
    )
    .unwrap();
    let binary = work.join("orders");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let compiled = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-name",
            "orders",
            "--crate-type",
            "bin",
        ])
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--extern")
        .arg(format!("tower_vitals={}", rlib.display()))
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .env("CARGO_PKG_NAME", "orders-service")
        .env("CARGO_PKG_VERSION", "3.1.4")
        .output()
        .unwrap();
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let output = Command::new(&binary).output().unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed.trim(), "orders-service 3.1.4");
    assert_ne!(env!("CARGO_PKG_VERSION"), "3.1.4");
    let _ = std::fs::remove_dir_all(&work);
}
