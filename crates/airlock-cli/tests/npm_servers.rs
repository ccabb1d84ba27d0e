//! `airlock run` in front of real third-party MCP servers from npm, at pinned versions
//! (`scripts/test.sh` installs them into `target/npm`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

mod common;

use common::{
    Lines, Stopped as Serve, airlock_command, left_running, processes_with, serve, wait_for_port,
};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

struct Client {
    io: Lines,
}

impl Client {
    fn start(server: &[&str]) -> Client {
        Client::start_with(server, &[], json!({}))
    }

    fn start_with(server: &[&str], airlock_args: &[&str], capabilities: Value) -> Client {
        Client::start_in(server, airlock_args, capabilities, None)
    }

    /// `airlock run` (and so the server) started in `cwd`.
    fn start_in(
        server: &[&str],
        airlock_args: &[&str],
        capabilities: Value,
        cwd: Option<&Path>,
    ) -> Client {
        let mut cmd = airlock_command();
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut io = Lines::spawn(
            cmd.arg("run")
                .args(airlock_args)
                .arg("--")
                .args(server)
                .stderr(Stdio::null()),
        );
        // Tasks came with 2025-11-25.
        let version = if capabilities.get("tasks").is_some() {
            "2025-11-25"
        } else {
            "2025-06-18"
        };
        io.initialize(version, capabilities);
        Client { io }
    }

    fn send(&mut self, v: Value) {
        self.io.send(&v);
    }

    /// Read until the answer to `id`, keeping everything else seen on the way.
    fn answer(&mut self, id: i64) -> Value {
        self.io.answer(&json!(id))
    }

    fn call(&mut self, id: i64, name: &str, args: Value) -> Value {
        self.io.call(id, name, args)
    }
}

fn refusal_code(v: &Value) -> Option<&str> {
    v.pointer("/result/_meta/airlock~1refusal/metadata/code")
        .and_then(Value::as_str)
}

/// The calls every server-everything test makes, through any transport: valid calls pass and
/// their answers come back; wrong types, ghost arguments and missing fields are refused with
/// fix hints, and the server never sees them.
fn everything_calls(call: &mut dyn FnMut(i64, &str, Value) -> Value) {
    let r = call(1, "echo", json!({"message": "hello"}));
    assert_eq!(refusal_code(&r), None, "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hello"),
        "{r}"
    );
    let r = call(2, "get-sum", json!({"a": 2, "b": 3}));
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains('5'),
        "{r}"
    );

    // Wrong types and ghost arguments are refused with fix hints; the server never sees them.
    let r = call(3, "get-sum", json!({"a": "2", "b": 3}));
    assert_eq!(refusal_code(&r), Some("validation.type"), "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("send 2, not \"2\"")
    );
    let r = call(4, "echo", json!({"message": "hi", "loud": true}));
    assert_eq!(refusal_code(&r), Some("ghost_args.unknown"), "{r}");
    let r = call(5, "get-sum", json!({"a": 1}));
    assert_eq!(refusal_code(&r), Some("validation.required"), "{r}");
}

#[test]
fn server_everything_over_stdio() {
    let bin = common::npm_bin("mcp-server-everything");
    let mut c = Client::start(&[bin.to_str().unwrap(), "stdio"]);

    everything_calls(&mut |id, name, args| c.call(id, name, args));

    // Progress notifications of a long operation flow through to the client.
    c.send(
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {
        "name": "trigger-long-running-operation", "arguments": {"duration": 1, "steps": 2},
        "_meta": {"progressToken": "tok-1"}}}),
    );
    let r = c.answer(6);
    assert_eq!(refusal_code(&r), None, "{r}");
    let progress: Vec<&Value> =
        c.io.seen
            .iter()
            .filter(|v| {
                v["method"] == "notifications/progress" && v["params"]["progressToken"] == "tok-1"
            })
            .collect();
    assert!(
        !progress.is_empty(),
        "no progress notifications seen: {:?}",
        c.io.seen
    );

    // Other requests (prompts, resources) pass through untouched.
    c.send(json!({"jsonrpc": "2.0", "id": 7, "method": "prompts/list"}));
    assert!(c.answer(7)["result"]["prompts"].is_array());
}

/// A client announcing the root `file:///` cannot widen server-filesystem beyond the
/// configured roots.
#[test]
fn server_filesystem_roots_are_narrowed() {
    let bin = common::npm_bin("mcp-server-filesystem");
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().canonicalize().unwrap().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(allowed.join("note.txt"), "inside").unwrap();
    let secret = dir.path().canonicalize().unwrap().join("secret.txt");
    std::fs::write(&secret, "outside").unwrap();
    let cfg = dir.path().join("airlock.toml");
    std::fs::write(
        &cfg,
        format!(
            "[filesystem]\nallowed_roots = [{:?}]\n",
            allowed.to_str().unwrap()
        ),
    )
    .unwrap();

    let mut c = Client::start_with(
        &[bin.to_str().unwrap(), allowed.to_str().unwrap()],
        &["--config", cfg.to_str().unwrap()],
        json!({"roots": {"listChanged": true}}),
    );
    // The server asks for the client's roots; the client claims the whole disk.
    let request = loop {
        let v = c.io.read();
        if v["method"] == "roots/list" {
            break v;
        }
    };
    // The id spelt as a float (`0.0` is `0` to a JavaScript server) must not dodge narrowing.
    let id = request["id"]
        .as_f64()
        .map_or(request["id"].clone(), |f| json!(f));
    c.send(json!({"jsonrpc": "2.0", "id": id, "result": {"roots": [{"uri": "file:///", "name": "everything"}]}}));
    std::thread::sleep(std::time::Duration::from_millis(300));

    let r = c.call(1, "list_allowed_directories", json!({}));
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(allowed.to_str().unwrap()), "{text}");
    assert!(
        !text.lines().any(|l| l.trim() == "/"),
        "the root was widened: {text}"
    );

    let r = c.call(
        2,
        "read_text_file",
        json!({"path": allowed.join("note.txt")}),
    );
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("inside"),
        "{r}"
    );
    let r = c.call(3, "read_text_file", json!({"path": secret}));
    let refused = r.get("error").is_some() || r["result"]["isError"] == true;
    assert!(refused, "a file outside the configured root was read: {r}");
}

/// Issue 12: server-filesystem started on a directory, the airlock's root a subdirectory of it.
/// The server resolves relative paths against its own working directory, so the airlock must
/// too: `outside/secret.txt` and `.` are outside the root, `sub/note.txt` inside.
#[test]
fn server_filesystem_relative_paths_resolve_where_the_server_resolves_them() {
    let bin = common::npm_bin("mcp-server-filesystem");
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(top.join("sub")).unwrap();
    std::fs::create_dir_all(top.join("outside")).unwrap();
    std::fs::write(top.join("sub/note.txt"), "inside").unwrap();
    std::fs::write(top.join("outside/secret.txt"), "the secret").unwrap();
    let cfg = top.join("airlock.toml");
    std::fs::write(
        &cfg,
        format!(
            "[filesystem]\nallowed_roots = [{:?}]\n",
            top.join("sub").to_str().unwrap()
        ),
    )
    .unwrap();
    let mut c = Client::start_in(
        &[bin.to_str().unwrap(), top.to_str().unwrap()],
        &["--config", cfg.to_str().unwrap()],
        json!({}),
        Some(&top),
    );
    let r = c.call(1, "read_text_file", json!({"path": "outside/secret.txt"}));
    assert_eq!(refusal_code(&r), Some("filesystem.outside_roots"), "{r}");
    assert!(!r.to_string().contains("the secret"));
    let r = c.call(2, "list_directory", json!({"path": "."}));
    assert_eq!(refusal_code(&r), Some("filesystem.outside_roots"), "{r}");
    let r = c.call(3, "read_text_file", json!({"path": "sub/note.txt"}));
    assert_eq!(r["result"]["content"][0]["text"], "inside", "{r}");
}

/// Issue 12: a task-augmented `tools/call` on server-everything (`"task": {"ttl": 60000}`): the
/// task's status messages and its result (`tasks/result`) are cleaned like any tool result.
#[test]
fn server_everything_task_results_are_cleaned() {
    let bin = common::npm_bin("mcp-server-everything");
    let mut c = Client::start_with(&[bin.to_str().unwrap(), "stdio"], &[], json!({"tasks": {}}));
    let planted = "mail ann@example.com card 4111 1111 1111 1111";
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "simulate-research-query", "arguments": {"topic": planted}, "task": {"ttl": 60000}}}));
    let created = c.answer(1);
    let task = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("no task: {created}"))
        .to_owned();
    let mut done = false;
    for i in 0..40 {
        c.send(json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tasks/get", "params": {"taskId": task}}));
        let status = c.answer(100 + i);
        if status["result"]["status"] == "completed" {
            done = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(done, "the task did not complete");
    c.send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/result", "params": {"taskId": task}}),
    );
    let result = c.answer(2);
    let text = result.to_string();
    assert!(
        text.contains("[EMAIL]"),
        "the topic is in the report, masked: {text}"
    );
    assert!(!text.contains("ann@example.com"), "{text}");
    assert!(!text.contains("4111 1111 1111 1111"), "{text}");
    let everything = serde_json::to_string(&c.io.seen).unwrap();
    assert!(!everything.contains("ann@example.com"), "{everything}");
}

/// A Streamable-HTTP MCP client speaking raw HTTP, blocking on a private runtime.
struct HttpClient {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
    session: Option<String>,
}

impl HttpClient {
    fn connect(url: &str) -> HttpClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut c = HttpClient {
            rt,
            http: reqwest::Client::new(),
            url: url.to_owned(),
            session: None,
        };
        let (headers, msgs) = c.exchange(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "airlock-test", "version": "1"}}}));
        assert!(msgs.last().unwrap().get("result").is_some(), "{msgs:?}");
        c.session = Some(headers["mcp-session-id"].to_str().unwrap().to_owned());
        c.exchange(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        c
    }

    fn request(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        req
    }

    /// POST one message; the answer's headers and every message of its body.
    fn exchange(&mut self, body: Value) -> (reqwest::header::HeaderMap, Vec<Value>) {
        let req = self.request(&body);
        self.rt.block_on(async move {
            let resp = req.send().await.unwrap();
            let headers = resp.headers().clone();
            let text = resp.text().await.unwrap();
            let msgs = if text.trim_start().starts_with('{') {
                vec![serde_json::from_str(&text).unwrap()]
            } else {
                text.lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| serde_json::from_str(d.trim()).unwrap())
                    .collect()
            };
            (headers, msgs)
        })
    }

    fn call(&mut self, id: i64, name: &str, args: Value) -> Value {
        let (_, msgs) = self.exchange(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": args}}));
        msgs.last().unwrap().clone()
    }
}

/// The calls every server-everything test makes, over HTTP.
fn everything_over_http(c: &mut HttpClient) {
    everything_calls(&mut |id, name, args| c.call(id, name, args));

    // Progress: the notifications come on the call's SSE stream, before the answer.
    let (_, msgs) = c.exchange(
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "trigger-long-running-operation", "arguments": {"duration": 1, "steps": 2},
        "_meta": {"progressToken": "tok-1"}}}),
    );
    let answer = msgs.last().unwrap();
    assert_eq!(answer["id"], 5, "{msgs:?}");
    assert_eq!(refusal_code(answer), None, "{answer}");
    assert!(
        msgs.iter()
            .any(|m| m["method"] == "notifications/progress"
                && m["params"]["progressToken"] == "tok-1"),
        "no progress seen: {msgs:?}"
    );

    // Cancellation: a long operation is cancelled after its first progress notification, and
    // its stream ends long before the operation would have.
    let req = c.request(
        &json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {
        "name": "trigger-long-running-operation", "arguments": {"duration": 60, "steps": 60},
        "_meta": {"progressToken": "tok-2"}}}),
    );
    let cancel = c.request(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 6, "reason": "test"}}),
    );
    c.rt.block_on(async move {
        use futures_util::StreamExt;
        let resp = req.send().await.unwrap();
        let mut body = resp.bytes_stream();
        let mut seen = String::new();
        while !seen.contains("notifications/progress") {
            let chunk = body.next().await.expect("progress before the end").unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(cancel.send().await.unwrap().status().is_success());
        let ended = tokio::time::timeout(std::time::Duration::from_secs(40), async {
            while let Some(chunk) = body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the cancelled call's stream did not end");
    });

    let (_, msgs) = c.exchange(json!({"jsonrpc": "2.0", "id": 7, "method": "prompts/list"}));
    assert!(
        msgs.last().unwrap()["result"]["prompts"].is_array(),
        "{msgs:?}"
    );
}

/// server-everything speaking Streamable HTTP itself, with `airlock serve --upstream` in front.
#[test]
fn server_everything_over_streamable_http() {
    let bin = common::npm_bin("mcp-server-everything");
    let port = airlock_testkit::free_port();
    let upstream = Serve(
        Command::new(&bin)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let (_gateway, url) = serve(
        &["--upstream", &format!("http://127.0.0.1:{port}/mcp")],
        &[],
    );
    let mut c = HttpClient::connect(&url);
    everything_over_http(&mut c);
    drop(upstream);
}

/// server-everything over stdio, one process per HTTP session behind `airlock serve -- …`.
#[test]
fn server_everything_behind_the_gateway_per_session() {
    let bin = common::npm_bin("mcp-server-everything");
    let marker_value = format!("{}-{}", std::process::id(), airlock_testkit::free_port());
    let (gateway, url) = serve(
        &["--", bin.to_str().unwrap(), "stdio"],
        &[("ORPHAN_MARKER", &marker_value)],
    );
    let marker = format!("ORPHAN_MARKER={marker_value}");
    let mut c = HttpClient::connect(&url);
    everything_over_http(&mut c);
    // Two more sessions, two more server processes.
    let _c2 = HttpClient::connect(&url);
    let _c3 = HttpClient::connect(&url);
    let running = processes_with(&marker);
    assert!(
        running.len() >= 4,
        "gateway and three servers expected: {running:?}"
    );
    // The gateway stops (SIGTERM): no server process outlives it.
    drop(gateway);
    let left = left_running(&marker, std::time::Duration::from_secs(5));
    assert!(left.is_empty(), "orphans: {left:?}");
}

/// `examples/resilience.toml` in front of server-everything, with its honeypot hook writing to
/// a file of the test's: the config to start with, the audit file and the hook's file.
fn resilience_config(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/resilience.toml");
    let hooked = dir.join("hook.jsonl");
    let text = std::fs::read_to_string(example).unwrap().replace(
        r#"hook = ["logger", "-t", "airlock-honeypot"]"#,
        &format!(r#"hook = ["sh", "-c", "cat >> {}"]"#, hooked.display()),
    );
    assert!(text.contains("cat >>"), "the example's hook line changed");
    let config = dir.join("resilience.toml");
    std::fs::write(&config, text).unwrap();
    (config, dir.join("audit.jsonl"), hooked)
}

/// What the example promises, through any door: the slow operation is cancelled at its
/// deadline, the third call finds the breaker open, the fourth echo is over budget, and get-env
/// answers with the honeypot's fake environment, never the server's.
fn resilience_calls(call: &mut dyn FnMut(i64, &str, Value) -> Value, marker: &str) {
    for id in [1, 2] {
        let started = std::time::Instant::now();
        let r = call(
            id,
            "trigger-long-running-operation",
            json!({"duration": 10, "steps": 5}),
        );
        assert_eq!(refusal_code(&r), Some("upstream.timeout"), "{r}");
        assert_eq!(r["result"]["isError"], true, "{r}");
        // Not a speed bound: the 10-second operation must not have run to its end.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "call {id} took {:?}",
            started.elapsed()
        );
    }
    let r = call(
        3,
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 1}),
    );
    assert_eq!(refusal_code(&r), Some("breaker.open"), "{r}");
    let retry = r
        .pointer("/result/_meta/airlock~1refusal/metadata/retry_after_seconds")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    assert!(retry > 0.0 && retry <= 30.0, "{r}");
    for id in 4..7 {
        let r = call(id, "echo", json!({"message": "hi"}));
        assert_eq!(refusal_code(&r), None, "{r}");
    }
    let r = call(7, "echo", json!({"message": "hi"}));
    assert_eq!(refusal_code(&r), Some("budget.exhausted"), "{r}");
    let r = call(8, "get-env", json!({}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("NODE_ENV"), "{r}");
    assert!(
        !text.contains(marker),
        "the server's environment leaked: {r}"
    );
    assert!(r.pointer("/result/_meta/airlock~1refusal").is_none(), "{r}");
}

/// The audit file and the hook's file after [`resilience_calls`]: the breaker opened, and the
/// honeypot's record says so and reached the hook.
fn resilience_records(audit: &Path, hooked: &Path) {
    let lines: Vec<Value> = std::fs::read_to_string(audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["event"] == "breaker"
            && l["breaker"] == "tool:trigger-long-running-operation"
            && l["from"] == "closed"
            && l["to"] == "open"),
        "{lines:?}"
    );
    let honeypot = lines
        .iter()
        .find(|l| l["tool"] == "get-env")
        .expect("a record of the get-env call");
    assert_eq!(honeypot["honeypot"], true, "{honeypot}");
    assert_eq!(honeypot["decision"], "honeypot", "{honeypot}");
    // The hook runs in the background: give it a moment.
    let mut hook = String::new();
    for _ in 0..100 {
        hook = std::fs::read_to_string(hooked).unwrap_or_default();
        if !hook.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let fired: Value = serde_json::from_str(hook.lines().next().expect("the hook fired")).unwrap();
    assert_eq!(fired["tool"], "get-env");
    assert_eq!(fired["honeypot"], true);
}

#[test]
fn resilience_example_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let (config, audit, hooked) = resilience_config(dir.path());
    let bin = common::npm_bin("mcp-server-everything");
    // A value only the server's real environment holds.
    let marker = format!("real-env-{}", std::process::id());
    // SAFETY of the test: the variable reaches the server through `airlock run`'s environment.
    let mut c = Client::start_with(
        &[
            "env",
            &format!("AIRLOCK_TEST_MARKER={marker}"),
            bin.to_str().unwrap(),
            "stdio",
        ],
        &[
            "--config",
            config.to_str().unwrap(),
            "--audit",
            audit.to_str().unwrap(),
        ],
        json!({}),
    );
    resilience_calls(&mut |id, name, args| c.call(id, name, args), &marker);
    resilience_records(&audit, &hooked);
}

#[test]
fn resilience_example_behind_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let (config, audit, hooked) = resilience_config(dir.path());
    let bin = common::npm_bin("mcp-server-everything");
    let marker = format!("real-env-{}", std::process::id());
    let (_gateway, url) = serve(
        &[
            "--config",
            config.to_str().unwrap(),
            "--audit",
            audit.to_str().unwrap(),
            "--",
            bin.to_str().unwrap(),
            "stdio",
        ],
        &[("AIRLOCK_TEST_MARKER", &marker)],
    );
    let mut c = HttpClient::connect(&url);
    resilience_calls(&mut |id, name, args| c.call(id, name, args), &marker);
    resilience_records(&audit, &hooked);
}

#[test]
fn resilience_example_in_front_of_an_http_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let (config, audit, hooked) = resilience_config(dir.path());
    let bin = common::npm_bin("mcp-server-everything");
    let marker = format!("real-env-{}", std::process::id());
    let port = airlock_testkit::free_port();
    let upstream = Serve(
        Command::new(&bin)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .env("AIRLOCK_TEST_MARKER", &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let (_gateway, url) = serve(
        &[
            "--config",
            config.to_str().unwrap(),
            "--audit",
            audit.to_str().unwrap(),
            "--upstream",
            &format!("http://127.0.0.1:{port}/mcp"),
        ],
        &[],
    );
    let mut c = HttpClient::connect(&url);
    resilience_calls(&mut |id, name, args| c.call(id, name, args), &marker);
    resilience_records(&audit, &hooked);
    drop(upstream);
}

/// Retries through the gateway (`airlock serve -- server`, one server per session): the
/// read-only `flaky` tool of the test server misses its first deadline and the second attempt
/// answers; `slow`, which declares no hints, is never repeated.
#[test]
fn the_gateway_retries_calls_safe_to_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("retry.toml");
    std::fs::write(
        &config,
        "[upstream]\ntimeout = \"500ms\"\n[upstream.retry]\nattempts = 2\nbackoff = \"10ms\"\n",
    )
    .unwrap();
    let log = dir.path().join("server.log");
    let server = airlock_testkit::test_server();
    let (_gateway, url) = serve(
        &[
            "--config",
            config.to_str().unwrap(),
            "--",
            server.to_str().unwrap(),
        ],
        &[
            ("AIRLOCK_TEST_LOG", log.to_str().unwrap()),
            ("AIRLOCK_TEST_FLAKY", "1"),
        ],
    );
    let mut c = HttpClient::connect(&url);
    let r = c.call(1, "flaky", json!({"ms": 3000}));
    assert_eq!(r["id"], 1, "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "attempt 2", "{r}");
    let r = c.call(2, "slow", json!({"ms": 1500}));
    assert_eq!(refusal_code(&r), Some("upstream.timeout"), "{r}");
    let saw = std::fs::read_to_string(&log).unwrap();
    assert_eq!(saw.matches("\"flaky\"").count(), 2, "{saw}");
    assert_eq!(saw.matches("\"slow\"").count(), 1, "{saw}");
    assert!(saw.contains("notifications/cancelled"), "{saw}");
}

/// `airlock serve --metrics ADDR`: Prometheus text on a listener of its own, read back with a
/// parser: calls by tool and decision, refusals by code, outcomes, latency histograms,
/// sessions open, masked values by type, breaker states, budget spend; a tool name the server
/// never listed does not become a series of its own.
#[test]
fn the_gateway_serves_prometheus_metrics() {
    let metrics_port = airlock_testkit::free_port();
    let server = airlock_testkit::test_server();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock.toml");
    std::fs::write(
        &config,
        "[upstream.breaker]\nfailures = 3\n[tools.crash]\nbreaker = { failures = 1, open_for = \"1h\" }\n\
         [[budgets]]\nname = \"daily\"\nper = \"session\"\nwindow = \"day\"\ncalls = 100\n",
    )
    .unwrap();
    let (_gateway, url) = serve(
        &[
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
            "--config",
            config.to_str().unwrap(),
            "--",
            server.to_str().unwrap(),
        ],
        &[],
    );
    wait_for_port(metrics_port);
    let mut c = HttpClient::connect(&url);
    assert_eq!(
        refusal_code(&c.call(1, "echo", json!({"text": "hi"}))),
        None
    );
    assert_eq!(
        refusal_code(&c.call(2, "add", json!({"a": "1", "b": 2}))),
        Some("validation.type")
    );
    let r = c.call(3, "no-such-tool-7f3a", json!({}));
    assert_eq!(refusal_code(&r), Some("tool_integrity.unknown_tool"), "{r}");
    let r = c.call(4, "leaky", json!({}));
    assert!(r.get("result").is_some(), "{r}");
    let text = metrics_page(&c.rt, metrics_port);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let value = |metric: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {metric} {labels:?} in:\n{text}"))
    };
    assert_eq!(
        value(
            "airlock_calls_total",
            &[("tool", "echo"), ("decision", "allowed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "airlock_calls_total",
            &[("tool", "add"), ("decision", "refused")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "airlock_calls_total",
            &[("tool", "(unlisted)"), ("decision", "refused")]
        ),
        1.0
    );
    assert!(!text.contains("no-such-tool-7f3a"), "{text}");
    assert_eq!(
        value("airlock_refusals_total", &[("code", "validation.type")]),
        1.0
    );
    assert_eq!(
        value(
            "airlock_call_outcomes_total",
            &[("tool", "echo"), ("outcome", "succeeded")]
        ),
        1.0
    );
    assert_eq!(value("airlock_sessions_open", &[]), 1.0);
    let decided = scrape
        .samples
        .iter()
        .find(|s| s.metric == "airlock_decision_seconds")
        .expect("the decision histogram");
    let prometheus_parse::Value::Histogram(buckets) = &decided.value else {
        panic!("not a histogram: {decided:?}")
    };
    assert_eq!(buckets.last().unwrap().count, 4.0, "{text}");
    assert!(value("airlock_masked_values_total", &[]) >= 1.0, "{text}");
    assert_eq!(
        value(
            "airlock_budget_spend_total",
            &[("budget", "daily"), ("measure", "calls")]
        ),
        2.0,
        "the two allowed calls: {text}"
    );
    assert_eq!(
        value("airlock_breaker_state", &[("breaker", "server")]),
        0.0
    );
    assert_eq!(
        value("airlock_breaker_state", &[("breaker", "tool:crash")]),
        0.0
    );
    // The server exits without answering: the tool's breaker opens (2), the server's counts one
    // failure of three and stays closed.
    let r = c.call(5, "crash", json!({}));
    assert!(r.get("error").is_some(), "{r}");
    let text = metrics_page(&c.rt, metrics_port);
    assert!(
        text.contains("airlock_breaker_state{breaker=\"tool:crash\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("airlock_breaker_state{breaker=\"server\"} 0"),
        "{text}"
    );
}

/// The gateway's Prometheus page on `port`.
fn metrics_page(rt: &tokio::runtime::Runtime, port: u16) -> String {
    rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}
