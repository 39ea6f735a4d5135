//! A test that cannot run here — a server or tool it drives is not installed — says so instead
//! of passing in silence. [`unavailable`] fails the test when CI's `REQUIRE_*` switch for the
//! tool is set; otherwise it notes the skip where `tests/zz_skipped.rs`, the last suite
//! `cargo test` runs, finds it and lists it, and the caller returns.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// Where this `cargo test` run's skips are noted: one directory per run, named by the process
/// that started every test binary (cargo).
pub(crate) fn run_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("skipped")
        .join(std::os::unix::process::parent_id().to_string())
}

/// `what` (a server or tool) is not available here, for `why`. Panics when the environment
/// variable `switch` is set; otherwise notes the skip of the current test and returns.
pub(crate) fn unavailable(what: &str, switch: &str, why: &str) {
    assert!(
        std::env::var_os(switch).is_none(),
        "{what} is required here ({switch} is set): {why}"
    );
    eprintln!("{what} is not available ({why}): skipping; set {switch}=1 to make this a failure");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
            _ => stem,
        })
        .unwrap_or_default();
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let dir = run_dir();
    let noted = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{binary}.tsv")))
            // One write of the whole line: tests of a binary skip at once, on threads of
            // their own, and an O_APPEND write is not split by another.
            .and_then(|mut file| {
                let line = format!("{binary}::{test}\t{what}\t{switch}\t{why}\n");
                file.write_all(line.as_bytes())
            })
    });
    if let Err(error) = noted {
        eprintln!("could not note the skip in {}: {error}", dir.display());
    }
}

/// Whether `program` is found on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
