//! [`TcpCheck`]: can a TCP connection be opened?

use std::time::Instant;

use tokio::net::TcpStream;

use crate::checker::{CheckFuture, HealthCheck};
use crate::health_report::CheckResult;
use crate::round::millis;

/// Healthy when a TCP connection to `host:port` opens (the check's timeout bounds the wait).
/// Metadata: the peer address and the connect time.
#[derive(Debug, Clone)]
pub struct TcpCheck {
    address: String,
}

impl TcpCheck {
    /// A check of `address`, `host:port` (a name is resolved on every run).
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
        }
    }
}

impl HealthCheck for TcpCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let stream = TcpStream::connect(&self.address).await.map_err(|e| {
                crate::checker::CheckError::new(format!("connect to {}: {e}", self.address))
            })?;
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            Ok(CheckResult::healthy()
                .with_metadata("address", self.address.clone())
                .with_metadata("peer", peer)
                .with_metadata("connect_ms", millis(started.elapsed())))
        })
    }
}
