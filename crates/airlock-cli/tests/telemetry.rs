//! OpenTelemetry through the real doors: `airlock serve` and `airlock run` export spans and
//! metrics over OTLP/HTTP to a real receiver started here on loopback, which decodes the
//! protobuf with the `opentelemetry-proto` types. The W3C trace context a client sends (HTTP
//! header, or `params._meta`) is the parent of the airlock's spans and reaches the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use airlock_testkit::otlp::{OtlpReceiver, points, string_attribute};
use common::{Lines, airlock_command, post, serve};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr(span: &Span, key: &str) -> Option<String> {
    string_attribute(&span.attributes, key)
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn refusal_code(v: &Value) -> Option<&str> {
    v.pointer("/result/_meta/airlock~1refusal/metadata/code")
        .and_then(Value::as_str)
}

/// The value of a metric's data point with these attributes, in the latest export that has it.
fn metric_value(otlp: &OtlpReceiver, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    otlp.metrics()
        .iter()
        .rev()
        .filter(|m| m.name == name)
        .find_map(|m| {
            points(m).into_iter().find_map(|(attrs, v)| {
                labels
                    .iter()
                    .all(|(k, want)| attrs.iter().any(|(ak, av)| ak == k && av == want))
                    .then_some(v)
            })
        })
}

/// A session through `airlock serve` shows up in the receiver: a `SERVER` span per request,
/// children for the check and the upstream call, the client's `traceparent` header as the
/// parent, the upstream span's context in the `_meta` the server got; and metrics: calls by
/// decision, refusals by code, masked values by type, budget spend, breaker state, sessions,
/// the operation-duration histogram.
#[test]
fn a_gateway_session_shows_up_as_traces_and_metrics() {
    let otlp = OtlpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry]\nenabled = true\nendpoint = {:?}\nservice_name = \"airlock-under-test\"\nmetrics_interval = \"200ms\"\n\
             [upstream.breaker]\nfailures = 3\n\
             [[budgets]]\nname = \"daily\"\nper = \"session\"\nwindow = \"day\"\ncalls = 100\n",
            otlp.url()
        ),
    )
    .unwrap();
    let log = dir.path().join("server.log");
    let server = airlock_testkit::test_server();
    let (gateway, url) = serve(
        &[
            "--config",
            config.to_str().unwrap(),
            "--",
            server.to_str().unwrap(),
        ],
        &[
            ("AIRLOCK_TEST_LOG", log.to_str().unwrap()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (headers, init) = post(
        &rt,
        &url,
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "otel-test", "version": "1"}}}),
        &[],
    );
    assert!(init.get("result").is_some(), "{init}");
    let session = headers["mcp-session-id"].to_str().unwrap().to_owned();
    let s = Some(session.as_str());
    // A second client: two sessions open.
    let (_, other) = post(
        &rt,
        &url,
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "otel-test-2", "version": "1"}}}),
        &[],
    );
    assert!(other.get("result").is_some(), "{other}");
    post(
        &rt,
        &url,
        s,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        &[],
    );
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let (_, r) = post(
        &rt,
        &url,
        s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": "hi"}}}),
        &[("traceparent", &traceparent)],
    );
    assert_eq!(r["result"]["content"][0]["text"], "hi", "{r}");
    let (_, r) = post(
        &rt,
        &url,
        s,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "add", "arguments": {"a": "1", "b": 2}}}),
        &[],
    );
    assert_eq!(refusal_code(&r), Some("validation.type"), "{r}");
    let (_, r) = post(
        &rt,
        &url,
        s,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "leaky", "arguments": {}}}),
        &[],
    );
    assert!(r.get("result").is_some(), "{r}");

    let spans_in = otlp.wait_for(Duration::from_secs(20), |o| {
        let spans = o.spans();
        named(&spans, "tools/call echo").len() >= 2 && !named(&spans, "tools/call add").is_empty()
    });
    let spans = otlp.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(spans_in, "spans received: {names:?}");
    assert!(
        otlp.service_names()
            .iter()
            .all(|n| n == "airlock-under-test"),
        "{:?}",
        otlp.service_names()
    );

    // The echo call: a SERVER span under the client's context, a check and an upstream child.
    let echo: Vec<&Span> = named(&spans, "tools/call echo");
    let server_span = echo
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a SERVER span for the echo call");
    assert_eq!(hex(&server_span.trace_id), TRACE_ID);
    assert_eq!(hex(&server_span.parent_span_id), PARENT_ID);
    for (key, want) in [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "echo"),
        ("mcp.session.id", session.as_str()),
        ("mcp.protocol.version", "2025-06-18"),
        ("jsonrpc.request.id", "1"),
        ("network.transport", "tcp"),
        ("airlock.decision", "allowed"),
    ] {
        assert_eq!(attr(server_span, key).as_deref(), Some(want), "{key}");
    }
    assert_eq!(attr(server_span, "error.type"), None);
    let upstream = echo
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .expect("a CLIENT span for the upstream call");
    assert_eq!(upstream.parent_span_id, server_span.span_id);
    assert_eq!(
        attr(upstream, "airlock.outcome").as_deref(),
        Some("succeeded")
    );
    let check = named(&spans, "airlock.check")
        .into_iter()
        .find(|s| s.parent_span_id == server_span.span_id)
        .expect("an airlock.check child of the echo span");
    assert_eq!(check.trace_id, server_span.trace_id);
    assert!(
        named(&spans, "airlock.clean")
            .iter()
            .any(|s| s.parent_span_id == server_span.span_id),
        "{names:?}"
    );
    // The server got the upstream span as its parent.
    let seen = std::fs::read_to_string(&log).unwrap();
    let forwarded: Value = seen
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["method"] == "tools/call" && v["params"]["name"] == "echo")
        .expect("the echo call reached the server");
    assert_eq!(
        forwarded["params"]["_meta"]["traceparent"],
        format!("00-{TRACE_ID}-{}-01", hex(&upstream.span_id)),
        "{forwarded}"
    );

    // The refused call: its own trace (no context sent), the code and the check that refused.
    let add = named(&spans, "tools/call add");
    assert_eq!(
        add.len(),
        1,
        "a refused call never reaches the server: {names:?}"
    );
    let add = add[0];
    assert_eq!(add.parent_span_id, Vec::<u8>::new());
    assert_ne!(hex(&add.trace_id), TRACE_ID);
    assert_eq!(attr(add, "airlock.decision").as_deref(), Some("refused"));
    assert_eq!(
        attr(add, "airlock.refusal.code").as_deref(),
        Some("validation.type")
    );
    assert_eq!(attr(add, "airlock.check").as_deref(), Some("validation"));
    assert_eq!(attr(add, "error.type").as_deref(), Some("tool_error"));
    // Every request has its span: initialize too.
    assert!(!named(&spans, "initialize").is_empty(), "{names:?}");

    let metrics_in = otlp.wait_for(Duration::from_secs(20), |o| {
        metric_value(o, "airlock.calls", &[("gen_ai.tool.name", "leaky")]).is_some()
            && metric_value(o, "airlock.masked", &[]).is_some()
            && metric_value(o, "airlock.sessions.open", &[]) == Some(2.0)
    });
    let metric_names: std::collections::BTreeSet<String> =
        otlp.metrics().into_iter().map(|m| m.name).collect();
    assert!(metrics_in, "metrics received: {metric_names:?}");
    let value = |name: &str, labels: &[(&str, &str)]| {
        metric_value(&otlp, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in {metric_names:?}"))
    };
    assert_eq!(
        value(
            "airlock.calls",
            &[
                ("gen_ai.tool.name", "echo"),
                ("airlock.decision", "allowed")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            "airlock.calls",
            &[("gen_ai.tool.name", "add"), ("airlock.decision", "refused")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "airlock.refusals",
            &[("airlock.refusal.code", "validation.type")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "airlock.call.outcomes",
            &[
                ("gen_ai.tool.name", "echo"),
                ("airlock.outcome", "succeeded")
            ]
        ),
        1.0
    );
    assert!(value("airlock.masked", &[]) >= 1.0);
    assert_eq!(
        value(
            "airlock.budget.spend",
            &[
                ("airlock.budget", "daily"),
                ("airlock.budget.measure", "calls")
            ]
        ),
        2.0,
        "the two allowed calls"
    );
    assert_eq!(
        value("airlock.breaker.state", &[("airlock.breaker", "server")]),
        0.0
    );
    assert_eq!(value("airlock.sessions.open", &[]), 2.0);
    assert!(value("airlock.check.duration", &[]) >= 3.0);
    assert!(value("airlock.upstream.duration", &[("gen_ai.tool.name", "echo")]) >= 1.0);
    assert!(
        value(
            "mcp.server.operation.duration",
            &[
                ("mcp.method.name", "tools/call"),
                ("gen_ai.tool.name", "add")
            ]
        ) >= 1.0
    );
    drop(gateway);
}

/// `airlock run`: the stdio door traces too. The parent comes from the request's
/// `params._meta.traceparent`; the spans of a run still buffered when the client closes its
/// end are exported on the way out.
#[test]
fn the_stdio_door_takes_the_parent_from_meta_and_flushes_on_exit() {
    let otlp = OtlpReceiver::start();
    let server = airlock_testkit::test_server();
    let mut c = Lines::spawn(
        airlock_command()
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url())
            // Batches would wait this long: what arrives was flushed at exit.
            .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
            .env("OTEL_METRICS_EXPORTER", "none")
            .args(["run", "--"])
            .arg(&server)
            .stderr(Stdio::null()),
    );
    c.initialize("2025-06-18", json!({}));
    let r = c.ask(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"text": "over stdio"},
        "_meta": {"traceparent": format!("00-{TRACE_ID}-{PARENT_ID}-01")}}}),
    );
    assert_eq!(r["result"]["content"][0]["text"], "over stdio", "{r}");
    let r = c.ask(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    assert!(r["result"]["tools"].is_array(), "{r}");
    let status = c.close();
    assert!(status.success(), "{status}");
    let spans = otlp.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let echo = named(&spans, "tools/call echo")
        .into_iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .unwrap_or_else(|| panic!("no SERVER span for the echo call in {names:?}"));
    assert_eq!(hex(&echo.trace_id), TRACE_ID);
    assert_eq!(hex(&echo.parent_span_id), PARENT_ID);
    assert_eq!(attr(echo, "network.transport").as_deref(), Some("pipe"));
    assert_eq!(attr(echo, "airlock.decision").as_deref(), Some("allowed"));
    assert!(
        otlp.service_names().iter().all(|n| n == "agent-airlock"),
        "{:?}",
        otlp.service_names()
    );
    let list = named(&spans, "tools/list");
    assert!(
        list.iter().any(|s| s.kind == SpanKind::Server as i32
            && attr(s, "jsonrpc.request.id").as_deref() == Some("2")),
        "{names:?}"
    );
}

/// The official Python SDK client (`mcp` from PyPI), in its default (2026-07-28) and legacy
/// modes, makes its calls under a trace of its own: it puts the context in `params._meta`, and
/// the airlock's span for the call is a child of the client's, in the client's trace.
#[test]
fn the_python_sdk_clients_trace_context_is_the_parent() {
    let otlp = OtlpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry]\nenabled = true\nendpoint = {:?}\nmetrics = false\n",
            otlp.url()
        ),
    )
    .unwrap();
    let server = airlock_testkit::test_server();
    let traces = [
        (
            "auto",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
        (
            "legacy",
            "5bf92f3577b34da6a3ce929d0e0e4737",
            "10f067aa0ba902b8",
        ),
    ];
    for (mode, trace_id, span_id) in traces {
        let mut cmd = airlock_testkit::clients::python(mode);
        cmd.arg("--traceparent")
            .arg(format!("00-{trace_id}-{span_id}-01"))
            .arg("--")
            .arg(common::airlock())
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--")
            .arg(&server);
        let lines = airlock_testkit::clients::run(cmd, &json!([["echo", {"text": "from python"}]]));
        assert_eq!(lines[2]["text"], "from python", "{mode}: {lines:?}");
    }
    let arrived = otlp.wait_for(Duration::from_secs(20), |o| {
        let spans = o.spans();
        traces.iter().all(|(_, t, _)| {
            spans
                .iter()
                .any(|s| s.name == "tools/call echo" && hex(&s.trace_id) == *t)
        })
    });
    let spans = otlp.spans();
    let names: Vec<(String, String)> = spans
        .iter()
        .map(|s| (s.name.clone(), hex(&s.trace_id)))
        .collect();
    assert!(arrived, "{names:?}");
    for (mode, trace_id, span_id) in traces {
        let call = spans
            .iter()
            .find(|s| {
                s.name == "tools/call echo"
                    && s.kind == SpanKind::Server as i32
                    && hex(&s.trace_id) == trace_id
            })
            .unwrap_or_else(|| panic!("{mode}: no SERVER span in the client's trace: {names:?}"));
        // The client's own request span (a non-recording one, as no SDK exporter is set up)
        // carries the context it ran under.
        assert_eq!(hex(&call.parent_span_id), span_id, "{mode}");
        assert_eq!(
            attr(call, "airlock.decision").as_deref(),
            Some("allowed"),
            "{mode}"
        );
    }
}
