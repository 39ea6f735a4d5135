//! [`Selector`]: which checks a report is made of.

use super::check::CheckSpec;

/// Picks the checks a report (readiness, say) is made of: all of them or those with a tag,
/// minus excluded names.
///
/// ```
/// use tower_vitals::Selector;
///
/// let readiness = Selector::tagged("ready").excluding("search-index");
/// # drop(readiness);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Selector {
    tag: Option<String>,
    exclude: Vec<String>,
    /// Only the check of this name (one component's report).
    only: Option<String>,
}

impl Selector {
    /// Every check, as a constant.
    pub const ALL: Selector = Selector {
        tag: None,
        exclude: Vec::new(),
        only: None,
    };

    /// Every check.
    pub fn all() -> Self {
        Self::default()
    }

    /// The checks carrying `tag`.
    pub fn tagged(tag: impl Into<String>) -> Self {
        Self {
            tag: Some(tag.into()),
            exclude: Vec::new(),
            only: None,
        }
    }

    /// Leaves out the check named `name`.
    pub fn excluding(mut self, name: impl Into<String>) -> Self {
        self.exclude.push(name.into());
        self
    }

    /// Keeps only the check named `name`.
    pub fn only(mut self, name: impl Into<String>) -> Self {
        self.only = Some(name.into());
        self
    }

    pub(crate) fn matches(&self, spec: &CheckSpec) -> bool {
        self.tag.as_ref().is_none_or(|tag| spec.tags.contains(tag))
            && !self.exclude.contains(&spec.name)
            && self.only.as_ref().is_none_or(|name| *name == spec.name)
    }
}
