//! The process over time — CPU, resident memory, the runtime's scheduling lag — in the same
//! fixed rings as the status timelines, sampled every fine interval by a task started with
//! the first gathering (`/proc` read on a blocking thread).

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::checker::TimelineSettings;
use crate::probe::{CpuSampler, ProcessStats, RuntimeProbe};
use crate::ring::{RoundRobin, pick, widen};

#[derive(Debug, Clone, Copy, Default)]
struct Interval {
    samples: u32,
    cpu_sum: f64,
    cpu_max: f64,
    rss_max: u64,
    lag_max_us: u32,
}

type Ring = RoundRobin<Interval>;

/// One point of the process timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProcessPoint {
    /// When it starts.
    #[serde(serialize_with = "crate::health_report::rfc3339")]
    pub start: SystemTime,
    /// CPU use, mean of the samples, as a share of the machine's cores (0 to 100).
    pub cpu_percent: Option<f64>,
    /// CPU use, the highest sample.
    pub cpu_max_percent: Option<f64>,
    /// Resident memory, the highest sample.
    pub rss_bytes: Option<u64>,
    /// The runtime's scheduling lag, the highest sample, in milliseconds.
    pub runtime_lag_ms: Option<f64>,
}

/// The process over a time range: a point per `step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProcessTimeline {
    /// The time each point covers.
    #[serde(rename = "step_seconds", serialize_with = "seconds")]
    pub step: Duration,
    /// The points, oldest first.
    pub points: Vec<ProcessPoint>,
}

fn seconds<S: serde::Serializer>(step: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(step.as_secs_f64())
}

#[derive(Debug)]
struct Rings {
    fine: Ring,
    coarse: Ring,
}

/// The rings and the sampling task's state.
#[derive(Debug)]
pub(crate) struct ProcessHistory {
    origin: Instant,
    rings: Mutex<Rings>,
    cpu: CpuSampler,
    started: std::sync::atomic::AtomicBool,
}

impl ProcessHistory {
    pub(crate) fn new(settings: &TimelineSettings) -> Self {
        let (fine, coarse) = settings.lengths();
        Self {
            origin: Instant::now(),
            rings: Mutex::new(Rings {
                fine: Ring::new(settings.fine.0, fine),
                coarse: Ring::new(settings.coarse.0, coarse),
            }),
            cpu: CpuSampler::new(),
            started: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts sampling every fine interval on the current runtime, once; it stops when the
    /// history is dropped.
    pub(crate) fn ensure_started(self: &Arc<Self>, probe: &RuntimeProbe) {
        use std::sync::atomic::Ordering;
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            self.started.store(false, Ordering::Release);
            return;
        };
        let history: Weak<Self> = Arc::downgrade(self);
        let period = self.rings.lock().fine.step();
        let probe = probe.clone();
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(history) = history.upgrade() else {
                    break;
                };
                let read = tokio::task::spawn_blocking(ProcessStats::read).await;
                let stats = read.ok().and_then(Result::ok);
                history.sample(Instant::now(), stats.as_ref(), probe.last_lag_ms());
            }
        });
    }

    fn sample(&self, now: Instant, stats: Option<&ProcessStats>, lag_ms: Option<f64>) {
        let cpu = stats.and_then(|stats| self.cpu.percent(stats));
        let at = now.saturating_duration_since(self.origin);
        let mut rings = self.rings.lock();
        let Rings { fine, coarse } = &mut *rings;
        for ring in [fine, coarse] {
            let interval = ring.at(ring.number(at));
            if let Some(cpu) = cpu {
                interval.samples += 1;
                interval.cpu_sum += cpu;
                interval.cpu_max = interval.cpu_max.max(cpu);
            }
            if let Some(stats) = stats {
                interval.rss_max = interval.rss_max.max(stats.resident_memory_bytes);
            }
            if let Some(lag) = lag_ms {
                interval.lag_max_us = interval.lag_max_us.max((lag * 1e3) as u32);
            }
        }
    }

    /// Points from `since` to `until`, per `step` (the rings chosen as for the timelines).
    pub(crate) fn timeline(
        &self,
        (since, until): (SystemTime, SystemTime),
        step: Option<Duration>,
        max_points: usize,
    ) -> ProcessTimeline {
        let offset =
            |at: SystemTime| crate::clock::instant_of(at).saturating_duration_since(self.origin);
        let now = self.origin.elapsed();
        let until = offset(until);
        let since = offset(since).min(until);
        let rings = self.rings.lock();
        let (fine, merge) = pick(&rings.fine, &rings.coarse, now.saturating_sub(since), step);
        let ring = if fine { &rings.fine } else { &rings.coarse };
        let merge = widen(ring, since, until, merge, max_points);
        let mut points = Vec::new();
        let last = ring.number(until);
        let mut number = ring.number(since) / merge * merge;
        while number <= last {
            let mut merged = Interval::default();
            for n in number..(number + merge).min(last + 1) {
                let Some(interval) = ring.get(n) else {
                    continue;
                };
                merged.samples += interval.samples;
                merged.cpu_sum += interval.cpu_sum;
                merged.cpu_max = merged.cpu_max.max(interval.cpu_max);
                merged.rss_max = merged.rss_max.max(interval.rss_max);
                merged.lag_max_us = merged.lag_max_us.max(interval.lag_max_us);
            }
            let sampled = merged.samples > 0;
            points.push(ProcessPoint {
                start: crate::clock::wall_of(self.origin + ring.start(number)),
                cpu_percent: sampled.then(|| merged.cpu_sum / f64::from(merged.samples)),
                cpu_max_percent: sampled.then_some(merged.cpu_max),
                rss_bytes: (merged.rss_max > 0).then_some(merged.rss_max),
                runtime_lag_ms: (merged.lag_max_us > 0).then(|| f64::from(merged.lag_max_us) / 1e3),
            });
            number += merge;
        }
        ProcessTimeline {
            step: ring
                .step()
                .saturating_mul(u32::try_from(merge).unwrap_or(u32::MAX)),
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(cpu_seconds: f64, rss: u64) -> ProcessStats {
        ProcessStats {
            cpu_seconds,
            resident_memory_bytes: rss,
            ..ProcessStats::default()
        }
    }

    #[test]
    fn samples_merge_into_means_and_maxima() {
        let history = ProcessHistory::new(&TimelineSettings::default());
        let origin = history.origin;
        for i in 0..12u32 {
            let at = origin + Duration::from_secs(10 * u64::from(i));
            history.sample(
                at,
                Some(&stats(f64::from(i), 1_000 * u64::from(i))),
                Some(f64::from(i)),
            );
        }
        let start = crate::clock::wall_of(origin);
        let until = start + Duration::from_secs(119);
        let minutes = history.timeline((start, until), Some(Duration::from_secs(60)), 10_000);
        assert_eq!(
            (minutes.step, minutes.points.len()),
            (Duration::from_secs(60), 2)
        );
        let second = &minutes.points[1];
        assert_eq!(second.rss_bytes, Some(11_000));
        assert_eq!(second.runtime_lag_ms, Some(11.0));
        let fine = history.timeline((start, until), None, 10_000);
        assert_eq!(
            (fine.step, fine.points.len()),
            (Duration::from_secs(10), 12)
        );
        assert_eq!(fine.points[3].rss_bytes, Some(3_000));
    }
}
