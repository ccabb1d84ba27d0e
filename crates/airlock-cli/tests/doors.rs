//! One engine through every door. The same calls, with the same configuration, through the
//! library (the demo's rmcp server wrapped in one line), the stdio proxy (`airlock run`, the
//! real binary) and the HTTP gateway (`airlock serve`, the real binary), each in front of the
//! same demo server: decisions, codes, stripped arguments and masked results must be identical.
//! And a check that waits (an approver taking 5 s) holds up neither another session of the
//! gateway nor other requests on the same stdio connection.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use airlock_core::CallerContext;
use airlock_core::checks::{ApprovalOutcome, ApprovalRequest};
use airlock_mcp::server::Guard;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

use common::airlock;

/// The policy every door runs: the demo's, plus secrets refused in arguments and a rate limit.
const BLOCK: &str = r#"
[policy]
deny = ["delete_*"]

[filesystem]
allowed_roots = ["/srv/workspace"]
# The demo server reads paths relative to its workspace.
base = "/srv/workspace"
symlinks = "lexical"

[sanitize]
arguments = "refuse"

[tools."fetch_url"]
rate_limit = "4/minute"
"#;

/// The same, with undeclared arguments stripped (and recorded) instead of refused.
const STRIP: &str = r#"
[ghost_args]
mode = "strip_and_log"

[policy]
deny = ["delete_*"]

[filesystem]
allowed_roots = ["/srv/workspace"]
# The demo server reads paths relative to its workspace.
base = "/srv/workspace"
symlinks = "lexical"
"#;

/// The calls of the first round (`BLOCK`): valid calls, ghost arguments, wrong types, missing
/// fields, denied and unknown tools, paths outside the roots, internal URLs, secrets in
/// arguments, personal data in results, a rate limit.
fn block_corpus() -> Vec<(&'static str, Value)> {
    vec![
        // Valid calls, and results full of personal data (masked).
        ("read_file", json!({"path": "reports/q3.txt"})),
        ("read_file", json!({"path": "notes/todo.md"})),
        ("read_file", json!({"path": "reports/missing.txt"})),
        ("list_directory", json!({"path": "."})),
        (
            "list_directory",
            json!({"path": "reports", "recursive": true}),
        ),
        (
            "query_customers",
            json!({"columns": ["id", "name", "email"]}),
        ),
        (
            "query_customers",
            json!({"columns": ["id"], "where": {"country": "DE"}, "limit": 5}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 500, "currency": "EUR"}),
        ),
        (
            "transfer_money",
            json!({"to": "GB33BUKB20201555555555", "amount": 1, "currency": "GBP", "reference": "invoice 7"}),
        ),
        // Ghost arguments (refused in block mode).
        ("read_file", json!({"path": "reports/q3.txt", "mode": "r"})),
        ("list_directory", json!({"path": ".", "show_hidden": true})),
        (
            "query_customers",
            json!({"columns": ["id"], "where": {"country": "DE", "city": "Berlin"}}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5, "currency": "EUR", "force": true}),
        ),
        // Wrong types, missing fields, ranges, enums, formats.
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": "5", "currency": "EUR"}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5.5, "currency": "EUR"}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 0, "currency": "EUR"}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5, "currency": "eur"}),
        ),
        (
            "transfer_money",
            json!({"to": "short", "amount": 5, "currency": "EUR"}),
        ),
        ("list_directory", json!({"path": ".", "recursive": "yes"})),
        ("read_file", json!({"path": 5})),
        ("read_file", json!({})),
        (
            "read_file",
            json!({"path": "reports/q3.txt", "max_bytes": 0}),
        ),
        ("query_customers", json!({"columns": ["id", "salary"]})),
        (
            "query_customers",
            json!({"columns": ["id"], "where": {"country": "germany"}}),
        ),
        (
            "query_customers",
            json!({"columns": ["id"], "where": {"since": "yesterday"}}),
        ),
        ("fetch_url", json!({"url": "example.com/page"})),
        // Denied and unknown tools.
        ("delete_records", json!({"ids": ["c-1001"]})),
        ("read_files", json!({"path": "reports/q3.txt"})),
        ("drop_database", json!({})),
        // Paths outside the roots, in many spellings.
        ("read_file", json!({"path": "/etc/passwd"})),
        ("read_file", json!({"path": "../finance/payroll.xlsx"})),
        ("read_file", json!({"path": "reports/../../../etc/shadow"})),
        ("read_file", json!({"path": "~/.ssh/id_rsa"})),
        ("read_file", json!({"path": "file:///etc/shadow"})),
        ("read_file", json!({"path": "%2e%2e/%2e%2e/etc/passwd"})),
        ("list_directory", json!({"path": "/"})),
        (
            "read_file",
            json!({"path": "/srv/workspace/.ssh/id_ed25519"}),
        ),
        // Internal URLs, in many spellings.
        (
            "fetch_url",
            json!({"url": "http://169.254.169.254/latest/meta-data/"}),
        ),
        ("fetch_url", json!({"url": "http://localhost:8080/admin"})),
        ("fetch_url", json!({"url": "http://10.0.0.1/"})),
        ("fetch_url", json!({"url": "http://[::1]/"})),
        ("fetch_url", json!({"url": "http://2130706433/"})),
        ("fetch_url", json!({"url": "file:///etc/passwd"})),
        // Secrets on their way out through the arguments.
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5, "currency": "EUR", "reference": "sk_live_51HqLyjWDarjtT1zdp7dcXYZ"}),
        ),
        (
            "fetch_url",
            json!({"url": "https://example.com/?key=ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"}),
        ),
        // A rate limit: 4 per minute, then refused with when to retry.
        ("fetch_url", json!({"url": "https://example.com/a"})),
        ("fetch_url", json!({"url": "https://example.com/b"})),
        ("fetch_url", json!({"url": "https://example.com/c"})),
        ("fetch_url", json!({"url": "https://example.com/d"})),
        ("fetch_url", json!({"url": "https://example.com/e"})),
        ("fetch_url", json!({"url": "https://example.com/f"})),
    ]
}

/// The calls of the second round (`STRIP`): undeclared arguments stripped at any depth.
fn strip_corpus() -> Vec<(&'static str, Value)> {
    vec![
        ("read_file", json!({"path": "reports/q3.txt", "mode": "r"})),
        (
            "list_directory",
            json!({"path": ".", "show_hidden": true, "recursive": false}),
        ),
        (
            "list_directory",
            json!({"path": "reports", "sort": "name", "limit": 3}),
        ),
        (
            "query_customers",
            json!({"columns": ["id"], "where": {"country": "DE", "city": "Berlin"}}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5, "currency": "EUR", "force": true}),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": "5", "currency": "EUR", "force": true}),
        ),
        ("list_directory", json!({"path": "/etc", "x": 1})),
        ("list_directory", json!({"path": "."})),
    ]
}

/// A door: a client talking to the demo server through the airlock, and where its decisions
/// were recorded.
struct Door {
    name: &'static str,
    client: Client,
    audit: PathBuf,
    _stdio: Option<tokio::process::Child>,
    _http: Option<common::Stopped>,
}

fn write_config(dir: &Path, door: &str, policy: &str) -> (PathBuf, PathBuf) {
    let audit = dir.join(format!("{door}.jsonl"));
    let config = dir.join(format!("{door}.toml"));
    std::fs::write(
        &config,
        format!(
            "{policy}\n[audit]\npath = {:?}\n",
            audit.display().to_string()
        ),
    )
    .unwrap();
    (config, audit)
}

async fn library(dir: &Path, policy: &str) -> Door {
    let (config, audit) = write_config(dir, "library", policy);
    let config = agent_airlock::with_file(agent_airlock::ConfigBuilder::new(), &config)
        .unwrap()
        .build()
        .unwrap();
    let engine = Arc::new(agent_airlock::engine(config).unwrap());
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let server = airlock_mcp::demo::DemoServer::new()
        .guarded(engine)
        .caller(CallerContext::default().agent("diff"));
    tokio::spawn(async move {
        if let Ok(running) = server.serve(tokio::io::split(server_io)).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(tokio::io::split(client_io)).await.unwrap();
    Door {
        name: "library",
        client,
        audit,
        _stdio: None,
        _http: None,
    }
}

async fn stdio(dir: &Path, policy: &str) -> Door {
    let (config, audit) = write_config(dir, "stdio", policy);
    let mut child = tokio::process::Command::from(common::airlock_command())
        .kill_on_drop(true)
        .args(["run", "--agent", "diff", "--config"])
        .arg(&config)
        .arg("--")
        .arg(airlock())
        .args(["demo", "--server"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let client = ().serve((stdout, stdin)).await.unwrap();
    Door {
        name: "stdio",
        client,
        audit,
        _stdio: Some(child),
        _http: None,
    }
}

async fn http(dir: &Path, policy: &str) -> Door {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (config, audit) = write_config(dir, "http", policy);
    let (gateway, url) = common::serve_demo(&config);
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url);
    let client = ().serve(transport).await.unwrap();
    Door {
        name: "http",
        client,
        audit,
        _stdio: None,
        _http: Some(gateway),
    }
}

/// What one call came to, as the client saw it and as the door recorded it.
#[derive(Debug, PartialEq)]
struct Outcome {
    is_error: bool,
    /// The refusal's code, from `_meta["airlock/refusal"]`.
    code: Option<String>,
    /// Every text the model reads (numbers of seconds to wait blanked: the doors run at
    /// different moments).
    text: String,
    decision: String,
    check: Option<String>,
    stripped: Vec<String>,
    masked: Vec<String>,
}

fn blank_waits(text: &str) -> String {
    if !text.contains("rate_limit") && !text.contains("try again") && !text.contains("retry") {
        return text.to_owned();
    }
    text.chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

async fn run(door: &Door, corpus: &[(&'static str, Value)]) -> (Vec<String>, Vec<Outcome>) {
    let tools: Vec<String> = door
        .client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let mut seen = Vec::new();
    for (tool, args) in corpus {
        let mut params = CallToolRequestParams::new(*tool);
        if let Value::Object(a) = args {
            params = params.with_arguments(a.clone());
        }
        let r = door
            .client
            .call_tool(params)
            .await
            .unwrap_or_else(|e| panic!("{}: {tool} {args}: {e}", door.name));
        let v = serde_json::to_value(&r).unwrap();
        let text = v["content"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|i| i["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        seen.push(Outcome {
            is_error: r.is_error == Some(true),
            code: v
                .pointer("/_meta/airlock~1refusal/metadata/code")
                .and_then(Value::as_str)
                .map(str::to_owned),
            text: blank_waits(&text),
            decision: String::new(),
            check: None,
            stripped: Vec::new(),
            masked: Vec::new(),
        });
    }
    // The door's own record of each decision, in order.
    let records: Vec<Value> = std::fs::read_to_string(&door.audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.len(),
        corpus.len(),
        "{}: one record per call",
        door.name
    );
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (o, r) in seen.iter_mut().zip(&records) {
        o.decision = r["decision"].as_str().unwrap_or_default().to_owned();
        o.check = r["check"].as_str().map(str::to_owned);
        o.stripped = strings(&r["stripped"]);
        o.masked = strings(&r["masked"]);
    }
    (tools, seen)
}

async fn three_doors(policy: &str, corpus: &[(&'static str, Value)]) -> Vec<Outcome> {
    let dir = tempfile::tempdir().unwrap();
    let doors = [
        library(dir.path(), policy).await,
        stdio(dir.path(), policy).await,
        http(dir.path(), policy).await,
    ];
    let mut results = Vec::new();
    for door in &doors {
        results.push((door.name, run(door, corpus).await));
    }
    let (_, (tools, base)) = &results[0];
    for (name, (other_tools, other)) in &results[1..] {
        assert_eq!(tools, other_tools, "the tool list through {name}");
        for (i, (a, b)) in base.iter().zip(other).enumerate() {
            assert_eq!(
                a, b,
                "call {i} ({} {}): the library and {name} differ",
                corpus[i].0, corpus[i].1
            );
        }
    }
    for door in doors {
        let _ = door.client.cancel().await;
    }
    results.swap_remove(0).1.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_decides_records_and_cleans_alike() {
    let corpus = block_corpus();
    let strip = strip_corpus();
    assert!(corpus.len() + strip.len() >= 50);
    let seen = three_doors(BLOCK, &corpus).await;
    // The doors agree; they must also be right (three doors equally open would agree too).
    let code = |i: usize| seen[i].code.as_deref();
    let find = |tool: &str, args: Value| {
        corpus
            .iter()
            .position(|(t, a)| *t == tool && *a == args)
            .unwrap()
    };
    assert_eq!(
        code(find("read_file", json!({"path": "reports/q3.txt"}))),
        None
    );
    assert_eq!(
        code(find("read_file", json!({"path": "/etc/passwd"}))),
        Some("filesystem.outside_roots")
    );
    assert_eq!(
        code(find(
            "fetch_url",
            json!({"url": "http://169.254.169.254/latest/meta-data/"})
        )),
        Some("network.internal")
    );
    assert_eq!(
        code(find(
            "read_file",
            json!({"path": "reports/q3.txt", "mode": "r"})
        )),
        Some("ghost_args.unknown")
    );
    assert_eq!(
        code(find(
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": "5", "currency": "EUR"})
        )),
        Some("validation.type")
    );
    assert_eq!(
        code(find("delete_records", json!({"ids": ["c-1001"]}))),
        Some("tool_access.denied")
    );
    assert_eq!(
        code(find(
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5, "currency": "EUR", "reference": "sk_live_51HqLyjWDarjtT1zdp7dcXYZ"})
        )),
        Some("arguments.secret")
    );
    let customers = &seen[find(
        "query_customers",
        json!({"columns": ["id", "name", "email"]}),
    )];
    assert!(customers.text.contains("[EMAIL]"), "{}", customers.text);
    assert!(
        !customers.text.contains("ada@example.org"),
        "{}",
        customers.text
    );
    let limited: Vec<Option<&str>> = seen[seen.len() - 6..]
        .iter()
        .map(|o| o.code.as_deref())
        .collect();
    assert_eq!(
        limited
            .iter()
            .filter(|c| **c == Some("rate_limit.exceeded"))
            .count(),
        2,
        "{limited:?}"
    );
    let refused = seen.iter().filter(|o| o.decision == "refused").count();
    assert!(refused >= 30 && refused < corpus.len() - 8, "{refused}");

    let seen = three_doors(STRIP, &strip).await;
    assert_eq!(seen[0].decision, "allowed_with_changes");
    assert_eq!(seen[0].stripped, ["mode"]);
    assert_eq!(seen[3].stripped, ["where.city"]);
    // The server received the arguments as decided (the demo's list echoes them back).
    assert!(
        seen[1].text.contains(r#"{"path":".","recursive":false}"#),
        "{}",
        seen[1].text
    );
}

// ---------------------------------------------------------------------------------------------
// A check that waits holds up nothing else.

/// An engine whose approver takes 5 s to say yes to `add`.
fn slow_approval_engine() -> Arc<airlock_core::Engine> {
    let config = agent_airlock::ConfigBuilder::new()
        .file("slow.toml", "[tools.\"add\"]\napproval = \"required\"\n")
        .build()
        .unwrap();
    let approver = |_: &ApprovalRequest<'_>| {
        std::thread::sleep(Duration::from_secs(5));
        ApprovalOutcome::Approved
    };
    Arc::new(
        agent_airlock::engine_builder(config)
            .unwrap()
            .approver(Arc::new(approver))
            .build()
            .unwrap(),
    )
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// One thread drives the proxy, the client and the test: a decision that blocked it would
/// hold up everything.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_approval_does_not_hold_up_the_stdio_connection() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (client_side, proxy_side) = tokio::io::duplex(1 << 16);
    let (from_client, to_client) = tokio::io::split(proxy_side);
    let mut server = tokio::process::Command::new(airlock_testkit::test_server());
    server.kill_on_drop(true);
    let proxy =
        airlock_mcp::stdio::StdioProxy::new(slow_approval_engine(), CallerContext::default());
    let task = tokio::spawn(proxy.run(server, from_client, to_client));
    let (read, mut write) = tokio::io::split(client_side);
    let mut lines = tokio::io::BufReader::new(read).lines();
    for msg in [
        INIT,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#,
    ] {
        write
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut order = Vec::new();
    while order.len() < 5 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("answers within 30 s")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = v["id"].as_i64() {
            if id == 2 {
                assert_eq!(v["result"]["structuredContent"]["sum"], 3, "{v}");
            }
            order.push(id);
        }
    }
    let pos = |id| order.iter().position(|x| *x == id).unwrap();
    assert!(
        pos(3) < pos(2) && pos(4) < pos(2),
        "answered in the order {order:?}"
    );
    drop(write);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

/// One thread again: the gateway, both sessions and the test share it.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_approval_on_one_session_does_not_hold_up_another() {
    let config = agent_airlock::ConfigBuilder::new()
        .file("g.toml", "[gateway]\nallow_anonymous = true\n")
        .build()
        .unwrap();
    let gateway = airlock_mcp::http::Gateway::new(
        slow_approval_engine(),
        config.settings.gateway.clone(),
        airlock_mcp::http::Upstream::Command(vec![airlock_testkit::test_server().into()]),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gateway.serve(listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let post = |session: Option<String>, body: String| {
        let mut r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(s) = session {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let r = post(None, INIT.to_owned()).await.unwrap();
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let _ = r.bytes().await;
        post(
            Some(id.clone()),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        )
        .await
        .unwrap();
        sessions.push(id);
    }
    let slow = tokio::spawn(post(
        Some(sessions[0].clone()),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#.into(),
    ));
    // Let the slow call reach its approver first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let quick = post(
        Some(sessions[1].clone()),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#.into(),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(quick.contains("hi"), "{quick}");
    assert!(
        !slow.is_finished(),
        "the other session's call was answered while the approval still waited"
    );
    let slow = slow.await.unwrap().unwrap().text().await.unwrap();
    assert!(slow.contains("\"sum\":3"), "{slow}");
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), served).await;
}
