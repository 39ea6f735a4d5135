//! [`RedisFleetStore`]: the fleet's records in Redis (feature `redis`).

use redis::aio::ConnectionManager;

use super::record::valid_name;
use super::store::{
    Announce, AnnounceFuture, Exchange, ExchangeFuture, FleetStore, LeaseFuture, Leases, StoreError,
};
use crate::error::{ConfigError, causes};
use crate::redis_link::Link;

/// The fleet's records in Redis: each replica's under a key of its own that expires after the
/// record's TTL (`SET … PX`), found through one sorted set of the fleet's ids. One exchange is
/// two round trips — `SET`, `ZADD`, `ZREMRANGEBYSCORE`, `ZREVRANGE` in one pipeline, then one
/// `MGET` — so a replica costs the store five commands per interval, whatever the fleet's size.
/// With [once-per-fleet](crate::Check::once_per_fleet) checks, one more round trip takes or
/// renews their leases: one `EVALSHA` each (a script that reads the lease and sets it
/// `NX PX`, or renews it for its holder, atomically; loaded once). Keys: `<prefix>:<fleet>:replica:<process>:<id>`
/// (the process number in 16 hex digits), `<prefix>:<fleet>:replicas` and
/// `<prefix>:<fleet>:lease:<check>`, `<prefix>:<fleet>:event:<check>` (the status last posted
/// for the fleet, `SET … GET`, kept a day; prefix `vitals:fleet` by default). A Redis that refuses
/// scripts keeps no leases: each replica then runs those checks itself (logged once).
///
/// Redis AUTH and TLS come through the URL (`redis://:password@host/`, `rediss://` with the
/// `tls` feature: the system's roots, or a CA of your own with
/// [`root_certificate_pem`](Self::root_certificate_pem)); the URL is never shown, errors are
/// redacted.
///
/// ```no_run
/// use tower_vitals::fleet::RedisFleetStore;
///
/// let store = RedisFleetStore::new("redis://redis.shop.svc:6379/")?.prefix("shop:health")?;
/// # drop(store);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisFleetStore {
    link: Link,
    prefix: String,
}

impl std::fmt::Debug for RedisFleetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFleetStore")
            .field("prefix", &self.prefix)
            .field("connected", &self.link.connected())
            .finish_non_exhaustive()
    }
}

/// An id in the index forgotten after this many TTLs without a record.
const FORGET_AFTER_TTLS: u32 = 10;

impl RedisFleetStore {
    /// The Redis at `url`; nothing connects until the first exchange, and a lost connection is
    /// made again at the next.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            link: Link::open(url)?,
            prefix: "vitals:fleet".to_owned(),
        })
    }

    /// Through the application's own `ConnectionManager`.
    pub fn with_manager(manager: ConnectionManager) -> Self {
        Self {
            link: Link::with_manager(manager),
            prefix: "vitals:fleet".to_owned(),
        }
    }

    /// Trusts the CA in `pem` for a `rediss://` URL, instead of the system's roots (feature
    /// `tls`): a Redis with a certificate of the organisation's own CA.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        self.link.trust(pem)?;
        Ok(self)
    }

    /// The keys' prefix (default `vitals:fleet`): 1 to 128 characters, no control characters.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        if !valid_name(prefix) {
            return Err(ConfigError::InvalidPath {
                path: prefix.to_owned(),
                reason: "a key prefix must be 1 to 128 characters without control characters",
            });
        }
        self.prefix = prefix.to_owned();
        Ok(self)
    }

    async fn run(&self, exchange: Exchange<'_>) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut connection = self.link.manager().await.map_err(StoreError::new)?;
        let base = format!("{}:{}", self.prefix, exchange.fleet);
        let index = format!("{base}:replicas");
        let key = |member: &str| format!("{base}:replica:{member}");
        let member = format!("{:016x}:{}", exchange.instance, exchange.id);
        let ttl_ms = u64::try_from(exchange.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let now_ms = super::unix_ms(crate::clock::now());
        let forget = now_ms.saturating_sub(ttl_ms.saturating_mul(u64::from(FORGET_AFTER_TTLS)));
        let last = isize::try_from(exchange.max.max(1) - 1).unwrap_or(isize::MAX);
        let (ids,): (Vec<String>,) = redis::pipe()
            .cmd("SET")
            .arg(key(&member))
            .arg(exchange.record)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .cmd("ZADD")
            .arg(&index)
            .arg(now_ms)
            .arg(&member)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(forget)
            .ignore()
            .cmd("ZREVRANGE")
            .arg(&index)
            .arg(0)
            .arg(last)
            .query_async(&mut connection)
            .await
            .map_err(|e| StoreError::new(format!("publish: {}", causes(&e))))?;
        let keys: Vec<String> = ids
            .iter()
            .filter(|member| member.len() <= 17 + 128 * 4)
            .map(|member| key(member))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut connection)
            .await
            .map_err(|e| StoreError::new(format!("read: {}", causes(&e))))?;
        Ok(records.into_iter().flatten().collect())
    }
}

/// Takes a free lease (`SET NX PX`), renews one its holder asks for, answers the holder:
/// one script, so no other replica's call comes between the read and the write.
const LEASE: &str = r"
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
  return ARGV[1]
end
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return held
";

impl RedisFleetStore {
    async fn lease(&self, leases: Leases<'_>) -> Result<Vec<String>, StoreError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> =
            std::sync::LazyLock::new(|| redis::Script::new(LEASE));
        let mut connection = self.link.manager().await.map_err(StoreError::new)?;
        let ttl_ms = u64::try_from(leases.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // By the script's hash (EVALSHA), the script itself only when Redis lacks it (after
        // a restart): its text need not cross at every exchange.
        let mut pipe = redis::pipe();
        for name in leases.names {
            let key = format!("{}:{}:lease:{name}", self.prefix, leases.fleet);
            pipe.cmd("EVALSHA")
                .arg(SCRIPT.get_hash())
                .arg(1)
                .arg(key)
                .arg(leases.holder)
                .arg(ttl_ms);
        }
        let failed = |e: redis::RedisError| StoreError::new(format!("leases: {}", causes(&e)));
        match pipe.query_async(&mut connection).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                SCRIPT.load_async(&mut connection).await.map_err(failed)?;
                pipe.query_async(&mut connection).await.map_err(failed)
            }
            answer => answer.map_err(failed),
        }
    }
}

impl FleetStore for RedisFleetStore {
    fn exchange<'a>(&'a self, exchange: Exchange<'a>) -> ExchangeFuture<'a> {
        Box::pin(self.run(exchange))
    }

    fn leases<'a>(&'a self, leases: Leases<'a>) -> LeaseFuture<'a> {
        Box::pin(self.lease(leases))
    }

    fn announce<'a>(&'a self, announce: Announce<'a>) -> AnnounceFuture<'a> {
        Box::pin(async move {
            let mut connection = self.link.manager().await.map_err(StoreError::new)?;
            let key = format!("{}:{}:event:{}", self.prefix, announce.fleet, announce.key);
            let ttl_ms = u64::try_from(announce.ttl.as_millis()).unwrap_or(u64::MAX);
            redis::cmd("SET")
                .arg(key)
                .arg(announce.value)
                .arg("PX")
                .arg(ttl_ms.max(1))
                .arg("GET")
                .query_async(&mut connection)
                .await
                .map_err(|e| StoreError::new(format!("announce: {}", causes(&e))))
        })
    }
}
