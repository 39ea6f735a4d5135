//! Figures of the running process, read from `/proc` (feature `process`, Linux).

/// CPU, memory, file descriptors and threads of this process.
///
/// ```
/// # #[cfg(all(feature = "process", target_os = "linux"))] {
/// let stats = tower_vitals::ProcessStats::read().unwrap();
/// assert!(stats.resident_memory_bytes > 0);
/// assert!(stats.threads >= 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct ProcessStats {
    /// User and system CPU time used, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub resident_memory_bytes: u64,
    /// Virtual memory, in bytes.
    pub virtual_memory_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors, if there is one.
    pub max_fds: Option<u64>,
    /// Threads.
    pub threads: u64,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

/// The threads `/proc` was read on, for tests that prove it is never a runtime worker.
#[cfg(all(test, feature = "process", target_os = "linux"))]
pub(crate) static READ_ON: parking_lot::Mutex<Vec<std::thread::ThreadId>> =
    parking_lot::Mutex::new(Vec::new());

impl ProcessStats {
    /// Reads the figures; an error says why they are unavailable.
    #[cfg(all(feature = "process", target_os = "linux"))]
    pub fn read() -> Result<Self, String> {
        use procfs::WithCurrentSystemInfo;
        use procfs::process::Process;
        use rustix::process::{Resource, getrlimit};

        #[cfg(test)]
        READ_ON.lock().push(std::thread::current().id());

        let process = Process::myself().map_err(|e| format!("reading /proc/self: {e}"))?;
        let stat = process
            .stat()
            .map_err(|e| format!("reading /proc/self/stat: {e}"))?;
        let ticks = procfs::ticks_per_second() as f64;
        let boot = procfs::boot_time_secs().map_err(|e| format!("reading boot time: {e}"))? as f64;
        let open_fds = process
            .fd_count()
            .map_err(|e| format!("counting /proc/self/fd: {e}"))?;
        // getrlimit rather than parsing /proc/self/limits: one system call.
        let max_fds = getrlimit(Resource::Nofile).current;
        Ok(Self {
            cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
            resident_memory_bytes: stat.rss_bytes().get(),
            virtual_memory_bytes: stat.vsize,
            open_fds: open_fds as u64,
            max_fds,
            threads: u64::try_from(stat.num_threads).unwrap_or(0),
            start_time_seconds: boot + stat.starttime as f64 / ticks,
        })
    }

    /// Reads the figures; an error says why they are unavailable.
    #[cfg(not(all(feature = "process", target_os = "linux")))]
    pub fn read() -> Result<Self, String> {
        Err("process figures need the `process` feature on Linux".to_owned())
    }
}
