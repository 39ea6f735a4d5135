//! What the database checks share: a PostgreSQL query bounded on the server, and the pool's
//! figures as metadata.

use std::time::Duration;

/// `query` preceded by `SET LOCAL statement_timeout`, for PostgreSQL's simple-query protocol:
/// the statements of one message make one implicit transaction, so the limit applies to each
/// of them (PostgreSQL 13+) and ends with it — a pooled connection goes back unchanged.
#[cfg(any(feature = "postgres", feature = "sqlx-postgres"))]
pub(super) fn postgres_bounded(query: &str, limit: Duration) -> String {
    let millis = limit.as_millis().max(1);
    format!("SET LOCAL statement_timeout = {millis}; {query}")
}

/// A pool's figures, as the metadata of a result.
#[cfg(any(
    feature = "deadpool-postgres",
    feature = "sqlx-postgres",
    feature = "sqlx-mysql",
    feature = "sqlx-sqlite"
))]
#[derive(Debug, Clone, Copy)]
pub(super) struct PoolFigures {
    /// Connections open.
    pub(super) size: usize,
    /// Open and not in use.
    pub(super) idle: usize,
    /// The most the pool opens.
    pub(super) max: usize,
    /// Tasks waiting for a connection, where the pool counts them.
    pub(super) waiting: Option<usize>,
}

#[cfg(any(
    feature = "deadpool-postgres",
    feature = "sqlx-postgres",
    feature = "sqlx-mysql",
    feature = "sqlx-sqlite"
))]
impl PoolFigures {
    pub(super) fn add_to(
        self,
        result: crate::health_report::CheckResult,
    ) -> crate::health_report::CheckResult {
        let result = result
            .with_metadata("pool_size", self.size)
            .with_metadata("pool_idle", self.idle)
            .with_metadata("pool_max", self.max);
        match self.waiting {
            Some(waiting) => result.with_metadata("pool_waiting", waiting),
            None => result,
        }
    }

    /// Why no connection came from the pool in `waited`.
    pub(super) fn starved(self, waited: Duration) -> String {
        let waiting = self
            .waiting
            .map(|w| format!(", {w} waiting"))
            .unwrap_or_default();
        format!(
            "no connection from the pool within {} ms ({} of {} open, {} idle{waiting})",
            waited.as_millis(),
            self.size,
            self.max,
            self.idle
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "postgres", feature = "sqlx-postgres"))]
    #[test]
    fn the_postgres_limit_is_local_to_the_message() {
        assert_eq!(
            postgres_bounded("SELECT 1", Duration::from_micros(2_500_900)),
            "SET LOCAL statement_timeout = 2500; SELECT 1"
        );
        assert_eq!(
            postgres_bounded("SELECT 1", Duration::ZERO),
            "SET LOCAL statement_timeout = 1; SELECT 1"
        );
    }

    #[cfg(any(
        feature = "deadpool-postgres",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite"
    ))]
    #[test]
    fn a_starved_pool_says_how_full_it_is() {
        let figures = PoolFigures {
            size: 5,
            idle: 0,
            max: 5,
            waiting: Some(3),
        };
        assert_eq!(
            figures.starved(Duration::from_millis(250)),
            "no connection from the pool within 250 ms (5 of 5 open, 0 idle, 3 waiting)"
        );
        let result = figures.add_to(crate::health_report::CheckResult::healthy());
        assert_eq!(result.metadata()["pool_waiting"], 3);
    }
}
