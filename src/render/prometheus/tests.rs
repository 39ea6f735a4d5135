use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::health_report::ComponentStatus;
use crate::metrics::{MetricsCollector, Outcome, RequestRecord};
use crate::render::TextFormat;
use crate::render::text::float;

/// A strict reader of the text format, independent of the writer: every sample line parsed into
/// name, labels (unescaped) and value; every family announced by HELP then TYPE.
/// One sample: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary"].contains(&kind),
                "{line}"
            );
            assert!(typed.insert(name.to_owned()), "family {name} typed twice");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "unexpected line {line:?}"
        );
        let name_end = line.find(['{', ' ']).expect("a sample has a value");
        let name = &line[..name_end];
        assert!(
            valid_prefix(name) && !name.is_empty(),
            "bad metric name {name:?}"
        );
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            loop {
                let (start, _) = *chars.peek().expect("label or }");
                if body[start..].starts_with('}') {
                    rest = &body[start + 1..];
                    break;
                }
                let eq = body[start..].find('=').expect("label=") + start;
                let label = body[start..eq].to_owned();
                assert!(body[eq + 1..].starts_with('"'), "quoted value in {line}");
                while chars.next().map(|(i, _)| i) != Some(eq + 1) {}
                let mut value = String::new();
                loop {
                    match chars.next().expect("closing quote").1 {
                        '\\' => match chars.next().expect("escape").1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            other => panic!("bad escape \\{other} in {line}"),
                        },
                        '"' => break,
                        '\n' => panic!("raw newline in a label value"),
                        c => value.push(c),
                    }
                }
                labels.push((label, value));
                if let Some((_, ',')) = chars.peek() {
                    chars.next();
                }
            }
        }
        let value = rest.strip_prefix(' ').expect("space before the value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?}")),
        };
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

fn component(name: &str, status: HealthStatus) -> ComponentStatus {
    ComponentStatus {
        name: name.to_owned(),
        status,
        message: None,
        response_time_ms: 1.0,
        metadata: Default::default(),
        checked_at: None,
        fresh: true,
        age_ms: 0.0,
        critical: true,
        tags: vec![],
        consecutive_failures: 0,
        since: None,
        reason: None,
        judgement: None,
        history: Default::default(),
        figures: vec![],
    }
}

fn report(names: &[String]) -> SystemHealthStatus {
    SystemHealthStatus {
        status: HealthStatus::Degraded,
        accepting_traffic: true,
        timestamp: SystemTime::now(),
        duration_ms: 0.1,
        components: names
            .iter()
            .map(|n| component(n, HealthStatus::Degraded))
            .collect(),
        warming_up: vec![],
        settings: None,
    }
}

fn render(names: &[String], metrics: Option<&MetricsSnapshot>) -> String {
    render_as(names, metrics, TextFormat::Prometheus)
}

fn render_as(names: &[String], metrics: Option<&MetricsSnapshot>, format: TextFormat) -> String {
    render_report(&report(names), metrics, format)
}

fn render_report(
    report: &SystemHealthStatus,
    metrics: Option<&MetricsSnapshot>,
    format: TextFormat,
) -> String {
    Exposition {
        prefix: "vitals_",
        constant_labels: "",
        otel_scheme: None,
        metrics,
        report,
        counters: &[],
        process: None,
        uptime: Duration::from_secs(3),
        lifecycle: None,
        info: None,
        runtime: None,
        webhooks: &[],
        fleet: None,
        anomalies: None,
        format,
    }
    .render()
}

#[test]
fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
    let collector = MetricsCollector::new();
    let snapshot = collector.snapshot();
    let names = vec!["db".to_owned()];
    let text = render_as(&names, Some(&snapshot), TextFormat::OpenMetrics);
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(text.matches("# EOF").count(), 1);
    assert!(text.contains("# HELP vitals_http_server_requests HTTP server requests.\n"));
    assert!(text.contains("# TYPE vitals_http_server_requests counter\n"));
    assert!(!text.contains("# TYPE vitals_http_server_requests_total"));
    // Everything else is as in the text format.
    let plain = render(&names, Some(&snapshot));
    assert_eq!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        plain
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
    );
    assert!(!plain.contains("# EOF"));
}

#[test]
fn families_have_help_and_type_and_histograms_add_up() {
    let collector = MetricsCollector::new();
    for millis in [3, 30, 300] {
        collector.record(&RequestRecord {
            route: Some("/users/{id}"),
            method: &http::Method::GET,
            outcome: Outcome::status(http::StatusCode::OK),
            duration: Duration::from_millis(millis),
            time_to_headers: None,
        });
    }
    let text = render(&["db".into()], Some(&collector.snapshot()));
    let samples = parse(&text);
    let find = |name: &str, le: Option<&str>| {
        samples
            .iter()
            .find(|(n, labels, _)| {
                n == name && le.is_none_or(|le| labels.iter().any(|(k, v)| k == "le" && v == le))
            })
            .unwrap_or_else(|| panic!("no {name} {le:?}"))
            .2
    };
    assert_eq!(
        find(
            "vitals_http_server_request_duration_seconds_bucket",
            Some("0.005")
        ),
        1.0
    );
    assert_eq!(
        find(
            "vitals_http_server_request_duration_seconds_bucket",
            Some("0.05")
        ),
        2.0
    );
    assert_eq!(
        find(
            "vitals_http_server_request_duration_seconds_bucket",
            Some("+Inf")
        ),
        3.0
    );
    assert_eq!(
        find("vitals_http_server_request_duration_seconds_count", None),
        3.0
    );
    assert!((find("vitals_http_server_request_duration_seconds_sum", None) - 0.333).abs() < 1e-9);
    assert_eq!(find("vitals_http_server_requests_total", None), 3.0);
    assert_eq!(find("vitals_uptime_seconds", None), 3.0);
    let states: Vec<_> = samples
        .iter()
        .filter(|(n, _, _)| n == "vitals_health_component_status")
        .map(|(_, labels, value)| (labels[1].1.clone(), *value))
        .collect();
    assert_eq!(
        states,
        [
            ("healthy".into(), 0.0),
            ("degraded".into(), 1.0),
            ("unknown".into(), 0.0),
            ("unhealthy".into(), 0.0)
        ]
    );
    assert!(text.contains("# TYPE vitals_http_server_request_duration_seconds histogram\n"));
    assert!(text.lines().filter(|l| l.starts_with("# TYPE")).count() >= 15);
}

#[test]
fn a_components_figures_are_one_gauge_family_labelled_by_component_and_figure() {
    let mut report = report(&["orders-queue".into(), "db".into()]);
    report.components[0].figures = vec![
        ("depth".into(), 1200.0),
        ("oldest_age_seconds".into(), 42.5),
    ];
    let text = render_report(&report, None, TextFormat::Prometheus);
    assert_eq!(
        text.matches("# TYPE vitals_health_component_figure gauge\n")
            .count(),
        1
    );
    let figures: Vec<_> = parse(&text)
        .into_iter()
        .filter(|(n, _, _)| n == "vitals_health_component_figure")
        .collect();
    assert_eq!(
        figures,
        [
            (
                "vitals_health_component_figure".to_owned(),
                vec![
                    ("component".to_owned(), "orders-queue".to_owned()),
                    ("figure".to_owned(), "depth".to_owned())
                ],
                1200.0
            ),
            (
                "vitals_health_component_figure".to_owned(),
                vec![
                    ("component".to_owned(), "orders-queue".to_owned()),
                    ("figure".to_owned(), "oldest_age_seconds".to_owned())
                ],
                42.5
            ),
        ]
    );
}

#[test]
fn window_quantiles_are_nan_without_requests_and_seconds_with() {
    let quantiles = |text: &str| -> Vec<f64> {
        parse(text)
            .into_iter()
            .filter(|(n, labels, _)| {
                n == "vitals_http_server_request_duration_window_seconds"
                    && labels.iter().any(|(k, _)| k == "quantile")
            })
            .map(|(_, _, value)| value)
            .collect()
    };
    let collector = MetricsCollector::new();
    let empty = quantiles(&render(&[], Some(&collector.snapshot())));
    assert_eq!(empty.len(), 3);
    assert!(empty.iter().all(|q| q.is_nan()), "{empty:?}");
    collector.record(&RequestRecord {
        route: None,
        method: &http::Method::GET,
        outcome: Outcome::status(http::StatusCode::OK),
        duration: Duration::from_millis(20),
        time_to_headers: None,
    });
    let one = quantiles(&render(&[], Some(&collector.snapshot())));
    assert!(one.iter().all(|q| (q - 0.02).abs() < 0.001), "{one:?}");
}

#[test]
fn values_are_written_as_prometheus_reads_them() {
    assert_eq!(float(3.0), "3");
    assert_eq!(float(0.005), "0.005");
    assert_eq!(float(f64::INFINITY), "+Inf");
    assert_eq!(float(f64::NAN), "NaN");
    assert_eq!(float(1e20), "1e20");
    assert_eq!(float(0.000_001), "1e-6");
    assert!(valid_prefix("vitals_") && valid_prefix("") && valid_prefix("app:x_"));
    assert!(!valid_prefix("9x") && !valid_prefix("a-b") && !valid_prefix("é"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_component_or_route_name_round_trips(
        names in proptest::collection::vec("\\PC*|[\"\\\\\n{}=, ]{0,6}|.{0,12}", 1..4),
        route in "\\PC{0,20}|[\"\\\\\n]{1,5}",
    ) {
        let collector = MetricsCollector::new();
        let route: Arc<str> = route.into();
        collector.record(&RequestRecord {
            route: Some(&route),
            method: &http::Method::POST,
            outcome: Outcome::status(http::StatusCode::CREATED),
            duration: Duration::from_millis(1),
            time_to_headers: None,
        });
        let text = render(&names, Some(&collector.snapshot()));
        let samples = parse(&text);
        let components: Vec<String> = samples
            .iter()
            .filter(|(n, labels, _)| n == "vitals_health_component_status" && labels[1].1 == "healthy")
            .map(|(_, labels, _)| labels[0].1.clone())
            .collect();
        prop_assert_eq!(&components, &names);
        let routes: Vec<&str> = samples
            .iter()
            .filter(|(n, _, _)| n == "vitals_http_server_requests_total")
            .map(|(_, labels, _)| labels[0].1.as_str())
            .collect();
        prop_assert_eq!(routes, vec![&*route]);
    }
}
