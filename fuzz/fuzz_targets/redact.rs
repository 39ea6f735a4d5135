//! Redaction: any text, valid UTF-8 or not (lossily decoded). It never panics, the output is
//! never longer than the cap, and it runs in linear time (`.ci/fuzz.sh` sets libFuzzer's
//! per-input timeout on inputs up to 8 KiB).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_vitals::{MAX_MESSAGE_CHARS, redact};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let masked = redact(&text);
    assert!(
        masked.chars().count() <= MAX_MESSAGE_CHARS + 1,
        "longer than the cap"
    );
    // A credential pair written plainly after any text is always masked.
    const SECRET: &str = "Zq9SecretValue";
    let probe = format!("{text} password={SECRET}");
    let left = redact(&probe).matches(SECRET).count();
    assert!(
        left <= text.matches(SECRET).count(),
        "a plain password survived after {text:?}"
    );
});
