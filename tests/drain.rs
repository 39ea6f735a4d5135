//! The axum example drained as Kubernetes does it: a child process under a bounded load of
//! real HTTP clients gets SIGTERM (then, in a second run, SIGINT). Readiness must answer 503 at
//! once, requests must still be served after readiness went 503 (the delay), every request sent
//! must get a whole response, and the process must exit 0 by itself. Order and counts only: no
//! wall-clock floor or ceiling a loaded machine could break.
#![cfg(all(unix, feature = "axum"))]

#[path = "support/example.rs"]
mod example;

use std::process::Command;

use example::Guard;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DELAY_MS: u64 = 1500;
const BUDGET_MS: u64 = 4000;

/// Starts the example with a short drain delay and budget.
fn start() -> (Guard, String) {
    example::start(&[
        ("HEALTH_DRAIN_DELAY_MS", &DELAY_MS.to_string()),
        ("HEALTH_DRAIN_BUDGET_MS", &BUDGET_MS.to_string()),
    ])
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    complete: AtomicU64,
    failed: AtomicU64,
    served_after_signal: AtomicU64,
    /// Whole responses to requests sent after readiness was seen answering 503.
    served_after_not_ready: AtomicU64,
}

async fn drain_under_load(signal: &str) {
    let (mut guard, base) = start();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    // Up and ready first.
    let ready = format!("{base}/health/ready");
    for _ in 0..200 {
        if let Ok(r) = client.get(&ready).send().await
            && r.status() == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let tally = Arc::new(Tally::default());
    let signalled = Arc::new(AtomicBool::new(false));
    let not_ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&client, &base, &tally, (&signalled, &not_ready), &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The signal, and readiness polled as kubelet would, but every 10 ms.
    let pid = guard.0.id().to_string();
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let signalled_at = Instant::now();
    signalled.store(true, Ordering::SeqCst);
    let mut polls = 0;
    let not_ready_after = loop {
        let status = client.get(&ready).send().await.map(|r| r.status().as_u16());
        polls += 1;
        if status.as_ref().is_ok_and(|s| *s == 503) {
            break signalled_at.elapsed();
        }
        assert!(polls < 500, "readiness stayed {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    not_ready.store(true, Ordering::SeqCst);
    // The load balancer has seen the 503; the app serves on until some requests sent after it
    // have whole responses (the delay), then the clients stop.
    for _ in 0..1000 {
        if tally.served_after_not_ready.load(Ordering::SeqCst) >= 32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    let status = wait_for_exit(&mut guard, signalled_at);
    let exited_after = signalled_at.elapsed();

    let (sent, complete, failed) = (
        tally.sent.load(Ordering::SeqCst),
        tally.complete.load(Ordering::SeqCst),
        tally.failed.load(Ordering::SeqCst),
    );
    let served_after = tally.served_after_signal.load(Ordering::SeqCst);
    let served_not_ready = tally.served_after_not_ready.load(Ordering::SeqCst);
    eprintln!(
        "{signal}: readiness 503 after {not_ready_after:?} ({polls} polls); {sent} sent, {complete} complete, \
         {failed} failed, {served_after} served after the signal, {served_not_ready} after the 503; \
         exited {status} after {exited_after:?}"
    );
    assert!(status.success(), "exit status {status}");
    assert_eq!(failed, 0, "requests without a whole response");
    assert_eq!(sent, complete);
    assert!(
        served_not_ready >= 32,
        "requests sent after readiness went 503 were still served (the delay): {served_not_ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_example() {
    drain_under_load("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_the_example() {
    drain_under_load("INT").await;
}

/// 32 keep-alive clients sending `GET /` until `stop`, tallying whole responses.
fn load(
    client: &reqwest::Client,
    base: &str,
    tally: &Arc<Tally>,
    (signalled, not_ready): (&Arc<AtomicBool>, &Arc<AtomicBool>),
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut clients = Vec::new();
    for _ in 0..32 {
        let (client, url) = (client.clone(), format!("{base}/"));
        let (tally, signalled, stop) = (tally.clone(), signalled.clone(), stop.clone());
        let not_ready = not_ready.clone();
        clients.push(tokio::spawn(async move {
            // A bounded load: at most 10 000 requests per client.
            for _ in 0..10_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let after = signalled.load(Ordering::SeqCst);
                let after_not_ready = not_ready.load(Ordering::SeqCst);
                tally.sent.fetch_add(1, Ordering::SeqCst);
                match client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => match response.bytes().await {
                        Ok(body) if body.as_ref() == b"hello from tower-vitals\n" => {
                            tally.complete.fetch_add(1, Ordering::SeqCst);
                            if after {
                                tally.served_after_signal.fetch_add(1, Ordering::SeqCst);
                            }
                            if after_not_ready {
                                tally.served_after_not_ready.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        other => {
                            eprintln!("incomplete body: {other:?}");
                            tally.failed.fetch_add(1, Ordering::SeqCst);
                        }
                    },
                    other => {
                        eprintln!("request failed: {other:?}");
                        tally.failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    clients
}

/// The child's exit status; it must end by itself (a hang guard far past delay + budget).
fn wait_for_exit(guard: &mut Guard, signalled_at: Instant) -> std::process::ExitStatus {
    let limit = Duration::from_millis(DELAY_MS + BUDGET_MS) + Duration::from_secs(30);
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status;
        }
        assert!(signalled_at.elapsed() < limit, "still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}
