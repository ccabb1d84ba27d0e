//! What telemetry adds to one tool call through the lifecycle (admit, then finish with the
//! server's answer), against the same call without it, measured in one run:
//!
//! * `baseline`: no metrics, no telemetry;
//! * `prometheus`: the gateway's Prometheus counters (`--metrics`);
//! * `otel_metrics`: OpenTelemetry metrics only;
//! * `otel_traces_and_metrics`: a `SERVER` span with its `airlock.check`, upstream and
//!   `airlock.clean` children, and the metrics — exported by the batch span processor to a
//!   real OTLP/HTTP receiver on loopback (it decodes every request and counts the spans).
//!
//! Run: `cargo bench -p airlock-mcp --bench telemetry`. The spans the receiver counted are
//! printed at the end, so a run that exported nothing shows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::sync::Arc;

use airlock_core::config::TelemetrySettings;
use airlock_core::{CallerContext, Engine, ToolDef};
use airlock_mcp::lifecycle::{Admission, CallRequest, Lifecycle};
use airlock_mcp::telemetry::Telemetry;
use airlock_testkit::otlp::OtlpReceiver;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn engine() -> Arc<Engine> {
    let tools = ToolDef::parse_list(json!({"tools": [{"name": "echo", "description": "Echo.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]}))
    .unwrap();
    // The engine `airlock serve` runs: every default check, and results masked.
    let config = airlock_core::ConfigBuilder::new().build().unwrap();
    let builder = agent_airlock::engine_builder(config).unwrap();
    Arc::new(builder.tools(tools).build().unwrap())
}

/// One call: admitted, forwarded, its answer finished.
fn call(rt: &tokio::runtime::Runtime, lifecycle: &Lifecycle, caller: &CallerContext, i: u64) {
    let lock = tokio::sync::Mutex::new(());
    let message = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hello, world"}}});
    let admitted = rt.block_on(lifecycle.admit(
        CallRequest {
            message,
            caller,
            version: Some("2025-06-18"),
            fetch_lock: &lock,
            trace: None,
            elicit: None,
            remember: true,
        },
        |_, _| async { None },
    ));
    let Admission::Forward { request, ticket } = admitted.admission else {
        panic!("the call was refused")
    };
    black_box(request);
    let mut answer = json!({"jsonrpc": "2.0", "id": i,
        "result": {"content": [{"type": "text", "text": "hello, world"}]}});
    lifecycle.finish(&ticket, &mut answer);
    black_box(answer);
}

fn bench(c: &mut Criterion) {
    // The exports run on the runtime's worker; block_on drives each call on this thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let receiver = OtlpReceiver::counting();
    let start = |traces: bool| {
        let settings = TelemetrySettings {
            enabled: Some(true),
            endpoint: Some(receiver.url()),
            traces,
            ..TelemetrySettings::default()
        };
        let engine = engine();
        rt.block_on(async { Telemetry::start(&settings, None, engine) })
            .unwrap()
            .unwrap()
    };
    let caller = CallerContext::default().agent("bench");
    let baseline = Lifecycle::new(engine());
    let prometheus =
        Lifecycle::new(engine()).with_metrics(Arc::new(airlock_mcp::metrics::Metrics::new()));
    let metrics_only = start(false);
    let otel_metrics = Lifecycle::new(engine()).with_telemetry(metrics_only.clone());
    let everything = start(true);
    let otel = Lifecycle::new(engine()).with_telemetry(everything.clone());

    let mut g = c.benchmark_group("telemetry");
    let mut i = 0u64;
    for (name, lifecycle) in [
        ("baseline", &baseline),
        ("prometheus", &prometheus),
        ("otel_metrics", &otel_metrics),
        ("otel_traces_and_metrics", &otel),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                call(&rt, lifecycle, &caller, i);
            })
        });
    }
    g.finish();
    rt.block_on(async {
        tokio::task::spawn_blocking(move || {
            everything.shutdown();
            metrics_only.shutdown();
        })
        .await
        .unwrap()
    });
    eprintln!("the OTLP receiver decoded {} spans", receiver.span_count());
}

criterion_group!(benches, bench);
criterion_main!(benches);
