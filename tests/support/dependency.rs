//! What the dependency checks' tests share: a checker of one check with a 500 ms timeout, no
//! retries and a 200 ms TTL, reports until a status shows, and the stop-and-restart scenario.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use tower_vitals::{Check, ComponentStatus, HealthCheck, HealthChecker, HealthStatus};

/// The check's timeout.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(500);
/// The checker's cache TTL.
pub(crate) const TTL: Duration = Duration::from_millis(200);

/// A loopback port free at the time of asking, for a server the test starts.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A checker of `check` alone, named `dependency`.
pub(crate) fn checker(check: impl HealthCheck) -> HealthChecker {
    HealthChecker::builder()
        .register(Check::new("dependency", check).timeout(TIMEOUT).retries(0))
        .cache_ttl(TTL)
        .build()
        .unwrap()
}

/// One run of `check`, as the checker reports it.
pub(crate) async fn report(check: impl HealthCheck) -> ComponentStatus {
    checker(check).report().await.components.remove(0)
}

/// Reports until the component is `status`, at most `limit`; the component and the wait.
pub(crate) async fn until(
    checker: &HealthChecker,
    status: HealthStatus,
    limit: Duration,
) -> (ComponentStatus, Duration) {
    let started = Instant::now();
    loop {
        let component = checker.report().await.components.remove(0);
        if component.status == status || started.elapsed() > limit {
            return (component, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With every one of the pool's `max` connections taken by the app, the check says the pool
/// is full — not "timed out".
pub(crate) async fn says_the_pool_is_full(checker: &HealthChecker, max: usize) {
    tokio::time::sleep(TTL).await;
    let (full, _) = until(checker, HealthStatus::Unhealthy, Duration::from_secs(3)).await;
    let message = full.message.unwrap();
    assert!(
        message.starts_with("no connection from the pool within")
            && message.contains(&format!("{max} of {max} open, 0 idle")),
        "{message}"
    );
}

/// Healthy; `stop` the server → unhealthy within timeout + TTL with `Connection refused` in the
/// message (the real error, not "timed out"); `start` it again → healthy within one TTL and a
/// run of the server accepting connections. The healthy component seen first.
pub(crate) async fn stops_and_recovers(
    checker: &HealthChecker,
    stop: impl FnOnce(),
    start: impl FnOnce(),
) -> ComponentStatus {
    let (up, _) = until(checker, HealthStatus::Healthy, Duration::from_secs(5)).await;
    assert_eq!(up.status, HealthStatus::Healthy, "{up:?}");

    stop();
    let (down, waited) = until(checker, HealthStatus::Unhealthy, Duration::from_secs(5)).await;
    assert_eq!(down.status, HealthStatus::Unhealthy, "{down:?}");
    let message = down.message.clone().unwrap();
    assert!(
        message.contains("Connection refused"),
        "the real error: {message}"
    );
    assert!(
        waited <= TIMEOUT + TTL + Duration::from_millis(300),
        "{waited:?}"
    );
    eprintln!("stopped: unhealthy after {waited:?}: {message}");

    start();
    let (back, waited) = until(checker, HealthStatus::Healthy, Duration::from_secs(10)).await;
    assert_eq!(
        back.status,
        HealthStatus::Healthy,
        "never recovered: {back:?}"
    );
    assert!(waited <= TTL + TIMEOUT, "recovered after {waited:?}");
    eprintln!("restarted: healthy again after {waited:?}");
    up
}
