use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::join_all;

use super::*;
use crate::error::ConfigError;
use crate::health_report::CheckResult;

/// A check counting its runs, answering what `answer` says for run number n (0-based).
fn counted(
    runs: &Arc<AtomicU32>,
    delay: Duration,
    answer: impl Fn(u32) -> HealthStatus + Send + Sync + 'static,
) -> impl HealthCheck {
    let runs = runs.clone();
    let answer = Arc::new(answer);
    move || {
        let n = runs.fetch_add(1, Ordering::SeqCst);
        let answer = answer.clone();
        async move {
            tokio::time::sleep(delay).await;
            answer(n)
        }
    }
}

/// Lets a refresh started in a task of its own finish: the paused clock moves on only once
/// every task waits.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn results_are_cached_for_the_ttl() {
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .check(
            "db",
            counted(&runs, Duration::ZERO, |_| HealthStatus::Healthy),
        )
        .cache_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(checker.cached_status(&Selector::all()), None);
    checker.report().await;
    checker.report().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        checker.cached_status(&Selector::all()),
        Some(HealthStatus::Healthy)
    );
    tokio::time::advance(Duration::from_millis(1001)).await;
    assert_eq!(checker.cached_status(&Selector::all()), None);
    // The expired healthy result is served at once while its refresh runs in its own task.
    checker.report().await;
    settle().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_reports_share_one_run() {
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .check(
            "db",
            counted(&runs, Duration::from_millis(100), |_| HealthStatus::Healthy),
        )
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    let reports = join_all((0..50).map(|_| checker.report())).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(reports.iter().all(|r| r.components[0].fresh));
}

#[tokio::test(start_paused = true)]
async fn a_run_past_the_deadline_shows_the_last_result_as_stale() {
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "slow",
                counted(&runs, Duration::from_millis(100), |n| match n {
                    0 => HealthStatus::Healthy,
                    _ => HealthStatus::Unhealthy,
                }),
            )
            .timeout(Duration::from_secs(30)),
        )
        .cache_ttl(Duration::ZERO)
        .deadline(Duration::from_millis(50))
        .build()
        .unwrap();

    // No result at all yet: unknown, marked stale.
    let first = checker.report().await;
    let component = &first.components[0];
    assert_eq!(component.status, HealthStatus::Unknown);
    assert!(!component.fresh);
    assert!(component.checked_at.is_none());
    assert!(
        component
            .message
            .as_deref()
            .unwrap()
            .contains("50 ms deadline")
    );

    tokio::time::sleep(Duration::from_millis(100)).await; // the first run finishes: healthy
    let second = checker.report().await; // starts run 2, which answers after the deadline
    assert_eq!(second.components[0].status, HealthStatus::Healthy);
    assert!(!second.components[0].fresh);
    assert!(second.duration_ms < 60.0, "{}", second.duration_ms);
}

#[tokio::test(start_paused = true)]
async fn failure_and_recovery_thresholds_stop_flapping() {
    // Runs: ok, fail, fail, fail, ok, ok
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "flappy",
                counted(&runs, Duration::ZERO, |n| match n {
                    1..=3 => HealthStatus::Unhealthy,
                    _ => HealthStatus::Healthy,
                }),
            )
            .failure_threshold(3)
            .success_threshold(2),
        )
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    let mut shown = Vec::new();
    for _ in 0..6 {
        shown.push(checker.report().await.components[0].status);
        settle().await;
    }
    use HealthStatus::{Healthy as H, Unhealthy as U};
    // A healthy result is served while its refresh runs (the 4th report shows the 3rd run's
    // held status); a failing one is not, so the recovering run is seen by the 6th report.
    assert_eq!(shown, [H, H, H, H, U, H]);
    let held = checker.report().await;
    assert_eq!(held.components[0].consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn held_results_say_why() {
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "db",
                counted(&runs, Duration::ZERO, |n| match n {
                    0 => HealthStatus::Healthy,
                    _ => HealthStatus::Unhealthy,
                }),
            )
            .failure_threshold(2),
        )
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    checker.report().await;
    checker.report().await;
    settle().await;
    let held = checker.report().await;
    let component = &held.components[0];
    assert_eq!(component.status, HealthStatus::Healthy);
    assert_eq!(
        component.message.as_deref(),
        Some("failure 1 of 2 before the check counts as failed: unhealthy")
    );
    assert_eq!(component.consecutive_failures, 1);
}

fn explode(message: &str) -> HealthStatus {
    panic!("{message}")
}

#[tokio::test]
async fn failures_are_isolated_per_check() {
    let checker = HealthChecker::builder()
        .check("ok", || async { HealthStatus::Healthy })
        .register(Check::new("boom", || async { explode("bad state") }).retries(0))
        .register(
            Check::new("stuck", std::future::pending::<()>)
                .timeout(Duration::from_millis(20))
                .retries(0),
        )
        .register(
            Check::new("refused", || async { Err::<(), _>("connection refused") })
                .retries(0)
                .critical(false),
        )
        .build()
        .unwrap();
    let report = checker.report().await;
    let by_name = |name: &str| report.components.iter().find(|c| c.name == name).unwrap();
    assert_eq!(by_name("ok").status, HealthStatus::Healthy);
    assert_eq!(
        by_name("boom").message.as_deref(),
        Some("check panicked: bad state")
    );
    assert_eq!(
        by_name("stuck").message.as_deref(),
        Some("timed out after 20 ms")
    );
    assert_eq!(by_name("refused").status, HealthStatus::Degraded);
    assert_eq!(report.status, HealthStatus::Unhealthy);
    let boom = &checker.counters(Duration::from_secs(60))[1];
    assert_eq!(
        (boom.name.as_str(), boom.runs, boom.failures),
        ("boom", 1, 1)
    );
}

#[tokio::test]
async fn non_critical_checks_are_capped_at_degraded() {
    let checker = HealthChecker::builder()
        .register(
            Check::new("search", || async {
                CheckResult::unhealthy("index missing")
            })
            .critical(false),
        )
        .build()
        .unwrap();
    let report = checker.report().await;
    assert_eq!(report.status, HealthStatus::Degraded);
    assert!(!report.components[0].critical);
}

#[tokio::test]
async fn selectors_pick_by_tag_and_exclude_by_name() {
    let checker = HealthChecker::builder()
        .register(Check::new("db", || async {}).tag("ready"))
        .register(Check::new("cache", || async {}).tag("ready"))
        .check("disk", || async {})
        .build()
        .unwrap();
    let names = |report: SystemHealthStatus| {
        report
            .components
            .into_iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(checker.report_for(&Selector::tagged("ready")).await),
        ["db", "cache"]
    );
    assert_eq!(
        names(checker.report_for(&Selector::all().excluding("db")).await),
        ["cache", "disk"]
    );
}

#[test]
fn a_cancelled_run_lets_the_next_caller_start_another() {
    let runs = Arc::new(AtomicU32::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "db",
                counted(&runs, Duration::from_secs(3600), |_| HealthStatus::Healthy),
            )
            .timeout(Duration::from_secs(60)),
        )
        .deadline(Duration::from_millis(10))
        .build()
        .unwrap();
    let on_runtime = checker.clone();
    runtime.block_on(async move { on_runtime.report().await });
    runtime.shutdown_timeout(Duration::from_secs(5)); // drops the run's task mid-check
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let report = second.block_on(checker.report()); // a new run starts, on this runtime
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(!report.components[0].fresh);
}

#[test]
fn without_a_runtime_the_check_is_reported_not_run() {
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let report = futures_util::FutureExt::now_or_never(checker.report()).unwrap();
    let component = &report.components[0];
    assert_eq!(
        component.message.as_deref(),
        Some("not run: no Tokio runtime")
    );
    assert_eq!(component.status, HealthStatus::Unknown);
    let db = &checker.counters(Duration::from_secs(60))[0];
    assert_eq!((db.runs, db.failures), (0, 0));
}

#[test]
fn duplicate_names_and_bad_settings_are_errors() {
    let duplicate = HealthChecker::builder()
        .check("db", || async {})
        .check("db", || async {})
        .build();
    assert_eq!(
        duplicate.unwrap_err(),
        ConfigError::DuplicateCheckName("db".into())
    );
    let zero = HealthChecker::builder().timeout(Duration::ZERO).build();
    assert_eq!(
        zero.unwrap_err().to_string(),
        "timeout of 0 ms is out of range (1 ms to 60 s)"
    );
    let backoff = HealthChecker::builder()
        .backoff(Duration::from_secs(2), Duration::from_secs(1))
        .build();
    assert!(backoff.is_err());
}

#[tokio::test]
async fn the_ready_switch_is_shared_by_clones() {
    let checker = HealthChecker::builder().build().unwrap();
    let clone = checker.clone();
    clone.mark_not_ready();
    assert!(!checker.accepting_traffic());
    assert!(!checker.report().await.accepting_traffic);
    checker.mark_ready();
    assert!(clone.accepting_traffic());
}

#[tokio::test(start_paused = true)]
async fn background_checks_run_on_their_schedule_and_never_on_the_probe_path() {
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "warehouse",
                counted(&runs, Duration::from_millis(50), |_| HealthStatus::Healthy),
            )
            .background(Duration::from_secs(10)),
        )
        .build()
        .unwrap();
    // Built on a runtime: the first run starts at once, and reports do not wait for it.
    let first = checker.report().await;
    assert_eq!(first.components[0].status, HealthStatus::Unknown);
    assert_eq!(
        first.components[0].message.as_deref(),
        Some("no result yet: the check runs in the background every 10000 ms")
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    for _ in 0..20 {
        checker.report().await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "probes never run it");
    assert_eq!(
        checker.cached_status(&Selector::all()),
        Some(HealthStatus::Healthy)
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = runs.load(Ordering::SeqCst);
    assert!(
        (6..=8).contains(&after),
        "about one run per 10 s (±10 %): {after}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_background_check_dropped_with_its_checker_stops() {
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "x",
                counted(&runs, Duration::ZERO, |_| HealthStatus::Healthy),
            )
            .background(Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(checker);
    let at_drop = runs.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(runs.load(Ordering::SeqCst) <= at_drop + 1);
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_each_change_once_and_a_panicking_one_is_skipped() {
    let heard = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = heard.clone();
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "db",
                counted(&runs, Duration::ZERO, |n| match n {
                    2..=3 => HealthStatus::Unhealthy,
                    _ => HealthStatus::Healthy,
                }),
            )
            .retries(0),
        )
        .on_change(|_| panic!("a broken listener"))
        .on_change(move |change| log.lock().push((change.from, change.to)))
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..6 {
        join_all((0..5).map(|_| checker.report())).await;
        settle().await;
    }
    use HealthStatus::{Healthy as H, Unhealthy as U};
    assert_eq!(*heard.lock(), [(None, H), (Some(H), U), (Some(U), H)]);
    let counters = &checker.counters(Duration::from_secs(60))[0];
    assert_eq!((counters.transitions, counters.recent_transitions), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn failing_components_say_why_with_their_history() {
    let runs = Arc::new(AtomicU32::new(0));
    let checker = HealthChecker::builder()
        .register(
            Check::new(
                "db",
                counted(&runs, Duration::ZERO, |n| match n {
                    0 | 1 => HealthStatus::Healthy,
                    _ => HealthStatus::Unhealthy,
                }),
            )
            .failure_threshold(3)
            .retries(0),
        )
        .cache_ttl(Duration::ZERO)
        .history(4)
        .build()
        .unwrap();
    for _ in 0..5 {
        checker.report().await;
        tokio::time::advance(Duration::from_secs(7)).await;
    }
    tokio::time::advance(Duration::from_secs(35)).await;
    let report = checker.cached_report(&Selector::all());
    assert!(report.is_none(), "ttl 0: nothing is cached");
    let component = checker.report().await.components.remove(0);
    assert_eq!(component.status, HealthStatus::Unhealthy);
    assert_eq!(
        component.reason.as_deref(),
        Some("db unhealthy for 42 s: no message (4 failed runs in a row, threshold 3)")
    );
    let history = component.history;
    assert_eq!(
        (history.runs, history.availability_percent, history.flaps),
        (4, Some(0.0), 1)
    );
}

#[tokio::test]
async fn credentials_in_messages_never_reach_reports_or_listeners() {
    let heard = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = heard.clone();
    let checker = HealthChecker::builder()
        .register(
            Check::new("db", || async {
                Err::<(), _>("connect postgres://app:s3cr3t@db:5432 failed (password=s3cr3t)")
            })
            .retries(0),
        )
        .register(Check::new("api", || async {
            CheckResult::degraded("token=abc123 expired")
        }))
        .on_change(move |change| log.lock().push(change.message.clone().unwrap_or_default()))
        .build()
        .unwrap();
    let report = checker.report().await;
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        !text.contains("s3cr3t") && !text.contains("abc123"),
        "{text}"
    );
    assert_eq!(
        report.components[0].message.as_deref(),
        Some("connect postgres://***@db:5432 failed (password=***)")
    );
    assert_eq!(
        report.components[1].message.as_deref(),
        Some("token=*** expired")
    );
    assert!(
        heard
            .lock()
            .iter()
            .all(|m| !m.contains("s3cr3t") && !m.contains("abc123"))
    );
}
