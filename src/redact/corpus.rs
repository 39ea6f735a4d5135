//! A corpus of secret shapes by family, built from the formats the providers publish: each a
//! message with a (made-up) secret in it, and a clean look-alike that must stay unchanged.

use proptest::prelude::*;

use super::super::redact;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const HEX: &[u8] = b"0123456789abcdef";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `len` characters of `alphabet`, the same for the same `seed`.
fn chars(seed: u64, len: usize, alphabet: &[u8]) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(alphabet[(state % alphabet.len() as u64) as usize])
        })
        .collect()
}

/// One shape: the message with the secret, the secret, and a clean look-alike.
struct Shape {
    family: &'static str,
    message: String,
    secret: String,
    clean: String,
}

fn shape(family: &'static str, secret: String, around: &str, clean: &str) -> Shape {
    Shape {
        family,
        message: around.replace("{}", &secret),
        secret,
        clean: clean.to_owned(),
    }
}

/// Provider tokens: (family, prefix, body length, alphabet, clean look-alike).
const TOKENS: &[(&str, &str, usize, &[u8], &str)] = &[
    (
        "GitHub classic",
        "ghp_",
        36,
        ALNUM,
        "see ghp_docs for the token prefix",
    ),
    (
        "GitHub OAuth",
        "gho_",
        36,
        ALNUM,
        "gho_ is the OAuth prefix",
    ),
    ("GitHub app user", "ghu_", 36, ALNUM, "ghu_short"),
    (
        "GitHub app server",
        "ghs_",
        36,
        ALNUM,
        "ghs_1234 is too short",
    ),
    ("GitHub refresh", "ghr_", 36, ALNUM, "branch ghr_fix-login"),
    (
        "GitHub fine-grained",
        "github_pat_",
        82,
        URL,
        "github_pat_ prefixes fine-grained tokens",
    ),
    ("GitLab personal", "glpat-", 20, URL, "glpat-short"),
    ("GitLab deploy", "gldt-", 20, URL, "gldt-x"),
    (
        "GitLab runner",
        "glrt-",
        20,
        URL,
        "runner glrt-1 registered",
    ),
    ("npm", "npm_", 36, ALNUM, "npm_config_cache=/tmp/npm"),
    ("RubyGems", "rubygems_", 48, HEX, "rubygems_version=3.5"),
    (
        "Docker Hub",
        "dckr_pat_",
        27,
        URL,
        "dckr_pat_ is Docker's prefix",
    ),
    ("Hugging Face", "hf_", 34, ALNUM, "hf_hub_download failed"),
    (
        "PyPI",
        "pypi-AgEIcHlwaS5vcmc",
        60,
        URL,
        "pypi-simple index unreachable",
    ),
    ("Slack bot", "xoxb-", 50, URL, "xoxb-"),
    ("Slack user", "xoxp-", 60, URL, "scope xoxp- tokens"),
    ("Slack app", "xapp-", 60, URL, "xapp-level"),
    ("Slack refresh", "xoxe-", 40, URL, "xoxe-1"),
    ("Mailgun", "key-", 32, HEX, "key-value store down"),
    (
        "Stripe live",
        "sk_live_",
        24,
        ALNUM,
        "sk_live_ and sk_test_ prefixes",
    ),
    ("Stripe test", "sk_test_", 24, ALNUM, "sk_test_mode=on"),
    ("Stripe restricted", "rk_live_", 24, ALNUM, "rk_live_x"),
    (
        "Stripe webhook secret",
        "whsec_",
        32,
        ALNUM,
        "whsec_ signs webhooks",
    ),
    ("Shopify access", "shpat_", 32, HEX, "shpat_token"),
    ("Shopify shared secret", "shpss_", 32, HEX, "shpss_x"),
    ("Google API key", "AIza", 35, URL, "AIzaLike name"),
    ("Google OAuth access", "ya29.", 60, URL, "ya29.short"),
    ("Google OAuth client secret", "GOCSPX-", 28, URL, "GOCSPX-x"),
    ("Anthropic", "sk-ant-api03-", 80, URL, "sk-ant-docs"),
    (
        "OpenAI project",
        "sk-proj-",
        64,
        URL,
        "sk-learn 1.5 installed",
    ),
    (
        "OpenAI service account",
        "sk-svcacct-",
        64,
        URL,
        "sk-svcacct",
    ),
    ("xAI", "xai-", 80, ALNUM, "xai-sdk 1.0"),
    ("Groq", "gsk_", 52, ALNUM, "gsk_x"),
    (
        "DigitalOcean",
        "dop_v1_",
        64,
        HEX,
        "dop_v1_ is DigitalOcean's",
    ),
    ("HashiCorp Vault service", "hvs.", 90, URL, "hvs.short"),
    ("HashiCorp Vault batch", "hvb.", 120, URL, "hvb.x"),
    ("Doppler personal", "dp.pt.", 43, ALNUM, "dp.pt.docs"),
    ("Postman", "PMAK-", 59, URL, "PMAK-x"),
    ("Linear", "lin_api_", 40, ALNUM, "lin_api_docs"),
    ("Notion", "ntn_", 46, ALNUM, "ntn_x"),
    (
        "Databricks",
        "dapi",
        32,
        HEX,
        "dapi.example.com unreachable",
    ),
    ("New Relic", "NRAK-", 27, UPPER, "NRAK-short"),
    ("Grafana service account", "glsa_", 41, URL, "glsa_x"),
    ("Sentry user", "sntryu_", 64, HEX, "sntryu_x"),
    (
        "age",
        "AGE-SECRET-KEY-1",
        58,
        UPPER,
        "AGE-SECRET-KEY-1 is the prefix",
    ),
    ("PlanetScale", "pscale_tkn_", 43, URL, "pscale_tkn_x"),
    ("Supabase", "sbp_", 40, HEX, "sbp_x"),
    ("Fly.io", "fo1_", 43, URL, "fo1_x"),
    ("Atlassian", "ATATT3", 180, URL, "ATATT3 tokens"),
];

/// Tokens of formats with more to them than a prefix.
fn other_tokens() -> Vec<Shape> {
    let aws_key = format!("AKIA{}", chars(100, 16, UPPER));
    let aws_secret = chars(101, 40, B64);
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.{}",
        chars(102, 40, URL),
        chars(103, 43, URL)
    );
    let sendgrid = format!("SG.{}.{}", chars(104, 22, URL), chars(105, 43, URL));
    let twilio = format!("SK{}", chars(106, 32, HEX));
    let azure = format!("abc8Q~{}", chars(107, 34, URL));
    let mailchimp = format!("{}-us21", chars(108, 32, HEX));
    let openai = format!("sk-{}", chars(109, 48, ALNUM));
    vec![
        shape(
            "AWS access key id",
            aws_key.clone(),
            "signing with {} failed",
            "AKIA is AWS's prefix",
        ),
        shape(
            "AWS secret key",
            aws_secret.clone(),
            "aws_secret_access_key={}",
            "aws_region=eu-west-1",
        ),
        shape("JWT", jwt, "token rejected: {}", "eyJ is base64 of {\""),
        shape(
            "SendGrid",
            sendgrid,
            "mail API said 403 for {}",
            "SG.1 group",
        ),
        shape(
            "Twilio API key",
            twilio,
            "twilio auth {} failed",
            "SKU-1234 out of stock",
        ),
        shape(
            "Azure AD client secret",
            azure,
            "AADSTS7000215: {} invalid",
            "abc8Q is a code",
        ),
        shape(
            "Mailchimp",
            mailchimp,
            "mailchimp {} rejected",
            "us21 datacentre",
        ),
        shape("OpenAI legacy", openai, "openai: {}", "sk-1 is a sample"),
    ]
}

/// Signed URLs and signature headers.
fn signed() -> Vec<Shape> {
    let aws_key = format!("AKIA{}", chars(100, 16, UPPER));
    let signature = chars(110, 64, HEX);
    let sas = chars(111, 44, B64);
    vec![
        shape(
            "S3 presigned signature",
            signature.clone(),
            "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={}&X-Amz-Expires=60 403",
            "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60 403",
        ),
        shape(
            "S3 presigned credential",
            format!("{aws_key}/20261203/eu-west-1/s3/aws4_request"),
            "url ...?X-Amz-Credential={}&X-Amz-Date=20261203T000000Z",
            "url ...?X-Amz-Date=20261203T000000Z",
        ),
        shape(
            "S3 security token",
            chars(121, 80, B64),
            "?X-Amz-Security-Token={}&x=1",
            "?X-Amz-Expires=900&x=1",
        ),
        shape(
            "GCS signed URL",
            chars(122, 64, HEX),
            "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={} expired",
            "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256 expired",
        ),
        shape(
            "Azure SAS",
            sas.clone(),
            "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-12-04&sp=r&sig={} 403",
            "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-12-04&sp=r 403",
        ),
        shape(
            "Azure connection string",
            sas.clone(),
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=acct;EndpointSuffix=core.windows.net",
        ),
        shape(
            "Service Bus",
            sas.clone(),
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey={}",
            "Endpoint=sb://ns.servicebus.windows.net/;EntityPath=orders",
        ),
        shape(
            "CloudFront signed URL",
            chars(123, 40, URL),
            "https://d.cloudfront.net/a?Expires=1796300000&Signature={}&Key-Pair-Id=K2JCJMDEHXQW5F",
            "https://d.cloudfront.net/a?Expires=1796300000&Key-Pair-Id=K2JCJMDEHXQW5F",
        ),
        shape(
            "Stripe signature header",
            format!("t=1796300000,v1={signature}"),
            "Stripe-Signature: {}",
            "Stripe-Version: 2024-06-20",
        ),
        shape(
            "GitHub webhook signature",
            format!("sha256={signature}"),
            "X-Hub-Signature-256: {}",
            "X-GitHub-Event: push",
        ),
    ]
}

/// Private keys and webhook URLs.
fn keys_and_hooks() -> Vec<Shape> {
    let pem_body = format!("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC{}", chars(112, 60, B64));
    let slack_hook = format!(
        "T{}/B{}/{}",
        chars(113, 8, UPPER),
        chars(114, 10, UPPER),
        chars(115, 24, ALNUM)
    );
    let discord_hook = format!("{}/{}", chars(116, 18, HEX), chars(117, 68, URL));
    let telegram = format!("{}:{}", chars(118, 10, HEX), chars(119, 35, URL));
    vec![
        shape(
            "PEM private key",
            pem_body.clone(),
            "key: -----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
            "cert: -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        ),
        shape(
            "PEM RSA key, JSON-escaped",
            pem_body.clone(),
            r#"{"private_key":"-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n"}"#,
            r#"{"public_key":"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"}"#,
        ),
        shape(
            "OpenSSH key",
            pem_body.clone(),
            "-----BEGIN OPENSSH PRIVATE KEY-----\\n{}\\n-----END OPENSSH PRIVATE KEY-----",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 user@host",
        ),
        shape(
            "Slack webhook",
            slack_hook,
            "POST https://hooks.slack.com/services/{} 404",
            "see https://api.slack.com/messaging/webhooks",
        ),
        shape(
            "Discord webhook",
            discord_hook.clone(),
            "https://discord.com/api/webhooks/{}: 401",
            "https://discord.com/developers/docs",
        ),
        shape(
            "Teams webhook",
            format!(
                "{}@{}/IncomingWebhook/{}",
                chars(124, 36, HEX),
                chars(125, 36, HEX),
                chars(126, 32, HEX)
            ),
            "https://contoso.webhook.office.com/webhookb2/{} failed",
            "https://contoso.sharepoint.com/sites/ops failed",
        ),
        shape(
            "Telegram bot",
            telegram,
            "https://api.telegram.org/bot{}/sendMessage 401",
            "https://core.telegram.org/bots/api",
        ),
        shape(
            "Generic webhook path",
            chars(127, 40, URL),
            "https://alerts.example.com/webhooks/{}/notify 502",
            "https://alerts.example.com/webhooks/status 502",
        ),
    ]
}
/// Random values after a word naming a credential.
fn context() -> Vec<Shape> {
    let random = chars(120, 32, ALNUM);
    vec![
        shape(
            "Random after 'api key'",
            random.clone(),
            "invalid api key {} for project",
            "invalid api key format for project",
        ),
        shape(
            "Random after 'secret:'",
            random.clone(),
            "rotated; old secret: {} revoked",
            "rotated; the old secret was revoked",
        ),
        shape(
            "Random after 'token'",
            random,
            "refresh token {} expired",
            "refresh token 20261203T000000 expired",
        ),
    ]
}

fn corpus() -> Vec<Shape> {
    let mut shapes: Vec<Shape> = TOKENS
        .iter()
        .enumerate()
        .map(|(i, (family, prefix, len, alphabet, clean))| {
            let secret = format!("{prefix}{}", chars(i as u64 + 1, *len, alphabet));
            shape(family, secret, "upstream refused {} (401)", clean)
        })
        .collect();
    shapes.extend(other_tokens());
    shapes.extend(signed());
    shapes.extend(keys_and_hooks());
    shapes.extend(context());
    shapes
}

#[test]
fn every_shape_of_the_corpus_is_masked_and_its_look_alike_kept() {
    let shapes = corpus();
    assert!(shapes.len() >= 60, "{} shapes", shapes.len());
    for shape in &shapes {
        let masked = redact(&shape.message);
        assert!(
            !masked.contains(&shape.secret),
            "{}: {:?} -> {masked:?}",
            shape.family,
            shape.message
        );
        assert!(masked.contains("***"), "{}: {masked:?}", shape.family);
        assert_eq!(
            redact(&shape.clean),
            shape.clean,
            "{}: altered",
            shape.family
        );
    }
}

proptest! {
    #[test]
    fn a_provider_token_never_survives_in_any_text(
        index in 0..TOKENS.len(),
        seed in any::<u64>(),
        before in "[a-z :,(]{0,20}",
        after in "[a-z :,)]{0,20}",
    ) {
        let (_, prefix, len, alphabet, _) = TOKENS[index];
        let secret = format!("{prefix}{}", chars(seed, len, alphabet));
        let message = format!("{before} {secret} {after}");
        let masked = redact(&message);
        prop_assert!(!masked.contains(&secret), "{message:?} -> {masked:?}");
    }

    #[test]
    fn a_private_key_block_never_survives(
        body in "[A-Za-z0-9+/]{40,200}",
        label in prop::sample::select(vec!["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY"]),
        newline in prop::sample::select(vec!["\n", "\\n", "\r\n"]),
    ) {
        let message = format!("-----BEGIN {label}-----{newline}{body}{newline}-----END {label}-----");
        let masked = redact(&message);
        prop_assert!(!masked.contains(&body), "{masked:?}");
    }

    #[test]
    fn prose_and_identifiers_are_kept(
        words in prop::collection::vec("[a-z]{1,12}|[A-Z][a-z]{2,8}|[0-9]{1,6}|[a-z]{1,8}_[a-z]{1,8}", 0..25),
    ) {
        // Under the length cap (at most 25 × 18 characters).
        let message = words.join(" ");
        prop_assert_eq!(redact(&message), message);
    }
}
