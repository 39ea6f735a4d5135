//! Background mode: a check that runs on its own schedule, never on the probe path.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use super::slot::Slot;

/// Runs the slot's check every `interval`, give or take up to a tenth of it (so replicas that
/// started together do not probe a dependency together), until the checker is dropped.
pub(crate) fn spawn(slot: &Arc<Slot>, interval: Duration, runtime: &Handle) {
    let slot = Arc::downgrade(slot);
    let handle = runtime.clone();
    // A small xorshift generator seeded from the slot's address and the time: jitter only.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let mut seed = (slot.as_ptr() as u64) ^ u64::from(nanos) ^ 0x9E37_79B9_7F4A_7C15;
    runtime.spawn(async move {
        // If this task is dropped (its runtime shut down), the next report starts another.
        let _restart = Restart(slot.clone());
        loop {
            let Some(strong) = slot.upgrade() else { break };
            // A disabled check is not run; its schedule goes on, for when it is enabled again.
            let run = strong
                .tuning
                .enabled()
                .then(|| strong.claim_run(&handle))
                .flatten();
            drop(strong);
            if let Some(run) = run {
                run.here().await;
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let tenth = interval / 10;
            let jitter = Duration::from_nanos(seed % (2 * tenth.as_nanos().max(1) as u64));
            tokio::time::sleep(interval - tenth + jitter).await;
        }
    });
}

struct Restart(std::sync::Weak<Slot>);

impl Drop for Restart {
    fn drop(&mut self) {
        if let Some(slot) = self.0.upgrade() {
            slot.background_stopped();
        }
    }
}
