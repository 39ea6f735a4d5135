//! One exchange with the store: this replica's record made from the checker's last results,
//! published; the peers' records read, parsed within bounds and remembered; the view made anew.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::judge::{self, Judging, Own, SharedCheck, Sight};
use super::record::{CheckRecord, FORMAT, MAX_RECORD_CHECKS, Record, Refused};
use super::store::{Exchange, Leases, StoreError};
use super::view::{self, FleetView, StoreState};
use super::{Inner, KEEP_TTLS, TTL_INTERVALS, unix_ms};
use crate::checker::{Borrowed, Gate};
use crate::health_report::HealthStatus;
use crate::metrics::MetricsCollector;

/// What the exchanges have taught this replica.
#[derive(Default)]
pub(super) struct Memory {
    /// Every other process's record, by id and process number.
    peers: HashMap<(String, u64), Peer>,
    /// Whether the last exchange succeeded, why not, and since when.
    store: (bool, Option<String>, Option<SystemTime>),
    /// Whether another process under this replica's id was logged (once while it lasts).
    warned_duplicate: bool,
    /// Each shared check's judgement, carried from one exchange to the next.
    judging: HashMap<String, Judging>,
    /// Each once-per-fleet check's lease holder (`<process>:<id>`), from the last exchange
    /// (empty when the store did not answer: every replica runs them itself).
    leases: HashMap<String, String>,
    /// Whether the store's refusal to keep leases was logged (once while it lasts).
    warned_leases: bool,
    /// The peers' failures of a shared check this replica ran the check again for.
    answered: Answered,
    /// The shared checks the last judgement wants a fresh result of.
    rerun: Vec<String>,
}

/// By peer (process number) and check, the onset of the failure (by the peer's clock) this
/// replica last ran the check again for.
type Answered = HashMap<(u64, String), u64>;

struct Peer {
    record: Record,
    seen: Instant,
    /// Read in the last exchange.
    fresh: bool,
    /// Its publication count moved on since the exchange before: the process is alive (a
    /// restarted one's old record stands until it expires, without moving).
    advanced: bool,
}

/// Publishes and reads every interval while a handle lives, and besides so that a shared
/// check is judged on fresh results: soon after a check's status or the lifecycle phase
/// changes (at most four times an interval), as soon as a run the fleet asked for has
/// finished, and eight times an interval while a shared check's judgement is pending.
pub(super) async fn run(weak: Weak<Inner>, interval: Duration) {
    let Some((checker, ran)) = weak
        .upgrade()
        .map(|inner| (inner.checker.clone(), inner.ran.clone()))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        let pending = weak.upgrade().is_some_and(|inner| inner.pending());
        tokio::select! {
            _ = ticks.tick() => {}
            () = checker.changed() => {
                tokio::time::sleep_until(last + interval / 4).await;
                ticks.reset();
            }
            () = ran.notified() => ticks.reset(),
            () = tokio::time::sleep_until(last + interval / 8), if pending => ticks.reset(),
        }
        let Some(inner) = weak.upgrade() else { return };
        inner.exchange().await;
        last = Instant::now();
    }
}

impl Inner {
    /// This replica's record now, from the checks' last results: nothing is run.
    fn record(&self) -> Record {
        let now = Instant::now();
        let checks: Vec<CheckRecord> = self
            .checker
            .latest()
            .take(MAX_RECORD_CHECKS)
            .map(|(name, _, latest)| CheckRecord {
                n: name.to_owned(),
                s: latest.map(|latest| latest.status),
                age: latest.map(|latest| {
                    let age = now.saturating_duration_since(latest.completed);
                    crate::round::round3(age.as_secs_f64())
                }),
                held: latest.map(|latest| {
                    let held = now.saturating_duration_since(latest.since);
                    crate::round::round3(held.as_secs_f64())
                }),
            })
            .collect();
        let status =
            HealthStatus::worst(checks.iter().map(|c| c.s.unwrap_or(HealthStatus::Unknown)));
        let window = self.metrics.as_ref().map(MetricsCollector::window);
        let seconds = window
            .as_ref()
            .map(|w| w.span.as_secs_f64())
            .filter(|s| *s > 0.0);
        Record {
            v: FORMAT,
            id: self.id.clone(),
            inst: self.inst,
            ver: self.version.clone(),
            phase: self.checker.lifecycle().phase.as_str().to_owned(),
            status,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            at: unix_ms(crate::clock::now()),
            up: self.checker.uptime().as_secs_f64(),
            rps: window
                .as_ref()
                .zip(seconds)
                .map(|(w, s)| w.count as f64 / s),
            err: window.as_ref().and_then(|w| w.error_rate),
            p95: window
                .as_ref()
                .filter(|w| w.count > 0)
                .map(|w| w.latency.p95.as_secs_f64()),
            checks,
        }
    }

    /// One exchange with the store, and the view made anew from what it brought.
    pub(super) async fn exchange(&self) {
        let own = self.record();
        let bytes = own.encode();
        let exchange = Exchange {
            fleet: &self.name,
            id: &self.id,
            instance: self.inst,
            record: &bytes,
            ttl: self.interval * TTL_INTERVALS,
            max: self.max,
        };
        let started = Instant::now();
        let answer = tokio::time::timeout(self.interval, self.store.exchange(exchange)).await;
        let took = started.elapsed();
        self.figures.last_exchange_nanos.store(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.figures.exchanges.fetch_add(1, Ordering::Relaxed);
        let answer = match answer {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::new(format!(
                "no answer within {} ms",
                self.interval.as_millis()
            ))),
        };
        if answer.is_err() {
            self.figures.failures.fetch_add(1, Ordering::Relaxed);
        }
        let leases = match answer {
            Ok(_) => self.leases().await,
            Err(_) => HashMap::new(),
        };
        let me = self.member();
        let before = std::mem::replace(&mut self.memory.lock().leases, leases.clone());
        for (check, holder) in &leases {
            // Taken over from another replica: run it now rather than at the next tick.
            let other = before.get(check).is_some_and(|was| *was != me);
            if *holder == me && other {
                self.run_now(check);
            }
        }
        let view = self.learn(&own, answer);
        *self.view.write() = Arc::new(view);
        let rerun = std::mem::take(&mut self.memory.lock().rerun);
        for check in &rerun {
            self.run_now(check);
        }
    }

    /// Runs `check` now (unless a run is under way) and publishes its result as soon as it
    /// is made.
    fn run_now(&self, check: &str) {
        if let Some(run) = self.checker.run_now(check) {
            let ran = self.ran.clone();
            tokio::spawn(async move {
                // A run that panicked left its result all the same.
                let _ = run.await;
                ran.notify_one();
            });
        }
    }

    /// Whether a shared check's judgement waits on the fleet's next results.
    fn pending(&self) -> bool {
        let memory = self.memory.lock();
        memory.judging.values().any(Judging::pending)
    }

    /// The judgement `check` was last under while failing here.
    #[cfg(feature = "http-client")]
    pub(super) fn last_failing(&self, check: &str) -> super::Judgement {
        let memory = self.memory.lock();
        let judging = memory.judging.get(check);
        judging.map_or(super::Judgement::Passing, |j| j.last_failing)
    }

    /// This process as the store names it: `<process number in 16 hex digits>:<id>`.
    fn member(&self) -> String {
        format!("{:016x}:{}", self.inst, self.id)
    }

    /// Takes or renews the once-per-fleet checks' leases: who holds each.
    async fn leases(&self) -> HashMap<String, String> {
        let names: Vec<&str> = self.checker.once_per_fleet().collect();
        if names.is_empty() {
            return HashMap::new();
        }
        let holder = self.member();
        let leases = Leases {
            fleet: &self.name,
            holder: &holder,
            names: &names,
            ttl: self.interval * TTL_INTERVALS,
        };
        let answer = tokio::time::timeout(self.interval, self.store.leases(leases)).await;
        let answer = match answer {
            Ok(Ok(holders)) if holders.len() == names.len() => Ok(holders),
            Ok(Ok(_)) => Err("the store answered another number of leases".to_owned()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.interval.as_millis())),
        };
        let mut memory = self.memory.lock();
        match answer {
            Ok(holders) => {
                memory.warned_leases = false;
                names.into_iter().map(str::to_owned).zip(holders).collect()
            }
            Err(error) => {
                if !memory.warned_leases {
                    tracing::warn!(
                        fleet = %self.name, %error,
                        "fleet leases out of reach: each replica runs its once-per-fleet checks itself"
                    );
                }
                memory.warned_leases = true;
                HashMap::new()
            }
        }
    }

    /// Takes in an exchange's answer and makes the view.
    fn learn(&self, own: &Record, answer: Result<Vec<Vec<u8>>, StoreError>) -> FleetView {
        let now = Instant::now();
        let mut memory = self.memory.lock();
        let (was, _, since) = memory.store;
        let reachable = answer.is_ok();
        if since.is_none() || reachable != was {
            match &answer {
                Err(error) => tracing::warn!(
                    fleet = %self.name, %error,
                    "fleet store out of reach: this replica judges alone until it answers"
                ),
                Ok(_) if since.is_some() => {
                    tracing::info!(fleet = %self.name, "fleet store reachable again");
                }
                Ok(_) => {}
            }
            memory.store = (reachable, None, Some(crate::clock::now()));
        }
        for peer in memory.peers.values_mut() {
            peer.fresh = false;
        }
        match answer {
            Ok(records) => {
                memory.store.1 = None;
                self.take_in(&mut memory, records, now);
            }
            Err(error) => memory.store.1 = Some(error.to_string()),
        }
        let keep = self.interval * TTL_INTERVALS * KEEP_TTLS;
        memory
            .peers
            .retain(|_, peer| now.saturating_duration_since(peer.seen) <= keep);
        let Memory {
            peers, answered, ..
        } = &mut *memory;
        answered.retain(|(inst, _), _| peers.keys().any(|(_, known)| known == inst));
        self.view_of(&mut memory, own, now)
    }

    /// The records an exchange brought, parsed and checked.
    fn take_in(&self, memory: &mut Memory, records: Vec<Vec<u8>>, now: Instant) {
        let now_ms = unix_ms(crate::clock::now());
        for bytes in records.into_iter().take(self.max) {
            let record = match Record::decode(&bytes, now_ms) {
                Ok(record) => record,
                Err(why) => {
                    let at = Refused::ALL.iter().position(|w| *w == why).unwrap_or(0);
                    self.figures.refused[at].fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            if record.id == self.id && record.inst == self.inst {
                continue;
            }
            let key = (record.id.clone(), record.inst);
            let room = memory.peers.len() < self.max;
            match memory.peers.get_mut(&key) {
                Some(peer) => {
                    peer.advanced = record.seq != peer.record.seq;
                    peer.record = record;
                    peer.seen = now;
                    peer.fresh = true;
                }
                None if room => {
                    let peer = Peer {
                        record,
                        seen: now,
                        fresh: true,
                        advanced: false,
                    };
                    memory.peers.insert(key, peer);
                }
                None => {}
            }
        }
    }

    fn view_of(&self, memory: &mut Memory, own: &Record, now: Instant) -> FleetView {
        let wall = crate::clock::now();
        // Two live processes under one id: both publish, both records move on.
        let live = |id: &str| {
            memory
                .peers
                .iter()
                .filter(|((peer, _), p)| peer == id && p.fresh && p.advanced)
                .count()
        };
        let mut this = view::Replica::of(own, true, true, (wall, Duration::ZERO));
        this.duplicate = live(&self.id) > 0;
        if this.duplicate && !memory.warned_duplicate {
            tracing::error!(fleet = %self.name, id = %self.id, "another process publishes under this replica's id");
        }
        memory.warned_duplicate = this.duplicate;
        let mut peers: Vec<view::Replica> = memory
            .peers
            .iter()
            .map(|((id, _), peer)| {
                let ago = now.saturating_duration_since(peer.seen);
                let seen = wall.checked_sub(ago).unwrap_or(wall);
                let mut replica = view::Replica::of(&peer.record, false, peer.fresh, (seen, ago));
                let twins = live(id) + usize::from(*id == self.id);
                replica.duplicate = peer.fresh && peer.advanced && twins > 1;
                replica
            })
            .collect();
        peers.sort_by(|a, b| a.id.cmp(&b.id).then(b.fresh.cmp(&a.fresh)));
        let mut replicas = Vec::with_capacity(peers.len() + 1);
        replicas.push(this);
        replicas.extend(peers);
        let shared = self.judge(memory, own);
        let own_lease = self.member();
        let once_per_fleet = self
            .checker
            .once_per_fleet()
            .map(|check| {
                let holder = memory.leases.get(check);
                view::OnceCheck {
                    check: check.to_owned(),
                    run_by: holder
                        .and_then(|h| h.split_once(':'))
                        .map(|(_, id)| id.to_owned()),
                    this: holder == Some(&own_lease),
                }
            })
            .collect();
        FleetView {
            fleet: self.name.clone(),
            this: self.id.clone(),
            store: StoreState {
                reachable: memory.store.0,
                error: memory.store.1.clone(),
                since: memory.store.2,
            },
            replicas,
            shared,
            once_per_fleet,
        }
    }

    /// Each shared check judged against the fresh peers' last results for it.
    fn judge(&self, memory: &mut Memory, own: &Record) -> Vec<SharedCheck> {
        let wall = crate::clock::now();
        let blind = match (memory.store.0, &memory.store.1) {
            (true, _) => None,
            (false, Some(error)) => Some(format!("the fleet store is out of reach ({error})")),
            (false, None) => Some("no exchange with the fleet store yet".to_owned()),
        };
        let mut shared = Vec::new();
        for (name, is_shared, latest) in self.checker.latest() {
            if !is_shared {
                continue;
            }
            let own_result = Own {
                status: latest.map(|latest| latest.status),
                since_ms: latest.map_or(0, |l| unix_ms(crate::clock::wall_of(l.since))),
                completed_ms: latest.map_or(0, |l| unix_ms(crate::clock::wall_of(l.completed))),
            };
            let peers: Vec<judge::Peer<'_>> = memory
                .peers
                .values()
                .filter(|peer| peer.fresh)
                .filter_map(|peer| {
                    let check = peer.record.checks.iter().find(|c| c.n == name)?;
                    let at_ms = check.made_at(peer.record.at)?;
                    Some(judge::Peer {
                        key: peer.record.inst,
                        version: &peer.record.ver,
                        status: check.s?,
                        at_ms,
                        since_ms: check.since(peer.record.at).unwrap_or(at_ms),
                    })
                })
                .collect();
            let sight = match &blind {
                Some(why) => Sight::Blind(why),
                None => Sight::Fleet(&peers),
            };
            let state = match memory.judging.get_mut(name) {
                Some(state) => state,
                None => memory
                    .judging
                    .entry(name.to_owned())
                    .or_insert_with(|| Judging::new(wall)),
            };
            let judged = judge::judge(name, (own_result, &own.ver), sight, state, wall);
            let asked = (name, own_result, &judged);
            if wants_fresh_run(asked, &peers, &mut memory.answered) {
                memory.rerun.push(name.to_owned());
            }
            if judged.judgement != judge::Judgement::Passing && judged.since == wall {
                tracing::warn!(
                    fleet = %self.name, check = name, judgement = judged.judgement.as_str(),
                    reason = judged.reason.as_deref().unwrap_or(""),
                    "shared check judged against the fleet"
                );
            }
            shared.push(judged);
        }
        shared
    }
}

/// Whether this replica should run a shared check again now rather than at its next tick, so
/// that the fleet judges on results made after what it has just learnt:
/// - it passes here, as of a run older than a peer's failure of it, which it has not run it
///   again for yet — the peer needs to know whether it fails alone;
/// - it fails here, pending, and peers passed it since this replica's latest run — only a
///   failing run here after their passes makes them evidence of a local fault.
fn wants_fresh_run(
    (check, own, judged): (&str, Own, &SharedCheck),
    peers: &[judge::Peer<'_>],
    answered: &mut Answered,
) -> bool {
    let Some(status) = own.status else {
        return false;
    };
    if status == HealthStatus::Unhealthy {
        return judged.judgement == judge::Judgement::Pending
            && peers.iter().any(|peer| {
                peer.status != HealthStatus::Unhealthy && peer.at_ms > own.completed_ms
            });
    }
    let mut wanted = false;
    for peer in peers {
        if peer.status != HealthStatus::Unhealthy || peer.since_ms <= own.completed_ms {
            continue;
        }
        let key = (peer.key, check.to_owned());
        // (A peer's onset is the same within a few milliseconds of rounding from one record
        // to the next.)
        let seen = answered
            .get(&key)
            .is_some_and(|at| at.abs_diff(peer.since_ms) <= 5);
        if !seen {
            answered.insert(key, peer.since_ms);
            wanted = true;
        }
    }
    wanted
}

impl Gate for Inner {
    /// A once-per-fleet check's result from the replica holding its lease, unless this one
    /// holds it or no holder is known (then this replica runs it).
    fn borrow(&self, check: &str) -> Option<Borrowed> {
        let memory = self.memory.lock();
        let holder = memory.leases.get(check)?;
        let (inst, id) = holder.split_once(':')?;
        let inst = u64::from_str_radix(inst, 16).ok()?;
        if inst == self.inst && id == self.id {
            return None;
        }
        let result = memory
            .peers
            .get(&(id.to_owned(), inst))
            // A holder gone stale still shows its last result (older each time) until its
            // lease expires and another replica takes over.
            .and_then(|peer| {
                let record = peer.record.checks.iter().find(|c| c.n == check)?;
                let age = Duration::try_from_secs_f64(record.age.unwrap_or(0.0)).ok()?;
                Some((record.s?, age + peer.seen.elapsed()))
            });
        Some(Borrowed {
            status: result.map(|(status, _)| status),
            age: result.map_or(Duration::ZERO, |(_, age)| age),
            by: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::{Healthy, Unhealthy};

    const T0: u64 = 1_765_000_000_000;

    fn judged(judgement: judge::Judgement) -> SharedCheck {
        SharedCheck {
            check: "db".to_owned(),
            judgement,
            replicas: 3,
            failing: 1,
            since: SystemTime::UNIX_EPOCH,
            reason: None,
        }
    }

    fn peer(key: u64, status: HealthStatus, at_ms: u64, since_ms: u64) -> judge::Peer<'static> {
        judge::Peer {
            key,
            version: "1",
            status,
            at_ms,
            since_ms,
        }
    }

    #[test]
    fn a_passing_replica_runs_again_once_per_peer_failure_newer_than_its_run() {
        let own = Own {
            status: Some(Healthy),
            since_ms: T0 - 60_000,
            completed_ms: T0,
        };
        let passing = judged(judge::Judgement::Passing);
        let mut answered = Answered::new();
        let mut wants = |peers: &[judge::Peer<'_>]| {
            wants_fresh_run(("db", own, &passing), peers, &mut answered)
        };
        // A failure older than this replica's run: its result already answers it.
        assert!(!wants(&[peer(1, Unhealthy, T0 - 10, T0 - 10)]));
        // A newer one: once, however many records show it (its onset a millisecond off by
        // rounding), even with a clock ahead of this one.
        assert!(wants(&[peer(1, Unhealthy, T0 + 400, T0 + 300)]));
        assert!(!wants(&[peer(1, Unhealthy, T0 + 900, T0 + 301)]));
        assert!(!wants(&[peer(1, Unhealthy, T0 + 1_400, T0 + 299)]));
        // The same peer's next failure, or another peer's: again.
        assert!(wants(&[peer(1, Unhealthy, T0 + 5_000, T0 + 4_000)]));
        assert!(wants(&[peer(2, Unhealthy, T0 + 5_000, T0 + 4_000)]));
        // Passing peers ask for nothing.
        assert!(!wants(&[peer(3, Healthy, T0 + 5_000, T0 + 5_000)]));
    }

    #[test]
    fn a_failing_replica_runs_again_while_pending_once_peers_passed_since_its_run() {
        let own = Own {
            status: Some(Unhealthy),
            since_ms: T0 - 1_000,
            completed_ms: T0,
        };
        let mut answered = Answered::new();
        let newer = [peer(1, Healthy, T0 + 200, T0 - 60_000)];
        let older = [peer(1, Healthy, T0 - 200, T0 - 60_000)];
        let pending = judged(judge::Judgement::Pending);
        assert!(wants_fresh_run(
            ("db", own, &pending),
            &newer,
            &mut answered
        ));
        assert!(!wants_fresh_run(
            ("db", own, &pending),
            &older,
            &mut answered
        ));
        // Judged already: nothing to run for.
        for judgement in [judge::Judgement::Local, judge::Judgement::Shared] {
            let judged = judged(judgement);
            assert!(!wants_fresh_run(
                ("db", own, &judged),
                &newer,
                &mut answered
            ));
        }
    }
}
