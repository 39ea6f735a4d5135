//! Probes never wait for an expired result (stale-while-revalidate, single-flight), and a
//! result past the maximum staleness is not served as current. In-process through
//! `HealthLayer`, on a paused clock so a 3 s check costs no real time; latency figures are in
//! `benches/load.sh`, not here.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;
use tower_vitals::health::DetailPolicy;
use tower_vitals::{Check, HealthChecker, HealthLayer};

fn app() -> impl Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone {
    service_fn(|_: Request<String>| async { Ok(Response::new(String::from("app"))) })
}

async fn body(
    response: Response<impl http_body::Body<Data = Bytes, Error = Infallible>>,
) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(start_paused = true)]
async fn probes_answer_from_the_last_result_while_one_refresh_runs() {
    let started = Arc::new(AtomicU32::new(0));
    let finished = Arc::new(AtomicU32::new(0));
    let (s, f) = (started.clone(), finished.clone());
    let checker = HealthChecker::builder()
        .register(
            Check::new("slow", move || {
                let (started, finished) = (s.clone(), f.clone());
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            })
            .timeout(Duration::from_secs(10))
            .retries(0),
        )
        .cache_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    let service = HealthLayer::new(checker)
        .details(DetailPolicy::Always)
        .layer(app());
    let ready = |path: &'static str| {
        let service = service.clone();
        let finished = finished.clone();
        async move {
            let asked = tokio::time::Instant::now();
            let request = Request::get(path).body(String::new()).unwrap();
            let response = service.oneshot(request).await.unwrap();
            // On the paused clock, time passes only while something waits for a timer: the
            // check's 3 s run or the 800 ms deadline of a probe waiting for it.
            let waited = asked.elapsed();
            (response, finished.load(Ordering::SeqCst), waited)
        }
    };

    // No result yet: the first probe waits, up to the deadline, and gets unknown.
    let (first, _, waited) = ready("/health/ready").await;
    assert_eq!(first.status(), 503);
    assert_eq!(
        waited,
        Duration::from_millis(800),
        "no result: waited the deadline"
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(finished.load(Ordering::SeqCst), 1);

    for expiry in 1..=4u32 {
        tokio::time::sleep(Duration::from_millis(1200)).await; // the TTL has run out
        let probes = (0..200).map(|i| {
            ready(if i % 2 == 0 {
                "/health/ready"
            } else {
                "/health/ready?verbose"
            })
        });
        let answers = futures_util::future::join_all(probes).await;
        for (response, finished_then, waited) in answers {
            assert_eq!(waited, Duration::ZERO, "a probe waited (expiry {expiry})");
            assert_eq!(finished_then, expiry, "answered before the refresh ended");
            assert_eq!(response.status(), 200);
        }
        tokio::task::yield_now().await; // the refresh runs in a task of its own
        assert_eq!(
            started.load(Ordering::SeqCst),
            expiry + 1,
            "one refresh for 200 probes"
        );
        let (verbose, _, _) = ready("/health/ready?verbose").await;
        let component = &body(verbose).await["components"][0];
        assert_eq!(component["status"], "healthy");
        assert_eq!(component["fresh"], false, "served while refreshing");
        tokio::time::sleep(Duration::from_millis(3100)).await;
        assert_eq!(finished.load(Ordering::SeqCst), expiry + 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_check_hanging_past_the_maximum_staleness_turns_unknown_and_not_ready() {
    let hang = Arc::new(AtomicBool::new(false));
    let flag = hang.clone();
    let checker = HealthChecker::builder()
        .register(
            Check::new("db", move || {
                let hang = flag.load(Ordering::SeqCst);
                async move {
                    if hang {
                        std::future::pending::<()>().await;
                    }
                }
            })
            .timeout(Duration::from_secs(60))
            .retries(0),
        )
        .cache_ttl(Duration::from_secs(1))
        .max_staleness(Duration::from_secs(5))
        .build()
        .unwrap();
    let service = HealthLayer::new(checker.clone())
        .details(DetailPolicy::Always)
        .layer(app());
    let get = |path: &'static str| {
        let service = service.clone();
        async move {
            let request = Request::get(path).body(String::new()).unwrap();
            service.oneshot(request).await.unwrap()
        }
    };

    assert_eq!(get("/health/ready").await.status(), 200);
    hang.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get("/health/ready").await.status(),
        200,
        "stale but within the bound"
    );
    tokio::time::sleep(Duration::from_secs(4)).await; // the result is 5.5 s old
    let response = get("/health/ready?verbose").await;
    assert_eq!(response.status(), 503);
    let component = body(response).await["components"][0].clone();
    assert_eq!(component["status"], "unknown");
    let reason = component["reason"].as_str().unwrap();
    assert!(
        reason.contains("past the maximum staleness of 5000 ms"),
        "{reason}"
    );
    assert_eq!(get("/health").await.status(), 503);
}

#[test]
fn the_maximum_staleness_is_checked() {
    let error = HealthChecker::builder()
        .cache_ttl(Duration::from_secs(2))
        .max_staleness(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "maximum staleness of 1000 ms is out of range (at least the cache TTL and 1 ms, at most 24 h)"
    );
}
