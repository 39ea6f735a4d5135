//! [`DetailPolicy`]: who sees component details and the reliability report.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::request::Parts;
use parking_lot::RwLock;

use crate::config::{HealthConfig, Show, var};
use crate::error::ConfigError;

type Predicate = dyn Fn(&Parts) -> bool + Send + Sync;

/// Who is shown component details (`/health`, `/health/ready?verbose`) and the reliability
/// report, like Spring Boot's `show-details`. Others get the bare status with the same HTTP
/// code; liveness and readiness are public either way.
///
/// The default is [`Never`](Self::Never): details hold dependency names, messages and figures
/// that should not be public. Opt in with [`Always`](Self::Always) where only trusted clients
/// reach the port, or with a predicate over the request:
///
/// ```
/// use tower_vitals::health::DetailPolicy;
///
/// let token = DetailPolicy::bearer_token("s3cr3t-from-config");
/// let internal = DetailPolicy::when(|request| request.headers.contains_key("x-internal-caller"));
/// # drop((token, internal));
/// ```
#[derive(Clone, Default)]
pub enum DetailPolicy {
    /// Nobody (the default).
    #[default]
    Never,
    /// Everybody.
    Always,
    /// Requests for which the predicate says `true`.
    When(Arc<Predicate>),
}

impl DetailPolicy {
    /// Requests for which `predicate` says `true`.
    pub fn when(predicate: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        Self::When(Arc::new(predicate))
    }

    /// Requests with `Authorization: Bearer <token>` (the scheme in any case, as HTTP has it;
    /// the token compared in constant time). An empty token is an error: an unset variable must
    /// not become an open door.
    ///
    /// ```
    /// use tower_vitals::health::DetailPolicy;
    ///
    /// let policy = DetailPolicy::bearer_token("s3cr3t-from-config")?;
    /// assert!(DetailPolicy::bearer_token("").is_err());
    /// # drop(policy);
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn bearer_token(token: impl Into<String>) -> Result<Self, ConfigError> {
        let token = token.into();
        if token.trim().is_empty() || token.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(ConfigError::InvalidToken(
                "a bearer token must be non-empty, without spaces",
            ));
        }
        Ok(Self::when(move |request| {
            request
                .headers
                .get(AUTHORIZATION)
                .and_then(|value| bearer(value.as_bytes()))
                .is_some_and(|given| same(given, token.as_bytes()))
        }))
    }

    pub(crate) fn allows(&self, request: &Parts) -> bool {
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::When(predicate) => predicate(request),
        }
    }
}

/// A layer's detail and components policies: as the code gave them, under what the settings
/// (`HEALTH_SHOW_DETAILS`, `HEALTH_SHOW_COMPONENTS`) set over them. Read at every request, so
/// settings re-read at run time hold from the next one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policies {
    /// Who sees details, as the code said.
    pub(crate) details: DetailPolicy,
    /// Who sees components' names and statuses, as the code said.
    pub(crate) components: DetailPolicy,
    set: Shown,
}

impl Policies {
    /// The detail policy in force.
    pub(crate) fn details(&self) -> DetailPolicy {
        let set = self.set.0.read();
        set.details.clone().unwrap_or_else(|| self.details.clone())
    }

    /// Whether `request` is shown details.
    pub(crate) fn allows_details(&self, request: &Parts) -> bool {
        let set = self.set.0.read();
        set.details
            .as_ref()
            .unwrap_or(&self.details)
            .allows(request)
    }

    /// Whether `request` is shown components' names and statuses.
    pub(crate) fn allows_components(&self, request: &Parts) -> bool {
        let set = self.set.0.read();
        set.components
            .as_ref()
            .unwrap_or(&self.components)
            .allows(request)
    }

    /// Starts over with `overrides` in a cell of these policies' own (a clone of the layer made
    /// before keeps its cell).
    pub(crate) fn start(&mut self, overrides: Overrides) {
        self.set = Shown(Arc::new(RwLock::new(overrides)));
    }

    /// What the settings set, to change at run time.
    pub(crate) fn shown(&self) -> Shown {
        self.set.clone()
    }
}

/// The settings' part of a layer's [`Policies`], shared by its services.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shown(Arc<RwLock<Overrides>>);

impl Shown {
    /// From the next request on, `overrides` hold.
    pub(crate) fn set(&self, overrides: Overrides) {
        *self.0.write() = overrides;
    }
}

/// What `HEALTH_SHOW_DETAILS` and `HEALTH_SHOW_COMPONENTS` set, with the token
/// `when_authorized` asks for; equal when the settings and the token are.
#[derive(Clone, Default)]
pub(crate) struct Overrides {
    shows: [Option<Show>; 2],
    token: Option<String>,
    details: Option<DetailPolicy>,
    components: Option<DetailPolicy>,
}

impl Overrides {
    /// What `config` says, the token read from `HEALTH_DETAILS_TOKEN_FILE` when
    /// `when_authorized` asks for it. An error names the variable, never the token.
    pub(crate) fn read(config: &HealthConfig) -> Result<Self, ConfigError> {
        let shows = [config.show_details, config.show_components];
        let asked = shows.contains(&Some(Show::WhenAuthorized));
        let token = match (&config.details_token_file, asked) {
            (Some(path), true) => Some(read_token(path)?),
            (None, true) => {
                return Err(token_error(Path::new(""), "needed by when_authorized"));
            }
            (_, false) => None,
        };
        let policy = |show: Option<Show>| -> Result<Option<DetailPolicy>, ConfigError> {
            Ok(match show {
                None => None,
                Some(Show::Never) => Some(DetailPolicy::Never),
                Some(Show::Always) => Some(DetailPolicy::Always),
                Some(Show::WhenAuthorized) => {
                    let token = token.clone().unwrap_or_default();
                    Some(DetailPolicy::bearer_token(token)?)
                }
            })
        };
        Ok(Self {
            shows,
            details: policy(shows[0])?,
            components: policy(shows[1])?,
            token,
        })
    }
}

impl PartialEq for Overrides {
    fn eq(&self, other: &Self) -> bool {
        self.shows == other.shows && self.token == other.token
    }
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overrides")
            .field("details", &self.shows[0])
            .field("components", &self.shows[1])
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The most bytes of a token file: a token is a line.
const MAX_TOKEN_BYTES: u64 = 4096;

/// The token in the file at `path`, without surrounding white space (a Secret's file often
/// ends with a newline). An error names the variable and the path, never the content.
fn read_token(path: &Path) -> Result<String, ConfigError> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| token_error(path, &format!("cannot be read: {error}")))?;
    if !metadata.is_file() || metadata.len() > MAX_TOKEN_BYTES {
        return Err(token_error(
            path,
            &format!("not a file of at most {MAX_TOKEN_BYTES} bytes"),
        ));
    }
    let text = std::fs::read(path)
        .map_err(|error| token_error(path, &format!("cannot be read: {error}")))?;
    let token = std::str::from_utf8(&text)
        .map_err(|_| token_error(path, "not UTF-8 text"))?
        .trim();
    if token.is_empty() || token.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(token_error(path, "holds no token (one word, no spaces)"));
    }
    Ok(token.to_owned())
}

fn token_error(path: &Path, reason: &str) -> ConfigError {
    ConfigError::Env {
        variable: var::DETAILS_TOKEN_FILE.to_owned(),
        value: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

/// The credential of `Bearer <credential>`, the scheme matched in any case.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let rest = value[6..].strip_prefix(b" ")?;
    let credential = rest.trim_ascii();
    (!credential.is_empty()).then_some(credential)
}

/// Equality that takes as long whatever the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

impl fmt::Debug for DetailPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Never => "Never",
            Self::Always => "Always",
            Self::When(_) => "When(..)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: Option<&str>) -> Parts {
        let mut request = http::Request::get("/health");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn config(vars: &[(&str, &str)]) -> HealthConfig {
        HealthConfig::from_vars(vars.iter().copied()).unwrap()
    }

    #[test]
    fn the_settings_replace_the_codes_policies_and_read_the_token_from_its_file() {
        let dir = std::env::temp_dir().join(format!("tower-vitals-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "t0ken-1\n").unwrap();
        let path = file.to_str().unwrap();
        let mut policies = Policies {
            details: DetailPolicy::Always,
            components: DetailPolicy::Never,
            ..Policies::default()
        };
        let (none, right) = (parts(None), parts(Some("Bearer t0ken-1")));
        assert!(
            policies.allows_details(&none),
            "the code's policy without settings"
        );

        let read = |vars: &[(&str, &str)]| Overrides::read(&config(vars));
        let set = read(&[
            (var::SHOW_DETAILS, "when_authorized"),
            (var::SHOW_COMPONENTS, "always"),
            (var::DETAILS_TOKEN_FILE, path),
        ])
        .unwrap();
        assert!(!format!("{set:?}").contains("t0ken"), "{set:?}");
        policies.start(set.clone());
        assert!(!policies.allows_details(&none));
        assert!(policies.allows_details(&right));
        assert!(policies.allows_components(&none));

        // The same settings with the token rotated are a change; the same token is not.
        let again = read(&[
            (var::SHOW_DETAILS, "when_authorized"),
            (var::SHOW_COMPONENTS, "always"),
            (var::DETAILS_TOKEN_FILE, path),
        ]);
        assert!(again.unwrap() == set);
        std::fs::write(&file, "t0ken-2").unwrap();
        let rotated = read(&[
            (var::SHOW_DETAILS, "when_authorized"),
            (var::SHOW_COMPONENTS, "always"),
            (var::DETAILS_TOKEN_FILE, path),
        ])
        .unwrap();
        assert!(rotated != set);
        policies.shown().set(rotated);
        assert!(!policies.allows_details(&right));
        assert!(policies.allows_details(&parts(Some("Bearer t0ken-2"))));

        // Settings taken out: the code's policies again.
        policies.shown().set(read(&[]).unwrap());
        assert!(policies.allows_details(&none));
        assert!(!policies.allows_components(&parts(Some("Bearer t0ken-2"))));
        assert!(matches!(policies.details(), DetailPolicy::Always));

        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_token_file_that_cannot_serve_is_named_and_its_content_never_shown() {
        let dir =
            std::env::temp_dir().join(format!("tower-vitals-bad-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        let path = file.to_str().unwrap();
        let read = |vars: &[(&str, &str)]| Overrides::read(&config(vars));
        for (content, reason) in [
            ("", "holds no token (one word, no spaces)"),
            ("two words", "holds no token (one word, no spaces)"),
        ] {
            std::fs::write(&file, content).unwrap();
            let error = read(&[
                (var::SHOW_DETAILS, "when_authorized"),
                (var::DETAILS_TOKEN_FILE, path),
            ]);
            let error = error.unwrap_err().to_string();
            assert_eq!(
                error,
                format!("{}={path:?}: {reason}", var::DETAILS_TOKEN_FILE)
            );
        }
        std::fs::write(&file, "x".repeat(5000)).unwrap();
        let error = read(&[
            (var::SHOW_DETAILS, "when_authorized"),
            (var::DETAILS_TOKEN_FILE, path),
        ]);
        assert!(!error.unwrap_err().to_string().contains("xxx"));
        std::fs::remove_dir_all(&dir).unwrap();
        let error = read(&[
            (var::SHOW_DETAILS, "when_authorized"),
            (var::DETAILS_TOKEN_FILE, path),
        ]);
        assert!(error.unwrap_err().to_string().contains("cannot be read"));
        // Unasked, the file is not read: a missing one is no error.
        assert!(
            read(&[
                (var::SHOW_DETAILS, "never"),
                (var::DETAILS_TOKEN_FILE, path)
            ])
            .is_ok()
        );
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let policy = DetailPolicy::bearer_token("abc").unwrap();
        for scheme in ["Bearer abc", "bearer abc", "BEARER  abc", "Bearer abc "] {
            assert!(policy.allows(&parts(Some(scheme))), "{scheme}");
        }
        for other in [
            None,
            Some("Bearer abcd"),
            Some("Bearer ab"),
            Some("Bearer "),
            Some("Bearerabc"),
            Some("Basic abc"),
            Some(""),
        ] {
            assert!(!policy.allows(&parts(other)), "{other:?}");
        }
        for empty in ["", " ", "a b"] {
            assert!(DetailPolicy::bearer_token(empty).is_err(), "{empty:?}");
        }
        let empty = DetailPolicy::bearer_token("").unwrap_err();
        assert_eq!(
            empty.to_string(),
            "invalid token: a bearer token must be non-empty, without spaces"
        );
        assert!(!DetailPolicy::default().allows(&parts(Some("Bearer abc"))));
        assert!(DetailPolicy::Always.allows(&parts(None)));
    }
}
