//! Probes of the running process and runtime: `/proc` figures, CPU use between readings, and
//! Tokio scheduling lag. Used by the built-in checks and by the figures snapshot alike, so they
//! live below both.

mod cpu;
mod process;
mod runtime;

pub(crate) use cpu::CpuSampler;
pub use process::ProcessStats;
#[cfg(all(test, feature = "process", target_os = "linux"))]
pub(crate) use process::READ_ON;
pub(crate) use runtime::RuntimeProbe;
pub use runtime::RuntimeStats;
