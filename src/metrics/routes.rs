//! Route labels and label sets ("series"), interned to small ids once so that recording never
//! hashes or copies a string.
//!
//! A route label (Axum's `MatchedPath`) is looked up by the address of its text, which is stable
//! for a route of a built router, in a small open-addressing table of atomics, and confirmed by
//! comparing the text. A new label takes the slow path once: a mutex, a search by text, a new id
//! while under the cap, else the shared `other` route.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::labels::{CLASSES, METHODS, OTHER_METHOD};

/// Requests without a route label.
pub(crate) const UNMATCHED: u16 = 0;
/// Requests whose route label came after the cap was reached.
pub(crate) const OTHER_ROUTE: u16 = 1;
const RESERVED_ROUTES: usize = 2;
const PROBES: usize = 8;

pub(crate) struct Routes {
    /// Id → text; set once per id.
    names: Box<[OnceLock<Box<str>>]>,
    /// Address of a label's text → (length << 16 | id), confirmed against `names`.
    keys: Box<[AtomicUsize]>,
    values: Box<[AtomicU64]>,
    assigned: Mutex<usize>,
}

impl Routes {
    pub(crate) fn new(max_routes: usize) -> Self {
        let names: Box<[OnceLock<Box<str>>]> = (0..max_routes + RESERVED_ROUTES)
            .map(|_| OnceLock::new())
            .collect();
        let _ = names[UNMATCHED as usize].set("unmatched".into());
        let _ = names[OTHER_ROUTE as usize].set("other".into());
        let table = (4 * (max_routes + RESERVED_ROUTES)).next_power_of_two();
        Self {
            names,
            keys: (0..table).map(|_| AtomicUsize::new(0)).collect(),
            values: (0..table).map(|_| AtomicU64::new(0)).collect(),
            assigned: Mutex::new(RESERVED_ROUTES),
        }
    }

    /// How many route ids there can be (the cap plus `unmatched` and `other`).
    pub(crate) fn capacity(&self) -> usize {
        self.names.len()
    }

    /// Bytes allocated for the tables (route names add their text when first seen).
    pub(crate) fn bytes(&self) -> usize {
        self.names.len() * std::mem::size_of::<OnceLock<Box<str>>>()
            + self.keys.len()
                * (std::mem::size_of::<AtomicUsize>() + std::mem::size_of::<AtomicU64>())
    }

    /// The id of a route label.
    pub(crate) fn id(&self, label: &str) -> u16 {
        let address = label.as_ptr() as usize;
        let start = self.slot(address);
        for probe in 0..PROBES {
            let slot = (start + probe) & (self.keys.len() - 1);
            match self.keys[slot].load(Ordering::Acquire) {
                0 => break,
                key if key == address => {
                    let value = self.values[slot].load(Ordering::Acquire);
                    let id = (value & 0xffff) as u16;
                    if (value >> 16) as usize == label.len() && self.name(id) == Some(label) {
                        return id;
                    }
                    break;
                }
                _ => {}
            }
        }
        self.assign(label, address, start)
    }

    /// The text of a route id.
    pub(crate) fn name(&self, id: u16) -> Option<&str> {
        self.names.get(id as usize)?.get().map(|name| &**name)
    }

    fn slot(&self, address: usize) -> usize {
        // Fibonacci hashing of the address (not of the text).
        let mixed = ((address >> 3) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 40) as usize & (self.keys.len() - 1)
    }

    #[cold]
    fn assign(&self, label: &str, address: usize, start: usize) -> u16 {
        let mut assigned = self.assigned.lock();
        // The reserved names too: a label spelled `unmatched` or `other` joins that route.
        let existing = (0..*assigned).find(|&id| self.name(id as u16) == Some(label));
        let id = match existing {
            Some(id) => id as u16,
            None if *assigned < self.names.len() => {
                let id = *assigned;
                let _ = self.names[id].set(label.into());
                *assigned += 1;
                id as u16
            }
            None => OTHER_ROUTE,
        };
        // Remember the address, reusing a slot that holds it with stale contents.
        let value = (label.len() as u64) << 16 | u64::from(id);
        for probe in 0..PROBES {
            let slot = (start + probe) & (self.keys.len() - 1);
            let key = self.keys[slot].load(Ordering::Acquire);
            if key == 0 || key == address {
                self.values[slot].store(value, Ordering::Release);
                self.keys[slot].store(address, Ordering::Release);
                break;
            }
        }
        id
    }
}

/// The label set of a series: route id, method index, class index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesKey {
    pub(crate) route: u16,
    pub(crate) method: u8,
    pub(crate) class: u8,
}

/// Label sets → dense series ids `0..capacity`; the first `CLASSES` ids are reserved for the
/// overflow series (route `other`, method `OTHER`), used once the capacity is taken.
pub(crate) struct Series {
    /// (route, method, class) → id + 1; 0 while unassigned.
    index: Box<[AtomicU16]>,
    keys: Mutex<Vec<SeriesKey>>,
    capacity: usize,
}

impl Series {
    pub(crate) fn new(routes: usize, capacity: usize) -> Self {
        let mut keys = Vec::with_capacity(capacity);
        keys.extend((0..CLASSES as u8).map(|class| SeriesKey {
            route: OTHER_ROUTE,
            method: OTHER_METHOD,
            class,
        }));
        let index: Box<[AtomicU16]> = (0..routes * METHODS * CLASSES)
            .map(|_| AtomicU16::new(0))
            .collect();
        for (id, key) in keys.iter().enumerate() {
            index[Self::position(*key)].store(id as u16 + 1, Ordering::Relaxed);
        }
        Self {
            index,
            keys: Mutex::new(keys),
            capacity,
        }
    }

    /// Bytes allocated for the table.
    pub(crate) fn bytes(&self) -> usize {
        self.index.len() * std::mem::size_of::<AtomicU16>()
            + self.capacity * std::mem::size_of::<SeriesKey>()
    }

    pub(crate) fn id(&self, key: SeriesKey) -> u16 {
        match self.index[Self::position(key)].load(Ordering::Relaxed) {
            0 => self.assign(key),
            id => id - 1,
        }
    }

    /// Every assigned series, by id.
    pub(crate) fn keys(&self) -> Vec<SeriesKey> {
        self.keys.lock().clone()
    }

    fn position(key: SeriesKey) -> usize {
        (key.route as usize * METHODS + key.method as usize) * CLASSES + key.class as usize
    }

    #[cold]
    fn assign(&self, key: SeriesKey) -> u16 {
        let mut keys = self.keys.lock();
        let slot = &self.index[Self::position(key)];
        match slot.load(Ordering::Relaxed) {
            0 if keys.len() < self.capacity => {
                keys.push(key);
                slot.store(keys.len() as u16, Ordering::Relaxed);
                keys.len() as u16 - 1
            }
            0 => u16::from(key.class), // the overflow series of this class
            id => id - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_at_another_address_gets_the_same_id() {
        let routes = Routes::new(4);
        let a = String::from("/users/{id}");
        let b = String::from("/users/{id}");
        let id = routes.id(&a);
        assert_eq!(routes.id(&a), id);
        assert_eq!(routes.id(&b), id);
        assert_eq!(routes.name(id), Some("/users/{id}"));
    }

    #[test]
    fn labels_spelled_like_the_reserved_routes_join_them() {
        let routes = Routes::new(4);
        assert_eq!(routes.id("unmatched"), UNMATCHED);
        assert_eq!(routes.id("other"), OTHER_ROUTE);
    }

    #[test]
    fn routes_past_the_cap_share_other() {
        let routes = Routes::new(2);
        let labels: Vec<String> = (0..5).map(|i| format!("/r{i}")).collect();
        let ids: Vec<u16> = labels.iter().map(|l| routes.id(l)).collect();
        assert_eq!(ids, [2, 3, OTHER_ROUTE, OTHER_ROUTE, OTHER_ROUTE]);
        assert_eq!(routes.id(&labels[4]), OTHER_ROUTE, "cached as other");
    }

    #[test]
    fn a_reused_address_with_new_text_is_not_confused() {
        let routes = Routes::new(8);
        let mut label = String::from("/aaaa");
        let first = routes.id(&label);
        label.replace_range(.., "/bbbb"); // same buffer, same length, new text
        let second = routes.id(&label);
        assert_ne!(first, second);
        assert_eq!(routes.name(second), Some("/bbbb"));
        assert_eq!(routes.id(&label), second);
    }

    #[test]
    fn series_past_the_capacity_fall_into_the_overflow_series_of_their_class() {
        let series = Series::new(Routes::new(4).capacity(), CLASSES + 2);
        let key = |route, class| SeriesKey {
            route,
            method: 0,
            class,
        };
        assert_eq!(series.id(key(2, 1)), CLASSES as u16);
        assert_eq!(series.id(key(3, 1)), CLASSES as u16 + 1);
        assert_eq!(series.id(key(4, 1)), 1, "full: the 2xx overflow series");
        assert_eq!(series.id(key(2, 1)), CLASSES as u16);
        assert_eq!(series.keys().len(), CLASSES + 2);
    }
}
