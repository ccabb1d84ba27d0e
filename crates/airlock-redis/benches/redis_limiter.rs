//! Throughput and latency of the Redis rate store: concurrent decisions from one airlock
//! process against a local `redis-server` that the benchmark starts (and stops) itself.
//!
//! Run: `cargo bench -p airlock-redis --bench redis_limiter` (needs `redis-server` on PATH).
//! Criterion measures single-call latency poorly under concurrency, so this prints its own
//! figures: decisions per second, and p50/p99 latency per decision, for 1, 8 and 32 threads,
//! with the in-memory store measured the same way in the same run as the baseline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up stops loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_core::limits::{MemoryRateStore, OnUnavailable, Rate, RateStore};
use airlock_redis::RedisRateStore;
use airlock_testkit::RedisServer;
use jiff::Timestamp;

/// Decisions each thread makes.
const PER_THREAD: usize = 20_000;

fn run(store: Arc<dyn RateStore>, threads: usize) -> (f64, Duration, Duration) {
    // A rate high enough that every decision is admitted and written: the full GCRA path.
    let rate = Rate::parse("1000000000/second", None).unwrap();
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(PER_THREAD);
                for i in 0..PER_THREAD {
                    let key = format!("bench|tool:t{}|agent:a{t}", i % 16);
                    let t0 = Instant::now();
                    store.acquire(&key, rate, Timestamp::now()).unwrap();
                    lat.push(t0.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    )
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let redis = RedisServer::start();
    let store: Arc<dyn RateStore> = Arc::new(
        RedisRateStore::open(&redis.url(), "airlock:bench:", 1000, OnUnavailable::Refuse).unwrap(),
    );
    let memory: Arc<dyn RateStore> = Arc::new(MemoryRateStore::new());
    println!("store   threads  decisions/s        p50        p99");
    for threads in [1, 8, 32] {
        for (name, s) in [("memory", &memory), ("redis", &store)] {
            let (rate, p50, p99) = run(s.clone(), threads);
            println!(
                "{name:<7} {threads:>7} {rate:>12.0} {:>10.1?} {:>10.1?}",
                p50, p99
            );
        }
    }
}
