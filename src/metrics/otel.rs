//! The OpenTelemetry bridge (feature `opentelemetry`): every request the collector records is
//! also recorded into an application-supplied `Meter` as the HTTP server semantic conventions
//! name it — `http.server.request.duration` (a histogram in seconds, with the advised bounds;
//! an SDK view may aggregate it as an exponential histogram) and
//! `http.server.active_requests` (observed from the collector's in-flight count) — so any
//! OpenTelemetry exporter carries them.

use std::sync::{Arc, OnceLock};

use opentelemetry::metrics::{Histogram, Meter, ObservableUpDownCounter};
use opentelemetry::{Key, KeyValue, StringValue, Value};

use super::collector::OTEL_DURATION_BOUNDS;
use super::labels::METHOD_NAMES;
use super::record::Outcome;
use super::request_label::LabelValues;
use super::routes::{Routes, SeriesKey, UNMATCHED};

/// The instruments, and what their attributes need made once.
pub(crate) struct Bridge {
    duration: Histogram<f64>,
    /// Kept with the bridge; the SDK calls its callback when it collects.
    _active: ObservableUpDownCounter<i64>,
    scheme: &'static str,
    /// Each route's label as a shared string, made on its first request.
    routes: Box<[OnceLock<StringValue>]>,
    /// The request label's key, made on the first request, and each value's shared string.
    label_key: OnceLock<Key>,
    label_values: Box<[OnceLock<StringValue>]>,
    /// `error.type` of the 5xx codes: the code as text.
    server_errors: Box<[StringValue]>,
}

impl Bridge {
    /// Instruments from `meter` for `routes` route ids and `values` request label ids;
    /// `in_flight` tells the requests in flight (`None` once the collector is gone).
    pub(crate) fn new(
        meter: &Meter,
        scheme: &'static str,
        (routes, values): (usize, usize),
        in_flight: impl Fn() -> Option<u64> + Send + Sync + 'static,
    ) -> Self {
        let duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .with_boundaries(OTEL_DURATION_BOUNDS.to_vec())
            .build();
        let attributes = [KeyValue::new("url.scheme", scheme)];
        let active = meter
            .i64_observable_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .with_callback(move |observer| {
                if let Some(count) = in_flight() {
                    observer.observe(i64::try_from(count).unwrap_or(i64::MAX), &attributes);
                }
            })
            .build();
        Self {
            duration,
            _active: active,
            scheme,
            routes: (0..routes).map(|_| OnceLock::new()).collect(),
            label_key: OnceLock::new(),
            label_values: (0..values).map(|_| OnceLock::new()).collect(),
            server_errors: (500..600)
                .map(|code: u16| StringValue::from(Arc::<str>::from(code.to_string())))
                .collect(),
        }
    }

    /// Records one request: its duration with the conventions' attributes, and the request
    /// label's (its bounded value) when the collector has one. `routes` and `label` give the
    /// texts the first time an id is seen (no route: no `http.route`).
    pub(crate) fn record(
        &self,
        key: SeriesKey,
        outcome: Outcome,
        nanos: u64,
        routes: &Routes,
        label: Option<&LabelValues>,
    ) {
        let SeriesKey { route, method, .. } = key;
        let name = || routes.name(route);
        let method = match METHOD_NAMES[usize::from(method)] {
            "OTHER" => "_OTHER",
            known => known,
        };
        let mut attributes: [KeyValue; 6] = std::array::from_fn(|_| KeyValue::new("", ""));
        attributes[0] = KeyValue::new("http.request.method", method);
        attributes[1] = KeyValue::new("url.scheme", self.scheme);
        let mut len = 2;
        let mut push = |key: Key, value: Value| {
            attributes[len] = KeyValue::new(key, value);
            len += 1;
        };
        if let Some(label) = self.route_label(route, name) {
            push(Key::from_static_str("http.route"), Value::String(label));
        }
        if let Some(values) = label
            && let Some((key, value)) = self.label_attribute(values, key.label)
        {
            push(key, Value::String(value));
        }
        match outcome {
            Outcome::Response { status, .. } => {
                let code = status.as_u16();
                push(
                    Key::from_static_str("http.response.status_code"),
                    Value::I64(i64::from(code)),
                );
                if let Some(text) = code
                    .checked_sub(500)
                    .and_then(|i| self.server_errors.get(usize::from(i)))
                {
                    push(
                        Key::from_static_str("error.type"),
                        Value::String(text.clone()),
                    );
                }
            }
            Outcome::Error => push(Key::from_static_str("error.type"), Value::from("_OTHER")),
            Outcome::Cancelled => {
                push(Key::from_static_str("error.type"), Value::from("cancelled"))
            }
        }
        self.duration
            .record(nanos as f64 * 1e-9, &attributes[..len]);
    }

    /// The request label's key and the shared string of value `id`, each made once.
    fn label_attribute(&self, values: &LabelValues, id: u16) -> Option<(Key, StringValue)> {
        let key = self
            .label_key
            .get_or_init(|| Key::from(values.name().clone()))
            .clone();
        let slot = self.label_values.get(usize::from(id))?;
        if let Some(value) = slot.get() {
            return Some((key, value.clone()));
        }
        let text = values.text(id)?;
        let value = slot
            .get_or_init(|| StringValue::from(Arc::<str>::from(text)))
            .clone();
        Some((key, value))
    }

    /// The shared label of `route`, made once; `None` for requests without a route.
    fn route_label<'a>(
        &self,
        route: u16,
        name: impl FnOnce() -> Option<&'a str>,
    ) -> Option<StringValue> {
        if route == UNMATCHED {
            return None;
        }
        let slot = self.routes.get(usize::from(route))?;
        if let Some(label) = slot.get() {
            return Some(label.clone());
        }
        let text = name()?;
        Some(
            slot.get_or_init(|| StringValue::from(Arc::<str>::from(text)))
                .clone(),
        )
    }
}
