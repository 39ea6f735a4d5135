//! The URI rule shared by the HTTP check and the webhook: an absolute `http://` URI, or
//! `https://` with the `tls` feature.

use http::Uri;

use crate::error::ConfigError;

/// `uri` parsed, if it is an absolute `http://` URI with a host.
pub(crate) fn http_uri(uri: &str) -> Result<Uri, ConfigError> {
    let invalid = |reason| ConfigError::InvalidPath {
        path: uri.to_owned(),
        reason,
    };
    let parsed: Uri = uri.parse().map_err(|_| invalid("it is not a URI"))?;
    if parsed.host().is_none() {
        return Err(invalid("it must be an absolute http:// or https:// URI"));
    }
    match parsed.scheme_str() {
        Some("http") => Ok(parsed),
        Some("https") if cfg!(feature = "tls") => Ok(parsed),
        Some("https") => Err(invalid("https:// needs the `tls` feature")),
        _ => Err(invalid("it must be an absolute http:// or https:// URI")),
    }
}
