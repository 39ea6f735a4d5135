//! Route labels and label sets ("series"), interned to small ids once so that recording never
//! hashes or copies a string.
//!
//! A route label (Axum's `MatchedPath`) is looked up by the address of its text, which is stable
//! for a route of a built router, in a small open-addressing table of atomics. Axum's label is
//! *pinned*: the table keeps a clone of it (its `Arc<str>`), so that address cannot be reused
//! for other text and a hit needs no text compare. Any other label is confirmed by comparing the
//! text. Text at an address not seen before (a label built per request, as Axum does under
//! `nest_service`) is found by a hash of the text in a second table, still without a lock. A
//! new label takes the slow path once: a mutex, a new id while under the cap, else the shared
//! `other` route.

use std::any::Any;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::labels::{CLASSES, METHODS, OTHER_METHOD};
use super::statuses::Statuses;

/// Requests without a route label.
pub(crate) const UNMATCHED: u16 = 0;
/// Requests whose route label came after the cap was reached.
pub(crate) const OTHER_ROUTE: u16 = 1;
const RESERVED_ROUTES: usize = 2;
const PROBES: usize = 8;
/// In an address entry: the text at the address is held by the table.
const PINNED: u64 = 1 << 63;

/// What keeps a label's text alive at its address (a clone of the owner of the text).
pub(crate) type Pin = Box<dyn Any + Send + Sync>;

/// What a new route label may become: whether it gets an id of its own (an allow-list), and
/// which bucket bounds its series use.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteRules {
    /// Only these labels get an id; others are `other`. `None`: any, up to the cap.
    pub(crate) allowed: Option<Vec<Box<str>>>,
    /// Label → bucket set (1…); any other label uses set 0.
    pub(crate) bucket_sets: Vec<(Box<str>, u8)>,
}

impl RouteRules {
    fn allows(&self, label: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|route| &**route == label))
    }

    fn bucket_set_of(&self, label: &str) -> u8 {
        self.bucket_sets
            .iter()
            .find(|(route, _)| &**route == label)
            .map_or(0, |(_, set)| *set)
    }
}

pub(crate) struct Routes {
    /// Id → text; set once per id.
    names: Box<[OnceLock<Box<str>>]>,
    /// Id → the bucket set its series use.
    bucket_sets: Box<[AtomicU8]>,
    rules: RouteRules,
    /// Id → whether an address of its text is pinned.
    pinned: Box<[AtomicBool]>,
    /// Address of a label's text → (PINNED? | length << 16 | id).
    keys: Box<[AtomicUsize]>,
    values: Box<[AtomicU64]>,
    /// By hash of the text: (the hash's upper 32 bits << 32 | id + 1); 0 is free.
    by_text: Box<[AtomicU64]>,
    slow: Mutex<Slow>,
}

struct Slow {
    assigned: usize,
    /// At most one per id: bounded by the cap.
    pins: Vec<Pin>,
}

impl Routes {
    #[cfg(test)]
    pub(crate) fn new(max_routes: usize) -> Self {
        Self::with_rules(max_routes, RouteRules::default())
    }

    pub(crate) fn with_rules(max_routes: usize, rules: RouteRules) -> Self {
        let capacity = max_routes + RESERVED_ROUTES;
        let table = (4 * capacity).next_power_of_two();
        let routes = Self {
            names: (0..capacity).map(|_| OnceLock::new()).collect(),
            bucket_sets: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            rules,
            pinned: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            keys: (0..table).map(|_| AtomicUsize::new(0)).collect(),
            values: (0..table).map(|_| AtomicU64::new(0)).collect(),
            by_text: (0..table).map(|_| AtomicU64::new(0)).collect(),
            slow: Mutex::new(Slow {
                assigned: RESERVED_ROUTES,
                pins: Vec::new(),
            }),
        };
        for (id, name) in [(UNMATCHED, "unmatched"), (OTHER_ROUTE, "other")] {
            let _ = routes.names[id as usize].set(name.into());
            routes.remember_text(name, id);
        }
        routes
    }

    /// How many route ids there can be (the cap plus `unmatched` and `other`).
    pub(crate) fn capacity(&self) -> usize {
        self.names.len()
    }

    /// Bytes allocated for the tables (route names add their text when first seen).
    pub(crate) fn bytes(&self) -> usize {
        self.names.len()
            * (std::mem::size_of::<OnceLock<Box<str>>>()
                + std::mem::size_of::<AtomicBool>()
                + std::mem::size_of::<AtomicU8>())
            + self.keys.len()
                * (std::mem::size_of::<AtomicUsize>() + 2 * std::mem::size_of::<AtomicU64>())
    }

    /// The id of a route label. `pin`, when given, makes what keeps the text at its address
    /// (called at most once per id).
    #[inline]
    pub(crate) fn id(&self, label: &str, pin: Option<&dyn Fn() -> Pin>) -> u16 {
        let address = label.as_ptr() as usize;
        let start = self.slot(address);
        for probe in 0..PROBES {
            let slot = (start + probe) & (self.keys.len() - 1);
            match self.keys[slot].load(Ordering::Acquire) {
                0 => break,
                key if key == address => {
                    let value = self.values[slot].load(Ordering::Acquire);
                    let id = value as u16;
                    if (value >> 16) as u32 as usize == label.len()
                        && (value & PINNED != 0 || self.name(id) == Some(label))
                    {
                        return id;
                    }
                    break;
                }
                _ => {}
            }
        }
        self.id_by_text(label, address, start, pin)
    }

    #[cold]
    fn id_by_text(
        &self,
        label: &str,
        address: usize,
        start: usize,
        pin: Option<&dyn Fn() -> Pin>,
    ) -> u16 {
        if let Some(id) = self.find_text(label)
            && (pin.is_none() || self.pinned[id as usize].load(Ordering::Acquire))
        {
            return id;
        }
        self.assign(label, address, start, pin)
    }

    /// The bucket set of a route id's series.
    #[inline]
    pub(crate) fn bucket_set(&self, id: u16) -> u8 {
        self.bucket_sets[usize::from(id)].load(Ordering::Relaxed)
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

    fn find_text(&self, label: &str) -> Option<u16> {
        let hash = text_hash(label);
        let start = hash as usize & (self.by_text.len() - 1);
        for probe in 0..PROBES {
            let value =
                self.by_text[(start + probe) & (self.by_text.len() - 1)].load(Ordering::Acquire);
            if value == 0 {
                return None;
            }
            let id = (value as u16).wrapping_sub(1);
            if value >> 32 == hash >> 32 && self.name(id) == Some(label) {
                return Some(id);
            }
        }
        None
    }

    /// Adds `label` → `id` to the table by text (under the mutex, or before sharing).
    fn remember_text(&self, label: &str, id: u16) {
        let hash = text_hash(label);
        let start = hash as usize & (self.by_text.len() - 1);
        let value = (hash >> 32) << 32 | u64::from(id + 1);
        for probe in 0..PROBES {
            let slot = &self.by_text[(start + probe) & (self.by_text.len() - 1)];
            if slot.load(Ordering::Acquire) == 0 {
                slot.store(value, Ordering::Release);
                return;
            }
        }
        // Full around here: the label is still found by the mutex's search.
    }

    #[cold]
    fn assign(
        &self,
        label: &str,
        address: usize,
        start: usize,
        pin: Option<&dyn Fn() -> Pin>,
    ) -> u16 {
        let mut slow = self.slow.lock();
        // The reserved names too: a label spelled `unmatched` or `other` joins that route.
        let existing = (0..slow.assigned).find(|&id| self.name(id as u16) == Some(label));
        let id = match existing {
            Some(id) => id as u16,
            None if !self.rules.allows(label) => OTHER_ROUTE,
            None if slow.assigned < self.names.len() => {
                let id = slow.assigned;
                let _ = self.names[id].set(label.into());
                self.bucket_sets[id].store(self.rules.bucket_set_of(label), Ordering::Relaxed);
                slow.assigned += 1;
                self.remember_text(label, id as u16);
                id as u16
            }
            None => OTHER_ROUTE,
        };
        let mut value = (label.len() as u64) << 16 | u64::from(id);
        if let Some(pin) = pin {
            if self.pinned[id as usize].load(Ordering::Acquire) {
                // Pinned at another address already: this one may not live (a label built
                // per request), so it is not remembered.
                return id;
            }
            slow.pins.push(pin());
            self.pinned[id as usize].store(true, Ordering::Release);
            value |= PINNED;
        }
        // Remember the address, reusing a slot that holds it with stale contents.
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

/// A quick hash of a label's text (FxHash's mixing, eight bytes at a time).
pub(crate) fn text_hash(text: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash = text.len() as u64;
    let mut chunks = text.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    hash = (hash.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    // Spread the high bits down: the table index uses the low ones.
    hash ^ (hash >> 29)
}

/// The label set of a series: route id, method index, status slot (a class, or an exact code:
/// see [`Statuses`]), and the request label's value id (0 without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesKey {
    pub(crate) route: u16,
    pub(crate) method: u8,
    pub(crate) status: u8,
    pub(crate) label: u16,
}

/// Label sets → dense series ids `0..capacity`; the first `CLASSES` ids are reserved for the
/// overflow series (route `other`, method `OTHER`, one per class, the label's `other`), used
/// once the capacity is taken.
///
/// Without a request label, (route, method, status) indexes the series directly. With one, it
/// indexes a *base* (at most `capacity` of them), and (base, value) the series: memory grows
/// with the series cap times the label's values, not with routes × methods × statuses × values.
pub(crate) struct Series {
    /// (route, method, status slot) → id + 1 (a base's, with a label); 0 while unassigned.
    index: Box<[AtomicU16]>,
    /// With a label: base × values + value → id + 1.
    by_label: Box<[AtomicU16]>,
    /// Values of the request label (1 without one).
    values: usize,
    keys: Mutex<Keys>,
    capacity: usize,
    /// Status slots per (route, method).
    statuses: usize,
}

struct Keys {
    series: Vec<SeriesKey>,
    bases: usize,
}

impl Series {
    pub(crate) fn new(routes: usize, capacity: usize, statuses: usize, values: usize) -> Self {
        let other_value = if values > 1 {
            super::request_label::OTHER_VALUE
        } else {
            0
        };
        let mut keys = Vec::with_capacity(capacity);
        keys.extend((0..CLASSES as u8).map(|status| SeriesKey {
            route: OTHER_ROUTE,
            method: OTHER_METHOD,
            status,
            label: other_value,
        }));
        let atomics =
            |n: usize| -> Box<[AtomicU16]> { (0..n).map(|_| AtomicU16::new(0)).collect() };
        let series = Self {
            index: atomics(routes * METHODS * statuses),
            by_label: atomics(if values > 1 { capacity * values } else { 0 }),
            values,
            keys: Mutex::new(Keys {
                series: Vec::with_capacity(capacity),
                bases: 0,
            }),
            capacity,
            statuses,
        };
        {
            let mut held = series.keys.lock();
            for key in keys {
                series.assign_locked(&mut held, key, &Statuses::new(0));
            }
        }
        series
    }

    /// Bytes allocated for the table.
    pub(crate) fn bytes(routes: usize, capacity: usize, statuses: usize, values: usize) -> usize {
        let by_label = if values > 1 { capacity * values } else { 0 };
        (routes * METHODS * statuses + by_label) * std::mem::size_of::<AtomicU16>()
            + capacity * std::mem::size_of::<SeriesKey>()
    }

    /// The id of a label set; past the capacity, the overflow series of its class.
    #[inline]
    pub(crate) fn id(&self, key: SeriesKey, statuses: &Statuses) -> u16 {
        let first = self.index[self.position(key)].load(Ordering::Relaxed);
        if self.values == 1 {
            return match first {
                0 => self.assign(key, statuses),
                id => id - 1,
            };
        }
        if first != 0 {
            let slot = usize::from(first - 1) * self.values + usize::from(key.label);
            if let Some(id) = self.by_label[slot].load(Ordering::Relaxed).checked_sub(1) {
                return id;
            }
        }
        self.assign(key, statuses)
    }

    /// Every assigned series, by id.
    pub(crate) fn keys(&self) -> Vec<SeriesKey> {
        self.keys.lock().series.clone()
    }

    fn position(&self, key: SeriesKey) -> usize {
        (key.route as usize * METHODS + key.method as usize) * self.statuses + key.status as usize
    }

    #[cold]
    fn assign(&self, key: SeriesKey, statuses: &Statuses) -> u16 {
        let mut keys = self.keys.lock();
        self.assign_locked(&mut keys, key, statuses)
    }

    fn assign_locked(&self, keys: &mut Keys, key: SeriesKey, statuses: &Statuses) -> u16 {
        // The overflow series of its class.
        let overflow = u16::from(statuses.class_of(key.status));
        let first = &self.index[self.position(key)];
        let slot = if self.values == 1 {
            first
        } else {
            let base = match first.load(Ordering::Relaxed) {
                0 if keys.bases < self.capacity => {
                    keys.bases += 1;
                    first.store(keys.bases as u16, Ordering::Relaxed);
                    keys.bases - 1
                }
                0 => return overflow,
                base => usize::from(base - 1),
            };
            &self.by_label[base * self.values + usize::from(key.label)]
        };
        match slot.load(Ordering::Relaxed) {
            0 if keys.series.len() < self.capacity => {
                keys.series.push(key);
                slot.store(keys.series.len() as u16, Ordering::Relaxed);
                keys.series.len() as u16 - 1
            }
            0 => overflow,
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
        let id = routes.id(&a, None);
        assert_eq!(routes.id(&a, None), id);
        assert_eq!(routes.id(&b, None), id);
        assert_eq!(routes.name(id), Some("/users/{id}"));
    }

    #[test]
    fn labels_spelled_like_the_reserved_routes_join_them() {
        let routes = Routes::new(4);
        assert_eq!(routes.id("unmatched", None), UNMATCHED);
        assert_eq!(routes.id("other", None), OTHER_ROUTE);
    }

    #[test]
    fn routes_past_the_cap_share_other() {
        let routes = Routes::new(2);
        let labels: Vec<String> = (0..5).map(|i| format!("/r{i}")).collect();
        let ids: Vec<u16> = labels.iter().map(|l| routes.id(l, None)).collect();
        assert_eq!(ids, [2, 3, OTHER_ROUTE, OTHER_ROUTE, OTHER_ROUTE]);
        assert_eq!(routes.id(&labels[4], None), OTHER_ROUTE, "cached as other");
    }

    #[test]
    fn a_reused_address_with_new_text_is_not_confused() {
        let routes = Routes::new(8);
        let mut label = String::from("/aaaa");
        let first = routes.id(&label, None);
        label.replace_range(.., "/bbbb"); // same buffer, same length, new text
        let second = routes.id(&label, None);
        assert_ne!(first, second);
        assert_eq!(routes.name(second), Some("/bbbb"));
        assert_eq!(routes.id(&label, None), second);
    }

    #[test]
    fn a_pinned_label_is_kept_alive_and_found_by_address() {
        let routes = Routes::new(4);
        let label: std::sync::Arc<str> = "/users/{id}".into();
        let pins = std::cell::Cell::new(0);
        let pin = || -> Pin {
            pins.set(pins.get() + 1);
            Box::new(label.clone())
        };
        let id = routes.id(&label, Some(&pin));
        assert_eq!(
            std::sync::Arc::strong_count(&label),
            2,
            "the table holds a clone"
        );
        for _ in 0..3 {
            assert_eq!(routes.id(&label, Some(&pin)), id);
        }
        // The same text built per request (Axum under `nest_service`): found by its text,
        // neither pinned again nor remembered by address.
        for _ in 0..100 {
            let fresh: std::sync::Arc<str> = "/users/{id}".into();
            let pin = || -> Pin { unreachable!("pinned once per id") };
            assert_eq!(routes.id(&fresh, Some(&pin)), id);
        }
        assert_eq!(pins.get(), 1);
        let keys = routes
            .keys
            .iter()
            .filter(|key| key.load(Ordering::Relaxed) != 0)
            .count();
        assert_eq!(keys, 1);
        // A slice of the pinned text at the same address is another label.
        assert_ne!(routes.id(&label[..6], None), id);
    }

    #[test]
    fn text_seen_before_at_another_address_is_found_without_the_mutex() {
        let routes = Routes::new(64);
        let labels: Vec<String> = (0..64).map(|i| format!("/api/r{i}/users/{{id}}")).collect();
        let ids: Vec<u16> = labels.iter().map(|l| routes.id(l, None)).collect();
        let routes = std::sync::Arc::new(routes);
        let held = routes.slow.lock();
        let (done, finished) = std::sync::mpsc::channel();
        let looking = routes.clone();
        std::thread::spawn(move || {
            for (label, id) in labels.iter().zip(&ids) {
                assert_eq!(looking.id(&label.clone(), None), *id, "{label}");
            }
            let _ = done.send(());
        });
        let found = finished.recv_timeout(std::time::Duration::from_secs(10));
        drop(held);
        assert!(found.is_ok(), "a lookup waited for the mutex");
    }

    #[test]
    fn an_allow_list_leaves_every_other_label_to_other_and_sets_pick_bounds() {
        let routes = Routes::with_rules(
            8,
            RouteRules {
                allowed: Some(vec!["/a".into(), "/upload".into()]),
                bucket_sets: vec![("/upload".into(), 1)],
            },
        );
        let a = routes.id("/a", None);
        let upload = routes.id("/upload", None);
        assert_eq!((a, upload), (2, 3));
        for label in ["/b", "/users/{id}", "/a/"] {
            assert_eq!(routes.id(label, None), OTHER_ROUTE, "{label}");
        }
        assert_eq!((routes.bucket_set(a), routes.bucket_set(upload)), (0, 1));
        assert_eq!(routes.bucket_set(OTHER_ROUTE), 0);
    }

    #[test]
    fn series_past_the_capacity_fall_into_the_overflow_series_of_their_class() {
        let series = Series::new(Routes::new(4).capacity(), CLASSES + 2, CLASSES, 1);
        let statuses = Statuses::new(0);
        let key = |route, status| SeriesKey {
            route,
            method: 0,
            status,
            label: 0,
        };
        assert_eq!(series.id(key(2, 1), &statuses), CLASSES as u16);
        assert_eq!(series.id(key(3, 1), &statuses), CLASSES as u16 + 1);
        assert_eq!(
            series.id(key(4, 1), &statuses),
            1,
            "full: the 2xx overflow series"
        );
        assert_eq!(series.id(key(2, 1), &statuses), CLASSES as u16);
        assert_eq!(series.keys().len(), CLASSES + 2);
    }

    #[test]
    fn a_request_label_splits_a_label_set_by_value_within_the_capacity() {
        let values = 18; // 16 values, `none` and `other`
        let series = Series::new(Routes::new(4).capacity(), CLASSES + 20, CLASSES, values);
        let statuses = Statuses::new(0);
        let key = |route, label| SeriesKey {
            route,
            method: 0,
            status: 1,
            label,
        };
        let first: Vec<u16> = (2..18)
            .map(|label| series.id(key(2, label), &statuses))
            .collect();
        assert_eq!(
            first,
            (CLASSES as u16..CLASSES as u16 + 16).collect::<Vec<_>>()
        );
        assert_eq!(series.id(key(2, 5), &statuses), first[3], "found again");
        let other_route: Vec<u16> = (2..8)
            .map(|label| series.id(key(3, label), &statuses))
            .collect();
        assert_eq!(other_route[..4], [23, 24, 25, 26]);
        assert_eq!(other_route[4..], [1, 1], "full: the 2xx overflow series");
        let overflow = series.keys()[1];
        assert_eq!(
            (overflow.route, overflow.label),
            (OTHER_ROUTE, super::super::request_label::OTHER_VALUE)
        );
        assert_eq!(series.keys().len(), CLASSES + 20);
    }
}
