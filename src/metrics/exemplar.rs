//! Exemplars: the trace of a request kept beside the histogram bucket it fell in, so a latency
//! spike on a dashboard links to a trace. The trace comes from the request's W3C `traceparent`
//! header (sampled traces only); the table is fixed in size when the collector is built.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// The ids of a W3C Trace Context: a trace and the span the request arrived under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceIds {
    trace_id: [u8; 16],
    span_id: [u8; 8],
}

impl TraceIds {
    /// The ids of the span in the current OpenTelemetry context — with `tracing` and
    /// `tracing-opentelemetry`, the entered span's — when it is valid and sampled.
    #[cfg(feature = "opentelemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn from_current_context() -> Option<Self> {
        use opentelemetry::trace::TraceContextExt;
        opentelemetry::Context::map_current(|context| {
            let span = context.span();
            let ids = span.span_context();
            (ids.is_valid() && ids.is_sampled()).then(|| Self {
                trace_id: ids.trace_id().to_bytes(),
                span_id: ids.span_id().to_bytes(),
            })
        })
    }

    /// The ids of a `traceparent` header value (`00-<trace id>-<parent id>-<flags>`, lowercase
    /// hex), when it is valid and the trace is sampled; `None` otherwise (no allocation either
    /// way).
    ///
    /// ```
    /// use tower_vitals::metrics::TraceIds;
    ///
    /// let ids = TraceIds::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// assert_eq!(ids.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(ids.span_id_hex(), "00f067aa0ba902b7");
    /// assert!(TraceIds::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").is_none()); // not sampled
    /// ```
    pub fn from_traceparent(value: &[u8]) -> Option<Self> {
        // Version 00 is exactly 55 bytes; later versions may append fields after a dash.
        if value.len() < 55 || (value.len() > 55 && value[55] != b'-') {
            return None;
        }
        let version = hex::<1>(&value[0..2])?;
        if version[0] == 0xff || (version[0] == 0 && value.len() != 55) {
            return None;
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let trace_id = hex::<16>(&value[3..35])?;
        let span_id = hex::<8>(&value[36..52])?;
        let flags = hex::<1>(&value[53..55])?;
        let sampled = flags[0] & 1 == 1;
        let valid = trace_id != [0; 16] && span_id != [0; 8];
        (sampled && valid).then_some(Self { trace_id, span_id })
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The span id, 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span_id)
    }
}

/// Lowercase hex only, as W3C Trace Context requires.
fn hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    out
}

/// The last traced request seen in one histogram bucket of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exemplar {
    /// Its trace.
    pub trace: TraceIds,
    /// Its duration, from the call to the end of the response body.
    pub duration: Duration,
    /// When it was recorded.
    pub at: SystemTime,
}

/// One slot of the table; a zero trace id is an empty slot.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// `series * width + bucket`, plus one.
    key: u32,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    nanos: u64,
    unix_millis: u64,
}

/// A fixed table of exemplars, one slot per (series, bucket) while there are enough, shared
/// (direct-mapped, the newest wins) past that.
pub(crate) struct Exemplars {
    slots: Mutex<Box<[Slot]>>,
    width: usize,
}

impl Exemplars {
    pub(crate) fn new(slots: usize, width: usize) -> Self {
        Self {
            slots: Mutex::new(vec![Slot::default(); slots].into_boxed_slice()),
            width,
        }
    }

    pub(crate) fn bytes(slots: usize) -> usize {
        slots * std::mem::size_of::<Slot>()
    }

    /// Keeps `trace` as the exemplar of `bucket` of `series`; skipped when another thread
    /// holds the table (recording never waits for an exemplar).
    pub(crate) fn store(&self, series: u16, bucket: u8, trace: TraceIds, nanos: u64) {
        let Some(mut slots) = self.slots.try_lock() else {
            return;
        };
        if slots.is_empty() {
            return;
        }
        let key = usize::from(series) * self.width + usize::from(bucket);
        let unix_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let index = key % slots.len();
        slots[index] = Slot {
            key: u32::try_from(key + 1).unwrap_or(u32::MAX),
            trace_id: trace.trace_id,
            span_id: trace.span_id,
            nanos,
            unix_millis,
        };
    }

    /// The exemplars of `series`, one per bucket (`None` where there is none).
    pub(crate) fn of(&self, series: usize) -> Vec<Option<Exemplar>> {
        let slots = self.slots.lock();
        (0..self.width)
            .map(|bucket| {
                if slots.is_empty() {
                    return None;
                }
                let key = series * self.width + bucket;
                let slot = slots[key % slots.len()];
                (slot.key as usize == key + 1).then(|| Exemplar {
                    trace: TraceIds {
                        trace_id: slot.trace_id,
                        span_id: slot.span_id,
                    },
                    duration: Duration::from_nanos(slot.nanos),
                    at: UNIX_EPOCH + Duration::from_millis(slot.unix_millis),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_follows_w3c() {
        let ids = TraceIds::from_traceparent(VALID).unwrap();
        assert_eq!(ids.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            &b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"[..], // uppercase
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",      // zero trace
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",      // zero span
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",      // version ff
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",    // 00 has no more
            b"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"",
        ] {
            assert_eq!(
                TraceIds::from_traceparent(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // A later version may carry more fields.
        assert!(
            TraceIds::from_traceparent(
                b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
            )
            .is_some()
        );
    }

    #[test]
    fn the_newest_per_bucket_and_nothing_elsewhere() {
        let table = Exemplars::new(64, 16);
        let ids = TraceIds::from_traceparent(VALID).unwrap();
        table.store(2, 5, ids, 80_000_000);
        let of = table.of(2);
        assert_eq!(of.len(), 16);
        assert_eq!(of[5].unwrap().duration, Duration::from_millis(80));
        assert!(of.iter().enumerate().all(|(i, e)| e.is_some() == (i == 5)));
        assert!(table.of(1).iter().all(Option::is_none));
        // Series 6 bucket 5 maps to the same slot (6*16+5 = 101 = 2*16+5 + 64): it replaces it.
        table.store(6, 5, ids, 1);
        assert!(table.of(2)[5].is_none());
        assert!(Exemplars::new(0, 16).of(0).iter().all(Option::is_none));
    }
}
