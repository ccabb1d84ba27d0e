//! What several test binaries of the CLI share: the `airlock` binary and `airlock serve` as a
//! real process on a free loopback port.

#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// The `airlock` binary under test.
pub fn airlock() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airlock"))
}

/// `airlock` with no `AIRLOCK_*` variable of the test's environment.
pub fn airlock_command() -> Command {
    let mut cmd = Command::new(airlock());
    for (k, _) in std::env::vars() {
        if k.starts_with("AIRLOCK_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A process stopped when dropped: SIGTERM first (the gateway stops its sessions' servers on
/// the way out), then SIGKILL.
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until something listens on the loopback port.
pub fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// `airlock serve --allow-anonymous --listen 127.0.0.1:PORT ARGS…` with these variables set,
/// and its `/mcp` URL.
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> (Stopped, String) {
    let port = airlock_testkit::free_port();
    let child = airlock_command()
        .envs(env.iter().copied())
        .args(["serve", "--allow-anonymous", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("airlock serve starts");
    let stopped = Stopped(child);
    wait_for_port(port);
    (stopped, format!("http://127.0.0.1:{port}/mcp"))
}

/// `airlock serve --config CONFIG -- airlock demo --server`: the gateway in front of the demo
/// server (one per session), and its `/mcp` URL.
pub fn serve_demo(config: &std::path::Path) -> (Stopped, String) {
    let airlock = airlock();
    serve(
        &[
            "--config",
            config.to_str().expect("a UTF-8 path"),
            "--",
            airlock.to_str().expect("a UTF-8 path"),
            "demo",
            "--server",
        ],
        &[],
    )
}

/// An npm MCP server's program, installed by `scripts/test.sh` under `target/npm`.
pub fn npm_bin(name: &str) -> PathBuf {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/npm/node_modules/.bin")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which installs the pinned npm MCP servers",
        bin.display()
    );
    bin
}

/// `airlock run --config CONFIG -- airlock demo --server`, as a command line: the stdio door in
/// front of the demo server.
pub fn stdio_demo(config: &std::path::Path) -> Vec<String> {
    let airlock = airlock().display().to_string();
    [
        airlock.clone(),
        "run".into(),
        "--config".into(),
        config.display().to_string(),
        "--".into(),
        airlock,
        "demo".into(),
        "--server".into(),
    ]
    .into()
}

/// Processes whose environment holds `marker` (`NAME=value`: they inherited it from the process
/// under test).
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(env) = std::fs::read(entry.path().join("environ"))
            && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

/// The processes holding `marker` still running after waiting up to `within` for them to end.
pub fn left_running(marker: &str, within: std::time::Duration) -> Vec<u32> {
    let until = std::time::Instant::now() + within;
    loop {
        let left = processes_with(marker);
        if left.is_empty() || std::time::Instant::now() >= until {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A line-delimited JSON-RPC client on a child's stdio (`airlock run …`): answers are read by
/// id; every other message seen on the way is kept in `seen`. The child is killed when dropped.
pub struct Lines {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub seen: Vec<Value>,
}

impl Lines {
    /// Start `cmd` with piped stdin and stdout (stderr as the caller set it).
    pub fn spawn(cmd: &mut Command) -> Lines {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the command starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
        Lines {
            child,
            stdin,
            stdout,
            seen: Vec::new(),
        }
    }

    /// Write one message.
    pub fn send(&mut self, v: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{v}").expect("the proxy reads its stdin");
        stdin.flush().expect("the proxy reads its stdin");
    }

    /// One line the proxy wrote, as JSON.
    pub fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .expect("stdout is readable");
        assert!(n > 0, "the proxy closed its stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Read until the answer to `id`, keeping everything else.
    pub fn answer(&mut self, id: &Value) -> Value {
        loop {
            let v = self.read();
            if v.get("id") == Some(id) && v.get("method").is_none() {
                return v;
            }
            self.seen.push(v);
        }
    }

    /// Send a request and read its answer.
    pub fn ask(&mut self, request: Value) -> Value {
        self.send(&request);
        self.answer(&request["id"])
    }

    /// `initialize` (id 0) under `version` with `capabilities`, then `notifications/initialized`.
    pub fn initialize(&mut self, version: &str, capabilities: Value) -> Value {
        let init = self.ask(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": capabilities,
            "clientInfo": {"name": "airlock-test", "version": "1"}}}),
        );
        assert!(init.get("result").is_some(), "{init}");
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        init
    }

    /// A `tools/call` and its answer.
    pub fn call(&mut self, id: i64, name: &str, arguments: Value) -> Value {
        self.ask(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}))
    }

    /// Close stdin and wait for the child to exit.
    pub fn close(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().expect("the child can be waited for")
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One POST of `body` to the gateway at `url` (protocol 2025-06-18, in `session` if given, with
/// `extra` headers): the answer's headers and its last JSON-RPC message (a JSON body, or the
/// last `data:` event of an SSE stream; null when there is none).
pub fn post(
    rt: &tokio::runtime::Runtime,
    url: &str,
    session: Option<&str>,
    body: Value,
    extra: &[(&str, &str)],
) -> (reqwest::header::HeaderMap, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    rt.block_on(async move {
        let resp = req.send().await.expect("the gateway answers");
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("the answer is readable");
        let last = if text.trim_start().starts_with('{') {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .next_back()
                .unwrap_or(Value::Null)
        };
        (headers, last)
    })
}
