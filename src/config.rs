//! [`HealthConfig`]: settings from environment variables, validated, with warnings.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::ConfigError;

/// Settings read from the environment, to apply with
/// [`HealthCheckerBuilder::config`](crate::HealthCheckerBuilder::config) and
/// [`HealthLayer::config`](crate::HealthLayer::config). Every setting has a builder method too.
///
/// | variable | setting | range |
/// |---|---|---|
/// | `HEALTH_CHECK_TIMEOUT_MS` | default timeout per attempt | 1–60000 |
/// | `HEALTH_CHECK_<NAME>_TIMEOUT_MS` | one check's timeout (`<NAME>`: the name in upper case, other characters than letters and digits as `_`) | 1–60000 |
/// | `HEALTH_CHECK_RETRY_COUNT` | default retries | 0–10 |
/// | `HEALTH_CHECK_ENABLED_COMPONENTS` | comma-separated names of the checks to run; the others are left out | registered names |
/// | `HEALTH_CHECK_CACHE_TTL_MS` | result cache TTL | 0–3600000 |
/// | `HEALTH_CHECK_DEADLINE_MS` | answer deadline | 1–60000 |
/// | `HEALTH_GIT_COMMIT`, `HEALTH_BUILD_TIME`, `HEALTH_ENVIRONMENT` | [`AppInfo`](crate::AppInfo)'s commit and build time (when the build did not record them) and environment | text |
/// | `HEALTH_DRAIN_DELAY_MS`, `HEALTH_DRAIN_BUDGET_MS` | the [`Drain`](crate::Drain)'s propagation delay and in-flight budget | 0–300000, 0–600000 |
/// | `HEALTH_CHECK_MAX_STALENESS_MS` | how old a result may be served while a refresh runs | 1–86400000 |
/// | `HEALTH_CHECK_FAILURE_THRESHOLD`, `HEALTH_CHECK_SUCCESS_THRESHOLD` | runs in a row to fail / recover | 1–100 |
/// | `HEALTH_PATH_PREFIX`, `HEALTH_LIVE_PATH`, `HEALTH_READY_PATH`, `HEALTH_DETAIL_PATH`, `HEALTH_RELIABILITY_PATH`, `HEALTH_METRICS_PATH`, `HEALTH_STARTUP_PATH` | endpoint paths (empty: off, for the last three) | paths |
/// | `HEALTH_ANOMALY_<RULE>_THRESHOLD` | a reliability rule's threshold, e.g. `HEALTH_ANOMALY_HIGH_P95_LATENCY_THRESHOLD=800` | finite numbers |
/// | `HEALTH_FLEET_REDIS_URL` | the [fleet](crate::fleet)'s store, for [`Setup`](crate::Setup) (feature `redis`; never shown) | `redis://`, `rediss://` URL |
/// | `HEALTH_FLEET_NAME`, `HEALTH_FLEET_ID`, `HEALTH_FLEET_PREFIX` | the fleet's name, this replica's id (default `POD_NAME`, else the host name), the store's key prefix | 1–128 characters |
/// | `HEALTH_FLEET_INTERVAL_MS`, `HEALTH_FLEET_MAX_REPLICAS` | how often to publish and read; the most replicas read | 100–60000; 2–1024 |
/// | `HEALTH_WEBHOOK_URL` | a [`WebhookNotifier`](crate::WebhookNotifier) posting every status change, for [`Setup`](crate::Setup) (feature `http-client`; never shown); with a fleet, a shared outage's once | `http://`, `https://` URL |
/// | `HEALTH_FLEET_SHARED_OUTAGE` | readiness in a shared outage of a [shared](crate::Check::shared) check | `ready` (default), `not_ready` |
/// | `HEALTH_CONFIG_FILE` | a file of `HEALTH_*` settings (`KEY=value` or `KEY: value` lines, `#` comments), or a directory of one file per key (a mounted ConfigMap), read by [`Setup`](crate::Setup) at start and again when it changes or at SIGHUP: the `HEALTH_CHECK_*` settings in it are applied to the running checker ([`HealthChecker::reconfigure`](crate::HealthChecker::reconfigure)) | a path |
/// | `HEALTH_CONFIG_POLL_MS` | how often that file is looked at | 100–60000 (default 250) |
/// | `HEALTH_SHOW_DETAILS`, `HEALTH_SHOW_COMPONENTS` | who is shown component details, or components' names and statuses (as Spring Boot's `show-details`, `show-components`), over the [`DetailPolicy`](crate::health::DetailPolicy) set in code; applied at run time from `HEALTH_CONFIG_FILE` too | `never`, `always`, `when_authorized` |
/// | `HEALTH_DETAILS_TOKEN_FILE` | a file holding the bearer token `when_authorized` asks for (a mounted Secret: the token never sits in a variable or a ConfigMap; read again when the settings are, so a rotated token is followed) | a path |
///
/// ```
/// use tower_vitals::{HealthChecker, HealthConfig};
///
/// let config = HealthConfig::from_vars([
///     ("HEALTH_CHECK_TIMEOUT_MS", "500"),
///     ("HEALTH_CHECK_DB_TIMEOUT_MS", "700"),
///     ("HEALTH_CHECK_DEADLINE_MS", "900"),
/// ])?;
/// assert!(config.warnings().is_empty());
///
/// let error = HealthConfig::from_vars([("HEALTH_CHECK_TIMEOUT_MS", "0")]).unwrap_err();
/// assert_eq!(error.to_string(), "HEALTH_CHECK_TIMEOUT_MS=\"0\": out of range (1 to 60000 ms)");
///
/// // A per-check timeout must name a registered check; the error says which variable.
/// let config = HealthConfig::from_vars([("HEALTH_CHECK_SEARCH_TIMEOUT_MS", "300")])?;
/// let error = HealthChecker::builder().check("db", || async {}).config(&config).build().unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "HEALTH_CHECK_SEARCH_TIMEOUT_MS names \"SEARCH\", which is not a registered check (registered: DB)"
/// );
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
///
/// [`warnings`](Self::warnings) flag doubtful settings (and [`Setup`](crate::Setup) logs them):
/// a deadline at or above kubelet's 1 s probe timeout, check timeouts above the deadline, a
/// zero or very long cache TTL, retries that can exceed 10 s, a drain delay + budget reaching
/// Kubernetes' default 30 s grace period. Try `HEALTH_CHECK_TIMEOUT_MS=0 cargo run --example
/// axum`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct HealthConfig {
    /// `HEALTH_CHECK_TIMEOUT_MS`.
    pub timeout: Option<Duration>,
    /// `HEALTH_CHECK_<NAME>_TIMEOUT_MS`, by `<NAME>`.
    pub check_timeouts: BTreeMap<String, Duration>,
    /// `HEALTH_CHECK_RETRY_COUNT`.
    pub retries: Option<u32>,
    /// `HEALTH_CHECK_ENABLED_COMPONENTS`.
    pub enabled_components: Option<Vec<String>>,
    /// `HEALTH_CHECK_CACHE_TTL_MS`.
    pub cache_ttl: Option<Duration>,
    /// `HEALTH_CHECK_DEADLINE_MS`.
    pub deadline: Option<Duration>,
    /// `HEALTH_CHECK_MAX_STALENESS_MS`.
    pub max_staleness: Option<Duration>,
    /// `HEALTH_GIT_COMMIT`: the commit, when the build did not record it.
    pub git_commit: Option<String>,
    /// `HEALTH_BUILD_TIME`: the build time, when the build did not record it.
    pub build_time: Option<String>,
    /// `HEALTH_ENVIRONMENT`: the environment's name (`production`, `staging`…).
    pub environment: Option<String>,
    /// `HEALTH_DRAIN_DELAY_MS`.
    pub drain_delay: Option<Duration>,
    /// `HEALTH_DRAIN_BUDGET_MS`.
    pub drain_budget: Option<Duration>,
    /// `HEALTH_CHECK_FAILURE_THRESHOLD`.
    pub failure_threshold: Option<u32>,
    /// `HEALTH_CHECK_SUCCESS_THRESHOLD`.
    pub success_threshold: Option<u32>,
    /// `HEALTH_PATH_PREFIX`.
    pub prefix: Option<String>,
    /// `HEALTH_LIVE_PATH`.
    pub live_path: Option<String>,
    /// `HEALTH_READY_PATH`.
    pub ready_path: Option<String>,
    /// `HEALTH_DETAIL_PATH`.
    pub detail_path: Option<String>,
    /// `HEALTH_RELIABILITY_PATH` (`Some(None)`: off).
    pub reliability_path: Option<Option<String>>,
    /// `HEALTH_METRICS_PATH` (`Some(None)`: off).
    pub metrics_path: Option<Option<String>>,
    /// `HEALTH_STARTUP_PATH` (`Some(None)`: off).
    pub startup_path: Option<Option<String>>,
    /// `HEALTH_ANOMALY_<RULE>_THRESHOLD`, by rule.
    pub anomaly_thresholds: BTreeMap<String, f64>,
    /// `HEALTH_FLEET_REDIS_URL` (read with [`fleet_redis_url`](Self::fleet_redis_url); never
    /// shown, `Debug` included).
    fleet_redis_url: Option<Secret>,
    /// `HEALTH_WEBHOOK_URL` (read with [`webhook_url`](Self::webhook_url); never shown: a
    /// Slack or Teams URL is its own secret).
    webhook_url: Option<Secret>,
    /// `HEALTH_FLEET_NAME`.
    pub fleet_name: Option<String>,
    /// `HEALTH_FLEET_ID`.
    pub fleet_id: Option<String>,
    /// `HEALTH_FLEET_PREFIX`.
    pub fleet_prefix: Option<String>,
    /// `HEALTH_FLEET_INTERVAL_MS`.
    pub fleet_interval: Option<Duration>,
    /// `HEALTH_FLEET_MAX_REPLICAS`.
    pub fleet_max_replicas: Option<usize>,
    /// `HEALTH_FLEET_SHARED_OUTAGE`: `Some(true)` for `ready`, `Some(false)` for `not_ready`.
    pub fleet_ready_in_shared_outage: Option<bool>,
    /// `HEALTH_CONFIG_FILE`.
    pub config_file: Option<std::path::PathBuf>,
    /// `HEALTH_CONFIG_POLL_MS`.
    pub config_poll: Option<Duration>,
    /// `HEALTH_SHOW_DETAILS`.
    pub show_details: Option<Show>,
    /// `HEALTH_SHOW_COMPONENTS`.
    pub show_components: Option<Show>,
    /// `HEALTH_DETAILS_TOKEN_FILE`.
    pub details_token_file: Option<std::path::PathBuf>,
    warnings: Vec<String>,
    /// Every `HEALTH_*` variable read, as given: what a settings file is laid over.
    read: Read,
}

/// The variables read, by name; `Debug` shows the names only (some values are secrets).
#[derive(Clone, Default, PartialEq)]
struct Read(BTreeMap<String, String>);

impl std::fmt::Debug for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// A setting whose value is a secret: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Whether `name` is one of this crate's variables' names (`HEALTH_*`).
pub(crate) fn is_setting(name: &str) -> bool {
    name.starts_with("HEALTH_")
}

/// Who is shown what, by `HEALTH_SHOW_DETAILS` and `HEALTH_SHOW_COMPONENTS` — the values of
/// Spring Boot's `show-details`. Set, it replaces the [`DetailPolicy`](crate::health::DetailPolicy)
/// the code gave; unset, the code's policy holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Nobody: `never`.
    Never,
    /// Everybody: `always`.
    Always,
    /// Requests with `Authorization: Bearer <token>`, the token read from
    /// `HEALTH_DETAILS_TOKEN_FILE`: `when_authorized` (or `when-authorized`).
    WhenAuthorized,
}

/// Whether a variable is a runtime setting ([`HealthConfig::with_settings_text`]): the
/// checker's, and who is shown details.
fn is_runtime(key: &str) -> bool {
    key.starts_with("HEALTH_CHECK_") || var::SHOWN.contains(&key)
}

/// `KEY=value` or `KEY: value` lines (values may be quoted), `#` comments and blank lines; a
/// key not `HEALTH_*`, or a line of neither form, is an error naming the line.
pub(crate) fn parse_settings(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: &str| {
            let shown: String = line.chars().take(80).collect();
            env_error(
                &format!("HEALTH_CONFIG_FILE line {}", number + 1),
                &shown,
                reason,
            )
        };
        let split = line
            .split_once('=')
            .filter(|(key, _)| !key.contains(':'))
            .or_else(|| line.split_once(':'));
        let Some((key, value)) = split else {
            return Err(bad("not `KEY=value` or `KEY: value`"));
        };
        let key = key.trim();
        if !key.starts_with("HEALTH_")
            || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad("a key is a HEALTH_* variable"));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

/// The variables' names that other modules report in errors: spelled here only.
pub(crate) mod var {
    pub(crate) const ENABLED_COMPONENTS: &str = "HEALTH_CHECK_ENABLED_COMPONENTS";
    pub(crate) const PATH_PREFIX: &str = "HEALTH_PATH_PREFIX";
    pub(crate) const LIVE_PATH: &str = "HEALTH_LIVE_PATH";
    pub(crate) const READY_PATH: &str = "HEALTH_READY_PATH";
    pub(crate) const DETAIL_PATH: &str = "HEALTH_DETAIL_PATH";
    pub(crate) const RELIABILITY_PATH: &str = "HEALTH_RELIABILITY_PATH";
    pub(crate) const METRICS_PATH: &str = "HEALTH_METRICS_PATH";
    pub(crate) const STARTUP_PATH: &str = "HEALTH_STARTUP_PATH";
    pub(crate) const FLEET_REDIS_URL: &str = "HEALTH_FLEET_REDIS_URL";
    pub(crate) const WEBHOOK_URL: &str = "HEALTH_WEBHOOK_URL";
    pub(crate) const CONFIG_FILE: &str = "HEALTH_CONFIG_FILE";
    pub(crate) const SHOW_DETAILS: &str = "HEALTH_SHOW_DETAILS";
    pub(crate) const SHOW_COMPONENTS: &str = "HEALTH_SHOW_COMPONENTS";
    pub(crate) const DETAILS_TOKEN_FILE: &str = "HEALTH_DETAILS_TOKEN_FILE";
    /// Who is shown details: runtime settings of the health layer.
    pub(crate) const SHOWN: [&str; 3] = [SHOW_DETAILS, SHOW_COMPONENTS, DETAILS_TOKEN_FILE];
    #[cfg(test)]
    pub(crate) const TIMEOUT: &str = "HEALTH_CHECK_TIMEOUT_MS";
    #[cfg(test)]
    pub(crate) const RETRY_COUNT: &str = "HEALTH_CHECK_RETRY_COUNT";
    #[cfg(test)]
    pub(crate) const MAX_STALENESS: &str = "HEALTH_CHECK_MAX_STALENESS_MS";

    /// `HEALTH_CHECK_<KEY>_TIMEOUT_MS`.
    pub(crate) fn check_timeout(key: &str) -> String {
        format!("HEALTH_CHECK_{key}_TIMEOUT_MS")
    }

    /// `HEALTH_ANOMALY_<RULE>_THRESHOLD`.
    pub(crate) fn anomaly_threshold(rule: &str) -> String {
        format!("HEALTH_ANOMALY_{rule}_THRESHOLD")
    }
}

/// `never`, `always` or `when_authorized` (any case, `-` for `_`).
fn show(key: &str, value: &str) -> Result<Show, ConfigError> {
    match value.to_ascii_lowercase().replace('-', "_").as_str() {
        "never" => Ok(Show::Never),
        "always" => Ok(Show::Always),
        "when_authorized" => Ok(Show::WhenAuthorized),
        _ => Err(env_error(
            key,
            value,
            "`never`, `always` or `when_authorized`",
        )),
    }
}

fn env_error(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Env {
        variable: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// `value` as whole milliseconds within `low..=high`.
fn env_millis(key: &str, value: &str, low: u64, high: u64) -> Result<Duration, ConfigError> {
    let ms: u64 = value
        .parse()
        .map_err(|_| env_error(key, value, "not a whole number of milliseconds"))?;
    if (low..=high).contains(&ms) {
        Ok(Duration::from_millis(ms))
    } else {
        let reason = format!("out of range ({low} to {high} ms)");
        Err(env_error(key, value, &reason))
    }
}

/// The environment-variable form of a check name: upper case, other characters than ASCII
/// letters and digits as `_` (`"cache-primary"` → `CACHE_PRIMARY`).
pub fn env_name(check: &str) -> String {
    check
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl HealthConfig {
    /// Reads the `HEALTH_*` variables of the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Self::from_vars(std::env::vars())?;
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
        Ok(config)
    }

    /// Reads the `HEALTH_*` variables among `vars`; others are ignored.
    pub fn from_vars<K: AsRef<str>, V: AsRef<str>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref().trim());
            config.read(key, value)?;
            if key.starts_with("HEALTH_") {
                config.read.0.insert(key.to_owned(), value.to_owned());
            }
        }
        config.check_show()?;
        config.warn();
        Ok(config)
    }

    /// These settings with a settings file's `text` laid over them (`HEALTH_CONFIG_FILE`:
    /// `KEY=value` or `KEY: value` lines, values optionally quoted, `#` comments): its
    /// `HEALTH_CHECK_*` settings replace or add to these, and one taken out of the file is back
    /// to this value; any other setting in it must be what these hold already, since it is read
    /// at start only. An error names the line or the variable and its value.
    ///
    /// ```
    /// use tower_vitals::HealthConfig;
    ///
    /// let start = HealthConfig::from_vars([("HEALTH_CHECK_RETRY_COUNT", "1"), ("HEALTH_READY_PATH", "/readyz")])?;
    /// let file = "# mounted from the ConfigMap\nHEALTH_CHECK_TIMEOUT_MS: 1500\nHEALTH_READY_PATH=/readyz\n";
    /// let running = start.with_settings_text(file)?;
    /// assert_eq!((running.retries, running.timeout.map(|t| t.as_millis())), (Some(1), Some(1500)));
    ///
    /// let error = start.with_settings_text("HEALTH_CHECK_TIMEOUT_MS=0").unwrap_err();
    /// assert_eq!(error.to_string(), "HEALTH_CHECK_TIMEOUT_MS=\"0\": out of range (1 to 60000 ms)");
    /// let error = start.with_settings_text("HEALTH_READY_PATH=/ready").unwrap_err();
    /// assert!(error.to_string().contains("read at start only"));
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    pub fn with_settings_text(&self, text: &str) -> Result<Self, ConfigError> {
        let mut vars = self.read.0.clone();
        for (key, value) in parse_settings(text)? {
            if !is_runtime(&key) && self.read.0.get(&key) != Some(&value) {
                let secret = [var::FLEET_REDIS_URL, var::WEBHOOK_URL].contains(&key.as_str());
                return Err(env_error(
                    &key,
                    if secret { "***" } else { &value },
                    "read at start only: restart to change it",
                ));
            }
            vars.insert(key, value);
        }
        Self::from_vars(vars)
    }

    /// `HEALTH_WEBHOOK_URL`: where status changes are posted (never log it).
    pub fn webhook_url(&self) -> Option<&str> {
        self.webhook_url.as_ref().map(|secret| secret.0.as_str())
    }

    /// `HEALTH_FLEET_REDIS_URL`: the fleet's store (it may hold a password: never log it).
    pub fn fleet_redis_url(&self) -> Option<&str> {
        self.fleet_redis_url
            .as_ref()
            .map(|secret| secret.0.as_str())
    }

    /// Settings that are allowed but doubtful, one sentence each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn read(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let error = |reason: &str| env_error(key, value, reason);
        let millis = |low, high| env_millis(key, value, low, high);
        let count = |low: u32, high: u32| -> Result<u32, ConfigError> {
            let n: u32 = value.parse().map_err(|_| error("not a whole number"))?;
            if (low..=high).contains(&n) {
                Ok(n)
            } else {
                Err(error(&format!("out of range ({low} to {high})")))
            }
        };
        let path = || (!value.is_empty()).then(|| value.to_owned());
        let name = || {
            let fits = !value.is_empty()
                && value.chars().count() <= 128
                && !value.chars().any(char::is_control);
            fits.then(|| value.to_owned())
                .ok_or_else(|| error("1 to 128 characters, no control characters"))
        };
        match key {
            "HEALTH_CHECK_TIMEOUT_MS" => self.timeout = Some(millis(1, 60_000)?),
            "HEALTH_CHECK_RETRY_COUNT" => self.retries = Some(count(0, 10)?),
            "HEALTH_CHECK_CACHE_TTL_MS" => self.cache_ttl = Some(millis(0, 3_600_000)?),
            "HEALTH_CHECK_DEADLINE_MS" => self.deadline = Some(millis(1, 60_000)?),
            "HEALTH_GIT_COMMIT" => self.git_commit = path(),
            "HEALTH_BUILD_TIME" => self.build_time = path(),
            "HEALTH_ENVIRONMENT" => self.environment = path(),
            "HEALTH_DRAIN_DELAY_MS" => self.drain_delay = Some(millis(0, 300_000)?),
            "HEALTH_DRAIN_BUDGET_MS" => self.drain_budget = Some(millis(0, 600_000)?),
            "HEALTH_CHECK_MAX_STALENESS_MS" => {
                self.max_staleness = Some(millis(1, 86_400_000)?);
            }
            "HEALTH_CHECK_FAILURE_THRESHOLD" => self.failure_threshold = Some(count(1, 100)?),
            "HEALTH_CHECK_SUCCESS_THRESHOLD" => self.success_threshold = Some(count(1, 100)?),
            var::ENABLED_COMPONENTS => {
                let names: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    return Err(error("names no check: leave it unset to run them all"));
                }
                self.enabled_components = Some(names);
            }
            var::PATH_PREFIX => self.prefix = Some(value.to_owned()),
            var::LIVE_PATH => self.live_path = Some(path().ok_or_else(|| error("empty"))?),
            var::READY_PATH => self.ready_path = Some(path().ok_or_else(|| error("empty"))?),
            var::DETAIL_PATH => self.detail_path = Some(path().ok_or_else(|| error("empty"))?),
            var::RELIABILITY_PATH => self.reliability_path = Some(path()),
            var::METRICS_PATH => self.metrics_path = Some(path()),
            var::STARTUP_PATH => self.startup_path = Some(path()),
            var::FLEET_REDIS_URL => {
                let url = path().ok_or_else(|| env_error(key, "", "empty"))?;
                self.fleet_redis_url = Some(Secret(url));
            }
            var::WEBHOOK_URL => {
                let url = path().ok_or_else(|| env_error(key, "", "empty"))?;
                self.webhook_url = Some(Secret(url));
            }
            "HEALTH_FLEET_NAME" => self.fleet_name = Some(name()?),
            "HEALTH_FLEET_ID" => self.fleet_id = Some(name()?),
            "HEALTH_FLEET_PREFIX" => self.fleet_prefix = Some(name()?),
            "HEALTH_FLEET_INTERVAL_MS" => self.fleet_interval = Some(millis(100, 60_000)?),
            "HEALTH_FLEET_MAX_REPLICAS" => self.fleet_max_replicas = Some(count(2, 1024)? as usize),
            var::CONFIG_FILE => {
                self.config_file = Some(path().ok_or_else(|| error("empty"))?.into());
            }
            "HEALTH_CONFIG_POLL_MS" => self.config_poll = Some(millis(100, 60_000)?),
            "HEALTH_FLEET_SHARED_OUTAGE" => {
                self.fleet_ready_in_shared_outage = Some(match value {
                    "ready" => true,
                    "not_ready" => false,
                    _ => return Err(error("`ready` or `not_ready`")),
                });
            }
            _ => self.read_per_name(key, value)?,
        }
        Ok(())
    }

    /// Who is shown details: `HEALTH_SHOW_*` and the token's file.
    fn read_shown(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            var::SHOW_DETAILS => self.show_details = Some(show(key, value)?),
            var::SHOW_COMPONENTS => self.show_components = Some(show(key, value)?),
            _ if value.is_empty() => return Err(env_error(key, value, "empty")),
            _ => self.details_token_file = Some(value.into()),
        }
        Ok(())
    }

    /// The variables that name a check or a rule (and, first, who is shown details).
    fn read_per_name(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if var::SHOWN.contains(&key) {
            return self.read_shown(key, value);
        }
        let error = |reason: &str| env_error(key, value, reason);
        if let Some(name) = key
            .strip_prefix("HEALTH_CHECK_")
            .and_then(|rest| rest.strip_suffix("_TIMEOUT_MS"))
            .filter(|name| !name.is_empty())
        {
            let timeout = env_millis(key, value, 1, 60_000)?;
            self.check_timeouts.insert(name.to_owned(), timeout);
        } else if let Some(rule) = key
            .strip_prefix("HEALTH_ANOMALY_")
            .and_then(|rest| rest.strip_suffix("_THRESHOLD"))
            .filter(|rule| !rule.is_empty())
        {
            let threshold: f64 = value.parse().map_err(|_| error("not a number"))?;
            if !threshold.is_finite() {
                return Err(error("not a finite number"));
            }
            self.anomaly_thresholds.insert(rule.to_owned(), threshold);
        } else if [
            "HEALTH_CHECK_",
            "HEALTH_PATH",
            "HEALTH_DRAIN",
            "HEALTH_FLEET_",
            "HEALTH_WEBHOOK",
            "HEALTH_SHOW_",
            "HEALTH_DETAILS_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
        {
            return Err(error("not a setting this crate reads (a typo?)"));
        }
        Ok(())
    }

    /// `when_authorized` needs the token's file.
    fn check_show(&self) -> Result<(), ConfigError> {
        let shows = [
            (var::SHOW_DETAILS, self.show_details),
            (var::SHOW_COMPONENTS, self.show_components),
        ];
        for (key, show) in shows {
            if show == Some(Show::WhenAuthorized) && self.details_token_file.is_none() {
                let reason = format!(
                    "needs {} (the bearer token's file)",
                    var::DETAILS_TOKEN_FILE
                );
                return Err(env_error(key, "when_authorized", &reason));
            }
        }
        Ok(())
    }

    fn warn(&mut self) {
        let deadline = self.deadline.unwrap_or(Duration::from_millis(800));
        if deadline >= Duration::from_secs(1) {
            self.warnings.push(format!(
                "HEALTH_CHECK_DEADLINE_MS={}: at or above kubelet's default probe timeout of 1 s, answers may come too late",
                deadline.as_millis()
            ));
        }
        let timeouts = self.timeout.iter().chain(self.check_timeouts.values());
        if let Some(longest) = timeouts.max().filter(|timeout| **timeout > deadline) {
            self.warnings.push(format!(
                "a check timeout of {} ms is above the {} ms deadline: such checks may show stale results",
                longest.as_millis(),
                deadline.as_millis()
            ));
        }
        match self.cache_ttl {
            Some(ttl) if ttl.is_zero() => self.warnings.push(
                "HEALTH_CHECK_CACHE_TTL_MS=0: every probe runs the checks (concurrent ones still share a run)".to_owned(),
            ),
            Some(ttl) if ttl > Duration::from_secs(60) => self.warnings.push(format!(
                "HEALTH_CHECK_CACHE_TTL_MS={}: results may be up to {} s old",
                ttl.as_millis(),
                ttl.as_secs()
            )),
            _ => {}
        }
        let delay = self.drain_delay.unwrap_or(Duration::from_secs(5));
        let budget = self.drain_budget.unwrap_or(Duration::from_secs(20));
        if delay + budget >= Duration::from_secs(30) {
            self.warnings.push(format!(
                "drain delay {} ms + budget {} ms reach Kubernetes' default grace period of 30 s: raise terminationGracePeriodSeconds above their sum",
                delay.as_millis(),
                budget.as_millis()
            ));
        }
        let attempts = self.retries.unwrap_or(1) + 1;
        let timeout = self.timeout.unwrap_or(Duration::from_secs(2));
        if timeout * attempts > Duration::from_secs(10) {
            self.warnings.push(format!(
                "{attempts} attempts of up to {} ms: one check run may take over 10 s",
                timeout.as_millis()
            ));
        }
        let asked = [self.show_details, self.show_components].contains(&Some(Show::WhenAuthorized));
        if self.details_token_file.is_some() && !asked {
            self.warnings.push(format!(
                "{} is set but neither {} nor {} is when_authorized: the token is not asked for",
                var::DETAILS_TOKEN_FILE,
                var::SHOW_DETAILS,
                var::SHOW_COMPONENTS
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_is_shown_details_is_read_and_when_authorized_needs_the_token_file() {
        let config = HealthConfig::from_vars([
            (var::SHOW_DETAILS, "When-Authorized"),
            (var::SHOW_COMPONENTS, "always"),
            (var::DETAILS_TOKEN_FILE, "/var/run/secrets/health/token"),
        ])
        .unwrap();
        assert_eq!(config.show_details, Some(Show::WhenAuthorized));
        assert_eq!(config.show_components, Some(Show::Always));
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        let error = HealthConfig::from_vars([(var::SHOW_COMPONENTS, "when_authorized")]);
        assert_eq!(
            error.unwrap_err().to_string(),
            "HEALTH_SHOW_COMPONENTS=\"when_authorized\": needs HEALTH_DETAILS_TOKEN_FILE (the bearer token's file)"
        );
        let error = HealthConfig::from_vars([(var::SHOW_DETAILS, "sometimes")]);
        assert_eq!(
            error.unwrap_err().to_string(),
            "HEALTH_SHOW_DETAILS=\"sometimes\": `never`, `always` or `when_authorized`"
        );
        let typo = HealthConfig::from_vars([("HEALTH_SHOW_DETAIL", "always")]);
        assert!(typo.unwrap_err().to_string().contains("a typo?"));
        let unused = HealthConfig::from_vars([(var::DETAILS_TOKEN_FILE, "/token")]).unwrap();
        assert_eq!(unused.warnings().len(), 1, "{:?}", unused.warnings());
        // Runtime settings: a file may change them.
        let running = HealthConfig::default()
            .with_settings_text("HEALTH_SHOW_DETAILS=never\nHEALTH_SHOW_COMPONENTS=always\n")
            .unwrap();
        assert_eq!(running.show_details, Some(Show::Never));
    }

    #[test]
    fn fleet_settings_are_read_bounded_and_the_url_never_shown() {
        let config = HealthConfig::from_vars([
            (
                "HEALTH_FLEET_REDIS_URL",
                "redis://:hunter2hunter2@redis:6379/",
            ),
            ("HEALTH_FLEET_NAME", "shop"),
            ("HEALTH_FLEET_INTERVAL_MS", "500"),
            ("HEALTH_FLEET_MAX_REPLICAS", "12"),
            ("HEALTH_FLEET_SHARED_OUTAGE", "not_ready"),
            (
                "HEALTH_WEBHOOK_URL",
                "https://hooks.slack.com/services/T0/B0/s3cretpath",
            ),
        ])
        .unwrap();
        assert!(!format!("{config:?}").contains("s3cretpath"));
        assert_eq!(
            config.webhook_url(),
            Some("https://hooks.slack.com/services/T0/B0/s3cretpath")
        );
        assert_eq!(config.fleet_ready_in_shared_outage, Some(false));
        assert_eq!(
            config.fleet_redis_url(),
            Some("redis://:hunter2hunter2@redis:6379/")
        );
        assert_eq!(config.fleet_name.as_deref(), Some("shop"));
        assert_eq!(config.fleet_interval, Some(Duration::from_millis(500)));
        assert_eq!(config.fleet_max_replicas, Some(12));
        assert!(!format!("{config:?}").contains("hunter2"));
        let error = |key, value| {
            HealthConfig::from_vars([(key, value)])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("HEALTH_FLEET_INTERVAL_MS", "50"),
            "HEALTH_FLEET_INTERVAL_MS=\"50\": out of range (100 to 60000 ms)"
        );
        assert!(error("HEALTH_FLEET_ID", "a\u{7}b").contains("no control characters"));
        assert!(error("HEALTH_FLEET_REPLICAS", "3").contains("a typo?"));
        assert_eq!(
            error("HEALTH_FLEET_SHARED_OUTAGE", "maybe"),
            "HEALTH_FLEET_SHARED_OUTAGE=\"maybe\": `ready` or `not_ready`"
        );
    }

    #[test]
    fn variables_are_read_and_others_ignored() {
        let config = HealthConfig::from_vars([
            ("HEALTH_CHECK_TIMEOUT_MS", "500"),
            ("HEALTH_CHECK_CACHE_PRIMARY_TIMEOUT_MS", "700"),
            ("HEALTH_CHECK_RETRY_COUNT", "2"),
            ("HEALTH_CHECK_ENABLED_COMPONENTS", "db, cache-primary ,"),
            ("HEALTH_CHECK_CACHE_TTL_MS", "2000"),
            ("HEALTH_METRICS_PATH", ""),
            ("HEALTH_READY_PATH", "/readyz"),
            ("HEALTH_ANOMALY_HIGH_P95_LATENCY_THRESHOLD", "800.5"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        assert_eq!(config.timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            config.check_timeouts["CACHE_PRIMARY"],
            Duration::from_millis(700)
        );
        assert_eq!(config.retries, Some(2));
        assert_eq!(
            config.enabled_components.as_deref(),
            Some(&["db".to_owned(), "cache-primary".to_owned()][..])
        );
        assert_eq!(config.metrics_path, Some(None));
        assert_eq!(config.ready_path.as_deref(), Some("/readyz"));
        assert_eq!(config.anomaly_thresholds["HIGH_P95_LATENCY"], 800.5);
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        assert_eq!(env_name("cache-primary.eu"), "CACHE_PRIMARY_EU");
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        let cases = [
            (
                "HEALTH_CHECK_TIMEOUT_MS",
                "0",
                "out of range (1 to 60000 ms)",
            ),
            (
                "HEALTH_CHECK_TIMEOUT_MS",
                "61000",
                "out of range (1 to 60000 ms)",
            ),
            (
                "HEALTH_CHECK_DB_TIMEOUT_MS",
                "fast",
                "not a whole number of milliseconds",
            ),
            ("HEALTH_CHECK_RETRY_COUNT", "-1", "not a whole number"),
            (
                "HEALTH_CHECK_FAILURE_THRESHOLD",
                "0",
                "out of range (1 to 100)",
            ),
            (
                "HEALTH_CHECK_ENABLED_COMPONENTS",
                " , ",
                "names no check: leave it unset to run them all",
            ),
            (
                "HEALTH_ANOMALY_HIGH_CPU_THRESHOLD",
                "inf",
                "not a finite number",
            ),
            (
                "HEALTH_CHECK_TIMEOUTMS",
                "5",
                "not a setting this crate reads (a typo?)",
            ),
        ];
        for (variable, value, reason) in cases {
            let error = HealthConfig::from_vars([(variable, value)]).unwrap_err();
            assert_eq!(
                error,
                ConfigError::Env {
                    variable: variable.into(),
                    value: value.trim().into(),
                    reason: reason.into()
                }
            );
        }
    }

    #[test]
    fn doubtful_settings_warn() {
        let config = HealthConfig::from_vars([
            ("HEALTH_CHECK_DEADLINE_MS", "1500"),
            ("HEALTH_CHECK_TIMEOUT_MS", "5000"),
            ("HEALTH_CHECK_RETRY_COUNT", "3"),
            ("HEALTH_CHECK_CACHE_TTL_MS", "0"),
        ])
        .unwrap();
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        assert!(warnings[0].contains("kubelet"));
        assert!(warnings[1].contains("above the 1500 ms deadline"));
        assert!(warnings[2].starts_with("HEALTH_CHECK_CACHE_TTL_MS=0"));
        assert!(warnings[3].contains("4 attempts of up to 5000 ms"));
    }
}
