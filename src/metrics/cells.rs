//! [`LatencyCells`]: what a shard records latencies into. One counter per cell of a log-linear
//! layout (the one HDR histograms use: 128 cells per doubling above 256 µs, one per microsecond
//! below), found with a leading-zero count and a shift, and incremented; nothing else per
//! record. The cells are folded into the window's HDR histograms, off the request path.

use hdrhistogram::Histogram;

use super::shard::{HIGHEST_US, LOWEST_US};

/// Cells per doubling, above the exact range (`2^HALF_BITS`).
const HALF_BITS: u32 = 7;
/// Values below `2 * 2^HALF_BITS` µs have a cell each.
const EXACT: u64 = 1 << (HALF_BITS + 1);

/// The cell of `micros` (at most [`HIGHEST_US`]).
#[inline]
fn cell_of(micros: u64) -> usize {
    // Doublings above the exact range; 0 within it.
    let doublings = (u64::BITS - HALF_BITS - 1) - (micros | (EXACT - 1)).leading_zeros();
    (((doublings + 1) << HALF_BITS) as usize) + (micros >> doublings) as usize
        - (EXACT / 2) as usize
}

/// The least value of a cell: recorded again, it falls in the same cell.
fn least_of(cell: usize) -> u64 {
    let half = (EXACT / 2) as usize;
    if cell < 2 * half {
        return cell as u64;
    }
    let doublings = (cell >> HALF_BITS) - 1;
    (((cell & (half - 1)) + half) as u64) << doublings
}

/// Counts per cell, plus one past the last for latencies above [`HIGHEST_US`].
pub(crate) struct LatencyCells {
    counts: Box<[u64]>,
}

impl LatencyCells {
    pub(crate) fn new() -> Self {
        Self {
            counts: vec![0; Self::len()].into(),
        }
    }

    fn len() -> usize {
        cell_of(HIGHEST_US) + 2
    }

    /// Bytes of the counts.
    pub(crate) fn bytes() -> usize {
        Self::len() * std::mem::size_of::<u64>()
    }

    /// Counts one latency of `nanos`.
    #[inline]
    pub(crate) fn record(&mut self, nanos: u64) {
        let micros = nanos / 1000;
        let cell = if micros > HIGHEST_US {
            self.counts.len() - 1
        } else {
            cell_of(micros)
        };
        self.counts[cell] += 1;
    }

    /// How many latencies were counted.
    pub(crate) fn len_recorded(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Latencies outside 1 µs ..= 1 h (recorded at the nearest bound when folded).
    pub(crate) fn clamped(&self) -> u64 {
        self.counts[0] + self.counts[self.counts.len() - 1]
    }

    /// Adds every count to `histogram` (a value per cell that falls in the same HDR bucket)
    /// and clears the cells.
    pub(crate) fn drain_into(&mut self, histogram: &mut Histogram<u64>) {
        let last = self.counts.len() - 1;
        for (cell, count) in self.counts.iter_mut().enumerate() {
            if *count == 0 {
                continue;
            }
            let value = if cell == last {
                HIGHEST_US
            } else {
                least_of(cell).max(LOWEST_US)
            };
            histogram.saturating_record_n(value, *count);
            *count = 0;
        }
    }

    pub(crate) fn reset(&mut self) {
        self.counts.fill(0);
    }

    /// Each counted cell: its least value in microseconds ([`HIGHEST_US`] for the cell past
    /// the last) and its count.
    pub(crate) fn for_each_counted(&self, mut each: impl FnMut(u64, u64)) {
        let last = self.counts.len() - 1;
        for (cell, &count) in self.counts.iter().enumerate() {
            if count > 0 {
                let value = if cell == last {
                    HIGHEST_US
                } else {
                    least_of(cell)
                };
                each(value, count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::shard::histogram;
    use proptest::prelude::*;

    #[test]
    fn cells_are_exact_below_256_us_then_128_per_doubling() {
        for micros in 0..256 {
            assert_eq!(cell_of(micros), micros as usize);
        }
        assert_eq!(cell_of(256), 256);
        assert_eq!(cell_of(257), 256);
        assert_eq!(cell_of(258), 257);
        assert_eq!(cell_of(511), 383);
        assert_eq!(cell_of(512), 384);
        assert_eq!(least_of(384), 512);
    }

    proptest! {
        #[test]
        fn a_cell_holds_its_least_value_and_values_within_one_percent(micros in 1..=HIGHEST_US) {
            let cell = cell_of(micros);
            let least = least_of(cell);
            prop_assert_eq!(cell_of(least), cell);
            prop_assert!(least <= micros);
            prop_assert!((micros - least) as f64 <= least as f64 / 128.0);
            prop_assert!(cell < LatencyCells::len() - 1);
        }

        #[test]
        fn folded_cells_are_the_hdr_histogram_of_the_same_values(
            nanos in proptest::collection::vec(0..2 * HIGHEST_US * 1000, 1..200)
        ) {
            let mut cells = LatencyCells::new();
            let mut direct = histogram();
            for &nanos in &nanos {
                cells.record(nanos);
                direct.saturating_record((nanos / 1000).clamp(LOWEST_US, HIGHEST_US));
            }
            prop_assert_eq!(cells.len_recorded(), nanos.len() as u64);
            let clamped = nanos.iter().filter(|&&n| n / 1000 < LOWEST_US || n / 1000 > HIGHEST_US);
            prop_assert_eq!(cells.clamped(), clamped.count() as u64);
            let mut folded = histogram();
            cells.drain_into(&mut folded);
            prop_assert_eq!(cells.len_recorded(), 0);
            prop_assert_eq!(folded.len(), direct.len());
            for (a, b) in folded.iter_recorded().zip(direct.iter_recorded()) {
                prop_assert_eq!(a.value_iterated_to(), b.value_iterated_to());
                prop_assert_eq!(a.count_at_value(), b.count_at_value());
            }
        }
    }
}
