//! Which request paths the endpoints answer: one path (or none) per entry of the endpoint
//! table, each stored with the prefix applied.

use super::endpoints::{Descriptor, TABLE};
use crate::error::ConfigError;
use crate::path::{PathSet, normalise, without_trailing_slash};

const N: usize = TABLE.len();

/// The endpoints' paths (`None`: turned off), in [`TABLE`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paths {
    prefix: String,
    relative: [Option<String>; N],
    full: [Option<String>; N],
}

impl Default for Paths {
    fn default() -> Self {
        let relative = TABLE.map(|endpoint| endpoint.default_path.map(str::to_owned));
        Self {
            prefix: String::new(),
            full: relative.clone(),
            relative,
        }
    }
}

impl Paths {
    /// The endpoint a request path is for. One trailing slash is accepted.
    pub(crate) fn route(&self, path: &str) -> Option<&'static Descriptor> {
        let path = without_trailing_slash(path);
        TABLE
            .into_iter()
            .zip(&self.full)
            .find_map(|(endpoint, full)| (full.as_deref() == Some(path)).then_some(endpoint))
    }

    /// Every path in use, with the prefix.
    pub(crate) fn all(&self) -> impl Iterator<Item = &str> {
        self.full.iter().flatten().map(String::as_str)
    }

    /// What request metrics leave out: every path in use, and everything below the detailed
    /// report's path (`/health/…`), where more health paths live.
    pub(crate) fn path_set(&self) -> PathSet {
        let detail = TABLE.iter().position(|e| e.name == "detail");
        let subtrees = detail
            .and_then(|i| self.full[i].clone())
            .filter(|path| path != "/")
            .into_iter()
            .collect();
        PathSet::new(self.all().map(str::to_owned).collect(), subtrees)
    }

    pub(crate) fn set_prefix(&mut self, prefix: &str) -> Result<(), ConfigError> {
        let prefix = normalise(prefix, true)?;
        self.update(prefix, self.relative.clone())
    }

    /// Sets the path of the endpoint named `name`; `None` turns it off.
    pub(crate) fn set(&mut self, name: &str, path: Option<&str>) -> Result<(), ConfigError> {
        let index = TABLE
            .iter()
            .position(|endpoint| endpoint.name == name)
            .expect("endpoint names come from the table");
        let mut relative = self.relative.clone();
        relative[index] = path.map(|path| normalise(path, false)).transpose()?;
        self.update(self.prefix.clone(), relative)
    }

    /// `relative` with the prefix applied.
    pub(crate) fn full(&self, relative: &str) -> String {
        join(&self.prefix, relative)
    }

    /// The full path (prefix included) of the endpoint named `name`, if it is on.
    pub(crate) fn path_of(&self, name: &str) -> Option<&str> {
        let index = TABLE.iter().position(|endpoint| endpoint.name == name)?;
        self.full[index].as_deref()
    }

    /// The relative path of the endpoint named `name`, if it is on.
    pub(crate) fn relative(&self, name: &str) -> Option<&str> {
        let index = TABLE.iter().position(|endpoint| endpoint.name == name)?;
        self.relative[index].as_deref()
    }

    /// The component a path names: one segment (percent-decoded) below the detailed report's
    /// path, unless that path is `/`.
    pub(crate) fn component(&self, path: &str) -> Option<String> {
        let detail = TABLE.iter().position(|e| e.name == "detail")?;
        let base = self.full[detail].as_deref().filter(|base| *base != "/")?;
        let segment = without_trailing_slash(path)
            .strip_prefix(base)?
            .strip_prefix('/')?;
        if segment.is_empty() || segment.contains('/') {
            return None;
        }
        let name = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()?;
        Some(name.into_owned())
    }

    fn update(&mut self, prefix: String, relative: [Option<String>; N]) -> Result<(), ConfigError> {
        let full = relative
            .clone()
            .map(|path| path.map(|path| join(&prefix, &path)));
        for (i, path) in full.iter().enumerate() {
            if let Some(path) = path
                && full[..i].contains(&Some(path.clone()))
            {
                return Err(ConfigError::DuplicatePath(path.clone()));
            }
        }
        *self = Self {
            prefix,
            relative,
            full,
        };
        Ok(())
    }
}

/// `path` under `prefix` (`/` under `/internal` is `/internal`).
fn join(prefix: &str, path: &str) -> String {
    match path {
        "/" if !prefix.is_empty() => prefix.to_owned(),
        _ => format!("{prefix}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(paths: &Paths, path: &str) -> Option<&'static str> {
        paths.route(path).map(|endpoint| endpoint.name)
    }

    #[test]
    fn default_paths_route_with_or_without_a_trailing_slash() {
        let paths = Paths::default();
        assert_eq!(name(&paths, "/health/live"), Some("live"));
        assert_eq!(name(&paths, "/health/ready/"), Some("ready"));
        assert_eq!(name(&paths, "/health"), Some("detail"));
        assert_eq!(name(&paths, "/health/reliability"), Some("reliability"));
        assert_eq!(name(&paths, "/metrics/"), Some("metrics"));
        for other in [
            "/",
            "",
            "/health//",
            "/health/live/x",
            "/HEALTH",
            "//health",
            "/health/%6Cive",
        ] {
            assert_eq!(name(&paths, other), None, "{other}");
        }
    }

    #[test]
    fn a_prefix_applies_to_every_endpoint() {
        let mut paths = Paths::default();
        paths.set_prefix("/internal/").unwrap();
        assert_eq!(name(&paths, "/internal/health/live"), Some("live"));
        assert_eq!(name(&paths, "/health/live"), None);
        paths.set("ready", Some("/readyz")).unwrap();
        assert_eq!(name(&paths, "/internal/readyz"), Some("ready"));
        paths.set("detail", Some("/")).unwrap();
        assert_eq!(name(&paths, "/internal"), Some("detail"));
        assert_eq!(name(&paths, "/internal/metrics"), Some("metrics"));
        paths.set("metrics", None).unwrap();
        assert_eq!(name(&paths, "/internal/metrics"), None);
    }

    #[test]
    fn the_path_set_covers_what_is_served_and_the_health_subtree() {
        let mut paths = Paths::default();
        paths.set_prefix("/internal").unwrap();
        let set = paths.path_set();
        assert!(set.matches("/internal/metrics"));
        assert!(set.matches("/internal/health/anything"));
        assert!(!set.matches("/internal/orders"));
        assert!(!set.matches("/metrics"));
        paths.set_prefix("").unwrap();
        paths.set("detail", Some("/")).unwrap();
        assert!(!paths.path_set().matches("/orders"), "no subtree of /");
    }

    #[test]
    fn one_segment_below_the_detailed_report_names_a_component() {
        let mut paths = Paths::default();
        assert_eq!(paths.component("/health/db"), Some("db".into()));
        assert_eq!(
            paths.component("/health/cache%20%22a%22/"),
            Some("cache \"a\"".into())
        );
        for none in [
            "/health",
            "/health/",
            "/health/a/b",
            "/healthz/db",
            "/health/%FF",
        ] {
            assert_eq!(paths.component(none), None, "{none}");
        }
        paths.set("detail", Some("/")).unwrap();
        assert_eq!(paths.component("/db"), None, "never the whole app");
    }

    #[test]
    fn bad_paths_are_rejected_with_the_reason() {
        let mut paths = Paths::default();
        for bad in ["health", "/a b", "/a?b", "/a//b", "/a/../b", "/a%2Fb", ""] {
            assert!(paths.set("live", Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            paths.set("live", Some("/health")).unwrap_err(),
            ConfigError::DuplicatePath("/health".into())
        );
        assert_eq!(
            paths,
            Paths::default(),
            "a rejected change leaves the paths as they were"
        );
    }
}
