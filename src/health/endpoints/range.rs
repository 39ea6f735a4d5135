//! The query of the time endpoints (`/health/history`, `/health/incidents`): `component`,
//! `since`, `until` (RFC 3339, `now`, or relative: `-1h`, `-90s`) and `step` (`10s`, `5m`).
//! Anything else, twice, or unreadable is a 400 that says which and why.

use std::time::{Duration, SystemTime};

/// What a time query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Range {
    pub(super) component: Option<String>,
    pub(super) since: SystemTime,
    pub(super) until: SystemTime,
    pub(super) step: Option<Duration>,
}

/// At most this many points per component in one answer.
pub(super) const MAX_POINTS: u128 = 10_000;

/// Parses `query` against `now`; `since` defaults to `now - back`. `keys` are the parameters
/// the endpoint takes.
pub(super) fn parse(
    query: Option<&str>,
    now: SystemTime,
    back: Duration,
    keys: &[&str],
) -> Result<Range, String> {
    let mut range = Range {
        component: None,
        since: now - back,
        until: now,
        step: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if !keys.contains(&&*key) {
            return Err(format!(
                "unknown parameter {key:?} (this endpoint takes: {})",
                keys.join(", ")
            ));
        }
        if seen.iter().any(|k| *k == key) {
            return Err(format!("{key} is given twice"));
        }
        seen.push(key.clone().into_owned());
        match &*key {
            "component" => range.component = Some(value.into_owned()),
            "since" => range.since = time(&value, now).map_err(|e| format!("since: {e}"))?,
            "until" => range.until = time(&value, now).map_err(|e| format!("until: {e}"))?,
            "step" => range.step = Some(step(&value)?),
            _ => {}
        }
    }
    if range.since > range.until {
        return Err("since is after until".to_owned());
    }
    if let Some(step) = range.step {
        let span = range.until.duration_since(range.since).unwrap_or_default();
        if span.as_nanos() / step.as_nanos() > MAX_POINTS {
            return Err(format!(
                "{} points from since to until at this step: at most {MAX_POINTS}",
                span.as_nanos() / step.as_nanos()
            ));
        }
    }
    Ok(range)
}

/// `now`, `-<duration>` before now, or an RFC 3339 time.
fn time(value: &str, now: SystemTime) -> Result<SystemTime, String> {
    if value == "now" {
        return Ok(now);
    }
    if let Some(back) = value.strip_prefix('-') {
        let back = humantime::parse_duration(back)
            .map_err(|e| format!("{value:?} is not a duration before now like -1h ({e})"))?;
        return now
            .checked_sub(back)
            .ok_or_else(|| format!("{value:?} is before the clock's start"));
    }
    humantime::parse_rfc3339_weak(value).map_err(|e| {
        format!("{value:?} is not an RFC 3339 time (2026-12-01T14:00:00Z), now, or -1h ({e})")
    })
}

/// A step of 1 s to 1 day.
fn step(value: &str) -> Result<Duration, String> {
    let step = humantime::parse_duration(value)
        .map_err(|e| format!("step: {value:?} is not a duration like 10s or 5m ({e})"))?;
    if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600)).contains(&step) {
        return Err(format!("step: {value:?} is out of range (1s to 1d)"));
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["component", "since", "until", "step"];
    const HOUR: Duration = Duration::from_secs(3600);

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-12-01T15:00:00Z").unwrap()
    }

    fn parse_at(query: &str) -> Result<Range, String> {
        parse(Some(query), now(), HOUR, KEYS)
    }

    #[test]
    fn times_are_relative_absolute_or_now_with_defaults() {
        let range = parse(None, now(), HOUR, KEYS).unwrap();
        assert_eq!((range.since, range.until), (now() - HOUR, now()));
        let range = parse_at("component=db&since=-90m&until=2026-12-01T14:59:00Z&step=5m").unwrap();
        assert_eq!(range.component.as_deref(), Some("db"));
        assert_eq!(range.since, now() - Duration::from_secs(90 * 60));
        assert_eq!(range.until, now() - Duration::from_secs(60));
        assert_eq!(range.step, Some(Duration::from_secs(300)));
        assert_eq!(parse_at("until=now").unwrap().until, now());
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
            ("step=0s", "step: \"0s\" is out of range"),
            ("step=fast", "step: \"fast\" is not a duration"),
            ("since=-1h&since=-2h", "since is given twice"),
            ("componnent=db", "unknown parameter \"componnent\""),
            ("since=now&until=-1h", "since is after until"),
            ("since=-2d&step=1s", "172800 points"),
        ] {
            let error = parse_at(query).unwrap_err();
            assert!(error.contains(says), "{query}: {error}");
        }
    }
}
