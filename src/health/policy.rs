//! [`DetailPolicy`]: who sees component details and the reliability report.

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::request::Parts;

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
