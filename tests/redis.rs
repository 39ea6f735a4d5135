//! `RedisCheck` against a real Redis (Debian's `redis-server`, started here on a free loopback
//! port): healthy; the server stopped → a failure with Redis' own error; the server started
//! again on the same port → healthy again without any help (the case a plain multiplexed
//! connection never recovers from). `.ci/run` installs redis-server and sets REQUIRE_REDIS=1,
//! so there the test must run; elsewhere it is skipped when the server is not installed.
#![cfg(feature = "redis")]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/dependency.rs"]
mod dependency;
#[path = "support/skip.rs"]
mod skip;

use dependency::{free_port, until};
use tower_vitals::checks::RedisCheck;
use tower_vitals::{Check, HealthChecker, HealthStatus};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(port: u16) -> Option<Server> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            skip::unavailable(
                "Redis' server",
                "REQUIRE_REDIS",
                &format!("redis-server: {error}"),
            );
            return None;
        }
    };
    let server = Server(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server did not listen on {port}");
}

/// A checker of `check` alone: 500 ms per run, no retries, results kept 200 ms.
fn checker(check: RedisCheck) -> HealthChecker {
    HealthChecker::builder()
        .register(
            Check::new("redis", check)
                .timeout(Duration::from_millis(500))
                .retries(0),
        )
        .cache_ttl(Duration::from_millis(200))
        .build()
        .unwrap()
}

/// Healthy; Redis stopped → unhealthy by the second run (one may have been under way), and
/// the next `fresh` runs' messages too, each with words `expected` holds one of and never the
/// checker's "timed out"; Redis started again on the same port → healthy by the second run
/// after. Counted in runs, not seconds.
async fn down_and_back(checker: &HealthChecker, server: Server, port: u16, expected: &[&str]) {
    let (up, _) = until(checker, HealthStatus::Healthy, Duration::from_secs(5)).await;
    assert_eq!(up.status, HealthStatus::Healthy, "{up:?}");
    assert!(up.metadata["ping_ms"].as_f64().is_some());

    drop(server);
    let stopped_at = runs(checker);
    let (down, _) = until(checker, HealthStatus::Unhealthy, Duration::from_secs(30)).await;
    assert_eq!(down.status, HealthStatus::Unhealthy, "{down:?}");
    let took = runs(checker) - stopped_at;
    assert!(took <= 2, "unhealthy only after {took} runs");
    let mut messages = vec![down.message.clone().unwrap()];
    while messages.len() < 4 {
        let before = runs(checker);
        let component = checker.report().await.components.remove(0);
        if runs(checker) > before && component.fresh {
            messages.push(component.message.clone().unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for message in &messages {
        assert!(
            expected.iter().any(|words| message.contains(words)) && !message.contains("timed out"),
            "Redis' or the OS's own words: {messages:#?}"
        );
    }
    eprintln!("stopped: unhealthy after {took} runs: {messages:#?}");

    let _server = start(port).expect("redis-server starts again");
    let started_at = runs(checker);
    let (back, _) = until(checker, HealthStatus::Healthy, Duration::from_secs(30)).await;
    assert_eq!(
        back.status,
        HealthStatus::Healthy,
        "never recovered: {back:?}"
    );
    let took = runs(checker) - started_at;
    eprintln!("restarted: healthy again after {took} runs");
}

/// Runs of the one check so far.
fn runs(checker: &HealthChecker) -> u64 {
    checker.counters(Duration::from_secs(60))[0].runs
}

/// What a PING to a stopped Redis meets: the refused connection, or the one that broke.
const REFUSED: &[&str] = &[
    "Connection refused",
    "broken pipe",
    "Broken pipe",
    "reset by peer",
];

#[tokio::test]
async fn redis_down_and_back_is_seen_and_recovered_from() {
    let port = free_port();
    let Some(server) = start(port) else {
        return;
    };
    let check = RedisCheck::new(&format!("redis://127.0.0.1:{port}/")).unwrap();
    down_and_back(&checker(check), server, port, REFUSED).await;
}

#[tokio::test]
async fn the_apps_manager_shows_the_connections_error_given_its_client() {
    let port = free_port();
    let Some(server) = start(port) else {
        return;
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    // The app's manager as most apps make it: redis' defaults, six reconnection attempts with
    // back-off, so its own PING waits for seconds while Redis is down.
    let manager = client.get_connection_manager().await.unwrap();
    let check = RedisCheck::with_manager(manager).client(client);
    down_and_back(&checker(check), server, port, REFUSED).await;
}

#[tokio::test]
async fn the_apps_manager_alone_shows_the_last_error_redis_gave() {
    let port = free_port();
    let Some(server) = start(port) else {
        return;
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let manager = client.get_connection_manager().await.unwrap();
    let check = RedisCheck::with_manager(manager);
    down_and_back(&checker(check), server, port, REFUSED).await;
}
