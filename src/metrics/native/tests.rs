use super::*;
use crate::metrics::NativeBuckets;

/// SplitMix64: a small deterministic generator, so every run checks the same samples.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Whether `seconds` lies in bucket `index` at `scale`: above the bound below, at most its own.
fn holds(scale: i8, index: i32, seconds: f64) -> bool {
    upper_bound(scale, index - 1) < seconds && seconds <= upper_bound(scale, index)
}

#[test]
fn powers_of_two_are_upper_bounds() {
    assert_eq!(finest_index(1.0), 0);
    assert_eq!(finest_index(2.0), 256);
    assert_eq!(finest_index(0.5), -256);
    assert_eq!(finest_index(1.0 + f64::EPSILON), 1);
    assert_eq!(finest_index(2.0 - f64::EPSILON), 256);
    assert_eq!(finest_index(0.25 + 1e-12), -511);
    // Scale 0: a bucket per doubling, (1, 2] is bucket 1.
    assert_eq!(coarser(finest_index(1.5), 8), 1);
    assert_eq!(coarser(finest_index(2.0), 8), 1);
    assert_eq!(coarser(finest_index(2.0 + 1e-9), 8), 2);
    assert_eq!(coarser(finest_index(0.75), 8), 0);
    // Scale -1: a bucket per four, (1, 4] is bucket 1.
    assert_eq!(coarser(finest_index(3.9), 9), 1);
    assert_eq!(coarser(finest_index(4.1), 9), 2);
}

#[test]
fn the_index_agrees_with_the_bounds_at_every_scale() {
    let mut rng = Rng(7);
    for _ in 0..200_000 {
        // 1 µs to 1 h, spread evenly over the doublings.
        let seconds = (rng.unit() * 31.7 - 19.9).exp2();
        let finest = finest_index(seconds);
        for scale in MIN_SCALE..=MAX_SCALE {
            let index = coarser(finest, (MAX_SCALE - scale) as u32);
            assert!(
                holds(scale, index, seconds),
                "{seconds} s in bucket {index} at scale {scale}: ({}, {}]",
                upper_bound(scale, index - 1),
                upper_bound(scale, index)
            );
        }
    }
    // Every bound itself, and its neighbours, at the finest scale.
    for index in -5120..3328 {
        let bound = upper_bound(MAX_SCALE, index);
        for seconds in [bound, bound.next_up(), bound.next_down()] {
            let found = finest_index(seconds);
            assert!(
                holds(MAX_SCALE, found, seconds) || (found - index).abs() <= 1,
                "{seconds}"
            );
        }
        assert!((finest_index(bound) - index).abs() <= 1, "bound {bound}");
    }
}

/// Records `samples` (seconds) into one series and checks: every count where a reference
/// bucketing at the final scale puts it, and each quantile within one bucket of the exact one.
fn check_against_reference(name: &str, samples: &[f64], buckets: usize) -> (NativeBuckets, f64) {
    let mut set = NativeSet::new(1, buckets, 4);
    for &seconds in samples {
        set.record(0, (seconds * 1e9).round() as u64);
    }
    let native = set.of(0).expect("recorded");
    assert!(native.counts.len() <= buckets, "{name}: within its room");
    assert_eq!(native.count(), samples.len() as u64, "{name}: every sample");
    // The reference: each sample's own bucket at the scale the series ended at.
    let mut reference = vec![0_u64; native.counts.len()];
    let mut zero = 0;
    for &seconds in samples {
        let seconds = (seconds * 1e9).round() * 1e-9;
        if seconds <= ZERO_THRESHOLD {
            zero += 1;
            continue;
        }
        let index = coarser(finest_index(seconds), (MAX_SCALE - native.scale) as u32);
        reference[(index - native.offset) as usize] += 1;
    }
    assert_eq!(native.zero_count, zero, "{name}: zero bucket");
    assert_eq!(
        native.counts, reference,
        "{name}: counts kept through scale-downs"
    );
    // Quantiles: the exact one (by rank) and the native estimate in the same or next bucket.
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let width = (-f64::from(native.scale)).exp2().exp2();
    let mut worst = 0.0_f64;
    for q in [0.5, 0.9, 0.95, 0.99] {
        let exact = sorted[((q * sorted.len() as f64).ceil() as usize).max(1) - 1];
        let estimate = native.quantile(q).expect("not empty");
        if exact <= ZERO_THRESHOLD {
            assert!(estimate <= ZERO_THRESHOLD, "{name}: in the zero bucket");
            continue;
        }
        let error = (estimate - exact).abs() / exact;
        assert!(
            error <= width - 1.0,
            "{name}: p{} {estimate} vs {exact}: {:.2} % at scale {} (bucket {:.2} %)",
            q * 100.0,
            error * 100.0,
            native.scale,
            (width - 1.0) * 100.0
        );
        worst = worst.max(error);
    }
    eprintln!(
        "{name}: scale {}, {} buckets, worst quantile error {:.2} %",
        native.scale,
        native.counts.len(),
        worst * 100.0
    );
    (native, worst)
}

#[test]
fn uniform_log_normal_and_bimodal_samples_hold_the_error_bound() {
    let mut rng = Rng(42);
    let n = 100_000;
    // Uniform over 10 ms – 300 ms: a little under 5 doublings, scale 4 holds it.
    let uniform: Vec<f64> = (0..n).map(|_| 0.010 + 0.290 * rng.unit()).collect();
    let (native, uniform_error) = check_against_reference("uniform", &uniform, 160);
    assert_eq!(native.scale, 4);
    // Log-normal around 20 ms (σ = 1): about 2^±8 at the tails; 160 buckets need scale 3.
    let log_normal: Vec<f64> = (0..n).map(|_| 0.020 * rng.normal().exp()).collect();
    let (native, log_normal_error) = check_against_reference("log-normal", &log_normal, 160);
    assert_eq!(native.scale, 3);
    // Bimodal: a cache hit around 0.5 ms and a miss around 120 ms, 1 in 10.
    let bimodal: Vec<f64> = (0..n)
        .map(|_| {
            if rng.unit() < 0.9 {
                0.0005 * (0.2 * rng.normal()).exp()
            } else {
                0.120 * (0.1 * rng.normal()).exp()
            }
        })
        .collect();
    let (_, bimodal_error) = check_against_reference("bimodal", &bimodal, 160);
    // The goal: within 5 % where a series has room for the spread of its latencies.
    for error in [uniform_error, log_normal_error, bimodal_error] {
        assert!(error < 0.05, "{:.2} %", error * 100.0);
    }
}

#[test]
fn scale_down_keeps_counts_and_the_zero_bucket_takes_the_tiny() {
    let mut rng = Rng(3);
    // 1 µs to 1 h with 8 buckets only: the scale goes down to -2.
    let wide: Vec<f64> = (0..10_000)
        .map(|_| (rng.unit() * 31.7 - 19.9).exp2())
        .collect();
    let (native, _) = check_against_reference("wide", &wide, 8);
    assert!(native.scale <= -1, "scale {}", native.scale);
    // Below the zero threshold (and exactly 0).
    let mut tiny = vec![0.0, 1e-9, 5e-7];
    tiny.extend([0.001, 0.002]);
    let (native, _) = check_against_reference("tiny", &tiny, 8);
    assert_eq!(native.zero_count, 3);
    assert_eq!(native.quantile(0.5), Some(0.0));
    // Growing downwards then upwards moves the counts, never loses one.
    let staircase: Vec<f64> = [0.5, 0.25, 0.125, 0.0625, 1.0, 2.0, 4.0, 0.03]
        .iter()
        .flat_map(|&s| [s, s * 1.01])
        .collect();
    check_against_reference("staircase", &staircase, 64);
}

#[test]
fn pending_latencies_land_in_their_series() {
    let mut set = NativeSet::new(3, 16, 2);
    let mut pending = Pending::new();
    pending.push(2, 1_000_000);
    pending.push(0, 3_000_000);
    pending.push(2, u64::MAX); // clamped to 78 h, not wrapped into another series
    assert!(!pending.full());
    set.drain(&mut pending);
    assert_eq!(pending.len, 0);
    assert_eq!(set.of(1), None);
    assert_eq!(set.of(0).unwrap().count(), 1);
    let two = set.of(2).unwrap();
    assert_eq!(two.count(), 2);
    assert!(two.quantile(1.0).unwrap() > 200_000.0);
    for _ in 0..Pending::CAPACITY {
        pending.push(1, 5_000);
    }
    assert!(pending.full());
}
