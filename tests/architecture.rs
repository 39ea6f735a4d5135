//! The one-way flow of ARCHITECTURE.md, checked on the source: a module imports only from
//! modules on its own floor or below.

use std::fs;
use std::path::{Path, PathBuf};

/// Floors, bottom first; a module may use `crate::m` only for `m` on its floor or below.
const FLOORS: &[&[&str]] = &[
    &[
        "ring",
        "round",
        "path",
        "uri",
        "tls",
        "redact",
        "error",
        "validate",
        "clock",
        "redis_link",
    ],
    &["health_report", "config", "probe", "info"],
    &["checker"],
    &["metrics", "webhook"],
    &["checks"],
    &["vitals", "fleet"],
    &["reliability"],
    &["render"],
    &["health", "grpc", "drain", "reload"],
    &["setup"],
];

fn floor(module: &str) -> usize {
    FLOORS
        .iter()
        .position(|floor| floor.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is on no floor: add it to FLOORS"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file but lib.rs, with its top-level module and its code lines (comments and
/// doc comments left out).
fn sources() -> Vec<(String, PathBuf, Vec<String>)> {
    // This suite is built by the workspace member suite/; the crate is its parent.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .filter(|path| path.file_name().unwrap() != "lib.rs")
        .map(|path| {
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap();
            let module = first.as_os_str().to_str().unwrap().trim_end_matches(".rs");
            let code = fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .map(str::to_owned)
                .collect();
            (module.to_owned(), path, code)
        })
        .collect()
}

/// The modules a line names as `crate::m`.
fn crate_paths(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("crate::").filter_map(move |(i, _)| {
        let rest = &line[i + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        // `$crate::` in a macro must name public paths: it is not an import.
        let preceded = line[..i]
            .ends_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '$'));
        (!preceded && end > 0).then(|| &rest[..end])
    })
}

#[test]
fn dependencies_point_down_only() {
    let mut upward = Vec::new();
    for (module, path, code) in sources() {
        for line in &code {
            for used in crate_paths(line) {
                if used.starts_with(char::is_uppercase) {
                    upward.push(format!(
                        "{}: `crate::{used}` goes through a root re-export; import by module path",
                        path.display()
                    ));
                } else if used != module && floor(used) > floor(&module) {
                    upward.push(format!(
                        "{}: {module} (floor {}) imports {used} (floor {})",
                        path.display(),
                        floor(&module),
                        floor(used)
                    ));
                }
            }
        }
    }
    assert!(upward.is_empty(), "\n{}", upward.join("\n"));
}

#[test]
fn the_named_reaches_up_are_gone() {
    for (module, path, code) in sources() {
        let text = code.join("\n");
        let shown = path.display();
        if module == "metrics" {
            // `crate::health_report` (floor 1) is not the HTTP layer.
            let health = text.contains("crate::health::") || text.contains("crate::health;");
            assert!(!health, "{shown} imports health");
        }
        if module == "checks" {
            assert!(
                !text.contains("crate::reliability"),
                "{shown} imports the report"
            );
        }
        if module == "webhook" {
            assert!(!text.contains("crate::checks"), "{shown} imports checks");
        }
    }
}

#[test]
fn environment_variable_names_are_spelled_only_in_the_config_module() {
    for (module, path, code) in sources() {
        if module == "config" {
            continue;
        }
        for line in &code {
            assert!(!line.contains("\"HEALTH_"), "{}: {line}", path.display());
        }
    }
}

#[test]
fn the_checker_of_this_test_sees_what_it_should() {
    let line = "use crate::vitals::Want; x::crate::no; crate::Check::new";
    assert_eq!(crate_paths(line).collect::<Vec<_>>(), ["vitals", "Check"]);
}

/// The suites are targets of the workspace member `suite/`, listed by name: a file in `tests/`
/// (or a benchmark in `benches/`) left out of its manifest would never run.
#[test]
fn every_suite_and_benchmark_is_a_target_of_the_suite_package() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = fs::read_to_string(root.join("suite/Cargo.toml")).unwrap();
    for dir in ["tests", "benches"] {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                let target = format!(
                    "path = \"../{dir}/{}\"",
                    path.file_name().unwrap().display()
                );
                assert!(
                    manifest.contains(&target),
                    "{} is not a target of suite/Cargo.toml: add a [[{}]] for it",
                    path.display(),
                    if dir == "tests" { "test" } else { "bench" }
                );
            }
        }
    }
}
