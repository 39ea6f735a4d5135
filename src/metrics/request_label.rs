//! A label taken from each request (a tenant, a plan, a client), bounded: the first values seen
//! get series of their own, every later one shares `other`.
//!
//! Values are interned to small ids in a table allocated at build, text included (each value
//! is kept inline, up to [`MAX_VALUE_LEN`] bytes), so recording a request never allocates, even
//! the first time a value is seen. A lookup hashes the value and probes an open-addressing
//! table of atomics without a lock; only a value not seen before takes the mutex, and once
//! every id is taken a new value is `other` without it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use http::{Extensions, HeaderMap};
use parking_lot::Mutex;

use super::routes::text_hash;
use crate::error::ConfigError;

/// Requests whose function gave no value.
pub(crate) const NO_VALUE: u16 = 0;
/// Requests whose value came after the first `max_values`, or was too long.
pub(crate) const OTHER_VALUE: u16 = 1;
const RESERVED: [&str; 2] = ["none", "other"];

/// The longest value kept as it is; a longer one counts as `other`.
pub const MAX_VALUE_LEN: usize = 128;

/// Names the request families and the OpenTelemetry bridge use already.
const TAKEN: [&str; 15] = [
    "route",
    "method",
    "status_class",
    "status_code",
    "le",
    "quantile",
    "label",
    "http_request_method",
    "http_route",
    "http_response_status_code",
    "url_scheme",
    "error_type",
    "otel_scope_name",
    "otel_scope_version",
    "job",
];

/// The function that reads a request's value: from its headers or from an extension an
/// earlier layer set (an authenticated tenant).
pub(crate) type Extract =
    Arc<dyn for<'a> Fn(&'a HeaderMap, &'a Extensions) -> Option<&'a str> + Send + Sync>;

/// What [`MetricsCollectorBuilder::request_label`](super::MetricsCollectorBuilder::request_label)
/// was given.
#[derive(Clone)]
pub(crate) struct LabelSpec {
    pub(crate) name: String,
    pub(crate) max_values: usize,
    pub(crate) extract: Extract,
}

impl fmt::Debug for LabelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelSpec")
            .field("name", &self.name)
            .field("max_values", &self.max_values)
            .finish_non_exhaustive()
    }
}

impl LabelSpec {
    /// The name a Prometheus label and an OpenTelemetry attribute can both carry, not one the
    /// request families use, and 1–4096 values.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        crate::validate::label_name(&self.name, &TAKEN, "the request families use this label")?;
        crate::validate::count(
            "request label values",
            self.max_values,
            (1..=4096, "1 to 4096"),
        )?;
        Ok(())
    }
}

/// One value's text, kept inline so that setting it allocates nothing.
struct Text {
    len: u8,
    bytes: [u8; MAX_VALUE_LEN],
}

impl Text {
    fn new(value: &str) -> Self {
        let mut bytes = [0; MAX_VALUE_LEN];
        bytes[..value.len()].copy_from_slice(value.as_bytes());
        Self {
            len: value.len() as u8,
            bytes,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The label's values: id → text, text → id.
pub(crate) struct LabelValues {
    name: Arc<str>,
    extract: Extract,
    /// Id → text; set once per id.
    texts: Box<[OnceLock<Text>]>,
    /// By hash of the text: (the hash's upper 32 bits << 32 | id + 1); 0 is free. At most a
    /// quarter full, so a probe always ends at a free slot.
    table: Box<[AtomicU64]>,
    /// Every id is taken: a value not in the table is `other`.
    full: AtomicBool,
    /// Ids assigned so far (the reserved ones included).
    assigned: Mutex<usize>,
}

impl LabelValues {
    pub(crate) fn new(spec: &LabelSpec) -> Self {
        let capacity = spec.max_values + RESERVED.len();
        let values = Self {
            name: spec.name.as_str().into(),
            extract: spec.extract.clone(),
            texts: (0..capacity).map(|_| OnceLock::new()).collect(),
            table: (0..(4 * capacity).next_power_of_two())
                .map(|_| AtomicU64::new(0))
                .collect(),
            full: AtomicBool::new(false),
            assigned: Mutex::new(RESERVED.len()),
        };
        for (id, text) in RESERVED.iter().enumerate() {
            let _ = values.texts[id].set(Text::new(text));
            values.remember(text, id as u16);
        }
        values
    }

    /// Bytes allocated for `max_values` values.
    pub(crate) fn bytes(max_values: usize) -> usize {
        let capacity = max_values + RESERVED.len();
        capacity * std::mem::size_of::<OnceLock<Text>>()
            + (4 * capacity).next_power_of_two() * std::mem::size_of::<AtomicU64>()
    }

    /// The label's name.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// How many ids there can be: the values plus `none` and `other`.
    pub(crate) fn capacity(&self) -> usize {
        self.texts.len()
    }

    /// Values given an id of their own so far (`none` and `other` left out).
    pub(crate) fn held(&self) -> usize {
        *self.assigned.lock() - RESERVED.len()
    }

    /// The value of a request, read by the label's function.
    #[inline]
    pub(crate) fn of_request(&self, headers: &HeaderMap, extensions: &Extensions) -> u16 {
        self.id((self.extract)(headers, extensions))
    }

    /// The id of a value: `none` without one, `other` past the cap or the length.
    #[inline]
    pub(crate) fn id(&self, value: Option<&str>) -> u16 {
        let Some(value) = value else {
            return NO_VALUE;
        };
        if value.len() > MAX_VALUE_LEN {
            return OTHER_VALUE;
        }
        let hash = text_hash(value);
        if let Some(id) = self.find(value, hash) {
            return id;
        }
        if self.full.load(Ordering::Acquire) {
            return OTHER_VALUE;
        }
        self.assign(value, hash)
    }

    /// The text of an id.
    pub(crate) fn text(&self, id: u16) -> Option<&str> {
        let text = self.texts.get(usize::from(id))?.get()?;
        std::str::from_utf8(text.as_bytes()).ok()
    }

    fn find(&self, value: &str, hash: u64) -> Option<u16> {
        let mask = self.table.len() - 1;
        let start = hash as usize & mask;
        for probe in 0..self.table.len() {
            let entry = self.table[(start + probe) & mask].load(Ordering::Acquire);
            if entry == 0 {
                return None;
            }
            let id = (entry as u16).wrapping_sub(1);
            if entry >> 32 == hash >> 32
                && self.texts[usize::from(id)]
                    .get()
                    .is_some_and(|text| text.as_bytes() == value.as_bytes())
            {
                return Some(id);
            }
        }
        None
    }

    /// Adds `value` → `id` (under the mutex, or before sharing). The table is never more than
    /// a quarter full, so there is always a free slot.
    fn remember(&self, value: &str, id: u16) {
        let hash = text_hash(value);
        let mask = self.table.len() - 1;
        let start = hash as usize & mask;
        let entry = (hash >> 32) << 32 | u64::from(id + 1);
        for probe in 0..self.table.len() {
            let slot = &self.table[(start + probe) & mask];
            if slot.load(Ordering::Acquire) == 0 {
                slot.store(entry, Ordering::Release);
                return;
            }
        }
    }

    #[cold]
    fn assign(&self, value: &str, hash: u64) -> u16 {
        let mut assigned = self.assigned.lock();
        // Another thread may have added it since the lookup.
        if let Some(id) = self.find(value, hash) {
            return id;
        }
        if *assigned == self.texts.len() {
            return OTHER_VALUE;
        }
        let id = *assigned;
        let _ = self.texts[id].set(Text::new(value));
        self.remember(value, id as u16);
        *assigned += 1;
        if *assigned == self.texts.len() {
            self.full.store(true, Ordering::Release);
        }
        id as u16
    }
}

impl fmt::Debug for LabelValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelValues")
            .field("name", &self.name)
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(max: usize) -> LabelValues {
        LabelValues::new(&LabelSpec {
            name: "tenant".into(),
            max_values: max,
            extract: Arc::new(|headers: &HeaderMap, _: &Extensions| {
                headers.get("x-tenant")?.to_str().ok()
            }),
        })
    }

    #[test]
    fn the_first_values_get_ids_and_later_ones_share_other() {
        let values = values(3);
        let ids: Vec<u16> = ["a", "b", "a", "c", "d", "e", "b"]
            .iter()
            .map(|v| values.id(Some(v)))
            .collect();
        assert_eq!(ids, [2, 3, 2, 4, OTHER_VALUE, OTHER_VALUE, 3]);
        assert_eq!(values.held(), 3);
        assert_eq!(
            (values.text(2), values.text(4), values.text(5)),
            (Some("a"), Some("c"), None)
        );
        assert_eq!(values.id(None), NO_VALUE);
        assert_eq!(values.text(NO_VALUE), Some("none"));
    }

    #[test]
    fn values_spelled_like_the_reserved_ones_join_them_and_long_ones_are_other() {
        let values = values(4);
        assert_eq!(values.id(Some("none")), NO_VALUE);
        assert_eq!(values.id(Some("other")), OTHER_VALUE);
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        assert_eq!(values.id(Some(&long)), OTHER_VALUE);
        let longest = "y".repeat(MAX_VALUE_LEN);
        let id = values.id(Some(&longest));
        assert_eq!(values.text(id), Some(longest.as_str()));
        assert_eq!(values.held(), 1);
    }

    #[test]
    fn every_value_is_found_again_among_many_and_unicode_is_kept() {
        let values = values(1000);
        let texts: Vec<String> = (0..1000).map(|i| format!("tenant-é{i}")).collect();
        let ids: Vec<u16> = texts.iter().map(|t| values.id(Some(t))).collect();
        assert!(values.full.load(Ordering::Relaxed));
        for (text, id) in texts.iter().zip(&ids) {
            assert_eq!(values.id(Some(text)), *id);
            assert_eq!(values.text(*id), Some(text.as_str()));
        }
        assert_eq!(values.id(Some("tenant-new")), OTHER_VALUE);
    }

    #[test]
    fn the_function_reads_the_request() {
        let values = values(2);
        let mut headers = HeaderMap::new();
        let extensions = Extensions::new();
        assert_eq!(values.of_request(&headers, &extensions), NO_VALUE);
        headers.insert("x-tenant", "acme".parse().unwrap());
        assert_eq!(values.of_request(&headers, &extensions), 2);
        headers.insert("x-tenant", "globex".parse().unwrap());
        assert_eq!(values.of_request(&headers, &extensions), 3);
        // Not visible ASCII: `to_str` refuses it, so the request has no value.
        headers.insert(
            "x-tenant",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert_eq!(values.of_request(&headers, &extensions), NO_VALUE);
    }

    #[test]
    fn names_are_checked() {
        let spec = |name: &str, max| LabelSpec {
            name: name.into(),
            max_values: max,
            extract: Arc::new(|_: &HeaderMap, _: &Extensions| None),
        };
        assert!(spec("tenant", 16).validate().is_ok());
        for bad in ["", "1x", "a-b", "route", "status_code", "__x", "le"] {
            assert!(spec(bad, 16).validate().is_err(), "{bad}");
        }
        assert!(spec("tenant", 0).validate().is_err());
        assert!(spec("tenant", 4097).validate().is_err());
    }
}
