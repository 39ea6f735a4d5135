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
    let (guard, base, _) = start_binary(&binary(), env);
    (guard, base)
}

/// What a started example printed so far, stdout and stderr, a line each.
pub(crate) type Output = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `binary` (the example, as built here or elsewhere) on an ephemeral port with `env`:
/// its base URL from the line it prints, and what it prints.
pub(crate) fn start_binary(
    binary: &std::path::Path,
    env: &[(&str, &str)],
) -> (Guard, String, Output) {
    assert!(binary.exists(), "{} not built", binary.display());
    let mut child = Command::new(binary)
        .env("ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Output::default();
    let stderr = child.stderr.take().unwrap();
    let kept = output.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("example: {line}");
            kept.lock().unwrap().push(line);
        }
    });
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
    let kept = output.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    (Guard(child), base, output)
}
