//! Request-path rules shared by the health endpoints and the metrics exclusions: one trailing
//! slash is accepted, and configured paths are checked the same way everywhere.

use crate::error::ConfigError;

/// `path` without one trailing slash (`/` stays `/`).
pub(crate) fn without_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    }
}

/// Checks a configured path and drops its trailing slash; a prefix may be empty (or `/`,
/// meaning none).
pub(crate) fn normalise(path: &str, is_prefix: bool) -> Result<String, ConfigError> {
    let invalid = |reason| ConfigError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if is_prefix && (path.is_empty() || path == "/") {
        return Ok(String::new());
    }
    if !path.starts_with('/') {
        return Err(invalid("it must start with '/'"));
    }
    if path.contains("//") {
        return Err(invalid("it contains an empty segment ('//')"));
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%'))
    {
        return Err(invalid(
            "it contains whitespace, a control character, '?', '#' or '%'",
        ));
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(invalid("it contains a '.' or '..' segment"));
    }
    Ok(without_trailing_slash(path).to_owned())
}

/// Whether `path` is `prefix` or below it, by whole segments (`/internal` covers
/// `/internal/x`, not `/internals`).
pub(crate) fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Exact paths (a trailing slash aside) and whole subtrees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PathSet {
    pub(crate) exact: Vec<String>,
    pub(crate) subtrees: Vec<String>,
}

impl PathSet {
    /// Whether `path` is one of the exact paths or under one of the subtrees.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let trimmed = without_trailing_slash(path);
        self.exact.iter().any(|exact| exact == trimmed)
            || self.subtrees.iter().any(|subtree| under(path, subtree))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.subtrees.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_and_segments() {
        assert_eq!(without_trailing_slash("/a/"), "/a");
        assert_eq!(without_trailing_slash("/"), "/");
        assert!(under("/internal/x", "/internal"));
        assert!(under("/internal", "/internal"));
        assert!(!under("/internals", "/internal"));
    }
}
