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

/// Runs of the checker's one check finished so far.
pub(crate) fn runs(checker: &HealthChecker) -> u64 {
    checker.counters(Duration::from_secs(60))[0].runs
}

/// Healthy; `stop` the server → unhealthy by the second run after it (one may have been under
/// way) with `Connection refused` in the message (the real error, not "timed out"); `start` it
/// again → healthy by the second run after that. Counted in runs, not seconds: a loaded machine
/// slows both alike. The healthy component seen first.
pub(crate) async fn stops_and_recovers(
    checker: &HealthChecker,
    stop: impl FnOnce(),
    start: impl FnOnce(),
) -> ComponentStatus {
    let (up, _) = until(checker, HealthStatus::Healthy, Duration::from_secs(5)).await;
    assert_eq!(up.status, HealthStatus::Healthy, "{up:?}");

    stop();
    let stopped_at = runs(checker);
    let (down, waited) = until(checker, HealthStatus::Unhealthy, Duration::from_secs(30)).await;
    assert_eq!(down.status, HealthStatus::Unhealthy, "{down:?}");
    let message = down.message.clone().unwrap();
    assert!(
        message.contains("Connection refused"),
        "the real error: {message}"
    );
    let took = runs(checker) - stopped_at;
    assert!(took <= 2, "unhealthy only after {took} runs");
    eprintln!("stopped: unhealthy after {waited:?}, {took} runs: {message}");

    start();
    let started_at = runs(checker);
    let (back, waited) = until(checker, HealthStatus::Healthy, Duration::from_secs(30)).await;
    assert_eq!(
        back.status,
        HealthStatus::Healthy,
        "never recovered: {back:?}"
    );
    let took = runs(checker) - started_at;
    assert!(took <= 2, "healthy again only after {took} runs");
    eprintln!("restarted: healthy again after {waited:?}, {took} runs");
    up
}
