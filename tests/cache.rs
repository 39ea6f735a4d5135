//! `CacheCheck` over a real moka cache: lookups counted where the app looks up (`entry(…)
//! .or_insert_with(…)`, a fresh entry is a miss), evictions by moka's own eviction listener, the
//! size read from the cache; the component and `/metrics` over a real server.

mod common;

use std::time::Duration;

use tower_vitals::checks::{CacheCheck, CacheSize, Limit};
use tower_vitals::health::DetailPolicy;
use tower_vitals::metrics::MetricsCollector;
use tower_vitals::{Check, HealthChecker, HealthLayer};

#[tokio::test]
async fn a_moka_caches_hits_misses_evictions_and_size_are_its_component() {
    let metrics = MetricsCollector::new();
    let evictions = metrics.clone();
    let cache: moka::future::Cache<u32, String> = moka::future::Cache::builder()
        .max_capacity(100)
        .eviction_listener(move |_key, _value, cause| {
            if cause.was_evicted() {
                evictions.cache_evictions(1);
            }
        })
        .build();
    let lookup = |key: u32| {
        let (cache, metrics) = (cache.clone(), metrics.clone());
        async move {
            let entry = cache
                .entry(key)
                .or_insert_with(async move { format!("product {key}") })
                .await;
            match entry.is_fresh() {
                true => metrics.cache_misses(1),
                false => metrics.cache_hits(1),
            }
        }
    };
    let size = cache.clone();
    let check = CacheCheck::new(metrics.clone())
        .size(move || {
            CacheSize::entries(size.entry_count())
                .weighted(size.weighted_size())
                .capacity(size.policy().max_capacity())
        })
        .hit_rate(Limit::below(0.8, 0.5).unwrap())
        .min_lookups(100);
    let checker = HealthChecker::builder()
        .register(Check::new("product-cache", check))
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    let server = common::serve(
        HealthLayer::new(checker)
            .details(DetailPolicy::Always)
            .metrics(metrics.clone()),
    )
    .await;

    // Warm: 10 products asked for 20 times each — 10 misses, 190 hits.
    for _ in 0..20 {
        for key in 0..10 {
            lookup(key).await;
        }
    }
    cache.run_pending_tasks().await;
    let warm = server
        .component_until(|c| c["metadata"]["hits"] == 190.0)
        .await;
    assert_eq!(warm["status"], "healthy", "{warm}");
    assert_eq!(warm["metadata"]["misses"], 10.0);
    assert_eq!(warm["metadata"]["hit_rate"], 0.95);
    assert_eq!(warm["metadata"]["entries"], 10.0);
    assert_eq!(warm["metadata"]["capacity"], 100.0);

    // A scan over 1000 products, each asked once: all misses, and moka evicts to stay within
    // its capacity.
    for key in 1_000..2_000 {
        lookup(key).await;
    }
    cache.run_pending_tasks().await;
    let thrashing = server
        .component_until(|c| c["metadata"]["misses"] == 1_010.0)
        .await;
    assert_eq!(thrashing["status"], "unhealthy", "{thrashing}");
    assert_eq!(
        thrashing["message"],
        "hit rate 0% is at or below 50% over the last 1000 lookups"
    );
    let evicted = thrashing["metadata"]["evictions"].as_f64().unwrap();
    assert!(
        evicted >= 900.0,
        "moka's listener counted {evicted} evictions"
    );
    let entries = thrashing["metadata"]["entries"].as_f64().unwrap();
    assert!(entries <= 100.0, "{entries} entries in a cache of 100");

    let text = String::from_utf8(server.get("/metrics").await.body).unwrap();
    let sample = |series: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
    };
    assert_eq!(sample("vitals_cache_misses_total"), Some(1_010.0));
    assert_eq!(sample("vitals_cache_evictions_total"), Some(evicted));
    assert_eq!(
        sample(r#"vitals_health_component_figure{component="product-cache",figure="entries"}"#),
        Some(entries)
    );
}
