//! Tools from outside the crate that read what it sends: `promtool check metrics` (text 0.0.4),
//! the OpenMetrics parser of Python's `prometheus_client`, and whether a Python module is there.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

/// `command` started with its standard streams piped, or the error it could not start with.
fn spawn(command: &mut Command) -> std::io::Result<Child> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Feeds `text` to `child` and waits for what it printed.
fn feed(mut child: Child, text: &str) -> Output {
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Whether Python can import `module`. When it cannot, that is an error if the environment
/// variable `require` is set (CI installs the module and sets it), else the caller skips.
pub(crate) fn python_module(module: &str, require: &str) -> bool {
    let available = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        crate::skip::unavailable(
            &format!("Python's {module}"),
            require,
            &format!("python3 -c 'import {module}' failed"),
        );
    }
    available
}

/// Runs `promtool check metrics` on `text`; `None` when promtool is not installed (CI installs
/// it and sets REQUIRE_PROMTOOL=1, so there it must run). Whether it passed, and what it said.
pub(crate) fn promtool(text: &str) -> Option<(bool, String)> {
    let child = match spawn(Command::new("promtool").args(["check", "metrics"])) {
        Ok(child) => child,
        Err(error) => {
            crate::skip::unavailable("promtool", "REQUIRE_PROMTOOL", &error.to_string());
            return None;
        }
    };
    let output = feed(child, text);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), said))
}

/// Parses `text` with the OpenMetrics parser of Python's `prometheus_client` (PyPI), a parser
/// written apart from this crate; `None` when it is not installed (CI installs it and sets
/// REQUIRE_OPENMETRICS_PARSER=1, so there it must run). The families it read, by name.
pub(crate) fn openmetrics_parser(text: &str) -> Option<Vec<String>> {
    const SCRIPT: &str = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   print(family.name, family.type)\n";
    if !python_module(
        "prometheus_client.openmetrics.parser",
        "REQUIRE_OPENMETRICS_PARSER",
    ) {
        return None;
    }
    let child = spawn(Command::new("python3").args(["-c", SCRIPT])).unwrap();
    let output = feed(child, text);
    assert!(
        output.status.success(),
        "the OpenMetrics parser refused it:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// What Prometheus sends when it scrapes.
pub(crate) const SCRAPE_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
