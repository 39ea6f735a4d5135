//! The URI and header rules shared by the HTTP check and the webhook: an absolute `http://`
//! URI, or `https://` with the `tls` feature; headers a request can carry.

use http::{HeaderName, HeaderValue, Uri};

use crate::error::ConfigError;

/// `uri` parsed, if it is an absolute `http://` URI with a host.
pub(crate) fn http_uri(uri: &str) -> Result<Uri, ConfigError> {
    let invalid = |reason| ConfigError::InvalidPath {
        path: crate::redact::redact(uri),
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

/// A header given by the application, parsed; a `secret` value is marked sensitive (hyper
/// leaves it out of HPACK tables; `Debug` shows `Sensitive`) and never shown in an error.
pub(crate) fn header(
    name: &str,
    value: &str,
    secret: bool,
) -> Result<(HeaderName, HeaderValue), ConfigError> {
    let invalid = |reason| ConfigError::InvalidHeader {
        name: name.to_owned(),
        reason,
    };
    let name = HeaderName::try_from(name).map_err(|_| invalid("not a valid header name"))?;
    let mut value = HeaderValue::try_from(value)
        .map_err(|_| invalid("its value has characters a header cannot carry"))?;
    value.set_sensitive(secret);
    Ok((name, value))
}
