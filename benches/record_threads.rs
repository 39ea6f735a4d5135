//! `cargo bench --bench record_threads`: `MetricsCollector::record` from 1, 2, 4 and 8 threads
//! hitting one collector. Prints the CPU time per record (summed over the threads, so waiting
//! and cache-line traffic show up, while threads sharing a core do not inflate it) and its ratio
//! to the single-thread cost measured in the same run.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use http::{Method, StatusCode};
use tower_vitals::metrics::{MetricsCollector, Outcome, RequestRecord};

const PER_THREAD: u64 = 2_000_000;

fn run(threads: usize) -> (f64, f64) {
    let collector = MetricsCollector::new();
    let barrier = Barrier::new(threads);
    let started = Instant::now();
    let cpu: Duration = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let cpu = ThreadTime::now();
                    for i in 0..PER_THREAD {
                        collector.record(black_box(&RequestRecord {
                            route: Some("/orders/{id}"),
                            method: &Method::GET,
                            outcome: Outcome::status(if i.is_multiple_of(64) {
                                StatusCode::INTERNAL_SERVER_ERROR
                            } else {
                                StatusCode::OK
                            }),
                            duration: Duration::from_micros(200 + i % 5_000),
                            time_to_headers: Some(Duration::from_micros(150)),
                        }));
                    }
                    cpu.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let wall = started.elapsed();
    let records = (threads as u64 * PER_THREAD) as f64;
    assert_eq!(collector.snapshot().totals.requests, records as u64);
    (
        cpu.as_nanos() as f64 / records,
        records / wall.as_secs_f64() / 1e6,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench` may ask the harness for its benchmarks
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("record(): {PER_THREAD} records per thread, {cores} cores");
    println!(
        "{:>7} {:>16} {:>12} {:>18}",
        "threads", "cpu ns/record", "vs 1 thread", "million records/s"
    );
    run(1); // warm up
    let (base, _) = run(1);
    for threads in [1, 2, 4, 8] {
        let (ns, throughput) = if threads == 1 {
            (base, 1e3 / base)
        } else {
            run(threads)
        };
        println!(
            "{threads:>7} {ns:>16.1} {:>11.2}x {throughput:>18.1}",
            ns / base
        );
    }
}
