//! [`RoundRobin`]: a fixed ring of intervals of one length, as a round-robin database keeps
//! them: interval `n` (counted from an origin) lives in slot `n % len` until interval
//! `n + len` takes its place. Allocated once; never grows.

use std::time::Duration;

#[derive(Debug)]
pub(crate) struct RoundRobin<T> {
    step: Duration,
    /// Per slot: the number + 1 of the interval it holds; 0 while it holds none.
    numbers: Box<[u64]>,
    values: Box<[T]>,
}

impl<T: Default + Clone> RoundRobin<T> {
    /// `len` intervals (at least one) of `step` each.
    pub(crate) fn new(step: Duration, len: usize) -> Self {
        Self {
            step,
            numbers: vec![0; len.max(1)].into(),
            values: vec![T::default(); len.max(1)].into(),
        }
    }

    /// Bytes of `len` intervals.
    pub(crate) fn bytes(len: usize) -> usize {
        len.max(1) * (std::mem::size_of::<u64>() + std::mem::size_of::<T>())
    }

    pub(crate) fn step(&self) -> Duration {
        self.step
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// How far back the ring reaches.
    pub(crate) fn reach(&self) -> Duration {
        self.step * self.len() as u32
    }

    /// The number of the interval holding `at` (since the origin).
    pub(crate) fn number(&self, at: Duration) -> u64 {
        (at.as_nanos() / self.step.as_nanos()) as u64
    }

    /// When interval `number` starts (since the origin).
    pub(crate) fn start(&self, number: u64) -> Duration {
        self.step * number as u32
    }

    /// Interval `number`, emptied first if its slot still holds an older one.
    pub(crate) fn at(&mut self, number: u64) -> &mut T {
        let slot = (number % self.len() as u64) as usize;
        if self.numbers[slot] != number + 1 {
            self.numbers[slot] = number + 1;
            self.values[slot] = T::default();
        }
        &mut self.values[slot]
    }

    /// Interval `number`, if the ring still holds it.
    pub(crate) fn get(&self, number: u64) -> Option<&T> {
        let slot = (number % self.len() as u64) as usize;
        (self.numbers[slot] == number + 1).then(|| &self.values[slot])
    }
}

/// Which of a fine and a coarse ring to read for points `step` apart, reaching `back` into the
/// past: the fine one when it reaches that far and the step (if given) is under the coarse
/// one's, else the coarse one; `true` for the fine one, and how many of its intervals make a
/// point (the step rounded down to whole intervals, at least one).
pub(crate) fn pick<T: Default + Clone>(
    fine: &RoundRobin<T>,
    coarse: &RoundRobin<T>,
    back: Duration,
    step: Option<Duration>,
) -> (bool, u64) {
    let fine_fits = back <= fine.reach();
    let use_fine = fine_fits && step.is_none_or(|step| step < coarse.step());
    let ring = if use_fine { fine } else { coarse };
    let merge = step.map_or(1, |step| {
        (step.as_nanos() / ring.step().as_nanos()).max(1) as u64
    });
    (use_fine, merge)
}

/// `merge` widened so that the points from `since` to `until` (since the origin; each of
/// `merge` intervals, the first aligned down to a multiple of it) are at most `max_points`.
pub(crate) fn widen<T: Default + Clone>(
    ring: &RoundRobin<T>,
    since: Duration,
    until: Duration,
    merge: u64,
    max_points: usize,
) -> u64 {
    let (first, last) = (ring.number(since), ring.number(until.max(since)));
    let max = max_points.max(1) as u64;
    let count = |merge: u64| last / merge - first / merge + 1;
    let mut merge = merge.max(1).max((last - first + 1).div_ceil(max));
    // Aligning the first point down adds at most one: a round or two.
    while count(merge) > max {
        merge += 1;
    }
    merge
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn widened_points_stay_within_the_cap(
            since in 0u64..1_000_000,
            span in 0u64..1_000_000,
            merge in 1u64..100,
            max in 1usize..5000,
        ) {
            let ring: RoundRobin<u32> = RoundRobin::new(Duration::from_secs(10), 360);
            let (since, until) = (Duration::from_secs(since), Duration::from_secs(since + span));
            let wide = widen(&ring, since, until, merge, max);
            let (first, last) = (ring.number(since), ring.number(until));
            proptest::prop_assert!(wide >= merge);
            proptest::prop_assert!(last / wide - first / wide < max as u64);
        }
    }

    #[test]
    fn an_interval_stays_until_one_a_ring_later_takes_its_slot() {
        let mut ring: RoundRobin<u32> = RoundRobin::new(Duration::from_secs(10), 3);
        assert_eq!(ring.number(Duration::from_secs(25)), 2);
        *ring.at(2) += 5;
        *ring.at(2) += 1;
        assert_eq!(ring.get(2), Some(&6));
        assert_eq!(ring.get(5), None, "same slot, another interval");
        *ring.at(5) += 1;
        assert_eq!((ring.get(2), ring.get(5)), (None, Some(&1)));
        assert_eq!(ring.reach(), Duration::from_secs(30));
        assert_eq!(RoundRobin::<u32>::bytes(3), 36);
    }

    #[test]
    fn the_fine_ring_is_read_when_it_reaches_back_and_the_step_is_finer_than_the_coarse() {
        let minute = Duration::from_secs(60);
        let fine: RoundRobin<u32> = RoundRobin::new(Duration::from_secs(10), 360);
        let coarse: RoundRobin<u32> = RoundRobin::new(minute, 1440);
        assert_eq!(pick(&fine, &coarse, 30 * minute, None), (true, 1));
        assert_eq!(
            pick(&fine, &coarse, 30 * minute, Some(Duration::from_secs(25))),
            (true, 2)
        );
        assert_eq!(pick(&fine, &coarse, 30 * minute, Some(minute)), (false, 1));
        assert_eq!(pick(&fine, &coarse, 120 * minute, None), (false, 1));
        assert_eq!(
            pick(&fine, &coarse, 120 * minute, Some(5 * minute)),
            (false, 5)
        );
        assert_eq!(
            pick(&fine, &coarse, 120 * minute, Some(Duration::from_secs(1))),
            (false, 1)
        );
    }
}
