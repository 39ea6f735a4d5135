//! Where replicas meet: a store they all reach. One exchange per interval publishes this
//! replica's record and reads its peers'.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What one exchange with the store carries.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Exchange<'a> {
    /// The fleet's name: replicas of one fleet see each other, and no other.
    pub fleet: &'a str,
    /// This replica's id.
    pub id: &'a str,
    /// This replica's process number: two processes that claim one id publish apart, so both
    /// are seen (and flagged) instead of one hiding the other.
    pub instance: u64,
    /// Its record, to keep for `ttl`.
    pub record: &'a [u8],
    /// How long the record stands without another publication.
    pub ttl: Duration,
    /// The most records to read back.
    pub max: usize,
}

/// Leases to take or renew in one round trip, for checks run once per fleet: each is held by
/// one replica at a time, for `ttl` unless renewed.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Leases<'a> {
    /// The fleet's name.
    pub fleet: &'a str,
    /// Who asks: this replica's process number and id, as `<16 hex digits>:<id>`.
    pub holder: &'a str,
    /// The leases' names.
    pub names: &'a [&'a str],
    /// How long a lease stands without renewal.
    pub ttl: Duration,
}

/// The future of [`FleetStore::leases`]: each lease's holder after the call, in the order
/// asked.
pub type LeaseFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<String>, StoreError>> + Send + 'a>>;

/// A fleet-wide status to tell once: the first replica to announce a value posts it, the
/// others find it already there.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Announce<'a> {
    /// The fleet's name.
    pub fleet: &'a str,
    /// What is told (a check's name).
    pub key: &'a str,
    /// Its new value (a status).
    pub value: &'a str,
    /// How long the value is kept.
    pub ttl: Duration,
}

/// The future of [`FleetStore::announce`]: the value the key held before (`None`: none).
pub type AnnounceFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, StoreError>> + Send + 'a>>;

/// Why an exchange failed, in the store's own words (with any credential masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(String);

impl StoreError {
    /// An error saying `message` (redacted when shown).
    pub fn new(message: impl Into<String>) -> Self {
        Self(crate::redact::redact(&message.into()))
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// The future of an exchange: the records of at most `max` replicas of the fleet whose records
/// still stand, this one's included, as the store holds them (they are parsed and checked
/// after).
pub type ExchangeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Vec<u8>>, StoreError>> + Send + 'a>>;

/// A store the fleet's replicas all reach: Redis (`RedisFleetStore`, feature `redis`), or
/// another that implements this — etcd, the Kubernetes API — with keys that expire and one
/// read of the fleet per exchange.
pub trait FleetStore: Send + Sync + 'static {
    /// Publishes `exchange.record` under this replica's id and process number for
    /// `exchange.ttl` and reads the fleet's standing records back.
    fn exchange<'a>(&'a self, exchange: Exchange<'a>) -> ExchangeFuture<'a>;

    /// For each of `leases.names`: takes the lease for `leases.holder` if nobody holds it
    /// (`SET NX PX`), renews it if `leases.holder` does, and answers who holds it — atomically
    /// per lease. The default keeps none (an error): then every replica runs its
    /// once-per-fleet checks itself.
    fn leases<'a>(&'a self, leases: Leases<'a>) -> LeaseFuture<'a> {
        let _ = leases;
        Box::pin(async { Err(StoreError::new("this fleet store keeps no leases")) })
    }

    /// Sets `announce.key` to `announce.value` for `announce.ttl` and answers the value it
    /// held before, atomically (`SET … GET`): the replica that finds another value there is
    /// the one to post the change. The default keeps none (an error): then every replica
    /// posts.
    fn announce<'a>(&'a self, announce: Announce<'a>) -> AnnounceFuture<'a> {
        let _ = announce;
        Box::pin(async { Err(StoreError::new("this fleet store keeps no announcements")) })
    }
}
