//! One time base for every timestamp the endpoints show, and dates that cannot panic.
//!
//! Everything the crate keeps over time (check results, status timelines, incidents, traffic)
//! is kept in monotonic time. A wall-clock time is made from it by one process-wide mapping,
//! `wall = monotonic + offset`, so `/health`, `/health/history` and `/health/incidents` date
//! the same event alike. The offset is measured when first needed and re-measured on every
//! reading: when the wall clock has moved more than [`STEP`] away from the monotonic clock
//! (a manual change, a VM resumed, NTP stepping), the step is taken over — every time shown
//! from then on follows the new wall clock — and logged once.
//!
//! Tokio's clock is the monotonic one (so a paused test clock moves the times shown).

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// A disagreement between the clocks larger than this is a step of the wall clock.
pub(crate) const STEP: Duration = Duration::from_secs(1);

/// The last date RFC 3339 can write: 9999-12-31T23:59:59.999Z.
const LAST_SECOND: u64 = 253_402_300_799;

/// A real (unpaused) monotonic reading and the wall clock at the same moment, and the steps
/// of the wall clock taken over since (milliseconds, wall minus monotonic).
struct TimeBase {
    mono: std::time::Instant,
    wall: SystemTime,
    shift_ms: AtomicI64,
}

static BASE: OnceLock<TimeBase> = OnceLock::new();

fn base() -> &'static TimeBase {
    BASE.get_or_init(TimeBase::now)
}

/// Signed milliseconds from `b` to `a`.
fn diff_ms(a: SystemTime, b: SystemTime) -> i64 {
    match a.duration_since(b) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn shifted(at: SystemTime, ms: i64) -> SystemTime {
    let by = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        at.checked_add(by).unwrap_or(at)
    } else {
        at.checked_sub(by).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

impl TimeBase {
    fn now() -> Self {
        Self {
            mono: std::time::Instant::now(),
            wall: SystemTime::now(),
            shift_ms: AtomicI64::new(0),
        }
    }

    /// Compares the wall clock's reading `wall` with the monotonic clock and takes over a
    /// step (logged once). Returns the step taken over, in milliseconds.
    fn notice(&self, wall: SystemTime) -> Option<i64> {
        let expected = self.wall + self.mono.elapsed();
        let drift = diff_ms(wall, expected);
        let shift = self.shift_ms.load(Ordering::Relaxed);
        let step = drift - shift;
        let taken = step.unsigned_abs() > STEP.as_millis() as u64
            && self
                .shift_ms
                .compare_exchange(shift, drift, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        taken.then_some(step)
    }

    fn wall_of(&self, at: Instant) -> SystemTime {
        let at = at.into_std();
        let wall = match at.checked_duration_since(self.mono) {
            Some(after) => self.wall.checked_add(after).unwrap_or(self.wall),
            None => self
                .wall
                .checked_sub(self.mono.saturating_duration_since(at))
                .unwrap_or(SystemTime::UNIX_EPOCH),
        };
        shifted(wall, self.shift_ms.load(Ordering::Relaxed))
    }
}

/// The wall-clock time of a Tokio instant, on the one time base.
pub(crate) fn wall_of(at: Instant) -> SystemTime {
    base().wall_of(at)
}

/// The wall-clock time now, on the one time base (and a step of the wall clock noticed).
pub(crate) fn now() -> SystemTime {
    if let Some(step) = base().notice(SystemTime::now()) {
        tracing::warn!(
            step_ms = step,
            "the wall clock stepped by {}{} s; the times shown follow it from now on",
            if step > 0 { "+" } else { "-" },
            step.unsigned_abs() / 1000
        );
    }
    wall_of(Instant::now())
}

/// The Tokio instant of a wall-clock time on the one time base, as near as `Instant` can be
/// (it cannot go back before the machine's clock started: such times come out as the
/// earliest instant there is).
pub(crate) fn instant_of(at: SystemTime) -> Instant {
    let mono = Instant::now();
    match wall_of(mono).duration_since(at) {
        Ok(back) => mono.checked_sub(back).unwrap_or_else(|| earliest(mono)),
        Err(ahead) => mono
            .checked_add(ahead.duration())
            .unwrap_or(mono + Duration::from_secs(86_400 * 365 * 100)),
    }
}

/// The one time base for a clock of its own (a mockable one, as the metrics collector's):
/// `now` on that clock is the wall-clock time `wall`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mapping {
    /// The wall-clock time now.
    pub(crate) wall: SystemTime,
    /// Now on the other clock, as time since its origin.
    pub(crate) now: Duration,
}

impl Mapping {
    /// `now` (since the other clock's origin) is now on the one time base.
    pub(crate) fn at(now: Duration) -> Self {
        Self {
            wall: self::now(),
            now,
        }
    }

    /// The wall-clock time of `at` since the other clock's origin.
    pub(crate) fn wall_of(&self, at: Duration) -> SystemTime {
        match self.now.checked_sub(at) {
            Some(back) => self
                .wall
                .checked_sub(back)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            None => self.wall.checked_add(at - self.now).unwrap_or(self.wall),
        }
    }

    /// The time since the other clock's origin of a wall-clock time (0 before the origin).
    pub(crate) fn offset_of(&self, at: SystemTime) -> Duration {
        match self.wall.duration_since(at) {
            Ok(back) => self.now.saturating_sub(back),
            Err(ahead) => self.now.saturating_add(ahead.duration()),
        }
    }
}

/// The earliest `Instant` before `mono` that can be made, to within a halving.
fn earliest(mono: Instant) -> Instant {
    let mut back = Duration::from_secs(86_400 * 365 * 100);
    while back > Duration::ZERO {
        if let Some(at) = mono.checked_sub(back) {
            return at;
        }
        back /= 2;
    }
    mono
}

/// An RFC 3339 date in UTC that formats any `SystemTime` without panicking: times before 1970
/// are written as 1970-01-01T00:00:00Z and times past 9999 as 9999-12-31T23:59:59Z (RFC 3339
/// has no other years).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rfc3339 {
    at: SystemTime,
    millis: bool,
}

impl Rfc3339 {
    /// To the millisecond: `2026-12-01T14:00:00.123Z`.
    pub(crate) fn millis(at: SystemTime) -> Self {
        Self { at, millis: true }
    }

    /// To the second: `2026-12-01T14:00:00Z`.
    pub(crate) fn seconds(at: SystemTime) -> Self {
        Self { at, millis: false }
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let (secs, millis) = match since.as_secs() {
            s if s > LAST_SECOND => (LAST_SECOND, 999),
            s => (s, since.subsec_millis()),
        };
        let (year, month, day) = civil(secs / 86_400);
        let rest = secs % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        )?;
        if self.millis {
            write!(f, ".{millis:03}")?;
        }
        f.write_str("Z")
    }
}

/// Year, month and day of a count of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
    }

    #[test]
    fn dates_are_rfc_3339_and_out_of_range_ones_are_clamped() {
        assert_eq!(
            Rfc3339::millis(at(0, 0)).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Rfc3339::millis(at(1_796_220_245, 7)).to_string(),
            "2026-12-02T14:04:05.007Z"
        );
        assert_eq!(
            Rfc3339::seconds(at(951_782_400, 0)).to_string(),
            "2000-02-29T00:00:00Z"
        );
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(100 * 365 * 86_400);
        assert_eq!(
            Rfc3339::millis(before).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        let after = SystemTime::UNIX_EPOCH + Duration::from_secs(LAST_SECOND + 86_400 * 400);
        assert_eq!(
            Rfc3339::millis(after).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
    }

    proptest! {
        #[test]
        fn every_date_reads_back_as_humantime_writes_it(secs in 0..=LAST_SECOND, millis in 0..1000u64) {
            let time = at(secs, millis);
            let ours = Rfc3339::millis(time).to_string();
            prop_assert_eq!(&ours, &humantime::format_rfc3339_millis(time).to_string());
            prop_assert_eq!(humantime::parse_rfc3339(&ours).unwrap(), time);
        }
    }

    #[test]
    fn instants_and_wall_times_map_both_ways() {
        let now = Instant::now();
        let wall = wall_of(now);
        let back = instant_of(wall);
        let off = if back > now { back - now } else { now - back };
        assert!(off < Duration::from_millis(5), "{off:?}");
        let hour_ago = wall_of(now - Duration::from_secs(3600));
        assert_eq!(diff_ms(wall, hour_ago), 3_600_000);
        // Far before the process: clamped to the earliest instant, never a panic.
        let _ = instant_of(SystemTime::UNIX_EPOCH);
        let _ = instant_of(at(LAST_SECOND, 0));
    }

    #[test]
    fn a_step_of_the_wall_clock_is_taken_over_once() {
        let base = TimeBase::now();
        let before = base.wall_of(Instant::now());
        let ahead = || SystemTime::now() + Duration::from_secs(5 * 3600);
        let step = base.notice(ahead()).expect("a step");
        assert!(
            (5 * 3_600_000 - 10..5 * 3_600_000 + 1000).contains(&step),
            "{step}"
        );
        let moved = diff_ms(base.wall_of(Instant::now()), before);
        assert!(
            (5 * 3_600_000 - 10..5 * 3_600_000 + 1000).contains(&moved),
            "{moved}"
        );
        assert_eq!(base.notice(ahead()), None, "the same step, not taken twice");
        assert!(
            base.notice(SystemTime::now() - Duration::from_secs(3 * 3600))
                .is_some()
        );
        let moved = diff_ms(base.wall_of(Instant::now()), before);
        assert!(
            (-3 * 3_600_000 - 10..-3 * 3_600_000 + 1000).contains(&moved),
            "{moved}"
        );
        assert_eq!(
            base.notice(SystemTime::now() - Duration::from_secs(3 * 3600)),
            None
        );
    }
}
