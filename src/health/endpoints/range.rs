//! The query of the time endpoints (`/health/history`, `/health/incidents`): `component`,
//! `since`, `until` (RFC 3339, `now`, or relative: `-1h`, `-90s`), `step` (`10s`, `5m`) and
//! `offset` (the first component of a page). Every value is parsed into a bounded one: times
//! are clamped into what is kept, `[now − retention, now]`; a step is 1 s to the retention;
//! anything else, twice, too long or unreadable is a 400 that says which and why.

use std::time::{Duration, SystemTime};

use crate::checker::MAX_NAME_CHARS;

/// What a time query asks for, bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) component: Option<String>,
    /// Within `[now − retention, until]`.
    pub(crate) since: SystemTime,
    /// Within `[since, now]`.
    pub(crate) until: SystemTime,
    /// Within `[1 s, retention]`.
    pub(crate) step: Option<Duration>,
    /// The first component of the page, from 0.
    pub(crate) offset: usize,
}

/// What a query is read against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) now: SystemTime,
    /// How far back anything is kept: earlier times are clamped to `now - retention`.
    pub(crate) retention: Duration,
    /// `since` when none is given: `now - back`.
    pub(crate) back: Duration,
}

/// The longest value read; longer ones are a 400.
const MAX_VALUE_CHARS: usize = 64;
/// The largest `offset`.
pub(crate) const MAX_OFFSET: usize = 1_000_000;

/// Parses `query` against `bounds`. `keys` are the parameters the endpoint takes.
pub(crate) fn parse(query: Option<&str>, bounds: Bounds, keys: &[&str]) -> Result<Range, String> {
    let Bounds {
        now,
        retention,
        back,
    } = bounds;
    let earliest = now.checked_sub(retention).unwrap_or(SystemTime::UNIX_EPOCH);
    let clamp = |at: SystemTime| at.clamp(earliest, now);
    let mut range = Range {
        component: None,
        since: clamp(now.checked_sub(back).unwrap_or(earliest)),
        until: now,
        step: None,
        offset: 0,
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if !keys.contains(&&*key) {
            return Err(format!(
                "unknown parameter {:?} (this endpoint takes: {})",
                shown(&key),
                keys.join(", ")
            ));
        }
        if seen.iter().any(|k| *k == key) {
            return Err(format!("{key} is given twice"));
        }
        seen.push(key.clone().into_owned());
        let limit = if key == "component" {
            MAX_NAME_CHARS
        } else {
            MAX_VALUE_CHARS
        };
        if value.chars().count() > limit {
            return Err(format!("{key}: longer than {limit} characters"));
        }
        match &*key {
            "component" => range.component = Some(value.into_owned()),
            "since" => range.since = clamp(time(&value, now).map_err(|e| format!("since: {e}"))?),
            "until" => range.until = clamp(time(&value, now).map_err(|e| format!("until: {e}"))?),
            "step" => range.step = Some(step(&value, retention)?),
            "offset" => range.offset = offset(&value)?,
            _ => {}
        }
    }
    if range.since > range.until {
        return Err("since is after until".to_owned());
    }
    Ok(range)
}

/// At most `MAX_VALUE_CHARS` of `text`, for an error message.
fn shown(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `now`, `-<duration>` before now, or an RFC 3339 time. Unclamped: any time a `SystemTime`
/// holds (one before the clock can go is 1970).
fn time(value: &str, now: SystemTime) -> Result<SystemTime, String> {
    if value == "now" {
        return Ok(now);
    }
    if let Some(back) = value.strip_prefix('-') {
        let back = humantime::parse_duration(back)
            .map_err(|e| format!("{value:?} is not a duration before now like -1h ({e})"))?;
        return Ok(now.checked_sub(back).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    humantime::parse_rfc3339_weak(value).map_err(|e| {
        format!("{value:?} is not an RFC 3339 time (2026-12-01T14:00:00Z), now, or -1h ({e})")
    })
}

/// A step of 1 s up to the retention.
fn step(value: &str, retention: Duration) -> Result<Duration, String> {
    let step = humantime::parse_duration(value)
        .map_err(|e| format!("step: {value:?} is not a duration like 10s or 5m ({e})"))?;
    let max = retention.max(Duration::from_secs(1));
    if !(Duration::from_secs(1)..=max).contains(&step) {
        return Err(format!(
            "step: {value:?} is out of range (1s to {})",
            humantime::format_duration(max)
        ));
    }
    Ok(step)
}

fn offset(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(offset) if offset <= MAX_OFFSET => Ok(offset),
        _ => Err(format!(
            "offset: {value:?} is not a whole number from 0 to {MAX_OFFSET}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["component", "since", "until", "step", "offset"];
    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86_400);

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-12-01T15:00:00Z").unwrap()
    }

    fn bounds() -> Bounds {
        Bounds {
            now: now(),
            retention: DAY,
            back: HOUR,
        }
    }

    fn parse_at(query: &str) -> Result<Range, String> {
        parse(Some(query), bounds(), KEYS)
    }

    #[test]
    fn times_are_relative_absolute_or_now_with_defaults() {
        let range = parse(None, bounds(), KEYS).unwrap();
        assert_eq!((range.since, range.until), (now() - HOUR, now()));
        let range = parse_at("component=db&since=-90m&until=2026-12-01T14:59:00Z&step=5m").unwrap();
        assert_eq!(range.component.as_deref(), Some("db"));
        assert_eq!(range.since, now() - Duration::from_secs(90 * 60));
        assert_eq!(range.until, now() - Duration::from_secs(60));
        assert_eq!(range.step, Some(Duration::from_secs(300)));
        assert_eq!(parse_at("until=now").unwrap().until, now());
        assert_eq!(parse_at("offset=40").unwrap().offset, 40);
    }

    #[test]
    fn times_are_clamped_into_what_is_kept() {
        for (query, since, until) in [
            ("until=2028-12-01T15:00:00Z", now() - HOUR, now()),
            ("until=9999-12-31T23:59:59Z", now() - HOUR, now()),
            ("since=-100y", now() - DAY, now()),
            ("since=-1000000000y", now() - DAY, now()),
            (
                "since=1970-01-01T00:00:00Z&until=1971-01-01T00:00:00Z",
                now() - DAY,
                now() - DAY,
            ),
            ("since=now&until=2036-01-01T00:00:00Z", now(), now()),
        ] {
            let range = parse_at(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!((range.since, range.until), (since, until), "{query}");
        }
    }

    #[test]
    fn bad_parameters_say_which_and_why() {
        for (query, says) in [
            (
                "since=yesterday",
                "since: \"yesterday\" is not an RFC 3339 time",
            ),
            ("since=-1x", "since: \"-1x\" is not a duration before now"),
            ("until=2026-13-01T00:00:00Z", "until:"),
            ("step=0s", "step: \"0s\" is out of range (1s to 1day)"),
            ("step=1ns", "step: \"1ns\" is out of range"),
            ("step=2d", "step: \"2d\" is out of range"),
            ("step=fast", "step: \"fast\" is not a duration"),
            ("since=-1h&since=-2h", "since is given twice"),
            ("componnent=db", "unknown parameter \"componnent\""),
            ("since=now&until=-1h", "since is after until"),
            ("offset=-1", "offset: \"-1\" is not a whole number"),
            ("offset=99999999999", "offset:"),
        ] {
            let error = parse_at(query).unwrap_err();
            assert!(error.contains(says), "{query}: {error}");
        }
        let long = format!("since={}", "1".repeat(65));
        assert!(parse_at(&long).unwrap_err().contains("longer than 64"));
        let key = format!("{}=1", "k".repeat(10_000));
        assert!(parse_at(&key).unwrap_err().len() < 200, "the key is cut");
    }
}
