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
    assert_eq!(redact("mysql://user:pw/x@host/db"), "mysql://***@host/db");
    assert_eq!(redact("mysql://user:p#w?x@host"), "mysql://***@host");
    assert_eq!(redact("proxy //u:p@h:8080 down"), "proxy //***@h:8080 down");
    assert_eq!(
        redact("http://example.com:8080/a@b"),
        "http://example.com:8080/a@b",
        "a port is not a password"
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
        "Authorization: Bearer ***"
    );
    assert_eq!(redact("TOKEN: 42"), "TOKEN: ***");
    assert_eq!(
        redact("tokenizer=ok passwords=secret1"),
        "tokenizer=ok passwords=***"
    );
    assert_eq!(redact("no secrets here"), "no secrets here");
}

#[test]
fn quoted_spaced_and_structured_values() {
    let cases = [
        (r#"password="hunter2" next"#, r#"password="***" next"#),
        ("password='hunter2'", "password='***'"),
        (
            r#"Config { user: "app", password: "hunter2" }"#,
            r#"Config { user: "app", password: "***" }"#,
        ),
        (r#"{"password":"hunter2"}"#, r#"{"password":"***"}"#),
        (r#"{"password": "hun ter2"}"#, r#"{"password": "***"}"#),
        (
            r#"body {\"password\":\"hunter2\"}"#,
            r#"body {\"password\":\"***\"}"#,
        ),
        ("password = hunter2", "password = ***"),
        ("password : hunter2", "password : ***"),
        ("password:\thunter2", "password:\t***"),
        ("password=\nhunter2", "password=\n***"),
        ("dbPassword=hunter2", "dbPassword=***"),
        ("accessToken=abc", "accessToken=***"),
        (r#"{"accessToken":"abc"}"#, r#"{"accessToken":"***"}"#),
        ("sslpassword=hunter2", "sslpassword=***"),
        ("api-key: abc", "api-key: ***"),
        ("x-api-key: abc", "x-api-key: ***"),
        ("passphrase=abc", "passphrase=***"),
        ("private_key=abc", "private_key=***"),
        ("credentials=abc", "credentials=***"),
        ("Cookie: session=abc; theme=dark", "Cookie: ***"),
        ("aws_access_key_id=AKIA", "aws_access_key_id=***"),
        ("password%3Dhunter2", "password%3D***"),
        ("Authorization: Token abc", "Authorization: Token ***"),
        (
            "Authorization: Basic dXNlcjpwYXNz",
            "Authorization: Basic ***",
        ),
        ("sent Bearer abc.def.ghi to it", "sent Bearer *** to it"),
        ("key AKIAIOSFODNN7EXAMPLE used", "key *** used"),
        ("password=***", "password=***"),
    ];
    for (input, expected) in cases {
        assert_eq!(redact(input), expected, "{input}");
    }
}

#[test]
fn keys_are_matched_by_their_words() {
    for secret in [
        "password",
        "dbPassword",
        "DB_PASSWORD",
        "db.password",
        "x-auth-token",
        "clientSecret",
        "aws_secret_access_key",
        "apiKey",
        "API_KEY",
        "privateKey",
        "passwords",
        "sessionId",
        "refresh_token",
        "Proxy-Authorization",
        "pwd",
    ] {
        assert!(is_secret_key(secret), "{secret}");
    }
    for plain in [
        "tokenizer",
        "author",
        "passenger",
        "bypass",
        "key",
        "secretary",
        "host",
        "user",
    ] {
        assert!(!is_secret_key(plain), "{plain}");
    }
}

#[test]
fn metadata_is_redacted_recursively() {
    let mut metadata = Map::new();
    metadata.insert("dsn".into(), Value::from("postgres://app:pw@db"));
    metadata.insert("url".into(), Value::from("postgres://app:pw@db"));
    metadata.insert(
        "nested".into(),
        serde_json::json!({"token": "t", "list": ["password=x"]}),
    );
    metadata.insert("pool_size".into(), Value::from(5));
    redact_metadata(&mut metadata);
    assert_eq!(metadata["dsn"], "***");
    assert_eq!(metadata["url"], "postgres://***@db");
    assert_eq!(metadata["nested"]["token"], "***");
    assert_eq!(metadata["nested"]["list"][0], "password=***");
    assert_eq!(metadata["pool_size"], 5);
}

#[test]
fn long_messages_are_capped_on_a_character_boundary() {
    let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
    let capped = redact(&long);
    assert_eq!(capped.chars().count(), MAX_MESSAGE_CHARS + 1);
    assert!(capped.ends_with('…'));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    const WORDS: [&str; 12] = [
        "password",
        "Password",
        "db_password",
        "dbPassword",
        "api_key",
        "x-api-key",
        "token",
        "accessToken",
        "client_secret",
        "passphrase",
        "sslpassword",
        "AWS_SECRET_ACCESS_KEY",
    ];

    proptest! {
        #[test]
        fn a_generated_secret_never_survives(
            word in prop::sample::select(WORDS.to_vec()),
            separator in prop::sample::select(vec!["=", ":", " = ", " : ", "=>", "%3D", ":\t", "=\n"]),
            quote in prop::sample::select(vec!["", "\"", "'"]),
            quoted_key in any::<bool>(),
            secret in "[A-Za-z0-9]{6,24}",
            before in "[a-z ]{0,20}",
            after in "[a-z ]{0,20}",
        ) {
            let key = if quoted_key { format!("\"{word}\"") } else { word.to_owned() };
            let message = format!("{before} {key}{separator}{quote}{secret}{quote} {after}");
            let masked = redact(&message);
            prop_assert!(!masked.contains(&secret), "{message:?} -> {masked:?}");
        }

        #[test]
        fn messages_without_credentials_are_unchanged(
            message in "[a-z ,.:=()0-9]{0,200}",
        ) {
            // Plain words, no credential key, no URL, no token shape.
            let has_marker = ["pass", "pwd", "secret", "token", "auth", "key", "cookie", "session", "jwt", "bearer", "basic", "creds", "dsn", "credential", "sig"]
                .iter()
                .any(|w| message.contains(w));
            prop_assume!(!has_marker);
            prop_assert_eq!(redact(&message), message);
        }

        #[test]
        fn output_is_capped_and_redaction_never_panics(message in "\\PC{0,700}") {
            let masked = redact(&message);
            prop_assert!(masked.chars().count() <= MAX_MESSAGE_CHARS + 1);
        }
    }
}
