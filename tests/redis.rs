//! `RedisCheck` against a real Redis (Debian's `redis-server`, started here on a free loopback
//! port): healthy; the server stopped → a failure with Redis' own error; the server started
//! again on the same port → healthy again without any help (the case a plain multiplexed
//! connection never recovers from); and `QueueCheck` over a list's backlog and a stream consumer
//! group's pending and undelivered entries. `.ci/run` installs redis-server and sets REQUIRE_REDIS=1,
//! so there the test must run; elsewhere it is skipped when the server is not installed.
#![cfg(feature = "redis")]

use std::time::Duration;

#[path = "support/dependency.rs"]
mod dependency;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/skip.rs"]
mod skip;

use dependency::{free_port, until};
use redis_server::Server;
use tower_vitals::checks::{Limit, QueueCheck, RedisCheck};
use tower_vitals::{Check, HealthChecker, HealthStatus};

fn start(port: u16) -> Option<Server> {
    redis_server::start(port, &[])
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

/// Runs `check` once, directly.
async fn once(check: &QueueCheck) -> tower_vitals::CheckResult {
    use tower_vitals::HealthCheck;
    check.check().await.unwrap()
}

#[tokio::test]
async fn a_list_backlog_degrades_then_fails_and_shows_its_depth_on_metrics() {
    let port = free_port();
    let Some(_server) = start(port) else {
        return;
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut app = client.get_connection_manager().await.unwrap();
    let push = |n: usize| {
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg("queue:emails");
        for i in 0..n {
            cmd.arg(format!("mail-{i}"));
        }
        cmd
    };
    let emails = QueueCheck::redis_list(app.clone(), "queue:emails")
        .depth(Limit::above(100.0, 1_000.0).unwrap());
    let empty = once(&emails).await;
    assert_eq!(empty.status(), HealthStatus::Healthy);
    assert_eq!(empty.metadata()["depth"], 0.0);

    let _: u64 = push(150).query_async(&mut app).await.unwrap();
    let behind = once(&emails).await;
    assert_eq!(behind.status(), HealthStatus::Degraded);
    assert_eq!(behind.message(), Some("depth 150 is at or above 100"));
    let _: u64 = push(1_000).query_async(&mut app).await.unwrap();
    let backlog = once(&emails).await;
    assert_eq!(backlog.status(), HealthStatus::Unhealthy);
    assert_eq!(backlog.message(), Some("depth 1150 is at or above 1000"));

    // Served: the depth on /metrics, for an alert to read.
    let checker = HealthChecker::builder()
        .register(Check::new("emails", emails))
        .build()
        .unwrap();
    let gatherer = tower_vitals::vitals::VitalsGatherer::builder(checker)
        .build()
        .unwrap();
    let text = tower_vitals::render::prometheus(&gatherer.gather().await);
    assert!(
        text.contains(r#"vitals_health_component_figure{component="emails",figure="depth"} 1150"#),
        "{text}"
    );

    let _: u64 = redis::cmd("DEL")
        .arg("queue:emails")
        .query_async(&mut app)
        .await
        .unwrap();
    assert_eq!(
        once(&QueueCheck::redis_list(app, "queue:emails"))
            .await
            .status(),
        HealthStatus::Healthy
    );
}

#[tokio::test]
async fn a_stream_groups_pending_and_undelivered_entries_are_its_depth_dated_by_redis() {
    let port = free_port();
    let Some(_server) = start(port) else {
        return;
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut app = client.get_connection_manager().await.unwrap();
    let run = |args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd
    };
    let (seconds, _): (u64, u64) = run(&["TIME"]).query_async(&mut app).await.unwrap();
    // The first order two minutes old by Redis' clock, then eight more now.
    let old = format!("{}-0", (seconds - 120) * 1000);
    let _: String = run(&["XADD", "orders", &old, "order", "0"])
        .query_async(&mut app)
        .await
        .unwrap();
    for i in 1..9 {
        let _: String = run(&["XADD", "orders", "*", "order", &i.to_string()])
            .query_async(&mut app)
            .await
            .unwrap();
    }
    let _: String = run(&["XGROUP", "CREATE", "orders", "billing", "0"])
        .query_async(&mut app)
        .await
        .unwrap();
    let orders = QueueCheck::redis_stream(app.clone(), "orders", "billing")
        .depth(Limit::above(100.0, 1_000.0).unwrap())
        .oldest_seconds(Limit::above(30.0, 120.0).unwrap());

    let undelivered = once(&orders).await;
    assert_eq!(undelivered.metadata()["depth"], 9.0);
    assert_eq!(undelivered.metadata()["lag"], 9.0);
    assert_eq!(undelivered.metadata()["pending"], 0.0);
    assert_eq!(
        undelivered.status(),
        HealthStatus::Unhealthy,
        "{undelivered:?}"
    );
    assert!(undelivered.metadata()["oldest_ms"].as_f64().unwrap() >= 120_000.0);

    // A consumer takes three without acknowledging them: three pending, six undelivered; the
    // two-minute-old one is pending now, still the oldest.
    let _: redis::Value = run(&[
        "XREADGROUP",
        "GROUP",
        "billing",
        "worker-1",
        "COUNT",
        "3",
        "STREAMS",
        "orders",
        ">",
    ])
    .query_async(&mut app)
    .await
    .unwrap();
    let taken = once(&orders).await;
    assert_eq!(taken.metadata()["depth"], 9.0);
    assert_eq!(taken.metadata()["pending"], 3.0);
    assert_eq!(taken.metadata()["lag"], 6.0);
    assert_eq!(taken.metadata()["consumers"], 1.0);
    assert!(taken.metadata()["oldest_ms"].as_f64().unwrap() >= 120_000.0);

    // It acknowledges the old one: what waits now is seconds old at most — healthy.
    let _: u64 = run(&["XACK", "orders", "billing", &old])
        .query_async(&mut app)
        .await
        .unwrap();
    let caught_up = once(&orders).await;
    assert_eq!(caught_up.metadata()["depth"], 8.0);
    assert_eq!(caught_up.status(), HealthStatus::Healthy, "{caught_up:?}");
    assert!(caught_up.metadata()["oldest_ms"].as_f64().unwrap() < 120_000.0);

    let no_stream = QueueCheck::redis_stream(app.clone(), "returns", "billing");
    use tower_vitals::HealthCheck;
    let error = no_stream.check().await.unwrap_err();
    assert!(
        error.message().starts_with("XINFO GROUPS returns: ")
            && error.message().contains("no such key"),
        "Redis' own words: {error}"
    );
    let missing = QueueCheck::redis_stream(app, "orders", "shipping");
    assert_eq!(
        missing.check().await.unwrap_err().message(),
        "stream orders has no consumer group shipping"
    );
}
