//! The axum example as a child process, as `cargo test` built it beside the test binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The example binary `cargo test` built beside this test's own.
pub(crate) fn binary() -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join("axum")
}

/// Kills and reaps the child when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example on an ephemeral port with `env`; its base URL from the line it prints.
pub(crate) fn start(env: &[(&str, &str)]) -> (Guard, String) {
    let binary = binary();
    assert!(binary.exists(), "{} not built", binary.display());
    let mut child = Command::new(binary)
        .env("ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the example printed its address")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_owned();
        }
    };
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Guard(child), base)
}
