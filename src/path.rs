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
    exact: Vec<String>,
    subtrees: Vec<String>,
    gate: Gate,
}

impl PathSet {
    pub(crate) fn new(exact: Vec<String>, subtrees: Vec<String>) -> Self {
        let gate = Gate::new(exact.iter().chain(&subtrees).map(String::as_str));
        Self {
            exact,
            subtrees,
            gate,
        }
    }

    /// Adds an exact path.
    pub(crate) fn add_exact(&mut self, path: String) {
        self.gate.add(&path);
        self.exact.push(path);
    }

    /// Adds a subtree.
    pub(crate) fn add_subtree(&mut self, path: String) {
        self.gate.add(&path);
        self.subtrees.push(path);
    }

    /// The first test of [`matches`](Self::matches), alone.
    pub(crate) fn gate(&self) -> Gate {
        self.gate
    }

    /// Whether `path` is one of the exact paths or under one of the subtrees. Most paths of an
    /// application are told apart by their second byte alone, without a string compare.
    #[inline]
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.gate.may_match(path) && self.matches_slowly(path)
    }

    fn matches_slowly(&self, path: &str) -> bool {
        let trimmed = without_trailing_slash(path);
        self.exact.iter().any(|exact| exact == trimmed)
            || self.subtrees.iter().any(|subtree| under(path, subtree))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.subtrees.is_empty()
    }

    /// Whether every path a route template (`/users/{id}`) matches is in the set (`Some(true)`),
    /// none is (`Some(false)`), or it depends on the path (`None`). A template without
    /// parameters matches only its own text; for one with parameters only its literal head
    /// (up to the first `{`, `*` or `:`) is known, so any entry that may meet it gives `None`.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn decides_template(&self, template: &str) -> Option<bool> {
        let Some(head_len) = template.find(['{', '}', '*', ':']) else {
            return Some(self.matches(template));
        };
        let head = &template[..head_len];
        let may_meet = self.exact.iter().any(|exact| exact.starts_with(head))
            || self
                .subtrees
                .iter()
                .any(|subtree| subtree.starts_with(head) || head.starts_with(subtree.as_str()));
        if may_meet { None } else { Some(false) }
    }
}

/// A first test of a request path against a set of paths, on the byte after the leading `/`:
/// a path whose byte no member has cannot match (a trailing slash and `/` itself included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Gate {
    /// One bit per value of the second byte.
    bytes: [u64; 4],
    /// A member is `/` (or empty), which requests of one byte may match.
    short: bool,
}

impl Gate {
    pub(crate) fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut gate = Self::default();
        for path in paths {
            gate.add(path);
        }
        gate
    }

    fn add(&mut self, path: &str) {
        // `/` also matches a request for `//` (one trailing slash dropped).
        let byte = path.as_bytes().get(1).copied().unwrap_or(b'/');
        self.short |= path.len() < 2;
        self.bytes[usize::from(byte >> 6)] |= 1 << (byte & 63);
    }

    /// False when `path` matches no member; true when it may.
    #[inline]
    pub(crate) fn may_match(&self, path: &str) -> bool {
        match path.as_bytes().get(1) {
            Some(&byte) => self.bytes[usize::from(byte >> 6)] >> (byte & 63) & 1 == 1,
            None => self.short,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_are_decided_once_where_the_path_cannot_change_it() {
        let set = PathSet::new(
            vec!["/metrics".into(), "/users/admin".into()],
            vec!["/health".into(), "/internal".into()],
        );
        let cases = [
            ("/metrics", Some(true)),
            ("/health/ready", Some(true)),
            ("/internal", Some(true)),
            ("/api/users", Some(false)),
            ("/api/users/{id}", Some(false)),
            ("/api/{*rest}", Some(false)),
            ("/health/{name}", None),
            ("/users/{id}", None),
            ("/{*rest}", None),
            ("/internal/{id}", None),
            ("/int{x}", None),
        ];
        for (template, want) in cases {
            assert_eq!(set.decides_template(template), want, "{template}");
        }
        assert_eq!(PathSet::default().decides_template("/{*rest}"), Some(false));
    }

    #[test]
    fn the_gate_lets_through_every_path_that_may_match() {
        let set = PathSet::new(
            vec!["/metrics".into(), "/".into(), "/healthz".into()],
            vec!["/internal".into()],
        );
        for path in [
            "/metrics",
            "/metrics/",
            "/",
            "//",
            "/healthz/",
            "/internal/x",
            "/internal",
        ] {
            assert!(set.matches(path), "{path}");
        }
        for path in ["/api/users", "/home", "/metricsx", "/internals", "", "/a"] {
            assert!(!set.matches(path), "{path}");
        }
        let gate = Gate::new(["/health"]);
        assert!(
            gate.may_match("/home"),
            "a shared second byte goes on to the full compare"
        );
        assert!(!gate.may_match("/api") && !gate.may_match("/") && !gate.may_match(""));
        assert!(!Gate::default().may_match("/health"));
        // Every byte value, including non-ASCII ones.
        let all: Vec<String> = (0..=255u8).map(|b| format!("/{}", char::from(b))).collect();
        let gate = Gate::new(all.iter().map(String::as_str));
        assert!(all.iter().all(|p| gate.may_match(p)));
    }

    #[test]
    fn trailing_slash_and_segments() {
        assert_eq!(without_trailing_slash("/a/"), "/a");
        assert_eq!(without_trailing_slash("/"), "/");
        assert!(under("/internal/x", "/internal"));
        assert!(under("/internal", "/internal"));
        assert!(!under("/internals", "/internal"));
    }
}
