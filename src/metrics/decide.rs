//! What a [`MetricsLayer`](super::MetricsLayer) decided for each route, once: whether its
//! exclusions leave the route out (or each request's path decides), and the group it joins.
//! Routes are Axum's templates: without the `axum` feature nothing is decided here.
#![cfg_attr(not(feature = "axum"), allow(dead_code))]

use std::sync::atomic::{AtomicU8, Ordering};

use super::collector::MetricsCollector;

/// What was decided for one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    /// `Some(excluded)`, or `None` when each request's path decides.
    pub(crate) excluded: Option<bool>,
    /// The group (index) whose label the route's requests take.
    pub(crate) group: Option<usize>,
}

/// Per route id, one byte: unknown (0), or a decision (2 bits), whether it holds for good
/// (1 bit) and its group + 1 (5 bits; 0 for none).
pub(crate) struct Decisions {
    flags: Box<[AtomicU8]>,
}

const INCLUDED: u8 = 1;
const EXCLUDED: u8 = 2;
const BY_PATH: u8 = 3;
/// Decided with the health paths a `HealthLayer` gave the collector (or without health paths):
/// cannot change. Without it, the decision used the default health paths and holds only while
/// no `HealthLayer` has given the collector its own.
const FOR_GOOD: u8 = 4;
/// The group + 1 sits above the decision and `FOR_GOOD`: up to 31 groups.
const GROUP_SHIFT: u8 = 3;

impl Decisions {
    pub(crate) fn new(routes: usize) -> Self {
        Self {
            flags: (0..routes).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// What was decided for the route; `None` when not decided yet (or decided with the
    /// default health paths, and a `HealthLayer` has given the collector its own since).
    #[inline]
    pub(crate) fn of(&self, route: u16, collector: &MetricsCollector) -> Option<Decision> {
        let flag = self.flags.get(usize::from(route))?.load(Ordering::Relaxed);
        if flag & FOR_GOOD == 0 && (flag == 0 || collector.health_paths().is_some()) {
            return None;
        }
        Some(Decision {
            excluded: match flag & BY_PATH {
                INCLUDED => Some(false),
                EXCLUDED => Some(true),
                _ => None,
            },
            group: match flag >> GROUP_SHIFT {
                0 => None,
                group => Some(usize::from(group) - 1),
            },
        })
    }

    pub(crate) fn set(&self, route: u16, decision: Decision, for_good: bool) {
        let excluded = match decision.excluded {
            Some(false) => INCLUDED,
            Some(true) => EXCLUDED,
            None => BY_PATH,
        };
        let group = decision.group.map_or(0, |group| group as u8 + 1) << GROUP_SHIFT;
        if let Some(flag) = self.flags.get(usize::from(route)) {
            flag.store(
                excluded | if for_good { FOR_GOOD } else { 0 } | group,
                Ordering::Relaxed,
            );
        }
    }
}

impl Clone for Decisions {
    /// Undecided: a clone is made to change the exclusions.
    fn clone(&self) -> Self {
        Self::new(self.flags.len())
    }
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions").finish_non_exhaustive()
    }
}
