//! What the gateway's Prometheus metrics cost a call: the decision counted (a labelled counter,
//! the refusal code, the latency histogram) and the outcome counted, against an empty closure
//! measured in the same run. Run: `cargo bench -p airlock-mcp --bench metrics`.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::time::Duration;

use airlock_mcp::metrics::Metrics;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let m = Metrics::new();
    let tools = ["read_file", "write_file", "search", "fetch", "echo"];
    let mut g = c.benchmark_group("metrics");
    let mut i = 0usize;
    g.bench_function("baseline_nothing", |b| {
        b.iter(|| {
            i += 1;
            black_box(tools[i % tools.len()]);
        })
    });
    g.bench_function("allowed_call_decided_and_ended", |b| {
        b.iter(|| {
            i += 1;
            let tool = tools[i % tools.len()];
            m.decided(Some(tool), "allowed", None, Duration::from_micros(2));
            m.ended(tool, "succeeded", Some(Duration::from_millis(3)));
        })
    });
    g.bench_function("refused_call_decided", |b| {
        b.iter(|| {
            i += 1;
            let tool = tools[i % tools.len()];
            m.decided(
                Some(tool),
                "refused",
                Some("validation.type"),
                Duration::from_micros(2),
            );
        })
    });
    let config = airlock_testkit::core_only().build().unwrap();
    let engine = airlock_core::Engine::builder()
        .config(config)
        .build()
        .unwrap();
    g.bench_function("scrape_render", |b| {
        b.iter(|| black_box(m.render(3, &engine).len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
