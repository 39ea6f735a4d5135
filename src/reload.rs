//! Settings re-read at run time: `HEALTH_CONFIG_FILE` — a file of `HEALTH_*` settings, or a
//! directory of one file per key as Kubernetes mounts a ConfigMap — is read at start and again
//! whenever its content changes (looked at every `HEALTH_CONFIG_POLL_MS`, 250 ms by default)
//! or the process gets SIGHUP. Its `HEALTH_CHECK_*` settings, laid over the environment's,
//! are applied to the running checker ([`HealthChecker::reconfigure`]); a change that does not
//! validate is refused whole, logged once and shown in `/health` and on `/metrics`, and the
//! running settings stay. Who is shown details (`HEALTH_SHOW_DETAILS`, `HEALTH_SHOW_COMPONENTS`,
//! the token in `HEALTH_DETAILS_TOKEN_FILE`) is applied to the health layer the same way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::checker::HealthChecker;
use crate::config::HealthConfig;
use crate::error::ConfigError;
use crate::health::policy::{Overrides, Shown};

/// The most bytes read from the source: a settings file is a few lines.
const MAX_BYTES: u64 = 64 * 1024;

/// The default time between two looks at the source.
const POLL: Duration = Duration::from_millis(250);

/// What a reload needs: the checker, the settings from the environment, and the source.
pub(crate) struct Reload {
    checker: HealthChecker,
    start: HealthConfig,
    path: PathBuf,
    poll: Duration,
}

/// What one look at the source found: its text, the settings it makes with the environment's,
/// and who they show details to (with the token `when_authorized` asks for, read from its file
/// at the same look, so a rotated token is a change).
#[derive(Clone)]
pub(crate) struct Found {
    text: String,
    config: HealthConfig,
    overrides: Overrides,
}

impl Reload {
    pub(crate) fn new(checker: HealthChecker, start: &HealthConfig, path: &Path) -> Self {
        Self {
            checker,
            poll: start.config_poll.unwrap_or(POLL),
            start: start.clone(),
            path: path.to_owned(),
        }
    }

    /// Reads the source and applies it to the checker now (at start: an error fails the build);
    /// what was found, for [`spawn`](Self::spawn).
    pub(crate) fn apply_now(&self) -> Result<Found, ConfigError> {
        let found = look(&self.path, &self.start);
        self.apply(found.clone(), None)?;
        found
    }

    /// Applies what was found (or records why it could not be): the checker's settings, then —
    /// only once the checker took them — who is shown details.
    fn apply(
        &self,
        found: Result<Found, ConfigError>,
        shown: Option<&Shown>,
    ) -> Result<(), ConfigError> {
        let source = self.path.display().to_string();
        match found {
            Ok(found) => {
                self.checker.reconfigure_from(&source, Ok(found.config))?;
                if let Some(shown) = shown {
                    shown.set(found.overrides);
                }
                Ok(())
            }
            Err(error) => self.checker.reconfigure_from(&source, Err(error)),
        }
    }

    /// Sets who `shown` shows details to as `found` says, then looks at the source every poll
    /// interval and at SIGHUP, applying it when it changed (at SIGHUP, whether it changed or
    /// not), until the runtime stops.
    pub(crate) fn spawn(self, shown: Shown, found: Found) {
        shown.set(found.overrides.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                variable = crate::config::var::CONFIG_FILE,
                "the settings file is not watched: no Tokio runtime"
            );
            return;
        };
        runtime.spawn(async move {
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut last: Result<Found, ConfigError> = Ok(found);
            loop {
                let forced = tokio::select! {
                    () = tokio::time::sleep(self.poll) => false,
                    Some(()) = async { hangup.as_mut()?.recv().await } => true,
                };
                let (path, start) = (self.path.clone(), self.start.clone());
                let found = tokio::task::spawn_blocking(move || look(&path, &start))
                    .await
                    .unwrap_or_else(|_| Err(unreadable(&self.path, "the read panicked")));
                if forced || !same(&found, &last) {
                    if forced {
                        tracing::info!("SIGHUP: health settings read again");
                    }
                    let _ = self.apply(found.clone(), Some(&shown));
                    last = found;
                }
            }
        });
    }
}

/// The source at `path` laid over `start`.
fn look(path: &Path, start: &HealthConfig) -> Result<Found, ConfigError> {
    let text = read_source(path)?;
    let config = start.with_settings_text(&text)?;
    let overrides = Overrides::read(&config)?;
    Ok(Found {
        text,
        config,
        overrides,
    })
}

/// Whether two looks found the same (or failed the same way).
fn same(a: &Result<Found, ConfigError>, b: &Result<Found, ConfigError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a.text == b.text && a.overrides == b.overrides,
        (Err(a), Err(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}

fn unreadable(path: &Path, why: &str) -> ConfigError {
    ConfigError::Env {
        variable: crate::config::var::CONFIG_FILE.to_owned(),
        value: path.display().to_string(),
        reason: why.to_owned(),
    }
}

/// The source's settings as `KEY=value` lines: a file as it is, a directory as one line per
/// file named `HEALTH_*` (its content the value; Kubernetes' `..data` links and other names
/// are skipped), in name order. At most [`MAX_BYTES`] in all.
fn read_source(path: &Path) -> Result<String, ConfigError> {
    let cannot = |error: std::io::Error| unreadable(path, &format!("cannot be read: {error}"));
    let too_big = || unreadable(path, &format!("over {MAX_BYTES} bytes"));
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_dir() {
        if metadata.len() > MAX_BYTES {
            return Err(too_big());
        }
        return std::fs::read_to_string(path).map_err(cannot);
    }
    let mut keys: Vec<(String, PathBuf)> = std::fs::read_dir(path)
        .map_err(cannot)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            crate::config::is_setting(&name).then(|| (name, entry.path()))
        })
        .collect();
    keys.sort();
    let mut text = String::new();
    for (key, file) in keys {
        let value = std::fs::read_to_string(&file).map_err(cannot)?;
        text.push_str(&format!("{key}={}\n", value.trim()));
        if text.len() as u64 > MAX_BYTES {
            return Err(too_big());
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::var;

    #[test]
    fn a_directory_is_read_as_a_configmap_is_mounted() {
        let dir = std::env::temp_dir().join(format!("tower-vitals-reload-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("..2026_12_07")).unwrap();
        let (timeout, retries) = (var::TIMEOUT, var::RETRY_COUNT);
        std::fs::write(dir.join("..2026_12_07").join(timeout), "700\n").unwrap();
        std::os::unix::fs::symlink(dir.join("..2026_12_07").join(timeout), dir.join(timeout))
            .unwrap_or(());
        std::fs::write(dir.join(retries), "2").unwrap();
        std::fs::write(dir.join("README"), "not a setting").unwrap();
        let text = read_source(&dir).unwrap();
        assert_eq!(text, format!("{retries}=2\n{timeout}=700\n"));
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = read_source(&dir).unwrap_err().to_string();
        assert!(
            missing.starts_with(&format!("{}=", var::CONFIG_FILE)),
            "{missing}"
        );
    }
}
