//! The request families under OpenTelemetry's HTTP server semantic conventions
//! (`http.server.request.duration`, `http.server.active_requests`), as Prometheus names them.

use super::{request_histogram, request_label_name};
use crate::metrics::MetricsSnapshot;
use crate::render::text::{Writer, label_body};

/// The histogram of every series with the conventions' labels, and the active requests.
pub(super) fn http(out: &mut Writer<'_>, metrics: &MetricsSnapshot, scheme: &str) {
    let label_name = request_label_name(out, metrics);
    let labels: Vec<String> = metrics
        .series
        .iter()
        .map(|series| {
            let code = series.status_code.map(|code| code.to_string());
            let method = match series.method {
                "OTHER" => "_OTHER",
                method => method,
            };
            let mut labels = vec![("http_request_method", method)];
            if !matches!(&*series.route, "unmatched") {
                labels.push(("http_route", &series.route));
            }
            if let Some(code) = &code {
                labels.push(("http_response_status_code", code));
            }
            labels.push(("url_scheme", scheme));
            if let Some(error) = error_type(series.status_class, code.as_deref()) {
                labels.push(("error_type", error));
            }
            if let (Some(name), Some(value)) = (&label_name, &series.label) {
                labels.push((name, value));
            }
            label_body(&labels)
        })
        .collect();
    let prefix = out.swap_prefix("");
    request_histogram(
        out,
        metrics,
        &labels,
        (
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
        ),
    );
    if metrics.preset == crate::metrics::Preset::Lean {
        out.swap_prefix(prefix);
        return; // requests are not counted as they start
    }
    out.family(
        "http_server_active_requests",
        "gauge",
        "Number of active HTTP server requests.",
    );
    out.sample(
        "http_server_active_requests",
        "",
        &[("url_scheme", scheme)],
        metrics.in_flight as f64,
    );
    out.swap_prefix(prefix);
}

/// `error.type`: the status code of a 5xx (its class without exact codes is unknown:
/// `_OTHER`), `_OTHER` for a service error, `cancelled` for a request the client left.
fn error_type<'a>(class: &str, code: Option<&'a str>) -> Option<&'a str> {
    match class {
        "5xx" => Some(code.unwrap_or("_OTHER")),
        "error" => Some("_OTHER"),
        "cancelled" => Some("cancelled"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_errors_failures_and_cancellations_have_an_error_type() {
        assert_eq!(error_type("5xx", Some("503")), Some("503"));
        assert_eq!(error_type("5xx", None), Some("_OTHER"));
        assert_eq!(error_type("4xx", Some("404")), None);
        assert_eq!(error_type("2xx", None), None);
        assert_eq!(error_type("error", None), Some("_OTHER"));
        assert_eq!(error_type("cancelled", None), Some("cancelled"));
    }
}
