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
        Err(_) if std::env::var_os("REQUIRE_REDIS").is_none() => return None,
        Err(error) => panic!("redis-server is required here: {error}"),
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

#[tokio::test]
async fn redis_down_and_back_is_seen_and_recovered_from() {
    let port = free_port();
    let Some(server) = start(port) else {
        eprintln!("redis-server not installed: skipping");
        return;
    };
    let check = RedisCheck::new(&format!("redis://127.0.0.1:{port}/")).unwrap();
    let checker = HealthChecker::builder()
        .register(
            Check::new("redis", check)
                .timeout(Duration::from_millis(500))
                .retries(0),
        )
        .cache_ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    let (up, _) = until(&checker, HealthStatus::Healthy, Duration::from_secs(5)).await;
    assert_eq!(up.status, HealthStatus::Healthy, "{up:?}");
    assert!(up.metadata["ping_ms"].as_f64().is_some());

    drop(server);
    let (down, waited) = until(&checker, HealthStatus::Unhealthy, Duration::from_secs(5)).await;
    assert_eq!(down.status, HealthStatus::Unhealthy, "{down:?}");
    let message = down.message.clone().unwrap();
    assert!(
        message.starts_with("PING: ") || message.starts_with("connect: "),
        "{message}"
    );
    assert!(
        !message.contains("no answer") && !message.contains("timed out"),
        "the real error: {message}"
    );
    eprintln!("stopped: unhealthy after {waited:?}: {message}");

    let _server = start(port).expect("redis-server starts again");
    let (back, waited) = until(&checker, HealthStatus::Healthy, Duration::from_secs(10)).await;
    assert_eq!(
        back.status,
        HealthStatus::Healthy,
        "never recovered: {back:?}"
    );
    eprintln!("restarted: healthy again after {waited:?}");
}
