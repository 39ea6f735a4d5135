//! `CircuitBreakerCheck` over a real tower-resilience breaker in front of a failing inner
//! service, inside an Axum app on loopback: driven open by failures, the component turns
//! degraded (readiness holds); once the inner service recovers, the breaker closes and the
//! component is healthy again.
#![cfg(feature = "tower-resilience")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_resilience_circuitbreaker::CircuitBreakerLayer;
use tower_vitals::checks::CircuitBreakerCheck;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, HealthChecker, HealthLayer};

#[tokio::test]
async fn a_breaker_driven_open_degrades_its_component_and_closing_it_heals() {
    let failing = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let (inner_failing, inner_calls) = (failing.clone(), calls.clone());
    let payments_client = tower::service_fn(move |_: ()| {
        let failing = inner_failing.load(Ordering::SeqCst);
        inner_calls.fetch_add(1, Ordering::SeqCst);
        async move {
            match failing {
                true => Err::<(), _>(std::io::Error::other("payments down")),
                false => Ok(()),
            }
        }
    });
    let (layer, handle) = CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(4)
        .minimum_number_of_calls(4)
        .wait_duration_in_open(Duration::from_millis(200))
        .permitted_calls_in_half_open(1)
        .build_with_handle()
        .unwrap();
    let payments = ServiceBuilder::new().layer(layer).service(payments_client);
    let app = Router::new().route(
        "/pay",
        get(move || {
            let mut payments = payments.clone();
            async move {
                match payments.ready().await.unwrap().call(()).await {
                    Ok(()) => StatusCode::OK,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            }
        }),
    );
    let checker = HealthChecker::builder()
        .register(Check::new(
            "circuit-breakers",
            CircuitBreakerCheck::new().breaker("payments", handle),
        ))
        .cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    let server =
        common::serve_router(app.layer(HealthLayer::new(checker).details(DetailPolicy::Always)))
            .await;
    let component = |report: serde_json::Value| report["components"][0].clone();
    assert_eq!(
        component(server.get("/health").await.json())["status"],
        "healthy"
    );

    // Four failures fill the window at a 100 % failure rate: the breaker opens, and later
    // calls are refused without reaching the inner service.
    for _ in 0..4 {
        assert_eq!(server.get("/pay").await.status, 503);
    }
    assert_eq!(server.get("/pay").await.status, 503);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "the open breaker refused the fifth"
    );
    // A healthy result expired is served once more while the check runs again.
    let open = server.component_until(|c| c["status"] == "degraded").await;
    let message = open["message"].as_str().unwrap();
    assert!(message.starts_with("payments open for "), "{message}");
    assert_eq!(open["metadata"]["payments"]["state"], "open");
    assert!(
        open["metadata"]["payments"]["in_state_ms"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
    assert_eq!(
        server.get("/health/ready").await.status,
        200,
        "an open breaker degrades; readiness holds"
    );
    let metrics = String::from_utf8(server.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains(
            r#"vitals_health_component_figure{component="circuit-breakers",figure="open"} 1"#
        ),
        "{metrics}"
    );

    // The inner service recovers; past the wait in open, the half-open trial call succeeds and
    // the breaker closes (a hang guard, not a time limit).
    failing.store(false, Ordering::SeqCst);
    let mut closed = false;
    for _ in 0..1000 {
        if server.get("/pay").await.status == 200 {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed, "the breaker never let a call through again");
    let healed = server.component_until(|c| c["status"] == "healthy").await;
    assert_eq!(healed["metadata"]["payments"]["state"], "closed");
    assert!(
        healed.get("message").is_none_or(|m| m.is_null()),
        "{healed}"
    );
}
