//! What the fuzz targets share (each includes it with `mod support;`).

use std::sync::OnceLock;

/// One current-thread runtime with timers, made on first use and kept for the process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}
