//! [`DnsCheck`]: does a name resolve?

use std::time::Instant;

use serde_json::Value;

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::health_report::CheckResult;
use crate::round::millis;

/// Healthy when `host` resolves to at least one address (through the system resolver, on
/// Tokio's blocking pool). Metadata: up to 8 addresses and the lookup time.
#[derive(Debug, Clone)]
pub struct DnsCheck {
    host: String,
}

impl DnsCheck {
    /// A check of `host` (a name, without a port).
    pub fn new(host: impl Into<String>) -> Self {
        Self { host: host.into() }
    }
}

impl HealthCheck for DnsCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let addresses: Vec<Value> = tokio::net::lookup_host((self.host.as_str(), 0))
                .await
                .map_err(|e| CheckError::new(format!("resolve {}: {e}", self.host)))?
                .map(|address| Value::from(address.ip().to_string()))
                .take(8)
                .collect();
            if addresses.is_empty() {
                return Err(CheckError::new(format!(
                    "{} resolved to no address",
                    self.host
                )));
            }
            Ok(CheckResult::healthy()
                .with_metadata("host", self.host.clone())
                .with_metadata("addresses", addresses)
                .with_metadata("lookup_ms", millis(started.elapsed())))
        })
    }
}
