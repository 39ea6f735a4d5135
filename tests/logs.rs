//! The crate's log: a status change is one `tracing` event however many probes see it. Alone
//! in its own process with a global subscriber, because `tracing` caches each callsite's
//! interest process-wide: a thread-local subscriber set in a test beside others that log from
//! the same callsites could miss events (it did, 10 runs in 15).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use parking_lot::Mutex;
use tower_vitals::{Check, HealthChecker, HealthStatus};
use tracing_subscriber::layer::SubscriberExt;

/// The `to` of each event whose message is "health check status changed".
#[derive(Clone, Default)]
struct Transitions(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Transitions {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String, bool);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.1 = format!("{value:?}") == "health check status changed",
                    "to" => self.0 = format!("{value:?}"),
                    _ => {}
                }
            }
        }
        let mut fields = Fields(String::new(), false);
        event.record(&mut fields);
        if fields.1 {
            self.0.lock().push(fields.0);
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_status_change_logs_one_event_however_many_probes_see_it() {
    let transitions = Transitions::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(transitions.clone()),
    )
    .expect("the only subscriber of this process");
    let runs = Arc::new(AtomicU32::new(0));
    let counted = runs.clone();
    let checker = HealthChecker::builder()
        .register(
            Check::new("db", move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n <= 2 {
                        HealthStatus::Healthy
                    } else {
                        HealthStatus::Unhealthy
                    }
                }
            })
            .retries(0),
        )
        .cache_ttl(Duration::from_millis(100))
        .build()
        .unwrap();
    // Eight rounds of 20 concurrent probes, each round after the result expired.
    for _ in 0..8 {
        join_all((0..20).map(|_| checker.report())).await;
        tokio::time::sleep(Duration::from_millis(1)).await; // the run's task finishes
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 8);
    assert_eq!(*transitions.0.lock(), ["healthy", "unhealthy"]);
}
