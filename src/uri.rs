//! The URI rule shared by the HTTP check and the webhook: an absolute `http://` URI.

use http::Uri;

use crate::error::ConfigError;

/// `uri` parsed, if it is an absolute `http://` URI with a host.
pub(crate) fn http_uri(uri: &str) -> Result<Uri, ConfigError> {
    let invalid = |reason| ConfigError::InvalidPath {
        path: uri.to_owned(),
        reason,
    };
    let parsed: Uri = uri.parse().map_err(|_| invalid("it is not a URI"))?;
    if parsed.scheme_str() != Some("http") || parsed.host().is_none() {
        return Err(invalid(
            "it must be an absolute http:// URI (https is not supported)",
        ));
    }
    Ok(parsed)
}
