//! The fleet: the replicas of one service seeing each other through a store they all reach
//! (Redis first). Each replica publishes a compact record of its health every interval and
//! reads its peers' in the same exchange, in a task of its own: no request or probe ever waits
//! on the store. `GET /health/fleet` shows every replica as this one last saw it; `/metrics`
//! the replicas fresh and stale, the exchanges and the records refused.
//!
//! A record holds the replica's id, version, phase, overall status, each check's status and
//! the age of its result, uptime, and the request rate, error rate and p95 of its window —
//! statuses only, never a message or metadata a secret could hide in: about 250 bytes for a
//! few checks, at most [`MAX_RECORD_BYTES`]. With `Setup`, `HEALTH_FLEET_REDIS_URL` makes the
//! fleet (see [`HealthConfig`] for the other `HEALTH_FLEET_*` settings).
//!
//! # Shared outage or local fault
//!
//! A check of a dependency every replica uses is marked [`Check::shared`](crate::Check::shared).
//! When it fails here, readiness (and `/health`) judge it against the fresh replicas' last
//! results ([`Judgement`]):
//!
//! | it fails on | judgement | readiness | reason, as `/health` and readiness say it |
//! |---|---|---|---|
//! | most fresh replicas running it (this one included) | shared outage | 200 ([`SharedOutage`] can make it 503) | `shared outage: 5 of 6 replicas fail "postgres" since 2026-12-06T12:03:10Z` |
//! | this replica, while at least half the fleet ran it since and passed | local fault | 503 | `only this replica fails "postgres" (1 of 6)` |
//! | only this replica's version, mid-rollout, while other versions pass | local fault | 503 | `local fault: only version 2.1 fails "postgres" (…)` |
//! | this replica, before the others ran it again | pending | holds | `… judging against the fleet: 1 of 5 other replicas ran it since …` |
//! | — no fresh view: store out of reach, no exchange yet, no peer runs it | alone | 503 (the rule without a fleet) | `judged alone: the fleet store is out of reach (…)` |
//!
//! A peer's pass counts against this replica only if it was made between this replica's first
//! failure and a later failing run here (an older one may predate the outage, a newer one may
//! only mean the dependency is back), so neither the first replica to notice a shared outage
//! nor the last to see it end is mistaken for a faulty one; a shared outage is left only after two exchanges in a
//! row say so (a flapping peer does not flip it); stale replicas and those without the check
//! (another version) do not count. Replicas publish at once when a check's status changes.
//! Run shared checks in the background ([`Check::background`](crate::Check::background)) at
//! about the fleet's interval: then a local fault fails readiness within about two
//! intervals of the failure, a shared outage never does. `/metrics` shows each shared
//! check's judgement (`vitals_fleet_judgement{check,judgement}`) and the replicas failing it
//! (`vitals_fleet_check_replicas{check,state}`); `/health/fleet` its fleet-wide state.
//!
//! # Checks run once per fleet
//!
//! A check marked [`Check::once_per_fleet`](crate::Check::once_per_fleet) — an expensive one,
//! or one of a rate-limited API — runs on the replica holding its lease in the store
//! ([`FleetStore::leases`]: taken `NX` for three intervals, renewed by the holder at each
//! exchange); the others show the result the holder published, with its age and who ran it
//! (`run once per fleet by shop-2, 0.4 s ago`; `/health/fleet` says who runs each). A holder
//! that stops loses the lease when it expires, and the replica that takes it over runs the
//! check at once. Before a replica's first exchange, and while the store is out of reach,
//! each replica runs it itself.
#![cfg_attr(
    feature = "redis",
    doc = r#"
```no_run
use std::time::Duration;
use tower_vitals::fleet::{Fleet, RedisFleetStore};
use tower_vitals::{Check, HealthChecker, HealthLayer};

# #[tokio::main] async fn main() -> Result<(), tower_vitals::ConfigError> {
let db = Check::new("db", || async {}).shared().background(Duration::from_secs(1));
let checker = HealthChecker::builder().register(db).build()?;
let store = RedisFleetStore::new("redis://redis.shop.svc:6379/")?;
let fleet = Fleet::builder(checker.clone(), store).name("shop")?.build()?;
fleet.spawn();
let layer = HealthLayer::new(checker).fleet(fleet); // GET /health/fleet
# drop(layer); Ok(()) }
```
"#
)]

mod exchange;
mod judge;
#[cfg(feature = "http-client")]
mod notify;
mod record;
#[cfg(feature = "redis")]
mod redis;
mod store;
mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};

use self::exchange::{Memory, run};
use self::record::{Refused, valid_name};
use crate::checker::HealthChecker;
use crate::config::HealthConfig;
use crate::error::ConfigError;
use crate::info::AppInfo;
use crate::metrics::MetricsCollector;
use crate::validate;

pub use judge::{Judgement, SharedCheck};
pub use record::{MAX_RECORD_BYTES, MAX_RECORD_CHECKS};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisFleetStore;
pub use store::{
    Announce, AnnounceFuture, Exchange, ExchangeFuture, FleetStore, LeaseFuture, Leases, StoreError,
};
pub use view::{FleetView, OnceCheck, Replica, StoreState};

/// The intervals a replica may publish at.
const INTERVAL: validate::Range<Duration> = (
    Duration::from_millis(100)..=Duration::from_secs(60),
    "100 ms to 1 min",
);
/// How many replicas a fleet may hold.
const REPLICAS: validate::Range<usize> = (2..=1024, "2 to 1024");
/// A record stands this many intervals without another publication.
const TTL_INTERVALS: u32 = 3;
/// A replica whose record no longer stands is shown stale for this many TTLs, then dropped.
const KEEP_TTLS: u32 = 10;

/// A replica of the fleet: publishes this replica's record and reads its peers' every
/// interval, in the task [`spawn`](Self::spawn) starts (it ends when the last handle is
/// dropped). A cheap `Clone` handle.
///
/// Bounded: at most [`max_replicas`](FleetBuilder::max_replicas) records are read each
/// interval (64 by default), each at most [`MAX_RECORD_BYTES`]; peers are kept as parsed
/// records, at most that many. A record that is malformed, too large, out of bounds or dated
/// ahead of this replica's clock is ignored and counted (`vitals_fleet_records_refused_total`).
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

struct Inner {
    checker: HealthChecker,
    metrics: Option<MetricsCollector>,
    store: Box<dyn FleetStore>,
    name: String,
    id: String,
    /// Drawn at start: another process under this id has another.
    inst: u64,
    version: String,
    interval: Duration,
    max: usize,
    shared_outage: SharedOutage,
    seq: AtomicU64,
    view: RwLock<Arc<FleetView>>,
    memory: Mutex<Memory>,
    figures: Counters,
    spawned: std::sync::atomic::AtomicBool,
    /// Woken when a run the fleet asked for has finished: its result is published at once.
    ran: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Counters {
    exchanges: AtomicU64,
    failures: AtomicU64,
    refused: [AtomicU64; 4],
    last_exchange_nanos: AtomicU64,
}

/// The fleet's figures for `/metrics`, from [`Fleet::figures`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FleetFigures {
    /// Replicas whose record stands, this one included.
    pub fresh: usize,
    /// Replicas seen lately whose record no longer stands.
    pub stale: usize,
    /// Exchanges with the store, and of those, failed ones.
    pub exchanges: u64,
    /// Exchanges that failed (an error or no answer within the interval).
    pub failures: u64,
    /// Peers' records ignored, by why: `too_large`, `malformed`, `out_of_bounds`,
    /// `future_dated`.
    pub refused: Vec<(&'static str, u64)>,
    /// How long the last exchange took.
    pub last_exchange: Duration,
    /// Whether the last exchange succeeded.
    pub store_reachable: bool,
    /// Each shared check as judged at the last exchange.
    pub shared: Vec<SharedCheck>,
}

/// What readiness answers while a [shared](crate::Check::shared) check is in a shared outage
/// (failing on most fresh replicas), from [`FleetBuilder::shared_outage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SharedOutage {
    /// Ready (the default): every replica keeps its endpoints and answers the app's own fast
    /// error (or the routes that still work) instead of a refused connection; `/health` and
    /// the component still say `unhealthy`, with the judgement.
    #[default]
    StayReady,
    /// Not ready, as without a fleet: every replica leaves the Service.
    NotReady,
}

/// Settings of a [`Fleet`], checked by [`build`](Self::build).
#[must_use]
pub struct FleetBuilder {
    checker: HealthChecker,
    store: Box<dyn FleetStore>,
    metrics: Option<MetricsCollector>,
    name: Option<String>,
    id: Option<String>,
    version: String,
    interval: Duration,
    max: usize,
    shared_outage: SharedOutage,
    /// Webhook notifiers whose shared checks' events the fleet posts once.
    #[cfg(feature = "http-client")]
    webhooks: Vec<crate::webhook::WebhookNotifier>,
}

impl std::fmt::Debug for FleetBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBuilder")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("interval", &self.interval)
            .field("max_replicas", &self.max)
            .field("shared_outage", &self.shared_outage)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("name", &self.inner.name)
            .field("id", &self.inner.id)
            .field("interval", &self.inner.interval)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Settings for `checker`'s replica meeting its peers in `store`: every second, a record
    /// standing three intervals, up to 64 replicas; named after `AppInfo` if given, else
    /// `default`; this replica's id from `POD_NAME`, else the host name.
    pub fn builder(checker: HealthChecker, store: impl FleetStore) -> FleetBuilder {
        FleetBuilder {
            checker,
            store: Box::new(store),
            metrics: None,
            name: None,
            id: None,
            version: String::new(),
            interval: Duration::from_secs(1),
            max: 64,
            shared_outage: SharedOutage::StayReady,
            #[cfg(feature = "http-client")]
            webhooks: Vec::new(),
        }
    }

    /// Starts publishing and reading on the current Tokio runtime (once; later calls, and
    /// calls outside a runtime, do nothing). The task ends when the last handle is dropped.
    /// Returns whether the task runs.
    pub fn spawn(&self) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.inner.spawned.load(Ordering::Acquire);
        };
        if !self.inner.spawned.swap(true, Ordering::AcqRel) {
            let weak = Arc::downgrade(&self.inner);
            runtime.spawn(run(weak, self.inner.interval));
        }
        true
    }

    /// Publishes this replica's record and reads its peers' now, besides the interval (after
    /// a change worth telling at once, or to have a view before serving).
    pub async fn exchange(&self) {
        self.inner.exchange().await;
    }

    /// The fleet as last seen.
    pub fn view(&self) -> Arc<FleetView> {
        self.inner.view.read().clone()
    }

    /// This replica's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The fleet's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How often this replica publishes and reads.
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// How a [shared](crate::Check::shared) check that fails here now is judged, and why:
    /// the last exchange's judgement, or — when it failed here since — pending until the next
    /// one (alone without a fresh view).
    pub(crate) fn judge(&self, check: &str) -> (Judgement, Option<String>) {
        let view = self.view();
        if let Some(shared) = view.shared(check)
            && shared.judgement != Judgement::Passing
        {
            return (shared.judgement, shared.reason.clone());
        }
        if !view.store.reachable {
            let why = view.store.error.as_deref().unwrap_or("no exchange yet");
            let reason = format!("judged alone: the fleet store is out of reach ({why})");
            return (Judgement::Alone, Some(reason));
        }
        if view.fresh().any(|replica| !replica.this) {
            let reason = format!(
                "{check:?} fails here since the last exchange: judged against the fleet at the next"
            );
            return (Judgement::Pending, Some(reason));
        }
        let reason = format!("judged alone: no fresh replica besides this one runs {check:?}");
        (Judgement::Alone, Some(reason))
    }

    /// Whether readiness holds while a shared check is under `judgement` (pending, or a
    /// shared outage unless [`SharedOutage::NotReady`]).
    pub(crate) fn holds_readiness(&self, judgement: Judgement) -> bool {
        match judgement {
            Judgement::Pending => true,
            Judgement::Shared => self.inner.shared_outage == SharedOutage::StayReady,
            _ => false,
        }
    }

    /// The fleet's figures now.
    pub fn figures(&self) -> FleetFigures {
        let view = self.view();
        let counters = &self.inner.figures;
        FleetFigures {
            fresh: view.fresh().count(),
            stale: view.replicas.iter().filter(|r| !r.fresh).count(),
            exchanges: counters.exchanges.load(Ordering::Relaxed),
            failures: counters.failures.load(Ordering::Relaxed),
            refused: Refused::ALL
                .iter()
                .zip(&counters.refused)
                .map(|(why, n)| (why.as_str(), n.load(Ordering::Relaxed)))
                .collect(),
            last_exchange: Duration::from_nanos(
                counters.last_exchange_nanos.load(Ordering::Relaxed),
            ),
            store_reachable: view.store.reachable,
            shared: view.shared.clone(),
        }
    }
}

impl FleetBuilder {
    /// The fleet's name (1 to 128 characters, no control characters): replicas meet only
    /// their own fleet's.
    pub fn name(mut self, name: &str) -> Result<Self, ConfigError> {
        self.name = Some(checked("fleet name", name)?);
        Ok(self)
    }

    /// This replica's id (default: `POD_NAME`, else the host name).
    pub fn id(mut self, id: &str) -> Result<Self, ConfigError> {
        self.id = Some(checked("fleet replica id", id)?);
        Ok(self)
    }

    /// The application's information: its name names the fleet (unless [`name`](Self::name)
    /// does) and its version is published.
    pub fn info(mut self, info: &AppInfo) -> Self {
        self.name = self
            .name
            .or_else(|| valid_name(info.name()).then(|| info.name().to_owned()));
        if valid_name(info.version()) {
            self.version = info.version().to_owned();
        }
        self
    }

    /// Publishes the request rate, error rate and p95 of `collector`'s window.
    pub fn metrics(mut self, collector: MetricsCollector) -> Self {
        self.metrics = Some(collector);
        self
    }

    /// How often to publish and read (default 1 s; 100 ms to 1 min). A record stands three
    /// intervals.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The most replicas read (default 64; 2 to 1024).
    pub fn max_replicas(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// What readiness answers in a shared outage (default [`SharedOutage::StayReady`]).
    pub fn shared_outage(mut self, policy: SharedOutage) -> Self {
        self.shared_outage = policy;
        self
    }

    /// The `HEALTH_FLEET_*` settings of `config` that are set: name, id, interval, most
    /// replicas, readiness in a shared outage (checked at [`build`](Self::build)).
    pub fn config(mut self, config: &HealthConfig) -> Self {
        self.shared_outage = match config.fleet_ready_in_shared_outage {
            Some(true) => SharedOutage::StayReady,
            Some(false) => SharedOutage::NotReady,
            None => self.shared_outage,
        };
        self.name = config.fleet_name.clone().or(self.name);
        self.id = config.fleet_id.clone().or(self.id);
        self.interval = config.fleet_interval.unwrap_or(self.interval);
        self.max = config.fleet_max_replicas.unwrap_or(self.max);
        self
    }

    /// The fleet, not yet publishing: see [`Fleet::spawn`]. From now on it decides which of
    /// the checker's [once-per-fleet](crate::Check::once_per_fleet) checks this replica runs.
    pub fn build(self) -> Result<Fleet, ConfigError> {
        let interval = validate::duration("fleet interval", self.interval, INTERVAL)?;
        let max = validate::count("fleet max replicas", self.max, REPLICAS)?;
        let id = match self.id {
            Some(id) => id,
            None => default_id()?,
        };
        let name = self.name.unwrap_or_else(|| "default".to_owned());
        let view = FleetView {
            fleet: name.clone(),
            this: id.clone(),
            store: StoreState {
                reachable: false,
                error: Some("no exchange yet".to_owned()),
                since: None,
            },
            replicas: Vec::new(),
            shared: Vec::new(),
            once_per_fleet: Vec::new(),
        };
        let inner = Arc::new(Inner {
            checker: self.checker,
            metrics: self.metrics,
            store: self.store,
            name,
            id,
            inst: process_number(),
            version: self.version,
            interval,
            max,
            shared_outage: self.shared_outage,
            seq: AtomicU64::new(0),
            view: RwLock::new(Arc::new(view)),
            memory: Mutex::default(),
            figures: Counters::default(),
            spawned: std::sync::atomic::AtomicBool::new(false),
            ran: Arc::default(),
        });
        let gate: std::sync::Weak<dyn crate::checker::Gate> = Arc::downgrade(&inner) as _;
        inner.checker.set_gate(gate);
        #[cfg(feature = "http-client")]
        notify::admit_through(&inner, &self.webhooks);
        Ok(Fleet { inner })
    }
}

fn checked(setting: &str, value: &str) -> Result<String, ConfigError> {
    if valid_name(value) {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::InvalidNumber {
            setting: setting.to_owned(),
            value: format!("{value:?}: 1 to 128 characters, no control characters"),
        })
    }
}

/// `POD_NAME`, else the host name.
fn default_id() -> Result<String, ConfigError> {
    let pod = std::env::var("POD_NAME")
        .ok()
        .filter(|name| valid_name(name));
    let id = pod.unwrap_or_else(|| AppInfo::new("", "").host().to_owned());
    checked("fleet replica id (POD_NAME or the host name)", &id)
}

/// A number for this process, different from another's with the same id.
fn process_number() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
