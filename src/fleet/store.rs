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
}
