//! Which request paths the health endpoints answer.

use crate::ConfigError;
use crate::path::{normalise, without_trailing_slash};

/// A health endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Live,
    Ready,
    Detail,
    Reliability,
    Prometheus,
    Startup,
}

const ENDPOINTS: [Endpoint; 6] = [
    Endpoint::Live,
    Endpoint::Ready,
    Endpoint::Detail,
    Endpoint::Reliability,
    Endpoint::Prometheus,
    Endpoint::Startup,
];

/// The endpoints' paths (`None`: turned off), each stored with the prefix applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paths {
    prefix: String,
    relative: [Option<String>; 6],
    full: [Option<String>; 6],
}

impl Default for Paths {
    fn default() -> Self {
        let relative = [
            Some("/health/live"),
            Some("/health/ready"),
            Some("/health"),
            Some("/health/reliability"),
            Some("/metrics"),
            None, // startup: off unless asked for
        ]
        .map(|path| path.map(str::to_owned));
        Self {
            prefix: String::new(),
            full: relative.clone(),
            relative,
        }
    }
}

impl Paths {
    /// The endpoint a request path is for. One trailing slash is accepted.
    pub(crate) fn route(&self, path: &str) -> Option<Endpoint> {
        let path = without_trailing_slash(path);
        ENDPOINTS
            .into_iter()
            .zip(&self.full)
            .find_map(|(endpoint, full)| (full.as_deref() == Some(path)).then_some(endpoint))
    }

    /// Every path in use, with the prefix.
    pub(crate) fn all(&self) -> impl Iterator<Item = &str> {
        self.full.iter().flatten().map(String::as_str)
    }

    pub(crate) fn set_prefix(&mut self, prefix: &str) -> Result<(), ConfigError> {
        let prefix = normalise(prefix, true)?;
        self.update(prefix, self.relative.clone())
    }

    /// Sets an endpoint's path; `None` turns it off.
    pub(crate) fn set(
        &mut self,
        endpoint: Endpoint,
        path: Option<&str>,
    ) -> Result<(), ConfigError> {
        let mut relative = self.relative.clone();
        relative[endpoint as usize] = path.map(|path| normalise(path, false)).transpose()?;
        self.update(self.prefix.clone(), relative)
    }

    fn update(&mut self, prefix: String, relative: [Option<String>; 6]) -> Result<(), ConfigError> {
        let full = relative.clone().map(|path| {
            path.map(|path| match path.as_str() {
                "/" if !prefix.is_empty() => prefix.clone(),
                _ => format!("{prefix}{path}"),
            })
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_route_with_or_without_a_trailing_slash() {
        let paths = Paths::default();
        assert_eq!(paths.route("/health/live"), Some(Endpoint::Live));
        assert_eq!(paths.route("/health/ready/"), Some(Endpoint::Ready));
        assert_eq!(paths.route("/health"), Some(Endpoint::Detail));
        assert_eq!(
            paths.route("/health/reliability"),
            Some(Endpoint::Reliability)
        );
        assert_eq!(paths.route("/metrics/"), Some(Endpoint::Prometheus));
        for other in [
            "/",
            "",
            "/health//",
            "/health/live/x",
            "/HEALTH",
            "//health",
            "/health/%6Cive",
        ] {
            assert_eq!(paths.route(other), None, "{other}");
        }
    }

    #[test]
    fn a_prefix_applies_to_every_endpoint() {
        let mut paths = Paths::default();
        paths.set_prefix("/internal/").unwrap();
        assert_eq!(paths.route("/internal/health/live"), Some(Endpoint::Live));
        assert_eq!(paths.route("/health/live"), None);
        paths.set(Endpoint::Ready, Some("/readyz")).unwrap();
        assert_eq!(paths.route("/internal/readyz"), Some(Endpoint::Ready));
        paths.set(Endpoint::Detail, Some("/")).unwrap();
        assert_eq!(paths.route("/internal"), Some(Endpoint::Detail));
        assert_eq!(paths.route("/internal/metrics"), Some(Endpoint::Prometheus));
        paths.set(Endpoint::Prometheus, None).unwrap();
        assert_eq!(paths.route("/internal/metrics"), None);
    }

    #[test]
    fn bad_paths_are_rejected_with_the_reason() {
        let mut paths = Paths::default();
        for bad in ["health", "/a b", "/a?b", "/a//b", "/a/../b", "/a%2Fb", ""] {
            assert!(paths.set(Endpoint::Live, Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            paths.set(Endpoint::Live, Some("/health")).unwrap_err(),
            ConfigError::DuplicatePath("/health".into())
        );
        assert_eq!(
            paths,
            Paths::default(),
            "a rejected change leaves the paths as they were"
        );
    }
}
