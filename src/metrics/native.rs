//! Native (exponential) histograms, as Prometheus and OpenTelemetry define them: at scale `s`,
//! bucket `i` holds the latencies in `(2^((i-1)/2^s), 2^(i/2^s)]` seconds, so every bucket is
//! `2^(2^-s)` times as wide as the one below and a quantile read from one is off by at most
//! half a bucket (2.2 % at scale 4, 4.4 % at scale 3). Latencies of at most
//! [`ZERO_THRESHOLD`] seconds go to the zero bucket.
//!
//! Each series has room for a fixed number of buckets, allocated at build. When a latency
//! would need more than that, the series halves its resolution (scale − 1: pairs of buckets
//! merge, counts kept) until it fits.
//!
//! Shards do not hold these: a record appends the series and the latency to the shard's
//! [`Pending`] list (one word), and the list is sorted into the buckets under the aggregate's
//! lock when the shards are folded, or when it fills.

use std::sync::LazyLock;

/// The finest scale Prometheus reads (schema 8: 256 buckets per doubling).
pub(crate) const MAX_SCALE: i8 = 8;
/// The coarsest (schema −4: a bucket per 2^16).
pub(crate) const MIN_SCALE: i8 = -4;
/// Latencies up to 2^-20 s (about 0.95 µs) count in the zero bucket.
pub(crate) const ZERO_THRESHOLD: f64 = 1.0 / (1u64 << 20) as f64;

const MANTISSA_BITS: u32 = 52;
const MANTISSA: u64 = (1 << MANTISSA_BITS) - 1;
/// Buckets per doubling at [`MAX_SCALE`].
const PER_DOUBLING: usize = 1 << MAX_SCALE;
/// The mantissa is first looked up by its top bits: cells narrower than the narrowest bucket,
/// so that at most one bound falls in a cell.
const COARSE_BITS: u32 = 11;

/// The bounds within one doubling at [`MAX_SCALE`], as mantissas, and where to start looking.
struct Table {
    /// `bounds[j]` is the mantissa of `2^(j/256)` for `j` in 1..256; `bounds[256]` is past all.
    bounds: [u64; PER_DOUBLING + 1],
    /// By the mantissa's top bits: how many bounds lie below the start of that cell.
    below: [u8; 1 << COARSE_BITS],
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut bounds = [0; PER_DOUBLING + 1];
    for (j, bound) in bounds.iter_mut().enumerate().take(PER_DOUBLING).skip(1) {
        *bound = (j as f64 / PER_DOUBLING as f64).exp2().to_bits() & MANTISSA;
    }
    bounds[PER_DOUBLING] = u64::MAX;
    let mut below = [0; 1 << COARSE_BITS];
    for (cell, count) in below.iter_mut().enumerate() {
        let start = (cell as u64) << (MANTISSA_BITS - COARSE_BITS);
        let n = bounds[1..PER_DOUBLING]
            .iter()
            .filter(|b| **b < start)
            .count();
        *count = u8::try_from(n).expect("at most 255 bounds");
    }
    Table { bounds, below }
});

/// The bucket of `seconds` (positive, normal) at [`MAX_SCALE`].
#[inline]
pub(crate) fn finest_index(seconds: f64) -> i32 {
    let bits = seconds.to_bits();
    let exponent = ((bits >> MANTISSA_BITS) & 0x7ff) as i32 - 1023;
    let mantissa = bits & MANTISSA;
    let table = &*TABLE;
    let below = usize::from(table.below[(mantissa >> (MANTISSA_BITS - COARSE_BITS)) as usize]);
    let below = below + usize::from(table.bounds[below + 1] < mantissa);
    // A power of two is the upper bound of its bucket; anything above it is in the next.
    (exponent << MAX_SCALE) + below as i32 + i32::from(mantissa != 0)
}

/// The bucket at a scale `by` steps coarser that holds bucket `index`.
#[inline]
pub(crate) fn coarser(index: i32, by: u32) -> i32 {
    (index + (1 << by) - 1) >> by
}

/// The upper bound, in seconds, of bucket `index` at `scale`.
pub(crate) fn upper_bound(scale: i8, index: i32) -> f64 {
    (f64::from(index) * (-f64::from(scale)).exp2()).exp2()
}

/// One series' buckets: which indices its slice of counts holds, at which scale.
#[derive(Debug, Clone, Copy)]
struct Head {
    scale: i8,
    /// The index of the bucket at position 0 of the counts.
    base: i32,
    /// The lowest and highest bucket with a count (when `used`).
    low: i32,
    high: i32,
    used: bool,
    zero: u64,
}

/// The native histograms of every series: a head each and `buckets` counts each, in one
/// allocation made at build.
pub(crate) struct NativeSet {
    heads: Box<[Head]>,
    counts: Box<[u64]>,
    buckets: usize,
}

impl NativeSet {
    /// Room for `series` histograms of `buckets` buckets each, starting at `max_scale`.
    pub(crate) fn new(series: usize, buckets: usize, max_scale: i8) -> Self {
        let head = Head {
            scale: max_scale,
            base: 0,
            low: 0,
            high: 0,
            used: false,
            zero: 0,
        };
        Self {
            heads: vec![head; series].into(),
            counts: vec![0; series * buckets].into(),
            buckets,
        }
    }

    pub(crate) fn bytes(series: usize, buckets: usize) -> usize {
        series * (std::mem::size_of::<Head>() + buckets * std::mem::size_of::<u64>())
    }

    /// Counts one latency of `nanos` in `series`.
    pub(crate) fn record(&mut self, series: usize, nanos: u64) {
        let seconds = nanos as f64 * 1e-9;
        let range = series * self.buckets..(series + 1) * self.buckets;
        let (head, counts) = (&mut self.heads[series], &mut self.counts[range]);
        if seconds <= ZERO_THRESHOLD {
            head.zero += 1;
            return;
        }
        add(head, counts, finest_index(seconds));
    }

    /// Records every pending sample and empties the list.
    pub(crate) fn drain(&mut self, pending: &mut Pending) {
        for &word in &pending.words[..pending.len] {
            let (series, nanos) = Pending::unpack(word);
            self.record(series, nanos);
        }
        pending.len = 0;
    }

    /// What `series` holds, or `None` before its first latency.
    pub(crate) fn of(&self, series: usize) -> Option<super::NativeBuckets> {
        let head = &self.heads[series];
        if !head.used && head.zero == 0 {
            return None;
        }
        let counts = &self.counts[series * self.buckets..(series + 1) * self.buckets];
        let held = if head.used {
            counts[(head.low - head.base) as usize..=(head.high - head.base) as usize].to_vec()
        } else {
            Vec::new()
        };
        Some(super::NativeBuckets {
            scale: head.scale,
            zero_threshold: ZERO_THRESHOLD,
            zero_count: head.zero,
            offset: if head.used { head.low } else { 0 },
            counts: held,
        })
    }
}

/// Adds one to the bucket of `finest` (an index at [`MAX_SCALE`]), making the scale coarser
/// first if the series' buckets cannot hold it at this one.
fn add(head: &mut Head, counts: &mut [u64], finest: i32) {
    let room = counts.len() as i32;
    let index = coarser(finest, (MAX_SCALE - head.scale) as u32);
    if !head.used {
        *head = Head {
            base: index,
            low: index,
            high: index,
            used: true,
            ..*head
        };
        counts[0] += 1;
        return;
    }
    let (low, high) = (head.low.min(index), head.high.max(index));
    if high - low >= room {
        let mut by = 0;
        while coarser(high, by) - coarser(low, by) >= room && head.scale - (by as i8) > MIN_SCALE {
            by += 1;
        }
        if by > 0 {
            downscale(head, counts, by);
            return add(head, counts, finest);
        }
        // At the coarsest scale every latency from 2^-20 s to 2^64 ns fits in 8 buckets, the
        // least a series has: not reached.
        let index = index.clamp(head.high - room + 1, head.low + room - 1);
        return add_at(head, counts, index);
    }
    add_at(head, counts, index);
}

/// Adds one to bucket `index`, which fits beside the held ones.
fn add_at(head: &mut Head, counts: &mut [u64], index: i32) {
    let room = counts.len() as i32;
    let (low, high) = (head.low.min(index), head.high.max(index));
    if index < head.base || index >= head.base + room {
        rebase(head, counts, low);
    }
    counts[(index - head.base) as usize] += 1;
    (head.low, head.high) = (low, high);
}

/// Moves the counts so that position 0 holds bucket `base` (every held bucket still fits).
fn rebase(head: &mut Head, counts: &mut [u64], base: i32) {
    // Outside the held buckets every count is 0, so a rotation moves only zeros around them.
    if base < head.base {
        counts.rotate_right((head.base - base) as usize);
    } else {
        counts.rotate_left((base - head.base) as usize);
    }
    head.base = base;
}

/// Makes the scale `by` steps coarser: each run of `2^by` buckets becomes one, counts added.
fn downscale(head: &mut Head, counts: &mut [u64], by: u32) {
    rebase(head, counts, head.low);
    let base = coarser(head.low, by);
    for position in 0..=(head.high - head.low) as usize {
        let count = std::mem::take(&mut counts[position]);
        // Never past `position`: the loop reads ahead of where it writes.
        counts[(coarser(head.low + position as i32, by) - base) as usize] += count;
    }
    *head = Head {
        scale: head.scale - by as i8,
        base,
        low: base,
        high: coarser(head.high, by),
        ..*head
    };
}

/// Latencies recorded into a shard and not yet put in their buckets: the series in the top 16
/// bits of a word, the nanoseconds (at most 2^48 - 1, 78 hours) below.
pub(crate) struct Pending {
    words: Box<[u64]>,
    len: usize,
}

impl Pending {
    /// Samples a shard holds before they must be drained.
    pub(crate) const CAPACITY: usize = 4096;
    const NANOS: u64 = (1 << 48) - 1;

    pub(crate) fn new() -> Self {
        Self {
            words: vec![0; Self::CAPACITY].into(),
            len: 0,
        }
    }

    pub(crate) fn bytes() -> usize {
        Self::CAPACITY * std::mem::size_of::<u64>()
    }

    /// Whether one more sample fits.
    #[inline]
    pub(crate) fn full(&self) -> bool {
        self.len == Self::CAPACITY
    }

    /// Adds a sample; there must be room ([`full`](Self::full) is false).
    #[inline]
    pub(crate) fn push(&mut self, series: u16, nanos: u64) {
        self.words[self.len] = (u64::from(series) << 48) | nanos.min(Self::NANOS);
        self.len += 1;
    }

    fn unpack(word: u64) -> (usize, u64) {
        ((word >> 48) as usize, word & Self::NANOS)
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests;
