//! What a secret looks like by itself, wherever it stands: the published token formats of the
//! major providers (a prefix and a body of a known alphabet and length, as the providers
//! document them and secret scanners match them), PEM private-key blocks, URLs whose path is
//! the secret (chat webhooks), and long high-entropy words after a word that names a credential.

/// A provider's token format: a fixed prefix, then at least `min_body` characters of
/// `alphabet` (and at most `max_body`).
struct Format {
    prefix: &'static str,
    min_body: usize,
    max_body: usize,
    alphabet: Alphabet,
}

#[derive(Clone, Copy)]
enum Alphabet {
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[A-Za-z0-9_-]`, base64url
    Url,
    /// `[a-f0-9]`
    Hex,
    /// Any token byte (`[A-Za-z0-9_.+/=~-]`).
    Any,
}

impl Alphabet {
    fn allows(self, b: u8) -> bool {
        match self {
            Self::Alnum => b.is_ascii_alphanumeric(),
            Self::Url => b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'),
            Self::Hex => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Self::Any => super::is_token_byte(b),
        }
    }
}

const fn f(prefix: &'static str, min_body: usize, max_body: usize, alphabet: Alphabet) -> Format {
    Format {
        prefix,
        min_body,
        max_body,
        alphabet,
    }
}

use Alphabet::{Alnum, Any, Hex, Url};

/// The formats, from the providers' own documentation of their token prefixes.
const FORMATS: &[Format] = &[
    // Code hosting and package registries.
    f("ghp_", 36, 255, Alnum),
    f("gho_", 36, 255, Alnum),
    f("ghu_", 36, 255, Alnum),
    f("ghs_", 36, 255, Alnum),
    f("ghr_", 36, 255, Alnum),
    f("github_pat_", 22, 255, Url),
    f("glpat-", 20, 255, Url),
    f("gldt-", 20, 255, Url),
    f("glrt-", 20, 255, Url),
    f("glptt-", 20, 255, Url),
    f("glsoat-", 20, 255, Url),
    f("npm_", 36, 36, Alnum),
    f("pypi-AgEIcHlwaS5vcmc", 40, 512, Url),
    f("rubygems_", 48, 48, Hex),
    f("dckr_pat_", 20, 255, Url),
    f("hf_", 30, 64, Alnum),
    // Chat and mail.
    f("xoxb-", 10, 255, Url),
    f("xoxp-", 10, 255, Url),
    f("xoxa-", 10, 255, Url),
    f("xoxr-", 10, 255, Url),
    f("xoxs-", 10, 255, Url),
    f("xoxe-", 10, 255, Url),
    f("xapp-", 10, 255, Url),
    f("SG.", 60, 80, Any),
    f("key-", 32, 32, Hex),
    // Payments and commerce.
    f("sk_live_", 16, 255, Alnum),
    f("sk_test_", 16, 255, Alnum),
    f("rk_live_", 16, 255, Alnum),
    f("rk_test_", 16, 255, Alnum),
    f("whsec_", 24, 255, Any),
    f("shpat_", 32, 32, Hex),
    f("shpss_", 32, 32, Hex),
    f("shpca_", 32, 32, Hex),
    f("shppa_", 32, 32, Hex),
    // Cloud, AI-model and secrets-manager providers.
    f("AIza", 35, 35, Url),
    f("ya29.", 20, 2048, Url),
    f("GOCSPX-", 20, 64, Url),
    f("sk-ant-", 32, 255, Url),
    f("sk-proj-", 32, 255, Url),
    f("sk-svcacct-", 32, 255, Url),
    f("sk-admin-", 32, 255, Url),
    f("xai-", 40, 255, Alnum),
    f("gsk_", 40, 255, Alnum),
    f("dop_v1_", 64, 64, Hex),
    f("doo_v1_", 64, 64, Hex),
    f("dor_v1_", 64, 64, Hex),
    f("hvs.", 24, 255, Url),
    f("hvb.", 24, 255, Url),
    f("hvr.", 24, 255, Url),
    f("dp.pt.", 40, 64, Alnum),
    f("dp.st.", 40, 80, Any),
    f("dp.sa.", 40, 64, Alnum),
    f("dp.ct.", 40, 64, Alnum),
    f("ops_eyJ", 40, 4096, Any),
    f("PMAK-", 50, 80, Url),
    f("lin_api_", 32, 64, Alnum),
    f("ntn_", 40, 64, Alnum),
    f("dapi", 32, 32, Hex),
    f("NRAK-", 27, 27, Alnum),
    f("glsa_", 32, 64, Url),
    f("glc_eyJ", 40, 4096, Any),
    f("sntrys_eyJ", 40, 4096, Any),
    f("sntryu_", 64, 64, Hex),
    f("AGE-SECRET-KEY-1", 50, 70, Alnum),
    f("pscale_tkn_", 32, 64, Url),
    f("pscale_pw_", 32, 64, Url),
    f("sbp_", 40, 40, Hex),
    f("fo1_", 40, 64, Url),
    f("HRKU-", 40, 80, Url),
    f("ATATT3", 100, 255, Any),
];

/// Whether `word` (a run of token bytes) is a token of a known format, an AWS access key id,
/// a JWT, or a legacy OpenAI key.
pub(super) fn is_token(word: &str) -> bool {
    let bytes = word.as_bytes();
    let known = FORMATS.iter().any(|format| {
        word.strip_prefix(format.prefix).is_some_and(|body| {
            (format.min_body..=format.max_body).contains(&body.len())
                && body.bytes().all(|b| format.alphabet.allows(b))
        })
    });
    let aws = bytes.len() == 20
        && [
            "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA",
        ]
        .iter()
        .any(|prefix| word.starts_with(prefix))
        && bytes[4..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let jwt = word.starts_with("eyJ") && word.matches('.').count() == 2 && word.len() > 20;
    // `sk-` and 48 letters and digits (OpenAI's first keys), or `sk-` and a long mixed body.
    let openai = word
        .strip_prefix("sk-")
        .is_some_and(|body| body.len() >= 40 && body.bytes().all(|b| b.is_ascii_alphanumeric()));
    // Twilio API key: `SK` and 32 hex digits.
    let twilio =
        bytes.len() == 34 && word.starts_with("SK") && bytes[2..].iter().all(u8::is_ascii_hexdigit);
    // Azure AD client secrets: three characters, a digit, `Q~`, and 31 to 34 more.
    let azure =
        (37..=40).contains(&bytes.len()) && bytes[3].is_ascii_digit() && &bytes[4..6] == b"Q~";
    // Mailchimp: 32 hex digits, `-us` and the data centre.
    let mailchimp = word.split_once("-us").is_some_and(|(key, dc)| {
        key.len() == 32
            && key.bytes().all(|b| Hex.allows(b))
            && (1..=2).contains(&dc.len())
            && dc.bytes().all(|b| b.is_ascii_digit())
    });
    known || aws || jwt || openai || twilio || azure || mailchimp
}

/// Words after which a long high-entropy word is a credential: "invalid api key 9fK2…".
const CONTEXT: [&str; 9] = [
    "key",
    "apikey",
    "secret",
    "token",
    "password",
    "passphrase",
    "credential",
    "credentials",
    "signature",
];

/// Whether `previous` (the word before, lower case or not) names a credential.
pub(super) fn names_credential(previous: &str) -> bool {
    let previous = previous.trim_end_matches([':', '=', ',']);
    CONTEXT.iter().any(|w| previous.eq_ignore_ascii_case(w))
}

/// Whether `word` reads as random: at least 16 characters, letters and digits mixed, and an
/// entropy of at least 3 bits a character (English words and identifiers stay below it).
pub(super) fn is_random(word: &str) -> bool {
    let bytes = word.as_bytes();
    if bytes.len() < 16 {
        return false;
    }
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    let letters = bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
    if digits == 0 || letters == 0 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.0
}

/// PEM private-key blocks (`-----BEGIN … PRIVATE KEY-----` to its `-----END …-----`, or to
/// the end of the text), also with their line breaks JSON-escaped: the body becomes `***`.
pub(super) fn mask_private_keys(message: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(begin) = rest.find(BEGIN) {
        let after_begin = &rest[begin + BEGIN.len()..];
        let Some(label_end) = after_begin.find(DASHES) else {
            break;
        };
        let label = &after_begin[..label_end];
        let header_end = begin + BEGIN.len() + label_end + DASHES.len();
        if !label.contains("PRIVATE KEY") || label.len() > 40 {
            out.push_str(&rest[..header_end]);
            rest = &rest[header_end..];
            continue;
        }
        out.push_str(&rest[..header_end]);
        out.push_str(super::MASK);
        let body = &rest[header_end..];
        match body.find("-----END ") {
            Some(end) => rest = &body[end..],
            None => return out,
        }
        // The END marker itself is copied as it is.
        let end_marker = rest
            .get(9..)
            .and_then(|r| r.find(DASHES))
            .map_or(rest.len(), |n| n + 9 + DASHES.len());
        out.push_str(&rest[..end_marker]);
        rest = &rest[end_marker..];
    }
    out.push_str(rest);
    out
}

/// Hosts and paths after which the rest of a URL's path is the secret (a webhook's URL is its
/// credential): Slack, Discord, Microsoft Teams / Office 365, Telegram bots, Zapier, and any
/// `/webhook/` or `/webhooks/` path with a long segment after it.
const SECRET_PATHS: [&str; 8] = [
    "hooks.slack.com/services/",
    "hooks.slack.com/workflows/",
    "hooks.slack.com/triggers/",
    "discord.com/api/webhooks/",
    "discordapp.com/api/webhooks/",
    ".webhook.office.com/webhookb2/",
    "api.telegram.org/bot",
    "hooks.zapier.com/hooks/catch/",
];

/// The URLs of [`SECRET_PATHS`] with everything after that path masked.
pub(super) fn mask_secret_paths(message: &str) -> String {
    let end = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')');
    super::map_urls(message, end, |url, out| match secret_path_start(url) {
        Some(start) if start < url.len() => {
            out.push_str(&url[..start]);
            out.push_str(super::MASK);
        }
        _ => out.push_str(url),
    })
}

/// Where the secret part of `url` (past its `//`) starts, if it has one.
fn secret_path_start(url: &str) -> Option<usize> {
    let lower = url.to_ascii_lowercase();
    if let Some(start) = SECRET_PATHS
        .iter()
        .find_map(|path| lower.find(path).map(|at| at + path.len()))
    {
        return Some(start);
    }
    for marker in ["/webhooks/", "/webhook/"] {
        if let Some(at) = lower.find(marker) {
            let start = at + marker.len();
            let segment = url[start..].split(['/', '?', '#']).next().unwrap_or("");
            let next = url[start + segment.len()..].trim_start_matches('/');
            let next = next.split(['/', '?', '#']).next().unwrap_or("");
            if is_long_secret(segment) || is_long_secret(next) {
                return Some(start);
            }
        }
    }
    None
}

fn is_long_secret(segment: &str) -> bool {
    segment.len() >= 24 && segment.bytes().all(|b| Url.allows(b))
}

#[cfg(test)]
#[path = "corpus.rs"]
mod corpus;
