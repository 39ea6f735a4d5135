//! Redis lists and streams as queues (feature `redis`).

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::streams::{StreamInfoGroupsReply, StreamPendingReply, StreamRangeReply};

use super::{QueueCheck, QueueFigures};
use crate::checker::CheckError;
use crate::error::causes;

impl QueueCheck {
    /// The Redis list `key` as a queue: its depth is `LLEN` (a list cannot tell its items'
    /// age). `connection` is the app's `ConnectionManager` or any cheap-to-clone connection.
    ///
    /// ```no_run
    /// # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_vitals::checks::{Limit, QueueCheck};
    ///
    /// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
    /// let manager = redis::aio::ConnectionManager::new(client).await?;
    /// let emails = QueueCheck::redis_list(manager, "queue:emails").depth(Limit::above(500.0, 5_000.0)?);
    /// # drop(emails); Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_list<C>(connection: C, key: &str) -> Self
    where
        C: ConnectionLike + Clone + Send + Sync + 'static,
    {
        let key = key.to_owned();
        Self::reading(move || {
            let (mut connection, key) = (connection.clone(), key.clone());
            Box::pin(async move {
                let depth: u64 = redis::cmd("LLEN")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
                    .map_err(|e| CheckError::new(format!("LLEN {key}: {}", causes(&e))))?;
                Ok(QueueFigures::depth(depth))
            })
        })
    }

    /// The consumer group `group` of the Redis stream `stream` as a queue: its depth is the
    /// entries delivered but not acknowledged (`pending`) plus those not yet delivered
    /// (`lag`, Redis 7+), and the oldest of them dates from its entry ID, against Redis' own
    /// clock (`TIME`), so the app's clock does not matter. Figures: `pending`, `lag`,
    /// `consumers`.
    ///
    /// ```no_run
    /// # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_vitals::checks::{Limit, QueueCheck};
    ///
    /// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
    /// let manager = redis::aio::ConnectionManager::new(client).await?;
    /// let orders = QueueCheck::redis_stream(manager, "orders", "billing")
    ///     .depth(Limit::above(1_000.0, 10_000.0)?)
    ///     .oldest_seconds(Limit::above(30.0, 120.0)?);
    /// # drop(orders); Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_stream<C>(connection: C, stream: &str, group: &str) -> Self
    where
        C: ConnectionLike + Clone + Send + Sync + 'static,
    {
        let (stream, group) = (stream.to_owned(), group.to_owned());
        Self::reading(move || {
            let mut connection = connection.clone();
            let (stream, group) = (stream.clone(), group.clone());
            Box::pin(async move { read_stream(&mut connection, &stream, &group).await })
        })
    }
}

async fn read_stream(
    connection: &mut impl ConnectionLike,
    stream: &str,
    group: &str,
) -> Result<QueueFigures, CheckError> {
    let failed = |what: &str, error: redis::RedisError| {
        CheckError::new(format!("{what} {stream}: {}", causes(&error)))
    };
    let groups: StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(connection)
        .await
        .map_err(|e| failed("XINFO GROUPS", e))?;
    let Some(info) = groups.groups.iter().find(|g| g.name == group) else {
        return Err(CheckError::new(format!(
            "stream {stream} has no consumer group {group}"
        )));
    };
    let (pending, (seconds, micros)): (StreamPendingReply, (u64, u64)) = redis::pipe()
        .cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .cmd("TIME")
        .query_async(connection)
        .await
        .map_err(|e| failed("XPENDING", e))?;
    let now_ms = seconds.saturating_mul(1000) + micros / 1000;
    let lag = info.lag.unwrap_or(0) as u64;
    let mut oldest_ms = match &pending {
        StreamPendingReply::Data(data) => entry_ms(&data.start_id),
        _ => None,
    };
    if lag > 0 {
        // The first entry after the last delivered one waits longest of those not delivered.
        let next: StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream)
            .arg(format!("({}", info.last_delivered_id))
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(connection)
            .await
            .map_err(|e| failed("XRANGE", e))?;
        if let Some(first) = next.ids.first().and_then(|entry| entry_ms(&entry.id)) {
            oldest_ms = Some(oldest_ms.map_or(first, |pending| pending.min(first)));
        }
    }
    let pending = pending.count() as u64;
    let mut figures = QueueFigures::depth(pending + lag)
        .figure("pending", pending as f64)
        .figure("consumers", info.consumers as f64);
    if let Some(lag) = info.lag {
        figures = figures.figure("lag", lag as f64);
    }
    if let Some(oldest) = oldest_ms {
        figures = figures.oldest(Duration::from_millis(now_ms.saturating_sub(oldest)));
    }
    Ok(figures)
}

/// The milliseconds part of a stream entry ID (`1700000000000-3`).
fn entry_ms(id: &str) -> Option<u64> {
    id.split_once('-').map_or(id, |(ms, _)| ms).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_are_dated_by_their_milliseconds() {
        assert_eq!(entry_ms("1700000000000-3"), Some(1_700_000_000_000));
        assert_eq!(entry_ms("42"), Some(42));
        assert_eq!(entry_ms("x-1"), None);
    }
}
