//! Masks credentials in text before it reaches a response, a listener, a webhook or a log, and
//! caps its length. It reads structure rather than a list of `key=` spellings:
//!
//! - **key/value pairs**: a key whose words name a credential (`password`, `dbPassword`,
//!   `sslpassword`, `x-api-key`, `accessToken`, `aws_secret_access_key`, `client.secret`…),
//!   quoted or not, then `=`, `:`, `=>` or URL-encoded `%3D`/`%3A` with any spacing (tabs and
//!   newlines too), then a value — quoted (`"…"`, `'…'`, escaped `\"…\"`) up to its closing
//!   quote, or bare up to the next delimiter. This covers `k=v`, `k: v`, JSON, escaped JSON and
//!   Rust `Debug` output alike.
//! - **headers**: `Authorization` and `Proxy-Authorization` keep their scheme and lose the rest
//!   of the value (`Bearer`, `Basic`, `Token`, `Digest …`, `AWS4-HMAC-SHA256 …`); `Cookie` and
//!   `Set-Cookie` lose their whole value; a bare `Bearer x` or `Basic x` loses `x`.
//! - **URLs**: user info is found by the last `@` before the host, so a raw password with `/`,
//!   `#` or `?` is masked whole; scheme-relative `//user:pw@host` too.
//! - **token formats**: the published formats of the major providers' tokens — code hosting,
//!   package registries, chat, mail, payments, cloud, AI-model and secrets-manager providers
//!   (`ghp_…`, `glpat-…`, `npm_…`, `xoxb-…`, `SG.…`, `sk_live_…`, `AKIA…`, `AIza…`, `sk-ant-…`,
//!   `hvs.…`, JWTs and some sixty more: `redact/shapes.rs`) — wherever they stand.
//! - **signed requests**: signature and credential parameters of signed URLs (`X-Amz-Signature`,
//!   `X-Amz-Credential`, `X-Amz-Security-Token`, `X-Goog-Signature`, a SAS `sig`) and signature
//!   headers (`Stripe-Signature`, `X-Hub-Signature-256`: the whole value).
//! - **PEM private keys**: a `-----BEGIN … PRIVATE KEY-----` block's body, also JSON-escaped.
//! - **webhook URLs** whose path is the secret (Slack, Discord, Teams, Telegram bots, Zapier,
//!   any `/webhooks/<long id>`): the path after the fixed part.
//! - **context**: a long random word right after a word naming a credential ("invalid api key
//!   9fK2mQ7x…").
//!
//! What it cannot see is a secret with no marker (`connect failed: hunter2`): keep secrets out
//! of check errors. Every step is a single forward scan, so the time is linear in the length.

use serde_json::{Map, Value};

/// Longest message kept, in characters; longer ones are cut and end with `…`.
pub const MAX_MESSAGE_CHARS: usize = 512;

const MASK: &str = "***";

/// Words that make a key a credential wherever they end a word of it (`dbpassword`,
/// `accesstoken`, `x-amz-signature`), plural included.
const STRONG: [&str; 13] = [
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "credential",
    "authorization",
    "signature",
];

/// Words that make a key a credential when they are a whole word of it (`sig`: a shared
/// access signature's).
const WHOLE: [&str; 11] = [
    "pwd",
    "pass",
    "auth",
    "creds",
    "cookie",
    "session",
    "sessionid",
    "jwt",
    "bearer",
    "dsn",
    "sig",
];

/// First words that make `<word> key` a credential (`api_key`, `private-key`, `accessKey`).
const KEY_OWNERS: [&str; 10] = [
    "api",
    "access",
    "secret",
    "private",
    "client",
    "signing",
    "ssh",
    "encryption",
    "master",
    "account",
];

/// Masks what looks like a credential, then caps the length to [`MAX_MESSAGE_CHARS`]: the
/// pass every check message, reason, metadata value, listener event, webhook payload and log
/// line of this crate goes through. Use it on your own log lines about dependencies.
///
/// It reads structure: key/value pairs whose key's words name a credential (`password`,
/// `dbPassword`, `sslpassword`, `x-api-key`, `accessToken`, `aws_secret_access_key`…) with any
/// spacing and `=`, `:`, `=>` or URL-encoded separators, quoted values up to their closing
/// quote (JSON, escaped JSON, Rust `Debug`); `Authorization`/`Proxy-Authorization` (the scheme
/// stays), `Cookie`/`Set-Cookie`, a bare `Bearer x` or `Basic x`; URL user info up to the last
/// `@` before the host; AWS access key ids, JWTs, GitHub, Slack and Stripe tokens. A secret
/// with no marker (`connect failed: hunter2`) cannot be seen: keep secrets out of errors.
///
/// ```
/// use tower_vitals::redact;
///
/// assert_eq!(
///     redact(r#"auth failed for Config { user: "app", password: "hunter2" }"#),
///     r#"auth failed for Config { user: "app", password: "***" }"#
/// );
/// assert_eq!(redact("postgres://app:pw/x@db:5432/shop"), "postgres://***@db:5432/shop");
/// assert_eq!(redact("Authorization: Token abc123"), "Authorization: Token ***");
/// ```
pub fn redact(message: &str) -> String {
    let keys = shapes::mask_private_keys(message);
    let paths = shapes::mask_secret_paths(&keys);
    let masked = mask_shapes(&mask_pairs(&mask_userinfo(&paths)));
    cap(masked)
}

/// Redacts every string in a metadata map, recursively; a credential key loses its whole
/// value.
pub(crate) fn redact_metadata(metadata: &mut Map<String, Value>) {
    for (key, value) in metadata.iter_mut() {
        if is_secret_key(key) {
            *value = Value::String(MASK.to_owned());
        } else {
            redact_value(value);
        }
    }
}

fn redact_value(value: &mut Value) {
    match value {
        Value::String(text) => *text = redact(text),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => redact_metadata(map),
        _ => {}
    }
}

/// `message` with the text after each `//` up to `end` (what cannot be in a URL) written by
/// `f` instead: the one scan over URLs that user info and secret paths share.
fn map_urls(message: &str, end: fn(char) -> bool, f: impl Fn(&str, &mut String)) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("//") {
        let (before, after) = rest.split_at(at + 2);
        out.push_str(before);
        let url_end = after.find(end).unwrap_or(after.len());
        f(&after[..url_end], &mut out);
        rest = &after[url_end..];
    }
    out.push_str(rest);
    out
}

/// `scheme://user:pw@host` and `//user:pw@host` → `//***@host`.
fn mask_userinfo(message: &str) -> String {
    let end = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`');
    map_urls(message, end, |token, out| match userinfo_end(token) {
        Some(end) => {
            out.push_str(MASK);
            out.push_str(&token[end..]);
        }
        None => out.push_str(token),
    })
}

/// Where the user info of `authority…` ends (at its `@`), if it has any.
fn userinfo_end(token: &str) -> Option<usize> {
    let standard_end = token.find(['/', '?', '#']).unwrap_or(token.len());
    if let Some(at) = token[..standard_end].rfind('@') {
        return Some(at);
    }
    // A raw password with '/', '?' or '#' in it: `user:pa/ss@host`. The part before that
    // character must look like `user:password` (not `host:port`).
    let (user, password) = token[..standard_end].split_once(':')?;
    let looks_like_port = password.is_empty() || password.bytes().all(|b| b.is_ascii_digit());
    if user.contains('.') && looks_like_port {
        return None;
    }
    let at = token.rfind('@')?;
    let host = &token[at + 1..];
    host.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
        .then_some(at)
}

/// Key/value pairs whose key names a credential.
fn mask_pairs(message: &str) -> String {
    let bytes = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_key_byte(bytes[i]) || (i > 0 && is_key_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let key_end = i + bytes[i..].iter().take_while(|b| is_key_byte(**b)).count();
        let key = &message[i..key_end];
        if !is_secret_key(key) {
            i = key_end;
            continue;
        }
        let Some(value_start) = after_separator(bytes, key_end) else {
            i = key_end;
            continue;
        };
        let colon = message[key_end..value_start].contains(':');
        let kind = header_kind(key, colon);
        let (start, end) = value_span(message, value_start, kind);
        if end > start && &message[start..end] != MASK {
            out.push_str(&message[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        i = end.max(key_end);
    }
    out.push_str(&message[copied..]);
    out
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Past the key's closing quote, spacing, the separator and spacing again: where the value
/// starts, if a separator follows the key.
fn after_separator(bytes: &[u8], mut i: usize) -> Option<usize> {
    // A closing quote of a quoted key: `"password"`, `'password'`, `\"password\"`.
    if bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'"') {
        i += 2;
    } else if matches!(bytes.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    i = skip_space(bytes, i);
    let rest = &bytes[i.min(bytes.len())..];
    let separator = if rest.starts_with(b"=>") {
        2
    } else if rest.first().is_some_and(|b| matches!(b, b'=' | b':')) {
        1
    } else if rest.len() >= 3
        && rest[0] == b'%'
        && (rest[1..3].eq_ignore_ascii_case(b"3d") || rest[1..3].eq_ignore_ascii_case(b"3a"))
    {
        3
    } else {
        return None;
    };
    Some(skip_space(bytes, i + separator))
}

fn skip_space(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `Authorization`: the scheme stays, the rest of the value goes.
    Authorization,
    /// `Cookie` / `Set-Cookie`: the whole value goes.
    Cookie,
    Other,
}

/// How much of `key`'s value goes; `colon`: it is written as a header, `key: value`.
fn header_kind(key: &str, colon: bool) -> Header {
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "authorization" | "proxy-authorization" => Header::Authorization,
        "cookie" | "set-cookie" => Header::Cookie,
        // `Stripe-Signature: t=…,v1=…`, `X-Hub-Signature-256: sha256=…`: the whole value.
        _ if colon && key.contains("signature") => Header::Cookie,
        _ => Header::Other,
    }
}

/// The part of the value at `start` to mask.
fn value_span(message: &str, start: usize, kind: Header) -> (usize, usize) {
    let bytes = message.as_bytes();
    let (start, quote) = match bytes.get(start) {
        Some(b'\\') if bytes.get(start + 1) == Some(&b'"') => (start + 2, Quote::Escaped),
        Some(b'"') => (start + 1, Quote::Double),
        Some(b'\'') => (start + 1, Quote::Single),
        _ => (start, Quote::None),
    };
    let end = match quote {
        Quote::None if kind == Header::Other => bare_end(bytes, start),
        Quote::None => line_end(bytes, start),
        quote => closing(bytes, start, quote),
    };
    if kind == Header::Authorization {
        return (after_scheme(bytes, start, end), end);
    }
    (start, end)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
    Escaped,
}

/// Where a bare value ends: at whitespace or a delimiter.
fn bare_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| {
            b.is_ascii_whitespace()
                || matches!(
                    b,
                    b',' | b';' | b'&' | b')' | b'}' | b']' | b'"' | b'\'' | b'\\'
                )
        })
        .map_or(bytes.len(), |n| start + n)
}

/// The end of the line (a header's value).
fn line_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .map_or(bytes.len(), |n| start + n)
}

/// Where a quoted value's closing quote is (the end of the text if there is none).
fn closing(bytes: &[u8], start: usize, quote: Quote) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Quote::Escaped, b'\\') if bytes.get(i + 1) == Some(&b'"') => return i,
            (Quote::Escaped, b'\\') => i += 2,
            (Quote::Double, b'\\') | (Quote::Single, b'\\') => i += 2,
            (Quote::Double, b'"') | (Quote::Single, b'\'') => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Past an `Authorization` scheme word and its space: the credential.
fn after_scheme(bytes: &[u8], start: usize, end: usize) -> usize {
    let word = bytes[start..end]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        .count();
    let spaced = bytes.get(start + word) == Some(&b' ');
    if word > 0 && spaced && start + word + 1 < end {
        start + word + 1
    } else {
        start
    }
}

/// Whether a key's words name a credential.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut words = split_words(key);
    if words.first().is_some_and(|w| w == "x") {
        words.remove(0);
    }
    let strong = |word: &str| {
        let word = word
            .strip_suffix('s')
            .filter(|w| w.len() > 4)
            .unwrap_or(word);
        STRONG.iter().any(|s| word.ends_with(s))
    };
    words
        .iter()
        .any(|w| strong(w) || WHOLE.contains(&w.as_str()))
        || words.windows(2).any(|pair| {
            KEY_OWNERS.contains(&pair[0].as_str()) && matches!(pair[1].as_str(), "key" | "keys")
        })
        || strong(&words.concat())
}

/// `dbPassword` → `db`, `password`; `x-api-key` → `x`, `api`, `key`; lower case.
fn split_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Token shapes masked wherever they stand, a long random word after a word naming a
/// credential ("api key 9fK2…"), and the credential after a bare `Bearer` or `Basic`.
fn mask_shapes(message: &str) -> String {
    let bytes = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut i = 0;
    // The word before the current one, when only spaces lie between.
    let mut previous: (usize, usize) = (0, 0);
    while i < bytes.len() {
        let boundary = i == 0 || !is_token_byte(bytes[i - 1]);
        if !boundary || !is_token_byte(bytes[i]) {
            if !matches!(bytes[i], b' ' | b':' | b'=') {
                previous = (0, 0);
            }
            i += 1;
            continue;
        }
        let end = i + bytes[i..].iter().take_while(|b| is_token_byte(**b)).count();
        let word = &message[i..end];
        let after_credential = shapes::names_credential(&message[previous.0..previous.1]);
        if shapes::is_token(word) || (after_credential && shapes::is_random(word)) {
            out.push_str(&message[copied..i]);
            out.push_str(MASK);
            copied = end;
        } else if (word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic"))
            && bytes.get(end) == Some(&b' ')
        {
            let start = end + 1;
            let credential_end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b','))
                    .count();
            let credential = &message[start..credential_end];
            if credential_end > start && credential != MASK && !is_plain_word(credential) {
                out.push_str(&message[copied..start]);
                out.push_str(MASK);
                copied = credential_end;
            }
            i = credential_end.max(end);
            previous = (0, 0);
            continue;
        }
        previous = (i, end);
        i = end;
    }
    out.push_str(&message[copied..]);
    out
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+' | b'/' | b'=' | b'~')
}

/// A word of letters only, such as `auth` in "Basic auth failed": not a credential.
fn is_plain_word(word: &str) -> bool {
    word.len() < 8 && word.bytes().all(|b| b.is_ascii_lowercase())
}

fn cap(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => {
            let mut short = message[..cut].to_owned();
            short.push('…');
            short
        }
        None => message,
    }
}

mod shapes;

#[cfg(test)]
mod tests;
