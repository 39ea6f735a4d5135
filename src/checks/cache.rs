//! [`CacheCheck`]: an in-memory cache's hit rate, evictions and size.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::checker::{CheckFuture, HealthCheck};
use crate::health_report::{CheckResult, HealthStatus};
use crate::metrics::{CacheStats, MetricsCollector};
use crate::round::round3;

use super::Limit;

/// How full a cache is, read at each run: for moka,
/// `CacheSize::entries(cache.entry_count()).weighted(cache.weighted_size())`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheSize {
    /// Entries held.
    pub entries: u64,
    /// Their total weight, for a cache that weighs its entries (bytes, say).
    pub weighted: Option<u64>,
    /// The most the cache holds (entries, or weight when it weighs them).
    pub capacity: Option<u64>,
}

impl CacheSize {
    /// `entries` entries.
    pub fn entries(entries: u64) -> Self {
        Self {
            entries,
            ..Self::default()
        }
    }

    /// Their total weight.
    #[must_use]
    pub fn weighted(mut self, weight: u64) -> Self {
        self.weighted = Some(weight);
        self
    }

    /// The cache's capacity (moka: `cache.policy().max_capacity()`).
    #[must_use]
    pub fn capacity(mut self, capacity: Option<u64>) -> Self {
        self.capacity = capacity;
        self
    }
}

type Size = dyn Fn() -> CacheSize + Send + Sync;

/// An in-memory cache — moka's, or any other — as a component: its hit rate over the recent
/// lookups, evictions, entries and weight. Lookups and evictions are the collector's cache
/// figures ([`MetricsCollector::cache_hits`], `cache_misses`, `cache_evictions`, also on
/// `/metrics` as `vitals_cache_*_total`); the size is read from the cache at each run.
///
/// The hit rate is judged over the lookups since the last judgement, once at least
/// [`min_lookups`](Self::min_lookups) (default 100) came, against the
/// [`hit_rate`](Self::hit_rate) limit if one is set (a cold or thrashing cache is degraded,
/// not down: the app still answers, slower); between judgements the last verdict stands.
/// Without a limit it is healthy and shows the figures. Figures: `hit_rate`, `hits`, `misses`,
/// `evictions`, `entries`, `weighted_size`, `capacity`, `fill_ratio`.
///
/// With moka, count evictions with its eviction listener (`cause.was_evicted()`: size or
/// expiry), and lookups where the app looks up (`entry(k).or_insert_with(…)`'s `is_fresh()` is a
/// miss):
///
/// ```
/// use tower_vitals::checks::{CacheCheck, CacheSize, Limit};
/// use tower_vitals::metrics::MetricsCollector;
/// use tower_vitals::{Check, HealthChecker};
///
/// let metrics = MetricsCollector::new();
/// let entries = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)); // your cache
/// let check = CacheCheck::new(metrics.clone())
///     .size(move || CacheSize::entries(entries.load(std::sync::atomic::Ordering::Relaxed)))
///     .hit_rate(Limit::below(0.8, 0.5)?);
/// let checker = HealthChecker::builder()
///     .register(Check::new("product-cache", check))
///     .build()?;
/// // At each lookup:
/// metrics.cache_hits(1);
/// # drop(checker);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct CacheCheck {
    collector: MetricsCollector,
    size: Option<Arc<Size>>,
    hit_rate: Option<Limit>,
    min_lookups: u64,
    /// The figures at the last judgement, and its hit rate.
    judged: Arc<Mutex<Judged>>,
}

#[derive(Debug, Default)]
struct Judged {
    hits: u64,
    misses: u64,
    /// The hit rate, and over how many lookups.
    rate: Option<(f64, u64)>,
}

impl std::fmt::Debug for CacheCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheCheck")
            .field("hit_rate", &self.hit_rate)
            .field("min_lookups", &self.min_lookups)
            .finish_non_exhaustive()
    }
}

impl CacheCheck {
    /// A check of the cache whose lookups and evictions `collector` counts.
    pub fn new(collector: MetricsCollector) -> Self {
        Self {
            collector,
            size: None,
            hit_rate: None,
            min_lookups: 100,
            judged: Arc::default(),
        }
    }

    /// How to read the cache's size at each run.
    #[must_use]
    pub fn size(mut self, size: impl Fn() -> CacheSize + Send + Sync + 'static) -> Self {
        self.size = Some(Arc::new(size));
        self
    }

    /// Limits on the hit rate (0 to 1), e.g. `Limit::below(0.8, 0.5)`.
    #[must_use]
    pub fn hit_rate(mut self, limit: Limit) -> Self {
        self.hit_rate = Some(limit);
        self
    }

    /// Lookups a hit rate is judged over (default 100; at least 1).
    #[must_use]
    pub fn min_lookups(mut self, lookups: u64) -> Self {
        self.min_lookups = lookups.max(1);
        self
    }

    /// The hit rate over the lookups since the last judgement, once there are enough; else the
    /// last one.
    fn recent_rate(&self, stats: &CacheStats) -> Option<(f64, u64)> {
        let mut judged = self.judged.lock();
        // Counters only grow; a smaller one means another collector: start again.
        if stats.hits < judged.hits || stats.misses < judged.misses {
            *judged = Judged::default();
        }
        let (hits, misses) = (stats.hits - judged.hits, stats.misses - judged.misses);
        if hits + misses >= self.min_lookups {
            judged.rate = Some((hits as f64 / (hits + misses) as f64, hits + misses));
            judged.hits = stats.hits;
            judged.misses = stats.misses;
        }
        judged.rate
    }

    fn judge(&self, stats: &CacheStats, size: Option<CacheSize>) -> CheckResult {
        let rate = self.recent_rate(stats);
        let mut result = CheckResult::healthy()
            .with_figure("hits", stats.hits as f64)
            .with_figure("misses", stats.misses as f64)
            .with_figure("evictions", stats.evictions as f64);
        if let Some((rate, _)) = rate {
            result = result.with_figure("hit_rate", round3(rate));
        }
        if let Some(size) = size {
            result = result.with_figure("entries", size.entries as f64);
            if let Some(weight) = size.weighted {
                result = result.with_figure("weighted_size", weight as f64);
            }
            if let Some(capacity) = size.capacity.filter(|&c| c > 0) {
                let held = size.weighted.unwrap_or(size.entries);
                result = result
                    .with_figure("capacity", capacity as f64)
                    .with_figure("fill_ratio", round3(held as f64 / capacity as f64));
            }
        }
        match (rate, &self.hit_rate) {
            (Some((rate, over)), Some(limit)) if limit.status(rate) != HealthStatus::Healthy => {
                let percent = |share: f64| format!("{}%", (share * 1000.0).round() / 10.0);
                let threshold = match limit.status(rate) {
                    HealthStatus::Unhealthy => limit.unhealthy(),
                    _ => limit.degraded(),
                };
                result.with_status(limit.status(rate)).with_message(format!(
                    "hit rate {} is {} {} over the last {over} lookups",
                    percent(rate),
                    limit.relation(),
                    percent(threshold)
                ))
            }
            _ => result,
        }
    }
}

impl HealthCheck for CacheCheck {
    fn check(&self) -> CheckFuture<'_> {
        let stats = self.collector.cache();
        let size = self.size.as_ref().map(|size| size());
        let result = self.judge(&stats, size);
        Box::pin(async move { Ok(result) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hit_rate_is_judged_over_recent_lookups_once_there_are_enough() {
        let metrics = MetricsCollector::new();
        let check = CacheCheck::new(metrics.clone())
            .size(|| {
                CacheSize::entries(900)
                    .weighted(4_500)
                    .capacity(Some(9_000))
            })
            .hit_rate(Limit::below(0.8, 0.5).unwrap())
            .min_lookups(100);
        metrics.cache_hits(10);
        let early = check.judge(&metrics.cache(), None);
        assert_eq!(early.status(), HealthStatus::Healthy, "too few to judge");
        assert!(!early.metadata().contains_key("hit_rate"));

        metrics.cache_hits(80);
        metrics.cache_misses(10);
        let warm = check.judge(
            &metrics.cache(),
            Some(
                CacheSize::entries(900)
                    .weighted(4_500)
                    .capacity(Some(9_000)),
            ),
        );
        assert_eq!(warm.status(), HealthStatus::Healthy);
        assert_eq!(warm.metadata()["hit_rate"], 0.9);
        assert_eq!(warm.metadata()["fill_ratio"], 0.5);

        // The next 100 lookups miss 70 times: thrashing, though since start it is 60 %.
        metrics.cache_hits(30);
        metrics.cache_misses(70);
        let cold = check.judge(&metrics.cache(), None);
        assert_eq!(cold.status(), HealthStatus::Unhealthy);
        assert_eq!(
            cold.message(),
            Some("hit rate 30% is at or below 50% over the last 100 lookups")
        );
        // Few lookups since: the verdict stands.
        metrics.cache_hits(5);
        assert_eq!(
            check.judge(&metrics.cache(), None).status(),
            HealthStatus::Unhealthy
        );
        metrics.cache_hits(100);
        assert_eq!(
            check.judge(&metrics.cache(), None).status(),
            HealthStatus::Healthy
        );
        assert_eq!(
            check.judge(&metrics.cache(), None).metadata()["hits"],
            225.0
        );
    }
}
