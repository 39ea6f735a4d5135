//! How this replica judges a [shared](crate::Check::shared) check that fails here: against the
//! fresh replicas' last results for it, at each exchange.
//!
//! - **Shared outage**: it fails on a majority of the fresh replicas that run it (this one
//!   included): readiness stays ready by default — pulling every replica would only trade the
//!   app's fast error for refused connections.
//! - **Local fault**: at least half of them passed it *between this replica's first failure
//!   and a later failing run here* (and pass still) — evidence, not an old pass from before the
//!   outage reached them, nor one from after the dependency came back that this replica has
//!   not met yet — or it fails only on this replica's version while replicas of other
//!   versions pass (a bad release mid-rollout). Readiness fails.
//! - **Pending**: neither yet (the others have not run it since): readiness holds as it was
//!   while the fleet catches up, at most until their next results are read. The others run
//!   it again as soon as they read that it began to fail here, this replica looks eight times
//!   an interval while pending and runs it again once they passed since its latest run: a
//!   local fault is told within 1.4 intervals of its first failing run.
//! - **Alone**: no fresh view — the store out of reach, no exchange yet, or no fresh replica
//!   besides this one runs the check: the local rule, said in the reason.
//!
//! Leaving a shared outage takes two exchanges in a row that say so (a flapping peer does not
//! flip it); stale replicas, and those that do not run the check (another version), do not
//! count.

use std::time::SystemTime;

use serde::Serialize;

use crate::clock::Rfc3339;
use crate::health_report::HealthStatus;
pub use crate::health_report::Judgement;

/// Exchanges in a row that must point away from a shared outage before it is left.
const LEAVE_SHARED: u32 = 2;

/// A shared check across the fleet, as this replica judged it at the last exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SharedCheck {
    /// The check's name.
    pub check: String,
    /// The judgement it is under here.
    pub judgement: Judgement,
    /// Fresh replicas with a result for it, this one included.
    pub replicas: usize,
    /// Of those, the ones it fails on (`unhealthy`).
    pub failing: usize,
    /// When the judgement began.
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    pub since: SystemTime,
    /// Why, in one line (absent while it passes here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// This replica's last result for the check, on the wall clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Own {
    pub(super) status: Option<HealthStatus>,
    /// When the shown status began (the failure's onset when it fails).
    pub(super) since_ms: u64,
    /// When the latest run finished.
    pub(super) completed_ms: u64,
}

/// A fresh peer's last result for the check.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer<'a> {
    /// Its process number.
    pub(super) key: u64,
    pub(super) version: &'a str,
    pub(super) status: HealthStatus,
    /// When that result was made, by the peer's clock.
    pub(super) at_ms: u64,
    /// When its status began, by the peer's clock.
    pub(super) since_ms: u64,
}

/// What the fleet looks like to the judge this exchange.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sight<'a> {
    /// The store answered; these are the fresh peers' results for the check.
    Fleet(&'a [Peer<'a>]),
    /// The store did not answer, or no exchange yet: why.
    Blind(&'a str),
}

/// What a check's judgement carries from one exchange to the next.
#[derive(Debug, Clone)]
pub(super) struct Judging {
    judgement: Judgement,
    /// The judgement it was last under while failing here (a recovery from a shared outage
    /// is the fleet's, one from a local fault this replica's).
    pub(super) last_failing: Judgement,
    since: SystemTime,
    /// Exchanges in a row that pointed away from a shared outage while under one.
    leaving: u32,
    /// The failure here the witnesses are of (its onset), and the peers (by process number)
    /// seen passing between its onset and a later failing run here, still passing since.
    onset: u64,
    witnesses: Vec<u64>,
}

impl Judging {
    /// Whether the judgement waits on the fleet's next results.
    pub(super) fn pending(&self) -> bool {
        self.judgement == Judgement::Pending
    }

    pub(super) fn new(now: SystemTime) -> Self {
        Self {
            judgement: Judgement::Passing,
            last_failing: Judgement::Passing,
            since: now,
            leaving: 0,
            onset: 0,
            witnesses: Vec::new(),
        }
    }
}

/// Judges `check` this exchange, from this replica's result, its version and what it sees of
/// the fleet, carrying `state` over.
pub(super) fn judge(
    check: &str,
    (own, version): (Own, &str),
    sight: Sight<'_>,
    state: &mut Judging,
    now: SystemTime,
) -> SharedCheck {
    let peers = match sight {
        Sight::Fleet(peers) => peers,
        Sight::Blind(_) => &[],
    };
    let here = own.status.is_some();
    let failing_here = own.status == Some(HealthStatus::Unhealthy);
    let failing_peers = peers.iter().filter(|p| fails(p.status)).count();
    let replicas = peers.len() + usize::from(here);
    let failing = failing_peers + usize::from(failing_here);
    let (next, reason) = if !failing_here {
        (Judgement::Passing, None)
    } else {
        let name = format!("{check:?}");
        match sight {
            Sight::Blind(why) => (Judgement::Alone, Some(format!("judged alone: {why}"))),
            Sight::Fleet([]) => {
                let why = format!("no fresh replica besides this one runs {name}");
                (Judgement::Alone, Some(format!("judged alone: {why}")))
            }
            Sight::Fleet(peers) => {
                witness(state, own, peers);
                let tally = (failing, replicas);
                weigh(&name, (own, version), (peers, &state.witnesses), tally)
            }
        }
    };
    let next = hold_shared(state, next);
    if next != Judgement::Passing {
        state.last_failing = next;
    }
    if next != state.judgement {
        state.judgement = next;
        state.since = now;
    }
    let reason = match (next, reason) {
        // Held in a shared outage for one more exchange: it still says so.
        (Judgement::Shared, _) => Some(shared_reason(check, failing, replicas, own)),
        (_, reason) => reason,
    };
    SharedCheck {
        check: check.to_owned(),
        judgement: next,
        replicas,
        failing,
        since: state.since,
        reason,
    }
}

/// Keeps the peers that passed between this failure's onset and a later failing run here —
/// they ran it while this replica was failing, and it worked there — for as long as they
/// pass. A pass after this replica's latest run is no such evidence yet: the dependency may
/// have come back before this replica ran the check again.
fn witness(state: &mut Judging, own: Own, peers: &[Peer<'_>]) {
    if state.onset != own.since_ms {
        state.onset = own.since_ms;
        state.witnesses.clear();
    }
    let window = own.since_ms..=own.completed_ms;
    for peer in peers {
        let known = state.witnesses.iter().position(|key| *key == peer.key);
        match (fails(peer.status), known) {
            (true, Some(at)) => {
                state.witnesses.swap_remove(at);
            }
            (false, None) if window.contains(&peer.at_ms) => state.witnesses.push(peer.key),
            _ => {}
        }
    }
    // Peers gone from the fleet's fresh records are no witnesses any more.
    state
        .witnesses
        .retain(|key| peers.iter().any(|peer| peer.key == *key));
}

/// The judgement of a check failing here with fresh peers that run it.
fn weigh(
    name: &str,
    (own, version): (Own, &str),
    (peers, witnesses): (&[Peer<'_>], &[u64]),
    (failing, replicas): (usize, usize),
) -> (Judgement, Option<String>) {
    let evidence = |p: &&Peer<'_>| !fails(p.status) && witnesses.contains(&p.key);
    let other = |p: &&Peer<'_>| p.version != version;
    let others = peers.iter().filter(other).count();
    let others_failing = peers
        .iter()
        .filter(other)
        .filter(|p| fails(p.status))
        .count();
    let others_evidence = peers.iter().filter(other).filter(evidence).count();
    let own_version = replicas - others;
    if others > 0 && others_failing == 0 && others_evidence > 0 && !version.is_empty() {
        let reason = format!(
            "local fault: only version {version} fails {name} ({} of {own_version} on it fail; \
             {others} on other versions pass)",
            failing
        );
        return (Judgement::Local, Some(reason));
    }
    if failing * 2 > replicas {
        return (Judgement::Shared, None);
    }
    let evidence = peers.iter().filter(evidence).count();
    if evidence * 2 >= replicas {
        let reason = if failing == 1 {
            format!("only this replica fails {name} (1 of {replicas})")
        } else {
            format!(
                "local fault: {failing} of {replicas} replicas fail {name}, {} pass",
                replicas - failing
            )
        };
        return (Judgement::Local, Some(reason));
    }
    let reason = format!(
        "fails here since {}; judging against the fleet: {evidence} of {} other replicas ran \
         it since and passed, {} fail (readiness holds until half the fleet has run it)",
        Rfc3339::seconds(from_ms(own.since_ms)),
        replicas - 1,
        failing - 1,
    );
    (Judgement::Pending, Some(reason))
}

/// A shared outage is left only after [`LEAVE_SHARED`] exchanges in a row point away from it.
fn hold_shared(state: &mut Judging, next: Judgement) -> Judgement {
    let leaving = state.judgement == Judgement::Shared
        && matches!(next, Judgement::Local | Judgement::Pending);
    if !leaving {
        state.leaving = 0;
        return next;
    }
    state.leaving += 1;
    if state.leaving >= LEAVE_SHARED {
        state.leaving = 0;
        next
    } else {
        Judgement::Shared
    }
}

fn shared_reason(check: &str, failing: usize, replicas: usize, own: Own) -> String {
    format!(
        "shared outage: {failing} of {replicas} replicas fail {check:?} since {}",
        Rfc3339::seconds(from_ms(own.since_ms))
    )
}

fn fails(status: HealthStatus) -> bool {
    status == HealthStatus::Unhealthy
}

fn from_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::{Healthy, Unhealthy};

    const T0: u64 = 1_765_000_000_000;

    fn failing_since(since_ms: u64, completed_ms: u64) -> Own {
        Own {
            status: Some(Unhealthy),
            since_ms,
            completed_ms,
        }
    }

    /// Peer number `key`'s result.
    fn peer(key: u64, status: HealthStatus, at_ms: u64) -> Peer<'static> {
        Peer {
            key,
            version: "1.0",
            status,
            at_ms,
            since_ms: at_ms,
        }
    }

    fn run(own: Own, peers: &[Peer<'_>], state: &mut Judging) -> SharedCheck {
        let now = from_ms(own.completed_ms);
        judge("postgres", (own, "1.0"), Sight::Fleet(peers), state, now)
    }

    #[test]
    fn failing_on_most_replicas_is_a_shared_outage_at_once() {
        let mut state = Judging::new(from_ms(T0));
        let own = failing_since(T0, T0 + 500);
        let peers = [
            peer(0, Unhealthy, T0 + 100),
            peer(1, Unhealthy, T0 - 2_000),
            peer(2, Healthy, T0 - 900),
            peer(3, Unhealthy, T0 + 300),
            peer(4, Unhealthy, T0 + 400),
        ];
        let judged = run(own, &peers, &mut state);
        assert_eq!(judged.judgement, Judgement::Shared);
        assert_eq!((judged.failing, judged.replicas), (5, 6));
        assert_eq!(
            judged.reason.as_deref(),
            Some("shared outage: 5 of 6 replicas fail \"postgres\" since 2025-12-06T05:46:40Z")
        );
    }

    #[test]
    fn a_local_fault_needs_passes_made_after_the_failure_began() {
        let mut state = Judging::new(from_ms(T0));
        // The peers' passes are older than this replica's failure: they may not have met the
        // outage yet.
        let old = [peer(0, Healthy, T0 - 800), peer(1, Healthy, T0 - 300)];
        let judged = run(failing_since(T0, T0 + 200), &old, &mut state);
        assert_eq!(judged.judgement, Judgement::Pending);
        assert!(
            judged
                .reason
                .as_deref()
                .unwrap()
                .contains("0 of 2 other replicas ran it since"),
            "{judged:?}"
        );
        // One of them ran it while this replica was failing and passed: half the fleet.
        let one = [peer(0, Healthy, T0 + 400), peer(1, Healthy, T0 - 300)];
        let judged = run(failing_since(T0, T0 + 1_000), &one, &mut state);
        assert_eq!(judged.judgement, Judgement::Pending, "1 of 3 is not half");
        let both = [peer(0, Healthy, T0 + 400), peer(1, Healthy, T0 + 900)];
        let judged = run(failing_since(T0, T0 + 1_000), &both, &mut state);
        assert_eq!(judged.judgement, Judgement::Local);
        assert_eq!(
            judged.reason.as_deref(),
            Some("only this replica fails \"postgres\" (1 of 3)")
        );
        // Their next passes come after this replica's latest run: they stay witnesses while
        // they pass.
        let later = [peer(0, Healthy, T0 + 1_500), peer(1, Healthy, T0 + 1_600)];
        let judged = run(failing_since(T0, T0 + 1_000), &later, &mut state);
        assert_eq!(judged.judgement, Judgement::Local);
        // A pass after this replica's latest failing run is no evidence yet: this replica may
        // be about to pass too (the dependency came back).
        let mut fresh = Judging::new(from_ms(T0));
        let after = [peer(0, Healthy, T0 + 1_001), peer(1, Healthy, T0 + 1_100)];
        let judged = run(failing_since(T0, T0 + 1_000), &after, &mut fresh);
        assert_eq!(judged.judgement, Judgement::Pending);
    }

    #[test]
    fn the_last_replica_to_see_a_shared_outage_end_is_not_judged_a_local_fault() {
        let mut state = Judging::new(from_ms(T0));
        let own = failing_since(T0, T0 + 1_000);
        let failing = [peer(0, Unhealthy, T0 + 500), peer(1, Unhealthy, T0 + 600)];
        assert_eq!(run(own, &failing, &mut state).judgement, Judgement::Shared);
        // The others pass again before this replica runs the check again: for as many
        // exchanges as it takes, it stays out of a local fault.
        for _ in 0..4 {
            let back = [peer(0, Healthy, T0 + 1_200), peer(1, Healthy, T0 + 1_300)];
            let judged = run(own, &back, &mut state);
            assert_ne!(judged.judgement, Judgement::Local);
        }
    }

    #[test]
    fn two_replicas_one_failing_is_local_both_failing_is_shared() {
        let mut state = Judging::new(from_ms(T0));
        let own = failing_since(T0, T0 + 1_000);
        let judged = run(own, &[peer(0, Healthy, T0 + 500)], &mut state);
        assert_eq!(judged.judgement, Judgement::Local);
        assert_eq!(
            judged.reason.as_deref(),
            Some("only this replica fails \"postgres\" (1 of 2)")
        );
        let judged = run(own, &[peer(0, Unhealthy, T0 + 500)], &mut state);
        assert_eq!(judged.judgement, Judgement::Shared);
    }

    #[test]
    fn a_flapping_peer_does_not_flip_a_shared_outage_each_exchange() {
        let mut state = Judging::new(from_ms(T0));
        let own = failing_since(T0, T0 + 1_000);
        let seen = |flap| {
            [
                peer(0, Unhealthy, T0 + 500),
                peer(1, flap, T0 + 600),
                peer(2, Healthy, T0 + 700),
            ]
        };
        assert_eq!(
            run(own, &seen(Unhealthy), &mut state).judgement,
            Judgement::Shared
        );
        // 2 of 4 fail: not a majority; held for one exchange...
        let judged = run(own, &seen(Healthy), &mut state);
        assert_eq!(judged.judgement, Judgement::Shared);
        assert!(judged.reason.unwrap().starts_with("shared outage: 2 of 4"));
        // ...and the flap back keeps it.
        assert_eq!(
            run(own, &seen(Unhealthy), &mut state).judgement,
            Judgement::Shared
        );
        assert_eq!(
            run(own, &seen(Healthy), &mut state).judgement,
            Judgement::Shared
        );
        // Two exchanges in a row: left.
        let judged = run(own, &seen(Healthy), &mut state);
        assert_eq!(judged.judgement, Judgement::Local);
        assert_eq!(
            judged.reason.as_deref(),
            Some("local fault: 2 of 4 replicas fail \"postgres\", 2 pass")
        );
    }

    #[test]
    fn mid_rollout_a_failure_of_one_version_only_is_local_even_on_most_replicas() {
        let mut state = Judging::new(from_ms(T0));
        let own = failing_since(T0, T0 + 1_000);
        let new = |key, status, at| Peer {
            key,
            version: "2.0",
            status,
            at_ms: at,
            since_ms: at,
        };
        // This replica runs 2.0; three 2.0 peers fail with it, two 1.0 peers pass.
        let peers = [
            new(0, Unhealthy, T0 + 100),
            new(1, Unhealthy, T0 + 200),
            new(2, Unhealthy, T0 + 300),
            peer(3, Healthy, T0 + 400),
            peer(4, Healthy, T0 - 5_000),
        ];
        let judged = judge(
            "postgres",
            (own, "2.0"),
            Sight::Fleet(&peers),
            &mut state,
            from_ms(T0),
        );
        assert_eq!(judged.judgement, Judgement::Local);
        assert_eq!(
            judged.reason.as_deref(),
            Some(
                "local fault: only version 2.0 fails \"postgres\" (4 of 4 on it fail; 2 on other \
                 versions pass)"
            )
        );
        // Both versions fail: a shared outage, rollout or not.
        let mut state = Judging::new(from_ms(T0));
        let both = [
            new(0, Unhealthy, T0 + 100),
            peer(1, Unhealthy, T0 + 400),
            peer(2, Healthy, T0 - 5),
        ];
        let judged = judge(
            "postgres",
            (own, "2.0"),
            Sight::Fleet(&both),
            &mut state,
            from_ms(T0),
        );
        assert_eq!(judged.judgement, Judgement::Shared);
    }

    #[test]
    fn without_a_fresh_view_the_local_rule_says_why() {
        let mut state = Judging::new(from_ms(T0));
        let own = failing_since(T0, T0 + 1_000);
        let blind = Sight::Blind("the fleet store is out of reach (Connection refused)");
        let judged = judge("postgres", (own, "1.0"), blind, &mut state, from_ms(T0));
        assert_eq!(judged.judgement, Judgement::Alone);
        assert_eq!(
            judged.reason.as_deref(),
            Some("judged alone: the fleet store is out of reach (Connection refused)")
        );
        let judged = run(own, &[], &mut state);
        assert_eq!(judged.judgement, Judgement::Alone);
        assert_eq!(
            judged.reason.as_deref(),
            Some("judged alone: no fresh replica besides this one runs \"postgres\"")
        );
        // Passing here: nothing to judge, whatever the fleet.
        let passing = Own {
            status: Some(Healthy),
            ..own
        };
        let judged = run(passing, &[peer(0, Unhealthy, T0)], &mut state);
        assert_eq!(
            (judged.judgement, judged.failing, judged.replicas),
            (Judgement::Passing, 1, 2)
        );
        assert_eq!(judged.reason, None);
    }
}
