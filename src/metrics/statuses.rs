//! [`Statuses`]: what a response's status becomes in a series' label set. By default its class
//! (`2xx`); with exact codes on, the first `cap` distinct codes seen get a slot of their own
//! and later ones are counted under their class, so the label stays bounded.
//!
//! A status slot is one byte: `0..CLASSES` are the classes (`error` and `cancelled` included),
//! `CLASSES + i` the `i`-th exact code.

use std::sync::atomic::{AtomicU8, AtomicU16, Ordering};

use http::StatusCode;
use parking_lot::Mutex;

use super::labels::{CLASSES, status_class};

/// At most this many exact codes (a slot is one byte, after the classes).
pub(crate) const MAX_CODES: usize = 64;
/// In `by_code`: seen after the cap was reached, counted under its class.
const PAST_CAP: u8 = u8::MAX;

pub(crate) struct Statuses {
    /// By `code - 100` (100..=999): its slot's index + 1, [`PAST_CAP`], or 0 while unseen.
    by_code: Box<[AtomicU8]>,
    /// By index: the code.
    codes: Box<[AtomicU16]>,
    assigned: Mutex<usize>,
}

impl Statuses {
    /// Exact codes for the first `cap` distinct ones (0: classes only).
    pub(crate) fn new(cap: usize) -> Self {
        debug_assert!(cap <= MAX_CODES);
        Self {
            by_code: match cap {
                0 => Box::new([]),
                _ => (100..=999).map(|_| AtomicU8::new(0)).collect(),
            },
            codes: (0..cap).map(|_| AtomicU16::new(0)).collect(),
            assigned: Mutex::new(0),
        }
    }

    /// How many status slots there are: the classes and the exact codes.
    pub(crate) fn slots(&self) -> usize {
        CLASSES + self.codes.len()
    }

    /// Bytes allocated for the tables.
    pub(crate) fn bytes(&self) -> usize {
        self.by_code.len() * std::mem::size_of::<AtomicU8>()
            + self.codes.len() * std::mem::size_of::<AtomicU16>()
    }

    /// The slot of a response's status.
    #[inline]
    pub(crate) fn slot(&self, status: StatusCode) -> u8 {
        let code = status.as_u16();
        match self.by_code.get(usize::from(code) - 100) {
            None => status_class(status),
            Some(entry) => match entry.load(Ordering::Relaxed) {
                0 => self.assign(status),
                PAST_CAP => status_class(status),
                index => CLASSES as u8 + index - 1,
            },
        }
    }

    #[cold]
    fn assign(&self, status: StatusCode) -> u8 {
        let code = status.as_u16();
        let entry = &self.by_code[usize::from(code) - 100];
        let mut assigned = self.assigned.lock();
        match entry.load(Ordering::Relaxed) {
            0 if *assigned < self.codes.len() => {
                let index = *assigned;
                self.codes[index].store(code, Ordering::Relaxed);
                *assigned += 1;
                entry.store(index as u8 + 1, Ordering::Release);
                (CLASSES + index) as u8
            }
            0 | PAST_CAP => {
                entry.store(PAST_CAP, Ordering::Relaxed);
                status_class(status)
            }
            index => CLASSES as u8 + index - 1,
        }
    }

    /// The class of a slot (a class's slot is its own).
    pub(crate) fn class_of(&self, slot: u8) -> u8 {
        match self.code_of(slot) {
            Some(code) => StatusCode::from_u16(code).map_or(4, status_class),
            None => slot,
        }
    }

    /// The exact code of a slot, when it has one.
    pub(crate) fn code_of(&self, slot: u8) -> Option<u16> {
        let index = usize::from(slot).checked_sub(CLASSES)?;
        Some(self.codes.get(index)?.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn without_exact_codes_a_slot_is_the_class() {
        let statuses = Statuses::new(0);
        assert_eq!(statuses.slots(), CLASSES);
        assert_eq!(statuses.slot(status(404)), 3);
        assert_eq!(statuses.code_of(3), None);
        assert_eq!(statuses.bytes(), 0);
    }

    #[test]
    fn the_first_codes_get_slots_and_later_ones_their_class() {
        let statuses = Statuses::new(2);
        let c = CLASSES as u8;
        assert_eq!(statuses.slot(status(200)), c);
        assert_eq!(statuses.slot(status(404)), c + 1);
        assert_eq!(statuses.slot(status(200)), c, "the same slot again");
        assert_eq!(statuses.slot(status(503)), 4, "past the cap: 5xx");
        assert_eq!(statuses.slot(status(503)), 4);
        assert_eq!(statuses.slot(status(404)), c + 1);
        assert_eq!(
            (statuses.code_of(c), statuses.code_of(c + 1)),
            (Some(200), Some(404))
        );
        assert_eq!((statuses.class_of(c), statuses.class_of(c + 1)), (1, 3));
        assert_eq!(statuses.class_of(4), 4);
        assert_eq!(statuses.code_of(4), None);
        assert_eq!(
            statuses.slot(status(999)),
            4,
            "non-standard codes count as 5xx"
        );
    }
}
