//! [`BucketIndex`]: which histogram bucket a duration falls in, from a table by the duration's
//! bit length and at most a few compares, instead of a binary search over every bound.

/// The bucket of `nanos` is the number of bounds below it (as `partition_point`).
#[derive(Debug, Clone)]
pub(crate) struct BucketIndex {
    bounds: Box<[u64]>,
    /// By bit length `k` of a duration: the number of bounds below the least duration of that
    /// bit length (0 for `k = 0`, else `2^(k-1)`).
    first: [u8; 65],
}

impl BucketIndex {
    /// `bounds` in increasing order, at most 255 of them.
    pub(crate) fn new(bounds: Box<[u64]>) -> Self {
        debug_assert!(bounds.len() < 256 && bounds.windows(2).all(|w| w[0] <= w[1]));
        let mut first = [0u8; 65];
        for (bits, first) in first.iter_mut().enumerate() {
            let least = if bits == 0 { 0 } else { 1u64 << (bits - 1) };
            *first = bounds.partition_point(|&bound| bound < least) as u8;
        }
        Self { bounds, first }
    }

    #[inline]
    pub(crate) fn of(&self, nanos: u64) -> u8 {
        let bits = (u64::BITS - nanos.leading_zeros()) as usize;
        let mut bucket = self.first[bits];
        // Only the bounds of the same bit length are left to compare: one or two.
        while let Some(&bound) = self.bounds.get(usize::from(bucket)) {
            if bound >= nanos {
                break;
            }
            bucket += 1;
        }
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn default_bounds() -> Box<[u64]> {
        crate::metrics::collector::OTEL_DURATION_BOUNDS
            .iter()
            .map(|s| (s * 1e9) as u64)
            .collect()
    }

    #[test]
    fn edges_of_the_default_bounds() {
        let index = BucketIndex::new(default_bounds());
        for (i, &bound) in default_bounds().iter().enumerate() {
            assert_eq!(usize::from(index.of(bound)), i, "at {bound}");
            assert_eq!(usize::from(index.of(bound + 1)), i + 1, "above {bound}");
        }
        assert_eq!(index.of(u64::MAX), 14);
    }

    proptest! {
        #[test]
        fn the_same_as_a_binary_search(
            mut bounds in proptest::collection::btree_set(any::<u64>(), 1..64),
            nanos in any::<u64>(),
            near in any::<u64>(),
        ) {
            bounds.insert(near);
            let bounds: Box<[u64]> = bounds.into_iter().collect();
            let expected = bounds.partition_point(|&b| b < nanos);
            let index = BucketIndex::new(bounds.clone());
            prop_assert_eq!(usize::from(index.of(nanos)), expected);
            for probe in [near.saturating_sub(1), near, near.saturating_add(1)] {
                prop_assert_eq!(usize::from(index.of(probe)), bounds.partition_point(|&b| b < probe));
            }
        }
    }
}
