//! An Axum app with health endpoints: `cargo run --example axum`.
//!
//! Two routes, two checks — a real TCP connect to a stand-in database this example opens itself,
//! and a job-queue backlog check that degrades (without failing readiness) when work piles up —
//! `MetricsLayer` timing every request, and `HealthLayer` answering the health endpoints, with
//! the request figures in the detailed report. Listens on 127.0.0.1:3000 (`ADDR=127.0.0.1:8080`
//! to change it); `HEALTH_*` environment variables adjust the health settings (`HealthConfig`).
//! SIGTERM or Ctrl-C drains it as Kubernetes expects ([`Drain`]): readiness answers 503 at once,
//! requests are still served for the propagation delay (`HEALTH_DRAIN_DELAY_MS`, default 5 s),
//! then graceful shutdown waits for the requests in flight (`HEALTH_DRAIN_BUDGET_MS`, default
//! 20 s). A second signal stops it at once. `METRICS_TOKEN_FILE` names a file holding a bearer
//! token that `/metrics` then requires. `POST /demo/outage` closes the stand-in database (the
//! check fails: watch `/health/dashboard`) and `POST /demo/recover` opens it again.
//!
//! Replicas as a fleet: with `HEALTH_FLEET_REDIS_URL=redis://127.0.0.1:6379/` and a
//! `HEALTH_FLEET_ID` each, replicas see each other at `/health/fleet`, and the database check
//! (shared: it stands for the one database all replicas use; each replica's stand-in is its
//! path to it) is judged against the fleet: closed on most replicas (a shared outage),
//! readiness stays 200 and `/health` says so; closed on one only (a local fault), that one
//! answers 503, within two fleet intervals of the fault while the check runs at least twice an
//! interval (`DATABASE_CHECK_INTERVAL_MS`, default 500). `PARTNER_API_ADDR=host:port` adds a
//! check of a rate-limited partner API run once per fleet: one replica connects every second,
//! the others show its result.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, CheckResult, ConfigError, HealthLayer, Selector, Setup, SetupBuilder};
use tracing_subscriber::EnvFilter;

/// Jobs above this backlog degrade the service.
const BACKLOG_LIMIT: usize = 100;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;

    let stand_in = start_stand_in_database().await?;
    let database = stand_in.addr;
    let backlog = Arc::new(AtomicUsize::new(0));
    start_worker(backlog.clone());

    // Everything from the HEALTH_* variables: the checker, the request figures, both layers
    // and the drain (`Setup`).
    let every = database_check_interval()?;
    let setup = Setup::from_env()?
        .register(
            // Run every 500 ms (by default) off the probe path; shared: a fleet judges its
            // failures against the other replicas'.
            Check::new("database", move || connect_check(database))
                .timeout(Duration::from_millis(500))
                .background(every)
                .shared()
                .tag("ready"),
        )
        .register(
            Check::new("job-queue", {
                let backlog = backlog.clone();
                move || {
                    let depth = backlog.load(Ordering::Relaxed);
                    async move { queue_check(depth) }
                }
            })
            .critical(false)
            .tag("ready"),
        );
    let vitals = partner_api(setup)?
        // A demo on loopback shows details to everyone; in production prefer
        // DetailPolicy::bearer_token(..) or DetailPolicy::when(..): the default hides them.
        .details(DetailPolicy::Always)
        .info(tower_vitals::app_info!())
        .health(|layer| metrics_access(layer.readiness(Selector::tagged("ready"))))
        .build()?;
    let paths: Vec<String> = vitals.health_layer().paths().map(str::to_owned).collect();
    let app = Router::new()
        .route("/", get(|| async { "hello from tower-vitals\n" }))
        .route("/jobs", post(enqueue))
        .with_state(backlog)
        .merge(outage_switch(stand_in));
    // The metrics layer on the routes (labelled by route), the health layer once around all.
    let app = vitals.around(app);

    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (set ADDR to use another address)"))?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("tower-vitals axum example listening on {base}");
    for path in &paths {
        println!("  health           {base}{path}");
    }
    println!("  app routes       {base}/   and   POST {base}/jobs");
    println!("  demo outage      POST {base}/demo/outage   and   POST {base}/demo/recover");
    println!("SIGTERM or Ctrl-C drains it: readiness 503 at once, then a graceful stop.");

    let server = axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(vitals.shutdown_signal());
    vitals.run(server.into_future()).await??;
    println!("drained: stopped");
    Ok(())
}

/// `/metrics` behind a bearer token read from a file (a mounted Secret), if one is named.
fn metrics_access(layer: HealthLayer) -> Result<HealthLayer, ConfigError> {
    let Ok(path) = std::env::var("METRICS_TOKEN_FILE") else {
        return Ok(layer);
    };
    let bad = |reason: String| ConfigError::Env {
        variable: "METRICS_TOKEN_FILE".into(),
        value: path.clone(),
        reason,
    };
    let token = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let policy = DetailPolicy::bearer_token(token.trim()).map_err(|e| bad(e.to_string()))?;
    Ok(layer.metrics_access(policy))
}

/// How often the database check runs: `DATABASE_CHECK_INTERVAL_MS`, 100 to 60 000 (default
/// 500).
fn database_check_interval() -> Result<Duration, ConfigError> {
    let Ok(value) = std::env::var("DATABASE_CHECK_INTERVAL_MS") else {
        return Ok(Duration::from_millis(500));
    };
    match value.trim().parse::<u64>() {
        Ok(ms @ 100..=60_000) => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError::Env {
            variable: "DATABASE_CHECK_INTERVAL_MS".into(),
            value,
            reason: "want milliseconds from 100 to 60000".into(),
        }),
    }
}

/// `PARTNER_API_ADDR=host:port` names a rate-limited partner API: checked every second, once
/// per fleet — the replica holding the check's lease connects, the others show its result.
fn partner_api(setup: SetupBuilder) -> Result<SetupBuilder, ConfigError> {
    let Ok(addr) = std::env::var("PARTNER_API_ADDR") else {
        return Ok(setup);
    };
    let addr: SocketAddr = addr.parse().map_err(|e| ConfigError::Env {
        variable: "PARTNER_API_ADDR".into(),
        value: addr.clone(),
        reason: format!("{e} (want host:port)"),
    })?;
    let check = Check::new("partner-api", move || connect_check(addr))
        .timeout(Duration::from_millis(500))
        .background(Duration::from_secs(1))
        .once_per_fleet()
        .critical(false);
    Ok(setup.register(check))
}

/// A real TCP connect to a dependency's address.
async fn connect_check(addr: SocketAddr) -> Result<CheckResult, std::io::Error> {
    let started = Instant::now();
    TcpStream::connect(addr).await?;
    Ok(CheckResult::healthy()
        .with_metadata("address", addr.to_string())
        .with_metadata("connect_ms", started.elapsed().as_secs_f64() * 1000.0))
}

fn queue_check(depth: usize) -> CheckResult {
    let result = if depth > BACKLOG_LIMIT {
        CheckResult::degraded(format!("{depth} jobs waiting (limit {BACKLOG_LIMIT})"))
    } else {
        CheckResult::healthy()
    };
    result.with_metadata("depth", depth)
}

/// `POST /jobs`: queues a job, answers the backlog.
async fn enqueue(State(backlog): State<Arc<AtomicUsize>>) -> String {
    let depth = backlog.fetch_add(1, Ordering::Relaxed) + 1;
    format!("queued; {depth} waiting\n")
}

/// Works off one job every 50 ms.
fn start_worker(backlog: Arc<AtomicUsize>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            let _ =
                backlog.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    });
}

/// `POST /demo/outage` closes the stand-in database, `POST /demo/recover` opens it again.
fn outage_switch(stand_in: StandIn) -> Router {
    let down = stand_in.clone();
    Router::new()
        .route(
            "/demo/outage",
            post(move || async move {
                down.up.send_replace(false);
                "the stand-in database is closed: its check fails from the next run\n"
            }),
        )
        .route(
            "/demo/recover",
            post(move || async move {
                stand_in.up.send_replace(true);
                "the stand-in database is open again\n"
            }),
        )
}

/// A listener standing in for a database server: accepts connections and closes them; closed
/// while `up` says false (connections are refused), open again on the same address after.
#[derive(Clone)]
struct StandIn {
    addr: SocketAddr,
    up: Arc<watch::Sender<bool>>,
}

async fn start_stand_in_database() -> std::io::Result<StandIn> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (up, mut changes) = watch::channel(true);
    tokio::spawn(async move {
        let mut listener = Some(listener);
        loop {
            match listener.take() {
                Some(open) => tokio::select! {
                    accepted = open.accept() => {
                        drop(accepted);
                        listener = Some(open);
                    }
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        // Closed (dropped) unless still up.
                        listener = (*changes.borrow()).then_some(open);
                    }
                },
                None => {
                    if changes.changed().await.is_err() {
                        return;
                    }
                    if *changes.borrow() {
                        listener = TcpListener::bind(addr).await.ok();
                    }
                }
            }
        }
    });
    Ok(StandIn {
        addr,
        up: Arc::new(up),
    })
}
