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
    /// Each lease's holder and when it expires.
    leases: Arc<Mutex<HashMap<String, (String, Instant)>>>,
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

    fn leases<'a>(&'a self, leases: Leases<'a>) -> LeaseFuture<'a> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::new("Connection refused (os error 111)"));
            }
            let now = Instant::now();
            let mut held = self.leases.lock();
            let holders = leases.names.iter().map(|name| {
                let key = format!("{}/{name}", leases.fleet);
                let lease = held
                    .entry(key)
                    .and_modify(|(holder, until)| {
                        if *until <= now {
                            *holder = leases.holder.to_owned();
                        }
                    })
                    .or_insert_with(|| (leases.holder.to_owned(), now));
                if lease.0 == leases.holder {
                    lease.1 = now + leases.ttl;
                }
                lease.0.clone()
            });
            Ok(holders.collect())
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

/// A replica whose shared check `postgres` runs every 250 ms and passes while `ok` holds.
fn sharing(store: &Memory, id: &str, ok: &Arc<AtomicBool>) -> Fleet {
    let ok = ok.clone();
    let check = Check::new("postgres", move || {
        let ok = ok.load(Ordering::SeqCst);
        async move { ok }
    })
    .shared()
    .background(Duration::from_millis(250));
    spawned(check, store, id)
}

/// A replica of the fleet `shop` with `check` alone, publishing.
fn spawned(check: Check, store: &Memory, id: &str) -> Fleet {
    let checker = HealthChecker::builder().register(check).build().unwrap();
    let fleet = Fleet::builder(checker, store.clone())
        .name("shop")
        .unwrap()
        .id(id)
        .unwrap()
        .build()
        .unwrap();
    fleet.spawn();
    fleet
}

/// Steps the paused clock by 100 ms `steps` times and returns every judgement each replica
/// gave `postgres` on the way, in order, repeats left out.
async fn judgements(fleets: &[&Fleet], steps: u32) -> Vec<Vec<Judgement>> {
    let mut seen: Vec<Vec<Judgement>> = vec![Vec::new(); fleets.len()];
    for _ in 0..steps {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tokio::task::yield_now().await;
        for (fleet, seen) in fleets.iter().zip(&mut seen) {
            let failing = fleet.inner.checker.latest().any(|(_, _, latest)| {
                latest.is_some_and(|latest| latest.status == HealthStatus::Unhealthy)
            });
            let now = match failing {
                true => fleet.judge("postgres").0,
                false => Judgement::Passing,
            };
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_shared_outage_holds_every_replica_and_a_local_fault_fails_only_its_own() {
    use Judgement::{Local, Passing, Pending, Shared};
    let store = Memory::default();
    let oks: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(true))).collect();
    let fleets: Vec<Fleet> = ["a", "b", "c"]
        .iter()
        .zip(&oks)
        .map(|(id, ok)| sharing(&store, id, ok))
        .collect();
    let all: Vec<&Fleet> = fleets.iter().collect();
    assert_eq!(judgements(&all, 20).await, vec![vec![Passing]; 3]);

    // The shared dependency goes: every replica sees it fail within one of its runs; none is
    // ever judged a local fault on the way (readiness holds throughout), all end in a shared
    // outage.
    for ok in &oks {
        ok.store(false, Ordering::SeqCst);
    }
    let seen = judgements(&all, 40).await;
    for seen in &seen {
        assert!(!seen.contains(&Local), "{seen:?}");
        assert_eq!(seen.last(), Some(&Shared), "{seen:?}");
        assert!(
            seen.iter()
                .all(|j| fleets[0].holds_readiness(*j) || *j == Passing)
        );
    }
    let view = fleets[1].view();
    let shared = view.shared("postgres").unwrap();
    assert_eq!((shared.failing, shared.replicas), (3, 3));
    let reason = fleets[1].judge("postgres").1.unwrap();
    assert!(
        reason.starts_with("shared outage: 3 of 3 replicas fail \"postgres\" since "),
        "{reason}"
    );
    let figures = fleets[1].figures();
    assert_eq!(figures.shared[0].judgement, Shared);

    // It comes back everywhere: no replica is judged a local fault on the way either (a
    // pass seen before this replica's next run is no evidence against it).
    for ok in &oks {
        ok.store(true, Ordering::SeqCst);
    }
    let seen = judgements(&all, 40).await;
    for seen in &seen {
        assert!(!seen.contains(&Local), "{seen:?}");
        assert_eq!(seen.last(), Some(&Passing), "{seen:?}");
    }

    // Only a's path breaks: a is pending until the others ran it since and passed, then a
    // local fault; b and c never fail.
    oks[0].store(false, Ordering::SeqCst);
    let seen = judgements(&all, 40).await;
    // (a's first failing run may come before the first look.)
    let a_seen: Vec<Judgement> = seen[0]
        .iter()
        .copied()
        .skip_while(|j| *j == Passing)
        .collect();
    assert_eq!(a_seen, [Pending, Local]);
    assert_eq!(seen[1], [Passing]);
    assert_eq!(seen[2], [Passing]);
    assert_eq!(
        fleets[0].judge("postgres").1.as_deref(),
        Some("only this replica fails \"postgres\" (1 of 3)")
    );
    assert!(!fleets[0].holds_readiness(Local));

    // The store goes while a fails: a judges alone, the local rule, and says why.
    store.down.store(true, Ordering::SeqCst);
    let seen = judgements(&all[..1], 20).await;
    let a_seen: Vec<Judgement> = seen[0]
        .iter()
        .copied()
        .skip_while(|j| *j == Local)
        .collect();
    assert_eq!(a_seen, [Judgement::Alone]);
    assert_eq!(
        fleets[0].judge("postgres").1.as_deref(),
        Some("judged alone: the fleet store is out of reach (Connection refused (os error 111))")
    );
}

#[tokio::test(start_paused = true)]
async fn the_shared_outage_policy_can_fail_readiness() {
    let store = Memory::default();
    let checker = HealthChecker::builder().build().unwrap();
    let fleet = Fleet::builder(checker, store)
        .id("a")
        .unwrap()
        .shared_outage(SharedOutage::NotReady)
        .build()
        .unwrap();
    assert!(!fleet.holds_readiness(Judgement::Shared));
    assert!(fleet.holds_readiness(Judgement::Pending));
}

/// A replica whose `partner-api` check runs once per fleet, every second, counting its runs.
fn once(store: &Memory, id: &str, runs: &Arc<std::sync::atomic::AtomicUsize>) -> Fleet {
    let runs = runs.clone();
    let check = Check::new("partner-api", move || {
        runs.fetch_add(1, Ordering::SeqCst);
        async { true }
    })
    .once_per_fleet()
    .background(Duration::from_secs(1));
    spawned(check, store, id)
}

fn runs_of(fleet: &Fleet) -> u64 {
    fleet.inner.checker.counters(Duration::ZERO)[0].runs
}

#[tokio::test(start_paused = true)]
async fn a_once_per_fleet_check_runs_on_the_lease_holder_only_and_moves_when_it_stops() {
    use std::sync::atomic::AtomicUsize;
    let store = Memory::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut fleets: Vec<Fleet> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| once(&store, id, &runs))
        .collect();
    intervals(3).await;
    // Before the first exchange each ran it once; from then on only the holder does.
    let holder = fleets
        .iter()
        .position(|f| f.view().once_per_fleet[0].this)
        .expect("one replica holds the lease");
    let before = runs.load(Ordering::SeqCst);
    let counted: Vec<u64> = fleets.iter().map(runs_of).collect();
    intervals(10).await;
    let ran = runs.load(Ordering::SeqCst) - before;
    assert!(
        (9..=11).contains(&ran),
        "{ran} runs in 10 s on four replicas"
    );
    for (at, fleet) in fleets.iter().enumerate() {
        let more = runs_of(fleet) - counted[at];
        assert_eq!(more > 0, at == holder, "replica {at}: {more} runs");
        let view = fleet.view();
        let run_by = view.once_per_fleet[0].run_by.as_deref();
        assert_eq!(run_by, Some(fleets[holder].id()));
    }
    // The others show the holder's result, with its age and who ran it.
    let other = &fleets[(holder + 1) % 4];
    let component = other.inner.checker.report().await.components.remove(0);
    assert_eq!(component.status, HealthStatus::Healthy);
    let message = component.message.unwrap();
    let by = format!("run once per fleet by {}, ", fleets[holder].id());
    assert!(message.starts_with(&by), "{message}");
    assert_eq!(component.metadata["run_by"], fleets[holder].id());

    // The holder stops: its lease expires (three intervals) and another replica takes it.
    let gone = fleets.remove(holder);
    let gone_id = gone.id().to_owned();
    drop(gone);
    let counted: Vec<u64> = fleets.iter().map(runs_of).collect();
    intervals(6).await;
    let runners: Vec<usize> = (0..3)
        .filter(|&at| runs_of(&fleets[at]) > counted[at])
        .collect();
    assert_eq!(runners.len(), 1, "one replica took over: {runners:?}");
    let view = fleets[0].view();
    let run_by = view.once_per_fleet[0].run_by.as_deref().unwrap();
    assert_ne!(run_by, gone_id);

    // Without the store, each replica runs it itself.
    store.down.store(true, Ordering::SeqCst);
    intervals(2).await;
    let counted: Vec<u64> = fleets.iter().map(runs_of).collect();
    intervals(3).await;
    assert!((0..3).all(|at| runs_of(&fleets[at]) > counted[at]));
    assert_eq!(fleets[0].view().once_per_fleet[0].run_by, None);
}

#[tokio::test(start_paused = true)]
async fn a_stale_peer_does_not_count_for_or_against_a_failure() {
    let store = Memory::default();
    let ok_a = Arc::new(AtomicBool::new(true));
    let ok_b = Arc::new(AtomicBool::new(true));
    let a = sharing(&store, "a", &ok_a);
    let b = sharing(&store, "b", &ok_b);
    intervals(2).await;
    assert_eq!(a.figures().fresh, 2);
    // b stops while it passed: its last record still says so, but once stale it is no
    // witness — a's failure is judged alone, by the local rule.
    drop(b);
    intervals(4).await;
    assert_eq!((a.figures().fresh, a.figures().stale), (1, 1));
    ok_a.store(false, Ordering::SeqCst);
    intervals(2).await;
    let (judgement, reason) = a.judge("postgres");
    assert_eq!(judgement, Judgement::Alone);
    assert_eq!(
        reason.as_deref(),
        Some("judged alone: no fresh replica besides this one runs \"postgres\"")
    );
    let shared = a.view().shared[0].clone();
    assert_eq!((shared.failing, shared.replicas), (1, 1));
}

/// Replica `fleet`'s `postgres`: whether its last run failed.
fn failing(fleet: &Fleet) -> bool {
    fleet
        .inner
        .checker
        .latest()
        .any(|(_, _, latest)| latest.is_some_and(|latest| latest.status == HealthStatus::Unhealthy))
}

/// Five replicas of the fleet `shop`, checking `postgres` every 500 ms (as the axum example
/// does) and publishing every second (the default), started at odd moments so that their runs
/// and exchanges fall at different points of an interval; each passes while its flag holds
/// and counts its runs. Once all see each other.
async fn five_at_odd_phases(store: &Memory) -> (Vec<Fleet>, Vec<Arc<AtomicBool>>, Vec<Runs>) {
    let oks: Vec<Arc<AtomicBool>> = (0..5).map(|_| Arc::new(AtomicBool::new(true))).collect();
    let runs: Vec<Runs> = (0..5).map(|_| Arc::default()).collect();
    let mut fleets = Vec::new();
    for (at, (ok, runs)) in oks.iter().zip(&runs).enumerate() {
        let (ok, runs) = (ok.clone(), runs.clone());
        let check = Check::new("postgres", move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let ok = ok.load(Ordering::SeqCst);
            async move { ok }
        })
        .shared()
        .background(Duration::from_millis(500));
        fleets.push(spawned(check, store, &format!("replica-{at}")));
        tokio::time::sleep(Duration::from_millis(170 + 90 * at as u64)).await;
    }
    intervals(3).await;
    assert!(fleets.iter().all(|f| f.figures().fresh == 5));
    (fleets, oks, runs)
}

type Runs = Arc<AtomicU64>;

/// Asserts that replicas 1 to 4 ran the check at most `extra` times each besides their
/// schedule (every 500 ms, less 10 % jitter) since `start`, when they had run it `before`.
fn at_most_extra_runs(runs: &[Runs], (before, start): (&[u64], Instant), extra: u64) {
    let scheduled = (start.elapsed().as_millis() * 10 / 9 / 500) as u64 + 1;
    for (at, runs) in runs.iter().enumerate().skip(1) {
        let ran = runs.load(Ordering::SeqCst) - before[at];
        assert!(
            ran <= scheduled + extra,
            "replica-{at}: {ran} runs, {scheduled} scheduled"
        );
    }
}

fn counts(runs: &[Runs]) -> Vec<u64> {
    runs.iter().map(|r| r.load(Ordering::SeqCst)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_local_fault_is_judged_within_two_intervals_of_its_onset_whatever_the_phases() {
    let store = Memory::default();
    let step = Duration::from_millis(10);
    let (fleets, oks, runs) = five_at_odd_phases(&store).await;
    let mut slowest = (Duration::ZERO, Duration::ZERO);
    let (start, before) = (Instant::now(), counts(&runs));
    // The fault begins at 13 points of an interval: each time replica 0 alone is judged a
    // local fault within two intervals, the others never fail.
    for trial in 0..13u64 {
        tokio::time::sleep(Duration::from_millis(77 * trial + 3)).await;
        let began = Instant::now();
        oks[0].store(false, Ordering::SeqCst);
        let mut detected = None;
        let took = loop {
            tokio::time::sleep(step).await;
            tokio::task::yield_now().await;
            if detected.is_none() && failing(&fleets[0]) {
                detected = Some(began.elapsed());
            }
            assert!(!fleets[1..].iter().any(failing), "trial {trial}");
            if fleets[0].judge("postgres").0 == Judgement::Local {
                break began.elapsed();
            }
            assert!(began.elapsed() < Duration::from_secs(10), "trial {trial}");
        };
        // At most: the check's interval (+ 10 % jitter) to see it, a quarter interval to
        // publish it, an interval for the others' next read (they run it again and publish
        // at once), an eighth for replica 0's next look while pending (it runs it again and
        // judges) — give or take the test's steps. Within two intervals of the fault.
        let slack = step * 2;
        let most = Duration::from_millis(550 + 250 + 1_000 + 125) + slack;
        assert!(took <= most, "trial {trial}: {took:?}");
        let detected = detected.unwrap_or(took);
        let after = Duration::from_millis(250 + 1_000 + 125) + slack;
        assert!(
            took - detected <= after,
            "trial {trial}: {took:?}, seen at {detected:?}"
        );
        slowest = (slowest.0.max(took), slowest.1.max(took - detected));
        oks[0].store(true, Ordering::SeqCst);
        let passing = |fleet: &Fleet| {
            let view = fleet.view();
            let judged = view.shared("postgres").map(|shared| shared.judgement);
            !failing(fleet) && judged == Some(Judgement::Passing)
        };
        let back = Instant::now();
        while !passing(&fleets[0]) {
            tokio::time::sleep(step).await;
            assert!(back.elapsed() < Duration::from_secs(10), "trial {trial}");
        }
    }
    // What it cost the others: at most one run besides their own schedule's per fault.
    at_most_extra_runs(&runs, (&before, start), 13);
    eprintln!(
        "local fault judged at most {:?} after its onset, {:?} after the check showed it",
        slowest.0, slowest.1
    );
}

#[tokio::test(start_paused = true)]
async fn a_lasting_local_fault_costs_the_others_one_run_each() {
    let store = Memory::default();
    let (fleets, oks, runs) = five_at_odd_phases(&store).await;
    let (start, before) = (Instant::now(), counts(&runs));
    oks[0].store(false, Ordering::SeqCst);
    intervals(20).await;
    assert_eq!(fleets[0].judge("postgres").0, Judgement::Local);
    at_most_extra_runs(&runs, (&before, start), 1);
}
