//! What the query string of a health request asks for (Kubernetes conventions).

use std::borrow::Cow;

use crate::checker::{MAX_NAME_CHARS, Selector};

/// Names accepted in `?exclude=` (and in `?include=`); more are ignored, and so are names
/// longer than a check's name can be.
const MAX_EXCLUDES: usize = 32;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Query {
    /// `?verbose` (any value): list the components.
    pub(crate) verbose: bool,
    /// `?exclude=name` (repeatable): leave these checks out.
    exclude: Vec<String>,
    /// `?include=name` (repeatable, or comma-separated): optional report sources to gather.
    pub(crate) include: Vec<String>,
}

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let mut parsed = Self::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "verbose" => parsed.verbose = true,
                // A name longer than a check's can name none: left out, so what is kept is
                // bounded whatever the request carries.
                "exclude" | "include" if value.len() > 4 * MAX_NAME_CHARS => {}
                "exclude" if parsed.exclude.len() < MAX_EXCLUDES => {
                    parsed.exclude.push(value.into_owned());
                }
                "include" => {
                    for name in value.split(',').filter(|name| !name.is_empty()) {
                        if parsed.include.len() < MAX_EXCLUDES
                            && !parsed.include.iter().any(|n| n == name)
                        {
                            parsed.include.push(name.to_owned());
                        }
                    }
                }
                _ => {}
            }
        }
        parsed
    }

    /// `base` minus the excluded checks.
    pub(crate) fn select<'a>(&self, base: &'a Selector) -> Cow<'a, Selector> {
        if self.exclude.is_empty() {
            return Cow::Borrowed(base);
        }
        let selector = self
            .exclude
            .iter()
            .fold(base.clone(), |s, name| s.excluding(name.clone()));
        Cow::Owned(selector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_follow_kubernetes_conventions() {
        assert_eq!(Query::parse(None), Query::default());
        let query = Query::parse(Some("verbose&exclude=db&exclude=cache%20%22x%22&other=1"));
        assert!(query.verbose);
        assert_eq!(query.exclude, ["db", "cache \"x\""]);
        assert!(
            Query::parse(Some("verbose=false")).verbose,
            "presence means verbose"
        );
        let query = Query::parse(Some("include=traces,slow&include=traces&include="));
        assert_eq!(query.include, ["traces", "slow"]);
    }

    #[test]
    fn excludes_are_capped() {
        let long = vec!["exclude=x"; 10_000].join("&");
        assert_eq!(Query::parse(Some(&long)).exclude.len(), MAX_EXCLUDES);
    }
}
