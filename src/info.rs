//! [`AppInfo`]: what the application is and where it runs — its name and version (captured at
//! its own compile time by [`app_info!`](crate::app_info)), git commit and build time when
//! given, environment, Rust version, host, pid, start time.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::HealthConfig;

/// Build and runtime information about the application, served at `/health/info`, in the
/// detailed report and as the `vitals_build_info` gauge in `/metrics`.
///
/// Made by [`app_info!`](crate::app_info), which captures the *application's* name and version
/// (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION` of the crate that calls it) and, when its build set
/// them, `GIT_COMMIT` (or vergen's `VERGEN_GIT_SHA`) and `BUILD_TIME` (or
/// `VERGEN_BUILD_TIMESTAMP`). At run time [`config`](Self::config) fills the commit, build time
/// and environment name from `HEALTH_GIT_COMMIT`, `HEALTH_BUILD_TIME` and `HEALTH_ENVIRONMENT`.
///
/// ```
/// let info = tower_vitals::app_info!().environment("staging");
/// assert_eq!(info.name(), env!("CARGO_PKG_NAME"));
/// assert_eq!(info.version(), env!("CARGO_PKG_VERSION"));
/// assert!(info.rust_version().starts_with("rustc "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppInfo {
    name: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    git_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    rust_version: String,
    host: String,
    pid: u32,
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    started_at: SystemTime,
}

/// Captures the calling application's name and version, and its build's git commit and build
/// time when set, into an [`AppInfo`]. Call it in the application, not in a library.
#[macro_export]
macro_rules! app_info {
    () => {
        $crate::AppInfo::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).built(
            option_env!("GIT_COMMIT").or(option_env!("VERGEN_GIT_SHA")),
            option_env!("BUILD_TIME").or(option_env!("VERGEN_BUILD_TIMESTAMP")),
        )
    };
}

impl AppInfo {
    /// Information about the application `name` at `version`; prefer
    /// [`app_info!`](crate::app_info), which reads both from the application's build.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            git_commit: None,
            build_time: None,
            environment: None,
            rust_version: env!("TOWER_VITALS_RUSTC_VERSION").to_owned(),
            host: host(),
            pid: std::process::id(),
            started_at: crate::clock::now(),
        }
    }

    /// The git commit and build time the application's build recorded, if any.
    #[doc(hidden)]
    pub fn built(mut self, commit: Option<&str>, time: Option<&str>) -> Self {
        self.git_commit = commit.map(str::to_owned).filter(|c| !c.is_empty());
        self.build_time = time.map(str::to_owned).filter(|t| !t.is_empty());
        self
    }

    /// The git commit.
    pub fn git_commit(mut self, commit: impl Into<String>) -> Self {
        self.git_commit = Some(commit.into());
        self
    }

    /// When it was built.
    pub fn build_time(mut self, time: impl Into<String>) -> Self {
        self.build_time = Some(time.into());
        self
    }

    /// The environment's name (`production`, `staging`…).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Fills what the build did not record from `HEALTH_GIT_COMMIT`, `HEALTH_BUILD_TIME` and
    /// `HEALTH_ENVIRONMENT`.
    pub fn config(mut self, config: &HealthConfig) -> Self {
        self.git_commit = self.git_commit.or_else(|| config.git_commit.clone());
        self.build_time = self.build_time.or_else(|| config.build_time.clone());
        self.environment = config.environment.clone().or(self.environment);
        self
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The application's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The host: the pod's name in Kubernetes (`HOSTNAME`), else the kernel's host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The git commit, if known.
    pub fn commit(&self) -> Option<&str> {
        self.git_commit.as_deref()
    }

    /// The environment's name, if given.
    pub fn environment_name(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// The compiler that built it (`rustc 1.95.0 (…)`).
    pub fn rust_version(&self) -> &str {
        &self.rust_version
    }

    /// Time since the information was made (at start-up).
    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed().unwrap_or_default()
    }
}

/// The pod's name in Kubernetes (`HOSTNAME`), else the kernel's host name.
fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
