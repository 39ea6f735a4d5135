//! The last suite of `cargo test` (suites run in name order): lists the tests of this run that
//! skipped because a server or tool was not installed, and why, so that a skip never reads as
//! a pass. The tests note their skips through `support/skip.rs`; CI sets the `REQUIRE_*`
//! switches, under which a skip is a failure instead.
#![cfg(unix)]

#[path = "support/skip.rs"]
mod skip;

use std::collections::{BTreeMap, BTreeSet};

fn main() {
    let dir = skip::run_dir();
    forget_finished_runs(&dir);
    let mut skipped: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    if let Ok(files) = std::fs::read_dir(&dir) {
        for file in files.flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap_or_default();
            for line in text.lines() {
                let mut fields = line.splitn(4, '\t');
                let (Some(test), Some(what), Some(switch), Some(why)) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                skipped
                    .entry((format!("{what} ({why})"), switch.to_owned()))
                    .or_default()
                    .insert(test.to_owned());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    if skipped.is_empty() {
        println!("skipped suites: none — every test that drives an outside server or tool ran.");
        return;
    }
    let tests: BTreeSet<&String> = skipped.values().flatten().collect();
    println!(
        "skipped: {} tests could not run here, or not wholly, for want of what they drive:",
        tests.len()
    );
    for ((what, switch), tests) in &skipped {
        println!("  {what} — {switch}=1 makes this a failure");
        for test in tests {
            println!("      {test}");
        }
    }
    println!("(.ci/run installs all of them and sets every REQUIRE_* switch.)");
}

/// Removes the notes of earlier runs whose cargo has exited (a run of one suite alone, say,
/// which never reached this summary).
fn forget_finished_runs(current: &std::path::Path) {
    let Some(parent) = current.parent() else {
        return;
    };
    let Ok(runs) = std::fs::read_dir(parent) else {
        return;
    };
    for run in runs.flatten() {
        let pid = run.file_name();
        let alive = std::path::Path::new("/proc").join(&pid).exists();
        if run.path() != current && !alive {
            let _ = std::fs::remove_dir_all(run.path());
        }
    }
}
