//! [`ProcessCheck`] and [`DiskSpaceCheck`]: the process's and the host's resources.

use std::path::PathBuf;

use crate::checker::{CheckError, CheckFuture, HealthCheck};
use crate::health_report::{CheckResult, HealthStatus};
use crate::probe::CpuSampler;
use crate::probe::ProcessStats;

use super::Limit;

/// Judges the process's CPU use (since the previous run, in % of the cores), resident memory,
/// open file descriptors (as a share of the limit) and threads against limits; only the limits
/// set are judged (default: CPU degraded from 85 %, unhealthy from 98 %; descriptors degraded
/// from 80 % of the limit, unhealthy from 95 %). Metadata: every figure read.
///
/// ```
/// use tower_vitals::checks::{Limit, ProcessCheck};
///
/// let check = ProcessCheck::new()
///     .resident_memory_bytes(Limit::above(1.5e9, 1.9e9)?)
///     .threads(Limit::above(500.0, 1000.0)?);
/// # drop(check);
/// # Ok::<(), tower_vitals::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct ProcessCheck {
    cpu: CpuSampler,
    cpu_percent: Option<Limit>,
    resident_memory_bytes: Option<Limit>,
    open_fds_ratio: Option<Limit>,
    threads: Option<Limit>,
}

impl ProcessCheck {
    /// The check with the default limits.
    pub fn new() -> Self {
        Self {
            cpu: CpuSampler::new(),
            cpu_percent: Some(Limit::above(85.0, 98.0).expect("ordered")),
            resident_memory_bytes: None,
            open_fds_ratio: Some(Limit::above(0.8, 0.95).expect("ordered")),
            threads: None,
        }
    }

    /// Limits on CPU use, in percent of the available cores.
    #[must_use]
    pub fn cpu_percent(mut self, limit: Limit) -> Self {
        self.cpu_percent = Some(limit);
        self
    }

    /// Limits on resident memory, in bytes.
    #[must_use]
    pub fn resident_memory_bytes(mut self, limit: Limit) -> Self {
        self.resident_memory_bytes = Some(limit);
        self
    }

    /// Limits on open file descriptors as a share (0–1) of the soft limit.
    #[must_use]
    pub fn open_fds_ratio(mut self, limit: Limit) -> Self {
        self.open_fds_ratio = Some(limit);
        self
    }

    /// Limits on the number of threads.
    #[must_use]
    pub fn threads(mut self, limit: Limit) -> Self {
        self.threads = Some(limit);
        self
    }
}

impl Default for ProcessCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthCheck for ProcessCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let stats = tokio::task::spawn_blocking(ProcessStats::read)
                .await
                .map_err(|e| CheckError::new(e.to_string()))?
                .map_err(CheckError::new)?;
            let cpu = self.cpu.percent(&stats);
            let fds_ratio = stats
                .max_fds
                .map(|max| stats.open_fds as f64 / max.max(1) as f64);
            let judged = [
                (self.cpu_percent, cpu, "CPU", "%"),
                (
                    self.resident_memory_bytes,
                    Some(stats.resident_memory_bytes as f64),
                    "resident memory",
                    "bytes",
                ),
                (
                    self.open_fds_ratio,
                    fds_ratio,
                    "open file descriptors / limit",
                    "",
                ),
                (self.threads, Some(stats.threads as f64), "threads", ""),
            ];
            let mut status = HealthStatus::Healthy;
            let mut messages = Vec::new();
            for (limit, value, what, unit) in judged {
                if let (Some(limit), Some(value)) = (limit, value) {
                    let judged = limit.status(value);
                    if judged != HealthStatus::Healthy {
                        status = status.max(judged);
                        messages.push(limit.describe(what, value, unit));
                    }
                }
            }
            let mut result = CheckResult::new(status)
                .with_metadata("cpu_percent", cpu)
                .with_metadata("resident_memory_bytes", stats.resident_memory_bytes)
                .with_metadata("open_fds", stats.open_fds)
                .with_metadata("max_fds", stats.max_fds)
                .with_metadata("threads", stats.threads);
            if !messages.is_empty() {
                result = result.with_message(messages.join("; "));
            }
            Ok(result)
        })
    }
}

/// Judges the free space of the file system holding a path: degraded below 10 % free,
/// unhealthy below 5 % by default (as a share available to unprivileged users), or against a
/// limit in bytes. Metadata: free and total bytes.
#[derive(Debug, Clone)]
pub struct DiskSpaceCheck {
    path: PathBuf,
    free_ratio: Limit,
    free_bytes: Option<Limit>,
}

impl DiskSpaceCheck {
    /// The check of the file system holding `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            free_ratio: Limit::below(0.10, 0.05).expect("ordered"),
            free_bytes: None,
        }
    }

    /// Limits on the free share (0–1); see [`Limit::below`].
    #[must_use]
    pub fn free_ratio(mut self, limit: Limit) -> Self {
        self.free_ratio = limit;
        self
    }

    /// Limits on the free bytes as well; see [`Limit::below`].
    #[must_use]
    pub fn free_bytes(mut self, limit: Limit) -> Self {
        self.free_bytes = Some(limit);
        self
    }
}

impl HealthCheck for DiskSpaceCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let path = self.path.clone();
            let stat = tokio::task::spawn_blocking(move || rustix::fs::statvfs(&path))
                .await
                .map_err(|e| CheckError::new(e.to_string()))?
                .map_err(|e| CheckError::new(format!("statvfs {}: {e}", self.path.display())))?;
            let total = stat.f_blocks.saturating_mul(stat.f_frsize);
            let free = stat.f_bavail.saturating_mul(stat.f_frsize);
            let ratio = if total == 0 {
                1.0
            } else {
                free as f64 / total as f64
            };
            let mut status = self.free_ratio.status(ratio);
            let mut messages = Vec::new();
            if status != HealthStatus::Healthy {
                messages.push(self.free_ratio.describe("free share", ratio, ""));
            }
            if let Some(limit) = self.free_bytes {
                let judged = limit.status(free as f64);
                if judged != HealthStatus::Healthy {
                    status = status.max(judged);
                    messages.push(limit.describe("free space", free as f64, "bytes"));
                }
            }
            let mut result = CheckResult::new(status)
                .with_metadata("path", self.path.display().to_string())
                .with_metadata("free_bytes", free)
                .with_metadata("total_bytes", total);
            if !messages.is_empty() {
                result = result.with_message(messages.join("; "));
            }
            Ok(result)
        })
    }
}
