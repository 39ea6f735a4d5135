use super::*;

const TEXT: &str = "\
# HELP app_jobs Jobs run, \\\\ and \\n escaped.
# TYPE app_jobs counter
app_jobs_total{queue=\"a\\\"b\"} 3 # {trace_id=\"abc\"} 1.0 1700000000.5
app_jobs_created{queue=\"a\\\"b\"} 1700000000.25
# HELP app_build Build.
# TYPE app_build info
app_build_info{version=\"1\"} 1
# TYPE app_wait_seconds histogram
# UNIT app_wait_seconds seconds
app_wait_seconds_bucket{route=\"/x\",le=\"0.1\"} 1
app_wait_seconds_bucket{route=\"/x\",le=\"1.0\"} 2 # {trace_id=\"t\",span_id=\"s\"} 0.5 1700000001
app_wait_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3
app_wait_seconds_sum{route=\"/x\"} 2.5
app_wait_seconds_count{route=\"/x\"} 3
# TYPE app_time summary
app_time{quantile=\"0.5\"} 0.2
app_time{quantile=\"0.99\"} 0.9
app_time_sum 4
app_time_count 10
# TYPE app_mystery unknown
app_mystery NaN
app_orphan{a=\"b\"} -Inf 1700000000123
# EOF
";

fn decoded(bytes: &[u8]) -> Vec<MetricFamily> {
    let mut buf = bytes;
    let mut families = Vec::new();
    while !buf.is_empty() {
        families.push(MetricFamily::decode_length_delimited(&mut buf).expect("a whole message"));
    }
    families
}

fn pair(name: &str, value: &str) -> LabelPair {
    LabelPair {
        name: Some(name.into()),
        value: Some(value.into()),
    }
}

#[test]
fn every_kind_of_family_is_read_into_its_message() {
    let families = decoded(&encode(TEXT, &HashMap::new()));
    let names: Vec<_> = families
        .iter()
        .map(|f| f.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "app_jobs_total",
            "app_build_info",
            "app_wait_seconds",
            "app_time",
            "app_mystery",
            "app_orphan"
        ]
    );
    let jobs = &families[0];
    assert_eq!(jobs.help.as_deref(), Some("Jobs run, \\ and \n escaped."));
    assert_eq!(jobs.r#type, Some(MetricType::Counter as i32));
    let counter = jobs.metric[0].counter.as_ref().unwrap();
    assert_eq!(jobs.metric[0].label, [pair("queue", "a\"b")]);
    assert_eq!(counter.value, Some(3.0));
    let exemplar = counter.exemplar.as_ref().unwrap();
    assert_eq!(exemplar.label, [pair("trace_id", "abc")]);
    assert_eq!(
        exemplar.timestamp,
        Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 500_000_000
        })
    );
    assert_eq!(
        counter.created_timestamp.as_ref().unwrap().nanos,
        250_000_000
    );
    assert_eq!(families[1].r#type, Some(MetricType::Gauge as i32));

    let wait = &families[2];
    assert_eq!(wait.unit.as_deref(), Some("seconds"));
    assert_eq!(wait.metric.len(), 1, "one metric per label set, `le` aside");
    let histogram = wait.metric[0].histogram.as_ref().unwrap();
    assert_eq!(
        (histogram.sample_count, histogram.sample_sum),
        (Some(3), Some(2.5))
    );
    let bounds: Vec<_> = histogram
        .bucket
        .iter()
        .map(|b| b.upper_bound.unwrap())
        .collect();
    assert_eq!(bounds, [0.1, 1.0], "+Inf left to the count");
    assert_eq!(histogram.bucket[1].cumulative_count, Some(2));
    assert!(histogram.bucket[1].exemplar.is_some());
    assert_eq!(
        histogram.schema, None,
        "classic only without native buckets"
    );

    let summary = families[3].metric[0].summary.as_ref().unwrap();
    assert_eq!(
        (summary.sample_count, summary.sample_sum),
        (Some(10), Some(4.0))
    );
    assert_eq!(summary.quantile[1].quantile, Some(0.99));
    assert!(
        families[4].metric[0]
            .untyped
            .as_ref()
            .unwrap()
            .value
            .unwrap()
            .is_nan()
    );
    let orphan = &families[5].metric[0];
    assert_eq!(
        orphan.untyped.as_ref().unwrap().value,
        Some(f64::NEG_INFINITY)
    );
    assert_eq!(orphan.timestamp_ms, Some(1_700_000_000_123_000));
}

#[test]
fn native_buckets_become_spans_and_deltas() {
    let native = NativeBuckets {
        scale: 3,
        zero_threshold: 2f64.powi(-20),
        zero_count: 1,
        offset: -5,
        counts: vec![2, 0, 0, 5, 5, 0, 1],
    };
    let count_line = TEXT.find("app_wait_seconds_count").unwrap();
    let natives = HashMap::from([(count_line, Native::from(&native))]);
    let families = decoded(&encode(TEXT, &natives));
    let histogram = families[2].metric[0].histogram.as_ref().unwrap();
    assert_eq!(histogram.schema, Some(3));
    assert_eq!(histogram.zero_count, Some(1));
    let spans: Vec<_> = histogram
        .positive_span
        .iter()
        .map(|s| (s.offset.unwrap(), s.length.unwrap()))
        .collect();
    // Buckets -5; -2, -1; 1: the first span at its index, later ones after a gap.
    assert_eq!(spans, [(-5, 1), (2, 2), (1, 1)]);
    assert_eq!(histogram.positive_delta, [2, 3, 0, -4]);
    assert_eq!(histogram.bucket.len(), 2, "the classic buckets stay");

    let only_zero = NativeBuckets {
        counts: Vec::new(),
        offset: 0,
        ..native
    };
    let natives = HashMap::from([(count_line, Native::from(&only_zero))]);
    let families = decoded(&encode(TEXT, &natives));
    let histogram = families[2].metric[0].histogram.as_ref().unwrap();
    assert_eq!(
        histogram.positive_span,
        [BucketSpan {
            offset: Some(0),
            length: Some(0)
        }]
    );
    assert!(histogram.negative_span.is_empty());

    // Negative values (an OpenTelemetry exponential histogram's): their own spans, by
    // magnitude; no no-op positive span then.
    let negative = [3, 0, 1];
    let natives = HashMap::from([(
        count_line,
        Native {
            buckets: &only_zero,
            negative: Some((4, &negative[..])),
        },
    )]);
    let families = decoded(&encode(TEXT, &natives));
    let histogram = families[2].metric[0].histogram.as_ref().unwrap();
    let spans: Vec<_> = histogram
        .negative_span
        .iter()
        .map(|s| (s.offset.unwrap(), s.length.unwrap()))
        .collect();
    assert_eq!(spans, [(4, 1), (1, 1)]);
    assert_eq!(histogram.negative_delta, [3, -2]);
    assert!(histogram.positive_span.is_empty());
}

#[test]
fn protobuf_is_chosen_only_when_asked_for_first() {
    let ours = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
    for (accept, expected) in [
        (ours.to_owned(), true),
        (
            format!("{ours};q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
            true,
        ),
        (
            format!("{ours};q=0.5,application/openmetrics-text;q=0.9"),
            false,
        ),
        (format!("{ours};q=0"), false),
        (
            "application/vnd.google.protobuf;proto=other.Message".to_owned(),
            false,
        ),
        (
            "application/vnd.google.protobuf;encoding=text".to_owned(),
            false,
        ),
        ("text/plain".to_owned(), false),
        (",;=,".to_owned(), false),
    ] {
        assert_eq!(accepts_protobuf(Some(&accept)), expected, "{accept}");
    }
}

#[test]
fn junk_lines_are_left_out_not_mangled() {
    let text = "# TYPE a gauge\na 1\n{broken 2\nb{x=\"unterminated} 3\n# EOF\n";
    let families = decoded(&encode(text, &HashMap::new()));
    assert_eq!(families.len(), 1);
    assert_eq!(
        families[0].metric[0].gauge.as_ref().unwrap().value,
        Some(1.0)
    );
}

#[test]
fn an_appended_series_native_buckets_are_found_by_its_count_line() {
    let buckets = NativeBuckets {
        scale: 2,
        zero_threshold: 0.0,
        zero_count: 0,
        offset: 1,
        counts: vec![2, 1],
    };
    let native = AppendedNative {
        buckets,
        negative: (0, Vec::new()),
    };
    let natives = vec![("app_wait_seconds_count{route=\"/x\"}".to_owned(), native)];
    let placed = placed(TEXT, &natives);
    let count_line = TEXT.find("app_wait_seconds_count{").unwrap();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].0, count_line);
    let families = decoded(&encode(TEXT, &placed.into_iter().collect()));
    let histogram = families[2].metric[0].histogram.as_ref().unwrap();
    assert_eq!(histogram.schema, Some(2));
    assert_eq!(histogram.positive_delta, [2, -1]);
    // Not another series' line.
    let elsewhere = vec![(
        "app_wait_seconds_count{route=\"/y\"}".to_owned(),
        natives[0].1.clone(),
    )];
    assert!(super::placed(TEXT, &elsewhere).is_empty());
}
