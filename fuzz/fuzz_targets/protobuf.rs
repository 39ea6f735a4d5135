//! The protobuf exposition: any text appended as another registry's (with a route label of
//! any text and native histograms kept) comes out, as Prometheus asks for it, as whole
//! length-delimited messages; the text formats of the same scrape still answer.
#![no_main]

mod support;

use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};
use tower_vitals::metrics::{Outcome, RequestRecord};
use tower_vitals::{HealthChecker, HealthLayer, MetricsCollector};

const PROTOBUF: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3";
const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0";

/// The number of varint-length frames that exactly fill `body`.
fn frames(mut body: &[u8]) -> usize {
    let mut count = 0;
    while !body.is_empty() {
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let byte = *body.first().expect("a whole length");
            body = &body[1..];
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
            assert!(shift < 64, "a length too long");
        }
        assert!(len <= body.len(), "a frame past the end");
        body = &body[len..];
        count += 1;
    }
    count
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (route, appended) = text.split_once('\u{1}').unwrap_or(("/r", text));
    let (route, appended) = (route.to_owned(), appended.to_owned());

    let _guard = support::runtime().enter();
    let checker = HealthChecker::builder().build().unwrap();
    let collector = MetricsCollector::builder()
        .native_histograms()
        .build()
        .unwrap();
    for millis in [0, 3, 250] {
        collector.record(&RequestRecord {
            route: Some(&route),
            method: &Method::GET,
            outcome: Outcome::status(StatusCode::OK),
            duration: Duration::from_millis(millis),
            time_to_headers: None,
        });
    }
    let app = service_fn(|_request: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    });
    let service = HealthLayer::new(checker)
        .metrics(collector)
        .append_metrics(move || appended.clone())
        .layer(app);
    let scrape = |accept: &'static str| {
        let service = service.clone();
        support::runtime().block_on(async move {
            let request = Request::get("/metrics")
                .header(header::ACCEPT, accept)
                .body(())
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap().to_bytes()
        })
    };
    let body = scrape(PROTOBUF);
    assert!(frames(&body) > 5, "our families at least");
    let openmetrics = scrape(OPENMETRICS);
    assert!(openmetrics.ends_with(b"# EOF\n"));
});
