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
        use rustix::param::{clock_ticks_per_second, page_size};
        use rustix::process::{Resource, getrlimit};

        #[cfg(test)]
        READ_ON.lock().push(std::thread::current().id());

        let read =
            |path: &str| std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"));
        let stat = Stat::parse(&read("/proc/self/stat")?)?;
        let boot = boot_time(&read("/proc/stat")?)?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map_err(|e| format!("counting /proc/self/fd: {e}"))?
            .count()
            // The directory handle the count itself holds open.
            .saturating_sub(1);
        // getrlimit rather than parsing /proc/self/limits: one system call.
        let max_fds = getrlimit(Resource::Nofile).current;
        let ticks = clock_ticks_per_second() as f64;
        Ok(Self {
            cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
            resident_memory_bytes: stat.rss_pages.saturating_mul(page_size() as u64),
            virtual_memory_bytes: stat.vsize,
            open_fds: open_fds as u64,
            max_fds,
            threads: stat.threads,
            start_time_seconds: boot as f64 + stat.starttime as f64 / ticks,
        })
    }

    /// Reads the figures; an error says why they are unavailable.
    #[cfg(not(all(feature = "process", target_os = "linux")))]
    pub fn read() -> Result<Self, String> {
        Err("process figures need the `process` feature on Linux".to_owned())
    }
}

/// The fields of `/proc/<pid>/stat` these figures need (proc(5)).
#[derive(Debug, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    threads: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

impl Stat {
    /// Parses the one line of `/proc/<pid>/stat`: the command name is in parentheses and may
    /// hold spaces and parentheses itself, so the fields are counted from the last `)`.
    #[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))]
    fn parse(line: &str) -> Result<Self, String> {
        let bad = |what: &str| format!("/proc/self/stat: {what} in {line:?}");
        let (_, rest) = line
            .rsplit_once(')')
            .ok_or_else(|| bad("no command name"))?;
        // After the name: field 3 (state) first; proc(5) numbers them from 1.
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let field = |number: usize| -> Result<u64, String> {
            let text = fields
                .get(number - 3)
                .ok_or_else(|| bad(&format!("no field {number}")))?;
            text.parse()
                .map_err(|_| bad(&format!("field {number} is not a count")))
        };
        Ok(Self {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            starttime: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

/// The boot time, in seconds since the Unix epoch: the `btime` line of `/proc/stat`.
#[cfg_attr(not(all(feature = "process", target_os = "linux")), allow(dead_code))]
fn boot_time(text: &str) -> Result<u64, String> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| "/proc/stat: no btime line".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_are_counted_from_the_last_parenthesis() {
        // A command name with spaces and parentheses, as a process may name itself.
        let line = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 1500 0 3 0 \
                    250 75 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0";
        assert_eq!(
            Stat::parse(line).unwrap(),
            Stat {
                utime: 250,
                stime: 75,
                threads: 9,
                starttime: 123_456,
                vsize: 987_654_321,
                rss_pages: 2048,
            }
        );
        assert!(
            Stat::parse("4242 (cut short) S 1 2")
                .unwrap_err()
                .contains("no field 14")
        );
        assert!(Stat::parse("no parenthesis").is_err());
        assert!(
            Stat::parse("1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 0").is_err(),
            "a negative count"
        );
    }

    #[test]
    fn the_boot_time_is_the_btime_line() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1764590400\nprocesses 9\n"),
            Ok(1_764_590_400)
        );
        assert!(boot_time("cpu 1\n").is_err());
    }

    /// Against the kernel's own files: what `ps` would say of this process.
    #[cfg(all(feature = "process", target_os = "linux"))]
    #[test]
    fn this_process_reads_as_itself() {
        let stats = ProcessStats::read().unwrap();
        assert!(
            stats.resident_memory_bytes > 0
                && stats.virtual_memory_bytes >= stats.resident_memory_bytes
        );
        assert!(stats.threads >= 1 && stats.open_fds >= 3, "{stats:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(stats.start_time_seconds <= now + 1.0, "{stats:?}");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let threads: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Threads may come and go between the two reads; the same order of magnitude.
        assert!(
            stats.threads.abs_diff(threads) <= 16,
            "{stats:?} against {threads}"
        );
    }
}
