//! Configuration errors.

use std::fmt;

/// A setting that cannot be used, with the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A check name is empty, too long, has surrounding whitespace or a control character.
    InvalidCheckName {
        /// The rejected name (control characters escaped when displayed).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two checks were registered under the same name.
    DuplicateCheckName(String),
    /// A duration setting is out of its allowed range.
    InvalidDuration {
        /// The setting, e.g. `"timeout"` or `"check \"db\" timeout"`.
        setting: String,
        /// The rejected value in milliseconds.
        millis: u128,
        /// The allowed range.
        allowed: &'static str,
    },
    /// A count setting (threshold) is out of its allowed range.
    InvalidCount {
        /// The setting.
        setting: String,
        /// The rejected value.
        value: u64,
        /// The allowed range.
        allowed: &'static str,
    },
    /// An HTTP path is not usable.
    InvalidPath {
        /// The rejected path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two endpoints were given the same path.
    DuplicatePath(String),
    /// Histogram bucket bounds that are empty, too many, or not strictly increasing.
    InvalidBuckets(&'static str),
    /// No anomaly rule has this name.
    UnknownRule(String),
    /// An anomaly rule with this name exists already.
    DuplicateRule(String),
    /// A number that is not finite, or otherwise unusable.
    InvalidNumber {
        /// The setting.
        setting: String,
        /// The rejected value.
        value: String,
    },
    /// A metric name prefix that is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricPrefix(String),
    /// A label for every sample that cannot be used.
    InvalidMetricLabel {
        /// The label's name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// An environment variable with a value that cannot be used.
    Env {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CA certificate that cannot be used.
    InvalidCertificate(&'static str),
    /// A header that cannot be sent.
    InvalidHeader {
        /// The header's name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A credential that cannot be used (an empty bearer token).
    InvalidToken(&'static str),
    /// A report source's name is not 1 to 64 of `[a-z0-9_-]`, or is a built-in section's.
    InvalidSourceName(String),
    /// Two report sources were given the same name.
    DuplicateSource(String),
    /// A setting names a check that is not registered.
    UnknownCheck {
        /// The setting (an environment variable, or a builder method).
        setting: String,
        /// The name it gave.
        name: String,
        /// The registered names.
        known: Vec<String>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCheckName { name, reason } => {
                write!(f, "invalid check name {name:?}: {reason}")
            }
            Self::DuplicateCheckName(name) => {
                write!(f, "a check named {name:?} is already registered")
            }
            Self::InvalidDuration {
                setting,
                millis,
                allowed,
            } => write!(f, "{setting} of {millis} ms is out of range ({allowed})"),
            Self::InvalidCount {
                setting,
                value,
                allowed,
            } => write!(f, "{setting} of {value} is out of range ({allowed})"),
            Self::InvalidPath { path, reason } => write!(f, "invalid path {path:?}: {reason}"),
            Self::DuplicatePath(path) => {
                write!(f, "path {path:?} is used by more than one endpoint")
            }
            Self::InvalidBuckets(reason) => write!(f, "invalid histogram buckets: {reason}"),
            Self::UnknownRule(name) => write!(f, "no anomaly rule is named {name:?}"),
            Self::DuplicateRule(name) => write!(f, "an anomaly rule named {name:?} exists already"),
            Self::InvalidNumber { setting, value } => {
                write!(f, "{setting} of {value} is not a usable number")
            }
            Self::Env {
                variable,
                value,
                reason,
            } => write!(f, "{variable}={value:?}: {reason}"),
            Self::InvalidToken(reason) => write!(f, "invalid token: {reason}"),
            Self::InvalidCertificate(reason) => write!(f, "invalid certificate: {reason}"),
            Self::InvalidHeader { name, reason } => write!(f, "invalid header {name:?}: {reason}"),
            Self::InvalidSourceName(name) => write!(
                f,
                "invalid report source name {name:?}: use 1 to 64 of a-z, 0-9, '_' and '-', \
                 other than requests, process, runtime and checks"
            ),
            Self::DuplicateSource(name) => {
                write!(f, "a report source named {name:?} was added already")
            }
            Self::UnknownCheck {
                setting,
                name,
                known,
            } => write!(
                f,
                "{setting} names {name:?}, which is not a registered check (registered: {})",
                known.join(", ")
            ),
            Self::InvalidMetricPrefix(prefix) => write!(
                f,
                "metric prefix {prefix:?} must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            Self::InvalidMetricLabel { name, reason } => {
                write!(f, "metric label {name:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// An error and its sources, `outer: inner: root` (hyper-util's "client error (Connect)" alone
/// hides the refused connection or the TLS failure).
#[cfg_attr(not(feature = "http-client"), allow(dead_code))]
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}
