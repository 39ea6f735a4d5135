//! The fleet over an in-memory store with expiring keys, on Tokio's paused clock.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use tokio::time::Instant;

use super::*;
use crate::checker::Check;
use crate::health_report::HealthStatus;

type Expiring = (Vec<u8>, Instant);

/// A store in memory: records expire after their TTL, by Tokio's clock; `down` makes every
/// exchange fail; `planted` records are read back as they are, whatever they hold.
#[derive(Clone, Default)]
struct Memory {
    /// Each record and when it expires, by fleet, id and process.
    records: Arc<Mutex<HashMap<String, Expiring>>>,
    planted: Arc<Mutex<Vec<Vec<u8>>>>,
    down: Arc<AtomicBool>,
}

impl FleetStore for Memory {
    fn exchange<'a>(&'a self, exchange: Exchange<'a>) -> ExchangeFuture<'a> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::new("Connection refused (os error 111)"));
            }
            let mut records = self.records.lock();
            let now = Instant::now();
            records.insert(
                format!("{}/{}/{}", exchange.fleet, exchange.id, exchange.instance),
                (exchange.record.to_vec(), now + exchange.ttl),
            );
            records.retain(|_, (_, until)| *until > now);
            let prefix = format!("{}/", exchange.fleet);
            let mut out: Vec<Vec<u8>> = records
                .iter()
                .filter(|(key, _)| key.starts_with(&prefix))
                .map(|(_, (bytes, _))| bytes.clone())
                .collect();
            out.extend(self.planted.lock().iter().cloned());
            out.truncate(exchange.max);
            Ok(out)
        })
    }
}

fn replica(store: &Memory, id: &str, check: fn() -> bool) -> Fleet {
    let checker = HealthChecker::builder()
        .register(Check::new("postgres", move || async move { check() }))
        .build()
        .unwrap();
    Fleet::builder(checker, store.clone())
        .name("shop")
        .unwrap()
        .id(id)
        .unwrap()
        .build()
        .unwrap()
}

/// Lets the fleets' tasks run their next exchange.
async fn intervals(n: u32) {
    for _ in 0..n {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::task::yield_now().await;
}

#[tokio::test(start_paused = true)]
async fn replicas_see_each_other_and_a_gone_one_turns_stale_then_leaves() {
    let store = Memory::default();
    let a = replica(&store, "shop-a", || true);
    let b = replica(&store, "shop-b", || false);
    a.inner.checker.report().await;
    b.inner.checker.report().await;
    a.spawn();
    b.spawn();
    intervals(2).await;
    let view = a.view();
    assert!(view.store.reachable, "{view:?}");
    let ids: Vec<(&str, bool, bool)> = view
        .replicas
        .iter()
        .map(|r| (r.id.as_str(), r.this, r.fresh))
        .collect();
    assert_eq!(ids, [("shop-a", true, true), ("shop-b", false, true)]);
    let peer = &view.replicas[1];
    assert_eq!(peer.status, HealthStatus::Unhealthy);
    assert_eq!(
        peer.checks,
        [("postgres".to_owned(), Some(HealthStatus::Unhealthy))]
    );
    assert_eq!(peer.phase, "serving");
    assert_eq!(a.figures().fresh, 2);

    // b stops (its last handle dropped): its record expires after three intervals, then it is
    // shown stale, then forgotten.
    drop(b);
    intervals(4).await;
    let view = a.view();
    assert!(!view.replicas[1].fresh, "{view:?}");
    assert!(view.replicas[1].last_seen_ms >= 1_000.0);
    assert_eq!((a.figures().fresh, a.figures().stale), (1, 1));
    intervals(31).await;
    assert_eq!(a.view().replicas.len(), 1, "forgotten after ten TTLs");
}

#[tokio::test(start_paused = true)]
async fn a_store_out_of_reach_is_said_and_the_view_returns_with_it() {
    let store = Memory::default();
    let a = replica(&store, "a", || true);
    let b = replica(&store, "b", || true);
    a.spawn();
    b.spawn();
    intervals(2).await;
    assert_eq!(a.figures().fresh, 2);
    store.down.store(true, Ordering::SeqCst);
    intervals(1).await;
    let view = a.view();
    assert!(!view.store.reachable);
    assert_eq!(
        view.store.error.as_deref(),
        Some("Connection refused (os error 111)")
    );
    assert!(!view.replicas[1].fresh, "no fresh view without the store");
    assert!(a.figures().failures >= 1);
    store.down.store(false, Ordering::SeqCst);
    intervals(2).await;
    let view = a.view();
    assert!(view.store.reachable && view.store.error.is_none());
    assert!(view.replicas[1].fresh);
}

#[tokio::test(start_paused = true)]
async fn bad_records_are_ignored_and_counted_and_a_shared_id_is_flagged() {
    let store = Memory::default();
    let a = replica(&store, "a", || true);
    let now = unix_ms(SystemTime::now());
    let mut future = record::tests::record("later");
    future.at = now + 3_600_000;
    store.planted.lock().extend([
        b"not json".to_vec(),
        vec![b'{'; MAX_RECORD_BYTES + 1],
        future.encode(),
        br#"{"v":1,"id":"","inst":1,"ver":"","phase":"serving","status":"healthy","seq":1,"at":1,"up":1,"checks":[]}"#.to_vec(),
    ]);
    a.spawn();
    intervals(1).await;
    let figures = a.figures();
    let refused: HashMap<&str, u64> = figures.refused.into_iter().collect();
    assert!(refused["malformed"] >= 1);
    assert!(refused["too_large"] >= 1);
    assert!(refused["future_dated"] >= 1);
    assert!(refused["out_of_bounds"] >= 1);
    assert_eq!(a.view().replicas.len(), 1, "none of them trusted");

    // A second process under a's id: both publish, both are shown and flagged.
    store.planted.lock().clear();
    let twin = replica(&store, "a", || true);
    twin.spawn();
    intervals(3).await;
    let view = a.view();
    let flagged: Vec<(&str, bool, bool)> = view
        .replicas
        .iter()
        .map(|r| (r.id.as_str(), r.this, r.duplicate))
        .collect();
    assert_eq!(flagged, [("a", true, true), ("a", false, true)]);
    drop(twin);
    intervals(4).await;
    assert!(!a.view().replicas[0].duplicate, "the twin's record expired");
}

#[test]
fn settings_are_bounded() {
    let checker = HealthChecker::builder().build().unwrap();
    let store = Memory::default();
    let interval = Fleet::builder(checker.clone(), store.clone())
        .id("a")
        .unwrap()
        .interval(Duration::from_millis(10))
        .build()
        .unwrap_err();
    assert_eq!(
        interval.to_string(),
        "fleet interval of 10 ms is out of range (100 ms to 1 min)"
    );
    assert!(
        Fleet::builder(checker.clone(), store.clone())
            .id("")
            .is_err()
    );
    assert!(Fleet::builder(checker, store).name("a\u{7}").is_err());
}
