//! The fleet through a real Redis (started here on a loopback port with a password, stopped
//! and started again by PID): three replicas, each an Axum server with its own checker, see
//! each other on `/health/fleet` and `/metrics`; one that stops turns stale; a planted bad
//! record is ignored and counted; with Redis stopped every replica says so and still answers
//! its probes, and the fleet view returns by itself when Redis does. The password never shows.
#![cfg(feature = "redis")]

mod common;
#[path = "support/dependency.rs"]
mod dependency;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/skip.rs"]
mod skip;

use std::time::Duration;

use dependency::free_port;
use serde_json::Value;
use tower_vitals::fleet::{Fleet, RedisFleetStore};
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, HealthChecker, HealthLayer};

const PASSWORD: &str = "fleet-s3cret-pass";

/// A replica: a checker whose one check passes or not, its fleet (publishing every 200 ms)
/// and an Axum server showing both.
async fn replica(url: &str, id: &str, passes: bool) -> (Fleet, common::Server) {
    replica_of(RedisFleetStore::new(url).unwrap(), id, passes).await
}

/// A replica meeting its peers in `store`.
async fn replica_of(store: RedisFleetStore, id: &str, passes: bool) -> (Fleet, common::Server) {
    let checker = HealthChecker::builder()
        .register(Check::new("postgres", move || async move { passes }))
        .cache_ttl(Duration::from_millis(100))
        .build()
        .unwrap();
    checker.report().await;
    let store = store.prefix("test:fleet").unwrap();
    let fleet = Fleet::builder(checker.clone(), store)
        .name("shop")
        .unwrap()
        .id(id)
        .unwrap()
        .interval(Duration::from_millis(200))
        .build()
        .unwrap();
    fleet.spawn();
    let layer = HealthLayer::new(checker)
        .details(DetailPolicy::Always)
        .fleet(fleet.clone());
    (fleet, common::serve(layer).await)
}

/// Polls `/health/fleet` until `done` holds (a hang guard of 1000 tries, not a time limit).
async fn fleet_until(server: &common::Server, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..1000 {
        let view = server.get("/health/fleet").await.json();
        if done(&view) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the fleet never showed what was waited for");
}

fn fresh(view: &Value) -> Vec<&str> {
    view["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fresh"] == true)
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn replicas_see_each_other_through_redis_and_survive_its_outage() {
    let port = free_port();
    let Some(redis) = redis_server::start(port, &["--requirepass", PASSWORD]) else {
        return;
    };
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/");
    let (_a, a) = replica(&url, "shop-a", true).await;
    let (_b, b) = replica(&url, "shop-b", true).await;
    let (c_fleet, c) = replica(&url, "shop-c", false).await;

    let view = fleet_until(&a, |v| fresh(v).len() == 3).await;
    assert_eq!(view["fleet"], "shop");
    assert_eq!(view["self"], "shop-a");
    assert_eq!(view["store"]["reachable"], true);
    assert_eq!(fresh(&view), ["shop-a", "shop-b", "shop-c"]);
    let shop_c = &view["replicas"][2];
    assert_eq!(shop_c["status"], "unhealthy");
    assert_eq!(shop_c["checks"]["postgres"], "unhealthy");
    assert_eq!(shop_c["phase"], "serving");
    fleet_until(&b, |v| fresh(v).len() == 3).await;
    let metrics = String::from_utf8(a.get("/metrics").await.body).unwrap();
    assert_eq!(
        sample(&metrics, r#"vitals_fleet_replicas{state="fresh"}"#),
        Some(3.0)
    );
    assert_eq!(sample(&metrics, "vitals_fleet_store_reachable"), Some(1.0));

    // c stops: its record expires (three intervals), and the others show it stale.
    drop((c_fleet, c));
    let view = fleet_until(&a, |v| fresh(v) == ["shop-a", "shop-b"]).await;
    let stale = &view["replicas"][2];
    assert_eq!(
        (stale["id"].as_str(), stale["fresh"].as_bool()),
        (Some("shop-c"), Some(false))
    );

    // A record nobody should trust, planted in the fleet's index.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut planted = client.get_multiplexed_async_connection().await.unwrap();
    let key = "test:fleet:shop:replica:00000000000000ff:intruder";
    let _: () = redis::pipe()
        .cmd("SET")
        .arg(key)
        .arg(r#"{"v":1,"id":"intruder\u0007","inst":255}"#)
        .arg("PX")
        .arg(60_000)
        .ignore()
        .cmd("ZADD")
        .arg("test:fleet:shop:replicas")
        .arg(i64::MAX)
        .arg("00000000000000ff:intruder")
        .ignore()
        .query_async(&mut planted)
        .await
        .unwrap();
    for _ in 0..1000 {
        let metrics = String::from_utf8(a.get("/metrics").await.body).unwrap();
        if sample(
            &metrics,
            r#"vitals_fleet_records_refused_total{reason="malformed"}"#,
        ) > Some(0.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = String::from_utf8(a.get("/metrics").await.body).unwrap();
    let refused = r#"vitals_fleet_records_refused_total{reason="malformed"}"#;
    assert!(sample(&metrics, refused) > Some(0.0), "{metrics}");
    let view = a.get("/health/fleet").await.json();
    assert!(!view.to_string().contains("intruder"), "{view}");

    // Redis stops: every replica says so, and its probes answer as before.
    drop(redis);
    let view = fleet_until(&a, |v| v["store"]["reachable"] == false).await;
    let error = view["store"]["error"].as_str().unwrap();
    assert!(
        error.contains("Connection refused")
            || error.contains("reset")
            || error.contains("broken pipe"),
        "{error}"
    );
    assert_eq!(fresh(&view), ["shop-a"], "no fresh peers without the store");
    assert_eq!(a.get("/health/ready").await.status, 200);
    let metrics = String::from_utf8(b.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("vitals_fleet_store_reachable 0"),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            r#"vitals_fleet_exchanges_total{outcome="failed"}"#
        ) >= Some(1.0)
    );

    // Redis back on the same port: the view returns by itself.
    let _redis = redis_server::start(port, &["--requirepass", PASSWORD]).unwrap();
    let view = fleet_until(&a, |v| fresh(v) == ["shop-a", "shop-b"]).await;
    assert_eq!(view["store"]["reachable"], true);

    // A replica with the wrong password: the store's refusal, the password in neither answer.
    let wrong = format!("redis://:not-the-{PASSWORD}@127.0.0.1:{port}/");
    let (_d, d) = replica(&wrong, "shop-d", true).await;
    let view = fleet_until(&d, |v| {
        v["store"]["error"].is_string() && v["store"]["error"] != "no exchange yet"
    })
    .await;
    let error = view["store"]["error"].as_str().unwrap();
    eprintln!("the store refused the wrong password: {error}");
    assert!(!error.contains(PASSWORD), "{error}");
    for server in [&a, &b, &d] {
        for path in ["/health/fleet", "/metrics", "/health"] {
            let body = String::from_utf8(server.get(path).await.body).unwrap();
            assert!(!body.contains(PASSWORD), "{path}: {body}");
        }
    }
}

/// `Setup` makes the fleet from `HEALTH_FLEET_*` and serves it; two such apps see each other.
#[tokio::test]
async fn setup_makes_the_fleet_from_the_environments_settings() {
    let port = free_port();
    let Some(_redis) = redis_server::start(port, &[]) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let mut servers = Vec::new();
    let mut fleets: Vec<Fleet> = Vec::new();
    for id in ["web-1", "web-2"] {
        let config = tower_vitals::HealthConfig::from_vars([
            ("HEALTH_FLEET_REDIS_URL", url.as_str()),
            ("HEALTH_FLEET_ID", id),
            ("HEALTH_FLEET_INTERVAL_MS", "200"),
            ("HEALTH_FLEET_PREFIX", "test:setup"),
        ])
        .unwrap();
        let vitals = tower_vitals::Setup::builder()
            .config(config)
            .info(tower_vitals::AppInfo::new("web", "2.1.0"))
            .check("db", || async {})
            .register(Check::new("partner-api", || async {}).once_per_fleet())
            .details(DetailPolicy::Always)
            .build()
            .unwrap();
        assert_eq!(
            vitals.fleet().map(|f| f.name()),
            Some("web"),
            "named after the app"
        );
        fleets.push(vitals.fleet().unwrap().clone());
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "home" }));
        let router = router.layer(vitals.health_layer());
        servers.push(common::serve_router(router).await);
    }
    let view = fleet_until(&servers[0], |v| fresh(v).len() == 2).await;
    assert_eq!(fresh(&view), ["web-1", "web-2"]);
    assert_eq!(view["replicas"][1]["version"], "2.1.0");

    // The store's traffic: each exchange is SET, ZADD, ZREMRANGEBYSCORE, ZREVRANGE and MGET,
    // and an EVALSHA for the once-per-fleet check's lease, as Redis itself counts them.
    // Exchanges that succeeded before INFO sent all their commands; one that failed (no
    // answer within the interval on a loaded machine) may have sent some, so the most is every
    // exchange by the end, plus one under way per replica.
    let succeeded = || {
        fleets
            .iter()
            .map(|f| f.figures())
            .map(|f| f.exchanges - f.failures)
            .sum::<u64>()
    };
    let before = succeeded();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .unwrap();
    let after = fleets.iter().map(|f| f.figures().exchanges).sum::<u64>();
    let calls = |command: &str| -> u64 {
        let prefix = format!("cmdstat_{command}:calls=");
        stats
            .lines()
            .find_map(|line| line.strip_prefix(&prefix)?.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    let per_exchange = [
        "set",
        "zadd",
        "zremrangebyscore",
        "zrevrange",
        "mget",
        "evalsha",
    ];
    for command in per_exchange {
        let n = calls(command);
        // Each replica's first EVALSHA finds no script (NOSCRIPT), loads it and asks again.
        let first = if command == "evalsha" { 2 } else { 0 };
        assert!(
            (before..=after + 2 + first).contains(&n),
            "{command}: {n} calls for {before}..{after} exchanges"
        );
    }
    let counted: Vec<String> = per_exchange
        .iter()
        .map(|command| format!("{command} {}", calls(command)))
        .collect();
    let total: u64 = per_exchange.iter().map(|command| calls(command)).sum();
    let body = tower_vitals::render::fleet(&fleets[0].view()).body.len();
    eprintln!(
        "store traffic: Redis counted {} for {before}..{after} exchanges: {:.2} commands per exchange (three round trips with a lease); /health/fleet of 2 replicas: {body} bytes",
        counted.join(", "),
        total as f64 / after.max(1) as f64
    );

    // Bytes on the wire, as Redis counts them, over twenty more exchanges of each replica.
    let net = |info: &str, name: &str| -> f64 {
        let prefix = format!("{name}:");
        info.lines()
            .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let info = |mut connection: redis::aio::MultiplexedConnection| async move {
        let text: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut connection)
            .await
            .unwrap();
        text
    };
    let first = info(connection.clone()).await;
    let from = succeeded();
    for _ in 0..1000 {
        if succeeded() >= from + 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = info(connection.clone()).await;
    let exchanges = (succeeded() - from) as f64;
    let into = net(&last, "total_net_input_bytes") - net(&first, "total_net_input_bytes");
    let out = net(&last, "total_net_output_bytes") - net(&first, "total_net_output_bytes");
    eprintln!(
        "store traffic per exchange of one replica in a fleet of 2, one lease: {:.0} bytes to Redis, {:.0} bytes back",
        into / exchanges,
        out / exchanges
    );
    assert!(into > 0.0 && out > 0.0);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("test:setup:web:replica:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    let record: Vec<u8> = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut connection)
        .await
        .unwrap();
    eprintln!(
        "a record of two checks: {} bytes: {}",
        record.len(),
        String::from_utf8_lossy(&record)
    );
}

/// `rediss://` with the `tls` feature: Redis serving TLS with a certificate of a CA made here;
/// two replicas trusting that CA see each other, one trusting only the system's roots gets the
/// certificate refused — and no password shows anywhere.
#[cfg(feature = "tls")]
#[tokio::test]
async fn replicas_meet_through_redis_over_tls_with_a_ca_of_their_own() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};

    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_pem = leaf.signed_by(&leaf_key, &issuer).unwrap().pem();
    let dir = std::env::temp_dir().join(format!("vitals-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (cert, key, ca_file) = (
        file("redis.crt", &leaf_pem),
        file("redis.key", &leaf_key.serialize_pem()),
        file("ca.crt", &ca_pem),
    );
    let (port, tls_port) = (free_port(), free_port());
    let tls_text = tls_port.to_string();
    let args = [
        "--tls-port",
        tls_text.as_str(),
        "--tls-cert-file",
        cert.as_str(),
        "--tls-key-file",
        key.as_str(),
        "--tls-ca-cert-file",
        ca_file.as_str(),
        "--tls-auth-clients",
        "no",
        "--requirepass",
        PASSWORD,
    ];
    let Some(_redis) = redis_server::start(port, &args) else {
        return;
    };
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:{tls_port}/");
    let trusting = || {
        RedisFleetStore::new(&url)
            .unwrap()
            .root_certificate_pem(ca_pem.as_bytes())
            .unwrap()
    };
    let (_a, a) = replica_of(trusting(), "tls-a", true).await;
    let (_b, _b_server) = replica_of(trusting(), "tls-b", true).await;
    let view = fleet_until(&a, |v| fresh(v).len() == 2).await;
    assert_eq!(fresh(&view), ["tls-a", "tls-b"]);

    // Without the CA, the system's roots do not know Redis' certificate.
    let (_c, c) = replica_of(RedisFleetStore::new(&url).unwrap(), "tls-c", true).await;
    let view = fleet_until(&c, |v| {
        v["store"]["error"].is_string() && v["store"]["error"] != "no exchange yet"
    })
    .await;
    let error = view["store"]["error"].as_str().unwrap();
    eprintln!("without the CA: {error}");
    assert!(
        error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );
    for server in [&a, &c] {
        let body = String::from_utf8(server.get("/health/fleet").await.body).unwrap();
        assert!(!body.contains(PASSWORD), "{body}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
