//! Peers' records: whatever a fleet's store holds — any bytes, split into records at each
//! 0xFF — is read by one exchange. Nothing panics; the view holds at most the fleet's
//! `max_replicas` peers besides this replica, every one with a valid id; its JSON (what
//! `/health/fleet` answers) parses and stays within the records' caps.
#![no_main]

mod support;

use libfuzzer_sys::fuzz_target;
use tower_vitals::HealthChecker;
use tower_vitals::fleet::{Exchange, ExchangeFuture, Fleet, FleetStore, MAX_RECORD_BYTES};

/// A store that answers with the records it was given.
struct Planted(Vec<Vec<u8>>);

impl FleetStore for Planted {
    fn exchange<'a>(&'a self, exchange: Exchange<'a>) -> ExchangeFuture<'a> {
        let records = self.0.iter().take(exchange.max).cloned().collect();
        Box::pin(async move { Ok(records) })
    }
}

const MAX: usize = 8;

fuzz_target!(|data: &[u8]| {
    let records: Vec<Vec<u8>> = data.split(|&b| b == 0xFF).map(<[u8]>::to_vec).collect();
    let _guard = support::runtime().enter();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .build()
        .unwrap();
    let fleet = Fleet::builder(checker, Planted(records))
        .id("fuzz")
        .unwrap()
        .max_replicas(MAX)
        .build()
        .unwrap();
    support::runtime().block_on(fleet.exchange());
    let view = fleet.view();
    assert!(
        view.replicas.len() <= MAX + 1,
        "{} replicas",
        view.replicas.len()
    );
    for replica in &view.replicas {
        assert!(!replica.id.is_empty() && !replica.id.chars().any(char::is_control));
    }
    let body = tower_vitals::render::fleet(&view).body;
    let json: serde_json::Value = serde_json::from_slice(&body).expect("the answer is JSON");
    assert!(json["replicas"].is_array());
    assert!(
        body.len() <= (MAX + 1) * MAX_RECORD_BYTES * 2,
        "{} bytes",
        body.len()
    );
});
