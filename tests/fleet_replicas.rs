//! Five processes of the axum example as one fleet through a real Redis (started on a
//! loopback port and stopped by its PID here), each checking the database through a path of
//! its own (the example's stand-in, closed and opened by its `POST /demo/outage` and
//! `/demo/recover`):
//! - a shared outage (every path closed): no replica's readiness ever answers 503, and each
//!   one's `/health` says `shared outage: 5 of 5 replicas fail "database"`;
//! - a local fault (one path closed): that replica answers 503 with `only this replica fails`,
//!   the other four never do;
//! - a store outage (Redis stopped): every replica judges alone — the faulty one stays 503 by
//!   the local rule, the others 200 — logs it once, and the view returns with Redis.
#![cfg(feature = "redis")]

#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/dependency.rs"]
mod dependency;
#[path = "support/example.rs"]
mod example;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/skip.rs"]
mod skip;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

const REPLICAS: usize = 5;
/// Hang guard for every wait: rounds over the five replicas, not a time limit.
const ROUNDS: usize = 2_000;

struct Replica {
    process: std::sync::Mutex<example::Guard>,
    base: String,
    output: example::Output,
}

struct Fleet {
    client: reqwest::Client,
    replicas: Vec<Replica>,
}

impl Fleet {
    async fn get(&self, at: usize, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.replicas[at].base);
        let response = self.client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn post(&self, at: usize, path: &str) {
        let url = format!("{}{path}", self.replicas[at].base);
        let response = self.client.post(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "POST {path}");
    }

    /// Every replica's readiness once: codes and the time each answer took.
    async fn ready(&self) -> Vec<(u16, Value, Duration)> {
        let mut out = Vec::with_capacity(self.replicas.len());
        for at in 0..self.replicas.len() {
            let started = Instant::now();
            let (code, body) = self.get(at, "/health/ready").await;
            out.push((code, body, started.elapsed()));
        }
        out
    }

    /// The database component as `/health` shows it on replica `at`.
    async fn database(&self, at: usize) -> Value {
        let (_, report) = self.get(at, "/health").await;
        let components = report["components"].as_array().cloned().unwrap_or_default();
        components
            .into_iter()
            .find(|c| c["name"] == "database")
            .unwrap_or(Value::Null)
    }

    async fn fresh(&self, at: usize) -> usize {
        let (_, view) = self.get(at, "/health/fleet").await;
        let replicas = view["replicas"].as_array().cloned().unwrap_or_default();
        replicas.iter().filter(|r| r["fresh"] == true).count()
    }

    /// Polls every replica's readiness until `done` holds for all of them (and once more),
    /// and returns the readiness codes each answered on the way and every answer's time.
    async fn until<F, Fut>(&self, done: F) -> (Vec<Vec<u16>>, Vec<Duration>)
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut codes = vec![Vec::new(); self.replicas.len()];
        let mut took = Vec::new();
        let mut seen = false;
        for _ in 0..ROUNDS {
            let mut all = true;
            for (at, (code, _, time)) in self.ready().await.into_iter().enumerate() {
                if codes[at].last() != Some(&code) {
                    codes[at].push(code);
                }
                took.push(time);
                if !seen {
                    all &= done(at).await;
                }
            }
            // Readiness once more after what was waited for was seen.
            if seen {
                return (codes, took);
            }
            seen = all;
            if !seen {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("the fleet never showed what was waited for: readiness {codes:?}");
    }

    fn logged(&self, at: usize, text: &str) -> usize {
        let output = self.replicas[at].output.lock().unwrap();
        output.iter().filter(|line| line.contains(text)).count()
    }
}

/// How many answers, their p99 and the slowest, as a line.
fn spread(mut took: Vec<Duration>) -> String {
    took.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let p99 = &took[took.len() * 99 / 100];
    let slowest = took.last().unwrap();
    format!(
        "{}, p99 {:.2} ms, slowest {:.2} ms",
        took.len(),
        ms(p99),
        ms(slowest)
    )
}

const FAILED: &str = r#"vitals_fleet_exchanges_total{outcome="failed"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_replicas_hold_through_a_shared_outage_and_only_a_local_fault_leaves() {
    let port = dependency::free_port();
    let Some(redis) = redis_server::start(port, &[]) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let (_receiver, hooks) = common::webhook_receiver().await;
    let hook = _receiver.url("/hooks");
    // The database checked twice an interval (every 100 ms).
    let env = [
        ("HEALTH_WEBHOOK_URL", hook.as_str()),
        ("DATABASE_CHECK_INTERVAL_MS", "100"),
    ];
    let fleet = start(&url, REPLICAS, &env).await;
    // Judged a shared outage on every replica, all five failing.
    let everywhere = |at| {
        let fleet = fleet.clone();
        async move {
            let database = fleet.database(at).await;
            let reason = database["reason"].as_str().unwrap_or_default();
            database["judgement"] == "shared" && reason.starts_with("shared outage: 5 of 5")
        }
    };
    let healthy = |at| {
        let fleet = fleet.clone();
        async move { fleet.database(at).await["status"] == "healthy" }
    };
    fleet.until(healthy).await;
    // Each replica posted its checks' first results (database, job-queue).
    loop_until(|| async {
        let posted = events(&fleet, "delivered").await;
        posted.iter().all(|n| *n >= 2.0).then_some(())
    })
    .await;
    let told = told(&fleet).await;
    let posted = database_events(&hooks, "unhealthy");

    // The shared outage: every path closes. No replica ever answers 503.
    for at in 0..REPLICAS {
        fleet.post(at, "/demo/outage").await;
    }
    let (codes, mut store_up) = fleet.until(everywhere).await;
    assert_eq!(
        codes,
        vec![vec![200]; REPLICAS],
        "readiness through the shared outage"
    );
    for at in 0..REPLICAS {
        let database = fleet.database(at).await;
        let reason = database["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("shared outage: 5 of 5 replicas fail \"database\" since "),
            "{reason}"
        );
        assert_eq!(database["status"], "unhealthy");
        let (code, ready) = fleet.get(at, "/health/ready").await;
        assert_eq!(
            (code, &ready["ready"]),
            (200, &Value::Bool(true)),
            "{ready}"
        );
        assert!(
            ready["reason"]
                .as_str()
                .unwrap()
                .starts_with("shared outage")
        );
    }
    let shown = metrics(&fleet, 2).await;
    assert!(
        shown.contains(r#"vitals_fleet_judgement{check="database",judgement="shared"} 1"#),
        "{shown}"
    );

    // One webhook event for it, not five: the other four skipped theirs.
    let told = once_told(&fleet, (told, posted), &hooks, "unhealthy").await;
    let posted = database_events(&hooks, "healthy");

    // It comes back: still no 503 on the way.
    for at in 0..REPLICAS {
        fleet.post(at, "/demo/recover").await;
    }
    let (codes, took) = fleet.until(healthy).await;
    assert_eq!(
        codes,
        vec![vec![200]; REPLICAS],
        "readiness through the recovery"
    );
    store_up.extend(took);
    // One "restored" event.
    let told = once_told(&fleet, (told, posted), &hooks, "healthy").await;

    // A local fault: replica 0's path closes. It leaves; the other four never do.
    let closed = std::time::Instant::now();
    fleet.post(0, "/demo/outage").await;
    // When replica 0's check first showed the failure, and when it was judged.
    let seen: Arc<std::sync::Mutex<(Option<Duration>, Option<Duration>)>> = Arc::default();
    let local = judged_or(&fleet, "local");
    let (codes, took) = fleet
        .until(|at| {
            let (fleet, seen, judged) = (fleet.clone(), seen.clone(), local(at));
            async move {
                if at == 0 && seen.lock().unwrap().0.is_none() {
                    let failing = fleet.database(0).await["status"] == "unhealthy";
                    let mut seen = seen.lock().unwrap();
                    if failing && seen.0.is_none() {
                        seen.0 = Some(closed.elapsed());
                    }
                }
                let judged = judged.await;
                if at == 0 && judged {
                    seen.lock().unwrap().1.get_or_insert(closed.elapsed());
                }
                judged
            }
        })
        .await;
    store_up.extend(took);
    assert_eq!(codes[0].first(), Some(&200));
    assert_eq!(codes[0].last(), Some(&503), "{codes:?}");
    assert_eq!(codes[1..], vec![vec![200]; REPLICAS - 1], "{codes:?}");
    // Printed, not asserted (a wall clock): how long it took, in intervals of 200 ms.
    let (detected, judged) = *seen.lock().unwrap();
    let judged = judged.unwrap_or_else(|| closed.elapsed());
    let detected = detected.unwrap_or(judged);
    eprintln!(
        "local fault: judged (503) {:.2} intervals of 200 ms after its path closed, {:.2} after its check (every 100 ms) first showed the failure",
        judged.as_secs_f64() / 0.2,
        (judged - detected).as_secs_f64() / 0.2
    );
    let (_, ready) = fleet.get(0, "/health/ready").await;
    assert_eq!(
        ready["reason"], "only this replica fails \"database\" (1 of 5)",
        "{ready}"
    );
    // A local fault is posted by its replica.
    loop_until(|| async {
        let unhealthy = database_events(&hooks, "unhealthy");
        (unhealthy == 2).then_some(())
    })
    .await;
    let skipped: f64 = events(&fleet, "skipped").await.iter().sum();
    assert_eq!(skipped, told.skipped, "nothing skipped for a local fault");

    // The store goes: every replica judges alone. Replica 0 stays out by the local rule, the
    // others stay in; each says it once in its log.
    drop(redis);
    let (codes, took) = fleet.until(judged_or(&fleet, "alone")).await;
    assert_eq!(codes[0], [503], "{codes:?}");
    assert_eq!(codes[1..], vec![vec![200]; REPLICAS - 1], "{codes:?}");
    let (_, ready) = fleet.get(0, "/health/ready").await;
    let reason = ready["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("judged alone: the fleet store is out of reach"),
        "{reason}"
    );
    let (_, more) = fleet
        .until(|at| {
            let fleet = fleet.clone();
            async move { fleet.logged(at, "fleet store out of reach") >= 1 }
        })
        .await;
    // Ten failed exchanges on every replica later: still logged once, readiness as fast.
    let (codes, longer) = fleet
        .until(|at| {
            let fleet = fleet.clone();
            async move { figure(&fleet, at, FAILED).await >= 10.0 }
        })
        .await;
    assert_eq!(codes[0], [503], "{codes:?}");
    assert_eq!(codes[1..], vec![vec![200]; REPLICAS - 1], "{codes:?}");
    for at in 0..REPLICAS {
        assert_eq!(
            fleet.logged(at, "fleet store out of reach"),
            1,
            "replica {at}"
        );
    }
    let took: Vec<Duration> = took.into_iter().chain(more).chain(longer).collect();
    eprintln!(
        "readiness answers with the store up:   {}",
        spread(store_up)
    );
    eprintln!("readiness answers with the store down: {}", spread(took));

    // Redis again on the same port: the view returns by itself, and replica 0 is judged a
    // local fault again.
    let _redis = redis_server::start(port, &[]).unwrap();
    fleet
        .until(|at| {
            let fleet = fleet.clone();
            async move { fleet.fresh(at).await == REPLICAS }
        })
        .await;
    fleet.until(judged_or(&fleet, "local")).await;

    // The fleet on screen: replica 4 killed, replica 0's dashboard in headless Chromium lists
    // the five replicas and marks replica 4 stale.
    let Some(browser) = chromium::chromium() else {
        return;
    };
    fleet.replicas[4].process.lock().unwrap().0.kill().unwrap();
    loop_until(|| async {
        let (_, view) = fleet.get(0, "/health/fleet").await;
        let replicas = view["replicas"].as_array().cloned().unwrap_or_default();
        let stale = replicas
            .iter()
            .any(|r| r["id"] == "replica-4" && r["fresh"] == false);
        stale.then_some(())
    })
    .await;
    let url = format!("{}/health/dashboard", fleet.replicas[0].base);
    let dom = chromium::browse(&browser, &url, &["--dump-dom"]).await;
    assert!(dom.contains("data-rendered=\"script\""), "the script ran");
    assert_eq!(
        dom.matches("<tr class=\"replica\"").count(),
        REPLICAS,
        "{dom}"
    );
    assert!(
        dom.contains("<tr class=\"replica\" data-id=\"replica-4\" data-fresh=\"false\""),
        "{dom}"
    );
    for at in 0..4 {
        let row = format!("<tr class=\"replica\" data-id=\"replica-{at}\" data-fresh=\"true\"");
        assert!(dom.contains(&row), "{row}");
    }
    assert!(dom.contains("class=\"shared\" data-check=\"database\" data-judgement=\"local\""));
}

/// `n` processes of the example as the fleet `shop` in the Redis at `url` (publishing every
/// 200 ms), with `env` besides; once every one sees all.
async fn start(url: &str, n: usize, env: &[(&str, &str)]) -> Arc<Fleet> {
    let mut replicas = Vec::new();
    for at in 0..n {
        let id = format!("replica-{at}");
        let mut vars = vec![
            ("HEALTH_FLEET_REDIS_URL", url),
            ("HEALTH_FLEET_NAME", "shop"),
            ("HEALTH_FLEET_ID", id.as_str()),
            ("HEALTH_FLEET_INTERVAL_MS", "200"),
        ];
        vars.extend_from_slice(env);
        let (process, base, output) = example::start_binary(&example::binary(), &vars);
        replicas.push(Replica {
            process: std::sync::Mutex::new(process),
            base,
            output,
        });
    }
    let fleet = Arc::new(Fleet {
        client: reqwest::Client::new(),
        replicas,
    });
    fleet
        .until(|at| {
            let fleet = fleet.clone();
            async move { fleet.fresh(at).await == n }
        })
        .await;
    fleet
}

/// Replica 0's database judged `want`, and the others' passing.
fn judged_or(
    fleet: &Arc<Fleet>,
    want: &'static str,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> {
    let fleet = fleet.clone();
    move |at| {
        let fleet = fleet.clone();
        Box::pin(async move {
            let database = fleet.database(at).await;
            match at {
                0 => database["judgement"] == want,
                _ => database["status"] == "healthy",
            }
        })
    }
}

/// Replica `at`'s `/metrics`.
async fn metrics(fleet: &Fleet, at: usize) -> String {
    let url = format!("{}/metrics", fleet.replicas[at].base);
    let response = fleet.client.get(url).send().await.unwrap();
    response.text().await.unwrap()
}

/// A figure of replica `at`'s `/metrics`, by its series (labels included).
async fn figure(fleet: &Fleet, at: usize, series: &str) -> f64 {
    metrics(fleet, at)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

const PARTNER_RUNS: &str = r#"vitals_health_check_runs_total{component="partner-api"}"#;

/// Every replica's runs of the partner-API check.
async fn partner_runs(fleet: &Fleet, alive: &[usize]) -> Vec<f64> {
    let mut runs = Vec::new();
    for &at in alive {
        runs.push(figure(fleet, at, PARTNER_RUNS).await);
    }
    runs
}

/// Four replicas with a partner-API check run once per fleet (every second) against a
/// listener here that counts connections: only the lease holder connects, the others show
/// its result; the holder killed with SIGKILL, another takes the lease over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_run_once_per_fleet_runs_on_one_replica_and_moves_when_its_holder_is_killed() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let port = dependency::free_port();
    let Some(_redis) = redis_server::start(port, &[]) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = api.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let fleet = start(&url, 4, &[("PARTNER_API_ADDR", api_addr.as_str())]).await;

    // One holder, the same for all.
    let holder = loop_until(|| async {
        let mut holders = Vec::new();
        for at in 0..4 {
            let (_, view) = fleet.get(at, "/health/fleet").await;
            let once = &view["once_per_fleet"][0];
            holders.push((
                once["run_by"].as_str().map(str::to_owned),
                once["self"] == true,
            ));
        }
        let named = holders[0].0.clone()?;
        let all_agree = holders
            .iter()
            .all(|(by, _)| by.as_deref() == Some(named.as_str()));
        let at = holders.iter().position(|(_, this)| *this)?;
        all_agree.then_some(at)
    })
    .await;

    // Ten runs of the holder: nobody else connects.
    let alive: Vec<usize> = (0..4).collect();
    let before = partner_runs(&fleet, &alive).await;
    let seen_before = connections.load(Ordering::SeqCst);
    let started = Instant::now();
    loop_until(|| async {
        let now = figure(&fleet, holder, PARTNER_RUNS).await;
        (now >= before[holder] + 10.0).then_some(())
    })
    .await;
    let after = partner_runs(&fleet, &alive).await;
    let seen = connections.load(Ordering::SeqCst) - seen_before;
    let ran: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    eprintln!(
        "once per fleet: in {:.1} s the holder ran it {} times (runs by replica: {:?}); the partner API saw {seen} connections from four replicas",
        started.elapsed().as_secs_f64(),
        ran[holder],
        ran
    );
    for (at, ran) in ran.iter().enumerate() {
        assert_eq!(*ran > 0.0, at == holder, "replica {at} ran it {ran} times");
    }
    assert!(
        seen as f64 >= ran[holder] && seen as f64 <= ran[holder] + 1.0,
        "{seen} connections"
    );
    let other = (holder + 1) % 4;
    let (_, report) = fleet.get(other, "/health").await;
    let partner = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "partner-api")
        .unwrap()
        .clone();
    let message = partner["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("run once per fleet by replica-{holder}, ")),
        "{message}"
    );
    assert_eq!(partner["status"], "healthy");

    // SIGKILL the holder: after its lease expires another replica runs it, and one only.
    let survivors: Vec<usize> = (0..4).filter(|&at| at != holder).collect();
    let before = partner_runs(&fleet, &survivors).await;
    let killed = std::time::Instant::now();
    fleet.replicas[holder]
        .process
        .lock()
        .unwrap()
        .0
        .kill()
        .unwrap();
    let new = loop_until(|| async {
        let now = partner_runs(&fleet, &survivors).await;
        now.iter().zip(&before).position(|(n, b)| n > b)
    })
    .await;
    // Printed, not asserted (a wall clock).
    eprintln!(
        "takeover: replica-{} ran it {:.2} intervals of 200 ms after the holder was killed (the lease stands 3)",
        survivors[new],
        killed.elapsed().as_secs_f64() / 0.2
    );
    let before = partner_runs(&fleet, &survivors).await;
    loop_until(|| async {
        let now = figure(&fleet, survivors[new], PARTNER_RUNS).await;
        (now >= before[new] + 3.0).then_some(())
    })
    .await;
    let after = partner_runs(&fleet, &survivors).await;
    for (i, at) in survivors.iter().enumerate() {
        let ran = after[i] - before[i];
        assert_eq!(
            ran > 0.0,
            i == new,
            "replica {at} ran it {ran} times after the takeover"
        );
    }
}

/// Polls `probe` until it gives a value (a hang guard of 2000 tries, 20 ms apart).
async fn loop_until<T, F, Fut>(probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..ROUNDS {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never came");
}

/// Each replica's webhook events by outcome (`delivered`, `skipped`).
async fn events(fleet: &Fleet, outcome: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for at in 0..fleet.replicas.len() {
        let label = format!("outcome=\"{outcome}\"");
        let sum = metrics(fleet, at)
            .await
            .lines()
            .filter(|line| {
                line.starts_with("vitals_webhook_events_total{") && line.contains(&label)
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        out.push(sum);
    }
    out
}

/// The webhook events the replicas dealt with so far: posted and skipped, in all.
#[derive(Debug, Clone, Copy)]
struct Told {
    delivered: f64,
    skipped: f64,
}

async fn told(fleet: &Fleet) -> Told {
    Told {
        delivered: events(fleet, "delivered").await.iter().sum(),
        skipped: events(fleet, "skipped").await.iter().sum(),
    }
}

/// The database events the receiver got that changed it to `to`.
fn database_events(hooks: &Arc<parking_lot::Mutex<Vec<String>>>, to: &str) -> usize {
    let bodies = hooks.lock();
    bodies
        .iter()
        .filter_map(|body| serde_json::from_str::<Value>(body).ok())
        .flat_map(|body| body["events"].as_array().cloned().unwrap_or_default())
        .filter(|event| event["check"] == "database" && event["to"] == to)
        .count()
}

/// Once every replica dealt with its change of the database to `to` (posted or skipped), the
/// receiver holds one event for it more than `before_events`, and four were skipped.
async fn once_told(
    fleet: &Fleet,
    (before, before_events): (Told, usize),
    hooks: &Arc<parking_lot::Mutex<Vec<String>>>,
    to: &str,
) -> Told {
    let after = loop_until(|| async {
        let now = told(fleet).await;
        let dealt = now.delivered + now.skipped - before.delivered - before.skipped;
        (dealt >= REPLICAS as f64).then_some(now)
    })
    .await;
    let got = database_events(hooks, to) - before_events;
    eprintln!(
        "webhook: {got} event(s) for database to {to}; {} skipped by the other replicas",
        after.skipped - before.skipped
    );
    assert_eq!(got, 1, "one event for the fleet");
    assert_eq!(after.skipped - before.skipped, (REPLICAS - 1) as f64);
    after
}
