//! The families of the exposition, one writer each: requests, the runtime, webhooks, the
//! reliability anomalies, build info, the lifecycle and the process.

use std::time::Duration;

use crate::checker::{Lifecycle, Phase};
use crate::fleet::{FleetFigures, Judgement, SharedCheck};
use crate::health_report::SettingsStatus;
use crate::info::AppInfo;
use crate::metrics::{Exemplar, LatencyStats, MetricsSnapshot, Preset};
use crate::probe::{ProcessStats, RuntimeStats};
use crate::reliability::Anomaly;
use crate::render::text::{Writer, label_body, push_float};
use crate::webhook::WebhookStats;

pub(super) fn http(out: &mut Writer<'_>, metrics: &MetricsSnapshot, otel_scheme: Option<&str>) {
    if let Some(scheme) = otel_scheme {
        super::semconv::http(out, metrics, scheme);
        if metrics.preset != Preset::Lean {
            window_summary(out, metrics);
            time_to_headers(out, metrics);
        }
        single_families(out, metrics);
        request_label_families(out, metrics);
        return;
    }
    // Each series' labels are escaped once and written many times.
    let label_name = request_label_name(out, metrics);
    let labels: Vec<String> = metrics
        .series
        .iter()
        .map(|series| {
            let code = series.status_code.map(|code| code.to_string());
            let mut labels = vec![
                ("route", &*series.route),
                ("method", series.method),
                ("status_class", series.status_class),
            ];
            if let Some(code) = &code {
                labels.push(("status_code", code));
            }
            if let (Some(name), Some(value)) = (&label_name, &series.label) {
                labels.push((name, value));
            }
            label_body(&labels)
        })
        .collect();
    request_histogram(
        out,
        metrics,
        &labels,
        (
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, from the call to the end of the response body.",
        ),
    );
    if metrics.preset != Preset::Lean {
        window_summary(out, metrics);
        time_to_headers(out, metrics);
    }
    request_counters(out, metrics, &labels);
    single_families(out, metrics);
    request_label_families(out, metrics);
}

/// The request label's name on the series (renamed `exported_…` when a constant label has it).
pub(crate) fn request_label_name(out: &Writer<'_>, metrics: &MetricsSnapshot) -> Option<String> {
    let label = metrics.request_label.as_ref()?;
    Some(out.own_label_name(&label.name))
}

/// The request label's bound: requests counted under `other`, and the values held.
fn request_label_families(out: &mut Writer<'_>, metrics: &MetricsSnapshot) {
    let Some(label) = &metrics.request_label else {
        return;
    };
    let labels = [("label", &*label.name)];
    for (name, kind, help, value) in [
        (
            "http_server_request_label_overflow_total",
            "counter",
            "Requests whose request label value was counted as `other`: it came after the label's bound of distinct values was reached, or was too long.",
            label.overflow as f64,
        ),
        (
            "http_server_request_label_values",
            "gauge",
            "Distinct request label values with series of their own.",
            label.values as f64,
        ),
        (
            "http_server_request_label_values_max",
            "gauge",
            "The most distinct request label values with series of their own (the bound).",
            label.max_values as f64,
        ),
    ] {
        out.family(name, kind, help);
        out.sample(name, "", &labels, value);
    }
}

/// The request histogram `(name, help)` of every series, labelled with `labels` (one body per
/// series), with exemplars in OpenMetrics.
pub(crate) fn request_histogram(
    out: &mut Writer<'_>,
    metrics: &MetricsSnapshot,
    labels: &[String],
    (duration, help): (&str, &str),
) {
    let texts = |bounds: &[Duration]| -> Vec<String> {
        bounds
            .iter()
            .map(|bound| {
                let mut text = String::new();
                push_float(&mut text, bound.as_secs_f64());
                text
            })
            .collect()
    };
    let default_bounds = texts(&metrics.bucket_bounds);
    out.family(duration, "histogram", help);
    for (index, (series, labels)) in metrics.series.iter().zip(labels).enumerate() {
        // A route with bounds of its own has its own `le` values.
        let own_bounds = series.bucket_bounds.as_deref().map(texts);
        let bounds = own_bounds.as_ref().unwrap_or(&default_bounds);
        let exemplars = series.exemplars.iter().map(Option::as_ref);
        let les = bounds.iter().map(String::as_str).chain(["+Inf"]);
        let counts = series.cumulative_buckets.iter().copied();
        for ((le, count), exemplar) in les
            .zip(counts)
            .zip(exemplars.chain(std::iter::repeat(None)))
        {
            out.sample_body(duration, "_bucket", labels, Some(le), count as f64);
            if let Some(exemplar) = exemplar.filter(|_| out.openmetrics()) {
                write_exemplar(out, exemplar);
            }
        }
        out.sample_body(
            duration,
            "_sum",
            labels,
            None,
            series.latency_sum.as_secs_f64(),
        );
        let at = out.out.len();
        out.sample_body(duration, "_count", labels, None, series.count as f64);
        out.mark(at, index);
    }
}

/// The trace of an exemplar, its duration in seconds and when it was recorded.
pub(super) fn write_exemplar(out: &mut Writer<'_>, exemplar: &Exemplar) {
    let (trace_id, span_id) = (exemplar.trace.trace_id_hex(), exemplar.trace.span_id_hex());
    let at = exemplar
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1e3);
    out.exemplar(
        &[("trace_id", &trace_id), ("span_id", &span_id)],
        exemplar.duration.as_secs_f64(),
        at,
    );
}

/// Time to the response headers: quantiles over the window, sum and count since start (as
/// the request duration's window summary).
pub(super) fn time_to_headers(out: &mut Writer<'_>, metrics: &MetricsSnapshot) {
    let totals = &metrics.totals;
    window_quantile_summary(
        out,
        (
            "http_server_time_to_headers_window_seconds",
            "Time from the call to the response headers: quantiles over the rolling window; sum and count since start.",
        ),
        &metrics.window.time_to_headers,
        totals.headers_sum,
        totals.headers_count,
    );
}

/// The anomalies firing in the last reliability report, by rule and severity: how many (a
/// per-component rule counts its components). A rule not firing has no sample.
pub(super) fn anomaly_families(out: &mut Writer<'_>, anomalies: &[Anomaly]) {
    let name = "reliability_anomalies";
    out.family(
        name,
        "gauge",
        "Anomalies firing in the last reliability report, by rule (per-component rules count their components).",
    );
    let mut firing: Vec<(&str, &'static str, usize)> = Vec::new();
    for anomaly in anomalies {
        let severity = anomaly.severity.as_str();
        match firing
            .iter_mut()
            .find(|(rule, s, _)| *rule == anomaly.rule && *s == severity)
        {
            Some((_, _, count)) => *count += 1,
            None => firing.push((&anomaly.rule, severity, 1)),
        }
    }
    for (rule, severity, count) in firing {
        out.sample(
            name,
            "",
            &[("rule", rule), ("severity", severity)],
            count as f64,
        );
    }
}

/// Settings read at run time (`HEALTH_CONFIG_FILE`): changes applied and refused, whether the
/// source's current content is refused, and when the running settings were applied.
pub(super) fn settings_families(out: &mut Writer<'_>, settings: &SettingsStatus) {
    out.family(
        "health_settings_changes_total",
        "counter",
        "Settings read at run time: changes applied, and changes refused (the running settings kept).",
    );
    for (outcome, count) in [("applied", settings.applied), ("refused", settings.refused)] {
        let labels = [("outcome", outcome)];
        out.sample("health_settings_changes_total", "", &labels, count as f64);
    }
    out.family(
        "health_settings_refused",
        "gauge",
        "1 while the settings source's current content is refused and older settings run, else 0.",
    );
    let refused = f64::from(u8::from(settings.refusal.is_some()));
    out.sample("health_settings_refused", "", &[], refused);
    if let Some(at) = settings.applied_at {
        out.family(
            "health_settings_applied_timestamp_seconds",
            "gauge",
            "When the running settings were applied, in seconds since the Unix epoch.",
        );
        let seconds = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        out.sample(
            "health_settings_applied_timestamp_seconds",
            "",
            &[],
            seconds,
        );
    }
}

/// The fleet: replicas seen, exchanges with the store, records refused, the shared checks'
/// judgements.
pub(super) fn fleet_families(out: &mut Writer<'_>, fleet: &FleetFigures) {
    out.family(
        "fleet_replicas",
        "gauge",
        "Replicas of the fleet this one sees: fresh (record standing in the store) or stale.",
    );
    out.sample(
        "fleet_replicas",
        "",
        &[("state", "fresh")],
        fleet.fresh as f64,
    );
    out.sample(
        "fleet_replicas",
        "",
        &[("state", "stale")],
        fleet.stale as f64,
    );
    out.family(
        "fleet_store_reachable",
        "gauge",
        "1 while the last exchange with the fleet's store succeeded, else 0.",
    );
    let reachable = f64::from(u8::from(fleet.store_reachable));
    out.sample("fleet_store_reachable", "", &[], reachable);
    out.family(
        "fleet_exchanges_total",
        "counter",
        "Exchanges with the fleet's store (publish this record, read the peers'), by outcome.",
    );
    let failed = fleet.failures as f64;
    let ok = fleet.exchanges.saturating_sub(fleet.failures) as f64;
    out.sample("fleet_exchanges_total", "", &[("outcome", "ok")], ok);
    out.sample(
        "fleet_exchanges_total",
        "",
        &[("outcome", "failed")],
        failed,
    );
    out.family(
        "fleet_exchange_seconds",
        "gauge",
        "How long the last exchange with the fleet's store took.",
    );
    let took = fleet.last_exchange.as_secs_f64();
    out.sample("fleet_exchange_seconds", "", &[], took);
    out.family(
        "fleet_records_refused_total",
        "counter",
        "Peers' records ignored: too large, malformed, out of bounds or dated ahead.",
    );
    for (reason, n) in &fleet.refused {
        out.sample(
            "fleet_records_refused_total",
            "",
            &[("reason", reason)],
            *n as f64,
        );
    }
    shared_families(out, &fleet.shared);
}

/// The shared checks: the judgement each is under, the replicas failing it.
fn shared_families(out: &mut Writer<'_>, shared: &[SharedCheck]) {
    if shared.is_empty() {
        return;
    }
    out.family(
        "fleet_judgement",
        "gauge",
        "Each shared check's judgement against the fleet at the last exchange: 1 for the one it is under (passing, pending, shared outage, local fault, alone), 0 for the others.",
    );
    for shared in shared {
        for judgement in Judgement::ALL {
            let under = f64::from(u8::from(shared.judgement == judgement));
            let labels = [
                ("check", shared.check.as_str()),
                ("judgement", judgement.as_str()),
            ];
            out.sample("fleet_judgement", "", &labels, under);
        }
    }
    out.family(
        "fleet_check_replicas",
        "gauge",
        "Fresh replicas with a result for each shared check, this one included: all, and those it fails on.",
    );
    for shared in shared {
        let all = [("check", shared.check.as_str()), ("state", "all")];
        out.sample("fleet_check_replicas", "", &all, shared.replicas as f64);
        let failing = [("check", shared.check.as_str()), ("state", "failing")];
        out.sample("fleet_check_replicas", "", &failing, shared.failing as f64);
    }
}

/// What each webhook notifier has done, and its queue now, labelled with the receiver's host.
pub(super) fn webhook_families(out: &mut Writer<'_>, webhooks: &[(String, WebhookStats)]) {
    type Figure = fn(&WebhookStats) -> u64;
    /// A counter family: name, help, and a figure per `outcome` ("" for none).
    type Counter<'a> = (&'a str, &'a str, &'a [(&'a str, Figure)]);
    let counters: [Counter<'_>; 3] = [
        (
            "webhook_events_total",
            "Status changes a webhook notifier delivered, dropped because its queue was full, or skipped because another replica of the fleet posted them.",
            &[
                ("delivered", |s| s.delivered_events),
                ("dropped", |s| s.dropped_events),
                ("skipped", |s| s.skipped_events),
            ],
        ),
        (
            "webhook_batches_total",
            "Webhook requests the receiver accepted, or given up after the last retry.",
            &[
                ("delivered", |s| s.delivered_batches),
                ("failed", |s| s.failed_batches),
            ],
        ),
        (
            "webhook_requests_total",
            "Webhook requests sent, retries included.",
            &[("", |s| s.attempts)],
        ),
    ];
    for (name, help, outcomes) in counters {
        out.family(name, "counter", help);
        for (receiver, stats) in webhooks {
            for (outcome, figure) in outcomes {
                let mut labels = vec![("receiver", receiver.as_str())];
                if !outcome.is_empty() {
                    labels.push(("outcome", outcome));
                }
                out.sample(name, "", &labels, figure(stats) as f64);
            }
        }
    }
    let gauges: [(&str, &str, Figure); 2] = [
        (
            "webhook_queue_depth",
            "Status changes waiting in a webhook notifier's queue.",
            |s| s.queued,
        ),
        (
            "webhook_queue_capacity",
            "Status changes a webhook notifier's queue holds at most.",
            |s| s.queue_capacity,
        ),
    ];
    for (name, help, figure) in gauges {
        out.family(name, "gauge", help);
        for (receiver, stats) in webhooks {
            out.sample(name, "", &[("receiver", receiver)], figure(stats) as f64);
        }
    }
}

/// The Tokio runtime serving the scrape: workers, alive tasks, the global queue, and the
/// scheduling lag the runtime probe measured (last and largest).
pub(super) fn runtime_families(out: &mut Writer<'_>, runtime: &RuntimeStats) {
    let lag = |ms: Option<f64>| ms.map_or(f64::NAN, |ms| ms / 1e3);
    for (name, help, value) in [
        (
            "runtime_workers",
            "Tokio runtime worker threads.",
            runtime.workers as f64,
        ),
        (
            "runtime_alive_tasks",
            "Tokio tasks alive.",
            runtime.alive_tasks as f64,
        ),
        (
            "runtime_global_queue_depth",
            "Tasks waiting in the Tokio runtime's global queue.",
            runtime.global_queue_depth as f64,
        ),
        (
            "runtime_scheduling_lag_seconds",
            "The last scheduling lag measured: how late a timer task ran.",
            lag(runtime.last_lag_ms),
        ),
        (
            "runtime_scheduling_lag_max_seconds",
            "The largest scheduling lag measured since start.",
            lag(runtime.max_lag_ms),
        ),
    ] {
        out.family(name, "gauge", help);
        out.sample(name, "", &[], value);
    }
}

pub(super) fn window_summary(out: &mut Writer<'_>, metrics: &MetricsSnapshot) {
    let totals = &metrics.totals;
    window_quantile_summary(
        out,
        (
            "http_server_request_duration_window_seconds",
            "Request duration quantiles over the rolling window; sum and count since start.",
        ),
        &metrics.window.latency,
        totals.latency_sum,
        totals.successes + totals.failures,
    );
}

/// A summary family `(name, help)`: `stats`' p50/p95/p99 over the rolling window, and `sum`
/// and `count` since start.
pub(super) fn window_quantile_summary(
    out: &mut Writer<'_>,
    (name, help): (&str, &str),
    stats: &LatencyStats,
    sum: Duration,
    count: u64,
) {
    out.family(name, "summary", help);
    for (quantile, value) in [("0.5", stats.p50), ("0.95", stats.p95), ("0.99", stats.p99)] {
        // Nothing in the window: no quantile (NaN, as Prometheus' own clients write it).
        let seconds = if stats.count == 0 {
            f64::NAN
        } else {
            value.as_secs_f64()
        };
        out.sample(name, "", &[("quantile", quantile)], seconds);
    }
    out.sample(name, "_sum", &[], sum.as_secs_f64());
    out.sample(name, "_count", &[], count as f64);
}

pub(super) fn request_counters(out: &mut Writer<'_>, metrics: &MetricsSnapshot, labels: &[String]) {
    for (name, help, failures) in [
        ("http_server_requests_total", "HTTP server requests.", false),
        (
            "http_server_request_failures_total",
            "HTTP server requests classified as failures (5xx, service errors, gRPC errors).",
            true,
        ),
    ] {
        out.family(name, "counter", help);
        for (series, labels) in metrics.series.iter().zip(labels) {
            let value = if failures {
                series.failures
            } else {
                series.count
            };
            out.sample_body(name, "", labels, None, value as f64);
        }
    }
}

pub(super) fn single_families(out: &mut Writer<'_>, metrics: &MetricsSnapshot) {
    let totals = &metrics.totals;
    let cancelled = (
        "http_server_requests_cancelled_total",
        "counter",
        "HTTP server requests dropped before they ended (client went away).",
        totals.cancelled as f64,
    );
    // The lean preset does not count requests in flight: no gauge rather than a zero.
    let in_flight = (metrics.preset != Preset::Lean).then_some((
        "http_server_requests_in_flight",
        "gauge",
        "HTTP server requests started and not yet ended.",
        metrics.in_flight as f64,
    ));
    let others = [
        (
            "http_server_latency_clamped_total",
            "counter",
            "Request durations outside 1 us to 1 h, recorded at the nearest bound.",
            totals.clamped as f64,
        ),
        (
            "cache_hits_total",
            "counter",
            "Cache lookups that found their entry.",
            metrics.cache.hits as f64,
        ),
        (
            "cache_misses_total",
            "counter",
            "Cache lookups that did not.",
            metrics.cache.misses as f64,
        ),
        (
            "cache_evictions_total",
            "counter",
            "Cache entries evicted.",
            metrics.cache.evictions as f64,
        ),
    ];
    let families = std::iter::once(cancelled).chain(in_flight).chain(others);
    for (name, kind, help, value) in families {
        out.family(name, kind, help);
        out.sample(name, "", &[], value);
    }
}

pub(super) fn build_info(out: &mut Writer<'_>, info: &AppInfo) {
    out.family(
        "build_info",
        "gauge",
        "The application's name, version, commit, environment and compiler; always 1.",
    );
    let labels = [
        ("name", info.name()),
        ("version", info.version()),
        ("commit", info.commit().unwrap_or("")),
        ("environment", info.environment_name().unwrap_or("")),
        ("rust_version", info.rust_version()),
    ];
    out.sample("build_info", "", &labels, 1.0);
}

pub(super) fn lifecycle_families(out: &mut Writer<'_>, lifecycle: &Lifecycle, alive: bool) {
    out.family(
        "lifecycle_phase",
        "gauge",
        "The service's phase (serving, draining, shutting_down): 1 for the current one, 0 for the others.",
    );
    for phase in Phase::ALL {
        let value = f64::from(u8::from(lifecycle.phase == phase));
        out.sample("lifecycle_phase", "", &[("phase", phase.as_str())], value);
    }
    out.family(
        "health_alive",
        "gauge",
        "0 while the application has marked the process broken (liveness answers 503), else 1.",
    );
    out.sample("health_alive", "", &[], f64::from(u8::from(alive)));
    if let Some(since) = lifecycle.draining_since {
        let seconds = since
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        out.family(
            "drain_started_timestamp_seconds",
            "gauge",
            "When the drain began (the shutdown signal), in seconds since the Unix epoch.",
        );
        out.sample("drain_started_timestamp_seconds", "", &[], seconds);
        let timings = [
            (
                "drain_delay_seconds",
                "The drain's propagation delay.",
                lifecycle.delay_ms,
            ),
            (
                "drain_budget_seconds",
                "The drain's budget for requests in flight.",
                lifecycle.budget_ms,
            ),
        ];
        for (name, help, millis) in timings {
            out.family(name, "gauge", help);
            out.sample(name, "", &[], millis.unwrap_or(0) as f64 / 1e3);
        }
    }
}

pub(super) fn process_families(out: &mut Writer<'_>, process: &ProcessStats) {
    let families = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            Some(process.cpu_seconds),
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            Some(process.resident_memory_bytes as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            Some(process.virtual_memory_bytes as f64),
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            Some(process.open_fds as f64),
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            process.max_fds.map(|v| v as f64),
        ),
        (
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
            Some(process.threads as f64),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            Some(process.start_time_seconds),
        ),
    ];
    for (name, kind, help, value) in families {
        if let Some(value) = value {
            out.single_unprefixed(name, kind, help, value);
        }
    }
}
