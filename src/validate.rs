//! The one range check every builder uses: a value outside its range is an error naming the
//! setting, the value and what is allowed.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::error::ConfigError;

/// An allowed range and how it reads in an error.
pub(crate) type Range<T> = (RangeInclusive<T>, &'static str);

/// `value` if it lies in `range`.
pub(crate) fn duration(
    setting: &str,
    value: Duration,
    (range, allowed): Range<Duration>,
) -> Result<Duration, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::InvalidDuration {
            setting: setting.to_owned(),
            millis: value.as_millis(),
            allowed,
        })
    }
}

/// A label name of the crate's expositions: `[a-zA-Z_][a-zA-Z0-9_]*`, not `__…` (Prometheus'
/// own), not one of `taken` (refused with `taken_reason`).
pub(crate) fn label_name(
    name: &str,
    taken: &[&str],
    taken_reason: &'static str,
) -> Result<(), ConfigError> {
    let invalid = |reason| ConfigError::InvalidMetricLabel {
        name: name.to_owned(),
        reason,
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
    if !valid {
        return Err(invalid("a label name must match [a-zA-Z_][a-zA-Z0-9_]*"));
    }
    if name.starts_with("__") {
        return Err(invalid(
            "names starting with __ are reserved for Prometheus",
        ));
    }
    if taken.contains(&name) {
        return Err(invalid(taken_reason));
    }
    Ok(())
}

/// `value` if it lies in `range`.
pub(crate) fn count<T>(
    setting: &str,
    value: T,
    (range, allowed): Range<T>,
) -> Result<T, ConfigError>
where
    T: PartialOrd + Copy + TryInto<u64>,
{
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::InvalidCount {
            setting: setting.to_owned(),
            value: value.try_into().unwrap_or(u64::MAX),
            allowed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_setting_value_and_range() {
        let error = duration(
            "timeout",
            Duration::ZERO,
            (
                Duration::from_millis(1)..=Duration::from_secs(1),
                "1 ms to 1 s",
            ),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "timeout of 0 ms is out of range (1 ms to 1 s)"
        );
        assert_eq!(count("shards", 3usize, (1..=4, "1 to 4")), Ok(3));
        assert!(count("shards", 5usize, (1..=4, "1 to 4")).is_err());
    }
}
