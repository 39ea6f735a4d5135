//! tower-vitals' integration suites and benchmarks are this package's targets (`../tests`,
//! `../benches`); its library holds only the README, whose Rust snippets are compiled (and
//! run, unless marked `no_run`) as doc tests with the suite's dependencies and, under
//! `cargo test --all-features`, every feature of the crate.

/// The README's Rust snippets.
#[cfg(all(
    doctest,
    feature = "sqlx-postgres",
    feature = "redis",
    feature = "tonic",
    feature = "tls",
    feature = "opentelemetry",
    feature = "tower-resilience",
    feature = "openapi"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeSnippets;
