//! Check messages reach responses and logs: credentials are masked and length capped first.

/// Longest message kept, in characters; longer ones are cut and end with `…`.
pub const MAX_MESSAGE_CHARS: usize = 512;

/// Keys whose values are masked in `key=value` and `key: value` forms (case-insensitive).
const SECRET_KEYS: [&str; 12] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "access_key",
    "secret_key",
    "authorization",
];

const MASK: &str = "***";

/// Masks URL user info (`scheme://user:pass@host` → `scheme://***@host`) and the values of
/// secret-looking keys (`password=…`, `token: …`, `Authorization: Bearer …`), then caps the
/// length.
pub(crate) fn redact(message: &str) -> String {
    let masked = mask_secrets(&mask_userinfo(message));
    cap(masked)
}

fn mask_userinfo(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                out.push_str(MASK);
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

fn mask_secrets(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut search = 0;
    while search < lower.len() {
        let found = SECRET_KEYS
            .iter()
            .filter_map(|key| lower[search..].find(key).map(|at| (search + at, key.len())))
            .min();
        let Some((start, key_len)) = found else { break };
        let mut value_start = start + key_len;
        // The key must stand alone ("tokenizer" is not a token) and be followed by = or :.
        let bytes = lower.as_bytes();
        let separated = bytes
            .get(value_start)
            .is_some_and(|b| *b == b'=' || *b == b':');
        let standalone = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if !(separated && standalone) {
            search = start + key_len;
            continue;
        }
        value_start += 1;
        while bytes.get(value_start) == Some(&b' ') {
            value_start += 1;
        }
        // "Authorization: Bearer xyz": mask the credential after the scheme word too.
        if let Some(scheme) = ["bearer ", "basic "]
            .iter()
            .find(|scheme| lower[value_start..].starts_with(**scheme))
        {
            value_start += scheme.len();
        }
        let value_end = lower[value_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '&' | ';' | ',' | '"' | '\'' | ')'))
            .map_or(lower.len(), |end| value_start + end);
        if value_end > value_start {
            out.push_str(&message[copied..value_start]);
            out.push_str(MASK);
            copied = value_end;
        }
        search = value_end.max(start + key_len);
    }
    out.push_str(&message[copied..]);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_user_info_is_masked() {
        assert_eq!(
            redact("connect postgres://app:s3cr3t@db.internal:5432/shop failed"),
            "connect postgres://***@db.internal:5432/shop failed"
        );
        assert_eq!(
            redact("GET http://example.com/a@b"),
            "GET http://example.com/a@b"
        );
        assert_eq!(
            redact("redis://:pw@cache:6379 and amqp://u@q"),
            "redis://***@cache:6379 and amqp://***@q"
        );
    }

    #[test]
    fn secret_values_are_masked_whatever_the_case() {
        assert_eq!(
            redact("login failed: user=app password=hunter2 host=db"),
            "login failed: user=app password=*** host=db"
        );
        assert_eq!(redact("?api_key=abc123&x=1"), "?api_key=***&x=1");
        assert_eq!(
            redact("Authorization: Bearer eyJhbGciOi.xyz rejected"),
            "Authorization: Bearer *** rejected"
        );
        assert_eq!(redact("TOKEN: 42"), "TOKEN: ***");
        assert_eq!(
            redact("tokenizer=ok passwords=fine"),
            "tokenizer=ok passwords=fine"
        );
        assert_eq!(redact("no secrets here"), "no secrets here");
    }

    #[test]
    fn long_messages_are_capped_on_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let capped = redact(&long);
        assert_eq!(capped.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(capped.ends_with('…'));
    }
}
