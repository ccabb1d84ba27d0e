//! Test helpers for agent-airlock (dev only): real servers on loopback that stop by themselves.
//!
//! [`RedisServer`] starts a real `redis-server` on a free `127.0.0.1` port, waits until it
//! answers `PING`, and kills it when dropped. `scripts/test.sh` installs `redis-server`.

#![allow(clippy::expect_used)] // a test helper that cannot start its server must stop the test

pub mod clients;
#[cfg(feature = "http")]
mod echo_http;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod schema;
#[cfg(feature = "http")]
pub use echo_http::{Seen, echo_http};

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The testkit's MCP server (`airlock-test-server`), built as an example of the crate running
/// this test or benchmark: `<target>/<profile>/examples/airlock-test-server`. `cargo test`
/// builds examples; for benchmarks, `cargo build --release --example airlock-test-server`.
pub fn test_server() -> std::path::PathBuf {
    example("airlock-test-server")
}

/// An example binary of the crate running this test or benchmark
/// (`<target>/<profile>/examples/NAME`; `cargo test` builds a crate's examples).
pub fn example(name: &str) -> std::path::PathBuf {
    // <target>/<profile>/deps/<test binary> → <target>/<profile>/examples/…
    let exe = std::env::current_exe().expect("the running test's path");
    let profile = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("a test binary lives in <target>/<profile>/deps");
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --example {name}` (add --release for benchmarks)",
        path.display()
    );
    path
}

/// A configuration builder for an engine that holds only the checks a test gives it: the
/// sections other crates serve (paths and URLs in arguments, result masking) are off, as the
/// bare engine requires.
pub fn core_only() -> airlock_core::ConfigBuilder {
    airlock_core::ConfigBuilder::new()
        .set("filesystem.enabled", false, "test")
        .set("network.enabled", false, "test")
        .set("sanitize.enabled", false, "test")
}

/// The secrets the test server's hostile parts plant (`leaky`, `leaky_error`, resources,
/// prompts, completions): none may reach a client unmasked.
pub const PLANTED: [&str; 3] = ["ann@example.com", "4111 1111 1111 1111", "ghp_a1B2c3D4"];

/// One request for every kind of message the test server answers with planted secrets: tool
/// results in every field (with progress, log, sampling and elicitation messages first), a
/// tool error, resources, templates, a read, prompts, a prompt, completions. Ids 1 to 8.
pub fn leaky_requests() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "leaky", "arguments": {}, "_meta": {"progressToken": "p1"}}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "leaky_error", "arguments": {}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "resources/templates/list"}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": {"uri": "file:///r/a.txt"}}),
        json!({"jsonrpc": "2.0", "id": 6, "method": "prompts/list"}),
        json!({"jsonrpc": "2.0", "id": 7, "method": "prompts/get", "params": {"name": "p"}}),
        json!({"jsonrpc": "2.0", "id": 8, "method": "completion/complete", "params": {"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": ""}}}),
    ]
}

/// The names of the tools in a `tools/list` answer, in order.
pub fn listed(answer: &serde_json::Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .expect("a tools/list answer")
        .iter()
        .map(|t| t["name"].as_str().expect("a tool's name").to_owned())
        .collect()
}

/// The `notifications/tools/list_changed` among the messages a client saw.
pub fn list_changed(seen: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    seen.iter()
        .filter(|m| m["method"] == "notifications/tools/list_changed")
        .collect()
}

/// A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A `redis-server` on 127.0.0.1, killed when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Start one on a free port and wait (up to 10 s) until it answers.
    pub fn start() -> RedisServer {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for these tests (scripts/test.sh installs it)");
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(server.url()).expect("a valid URL");
        loop {
            if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return server;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A fresh connection.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("a connection to the test redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
