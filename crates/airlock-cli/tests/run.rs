//! `airlock run` end to end: the real binary in front of the testkit's real MCP server, over
//! real pipes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_testkit::test_server;
use assert_cmd::cargo::CommandCargoExt;
use serde_json::{Value, json};

struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Session {
    fn start(extra: &[&str], config: Option<&str>, env: &[(&str, &str)]) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut cmd = Command::cargo_bin("airlock").unwrap();
        cmd.arg("run");
        for (k, _) in std::env::vars() {
            if k.starts_with("AIRLOCK_") {
                cmd.env_remove(k);
            }
        }
        if let Some(text) = config {
            let path = dir.path().join("airlock.toml");
            std::fs::write(&path, text).unwrap();
            cmd.args(["--config", path.to_str().unwrap()]);
        }
        cmd.args(extra).arg("--").arg(test_server());
        cmd.env("AIRLOCK_TEST_LOG", &log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Session {
            child,
            stdin,
            stdout,
            log,
            _dir: dir,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the proxy closed its stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    fn server_saw(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("pid "))
            .map(str::to_owned)
            .collect()
    }

    fn server_pid(&self) -> u32 {
        let text = std::fs::read_to_string(&self.log).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("pid "))
            .unwrap()
            .parse()
            .unwrap()
    }

    fn close(mut self) -> (std::process::ExitStatus, Session) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self);
            }
            assert!(
                Instant::now() < deadline,
                "airlock run did not exit after stdin closed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;

#[test]
fn valid_calls_pass_byte_for_byte_and_answers_come_back() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    assert_eq!(
        s.recv()["result"]["serverInfo"]["name"],
        "airlock-test-server"
    );
    // A progress token and an unknown field survive the check.
    let call = r#"{"jsonrpc":"2.0", "id":7,"method":"tools/call","params":{"name":"add","arguments":{"b":3,"a":2},"_meta":{"progressToken":"p1"}},"x-extra":[1]}"#;
    s.send(call);
    let answer = s.recv();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["structuredContent"]["sum"], 5);
    // A checked call is forwarded as checked: the same message, re-serialised.
    let sent: Value = serde_json::from_str(call).unwrap();
    assert!(
        s.server_saw()
            .iter()
            .any(|l| serde_json::from_str::<Value>(l).ok() == Some(sent.clone())),
        "{:?}",
        s.server_saw()
    );
    // Unknown methods and notifications pass too.
    let discover = r#"{"jsonrpc":"2.0","id":"d1","method":"server/discover","params":{"what":1}}"#;
    s.send(discover);
    assert_eq!(s.recv()["error"]["code"], -32601);
    assert!(s.server_saw().contains(&discover.to_owned()));
    let (status, _) = s.close();
    assert!(status.success());
}

#[test]
fn refused_calls_never_reach_the_server_and_carry_fix_hints() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    s.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":"3"}}}"#);
    let r = s.recv();
    assert_eq!(r["id"], 2);
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("AIRLOCK_BLOCK: Tool 'add' validation failed."),
        "{text}"
    );
    assert!(text.contains("send 3, not \"3\""), "{text}");
    assert_eq!(
        r["result"]["_meta"]["airlock/refusal"]["metadata"]["code"],
        "validation.type"
    );
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2,"carry":true}}}"#);
    assert_eq!(
        s.recv()["result"]["_meta"]["airlock/refusal"]["block_reason"],
        "ghost_arguments"
    );
    s.send(
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#,
    );
    assert_eq!(
        s.recv()["result"]["_meta"]["airlock/refusal"]["metadata"]["code"],
        "tool_integrity.unknown_tool"
    );
    // The proxy fetched the tool list itself; the refused calls never reached the server.
    let saw = s.server_saw();
    assert!(
        saw.iter()
            .any(|l| l.contains("airlock-internal-") && l.contains("tools/list")),
        "{saw:?}"
    );
    assert!(
        !saw.iter()
            .any(|l| l.contains("\"id\":2") || l.contains("\"id\":3") || l.contains("\"id\":4")),
        "{saw:?}"
    );
}

#[test]
fn stripped_arguments_are_forwarded_without_the_ghosts() {
    let mut s = Session::start(&["--unknown-args", "strip_and_log"], None, &[]);
    s.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","loud":true}}}"#);
    let r = s.recv();
    assert_eq!(r["result"]["content"][0]["text"], "hi");
    let saw = s.server_saw();
    let forwarded = saw.iter().find(|l| l.contains("tools/call")).unwrap();
    let v: Value = serde_json::from_str(forwarded).unwrap();
    assert_eq!(v["params"]["arguments"], json!({"text": "hi"}));
}

#[test]
fn malformed_input_gets_errors_and_the_session_goes_on() {
    let mut s = Session::start(&["--max-line-bytes", "2048"], None, &[]);
    s.send("this is not json");
    assert_eq!(s.recv()["error"]["code"], -32700);
    s.send(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
    assert_eq!(s.recv()["error"]["code"], -32600);
    s.send(&format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#, "x".repeat(5000)));
    let r = s.recv();
    assert_eq!(r["error"]["code"], -32600);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 2048 bytes")
    );
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    assert_eq!(s.recv()["id"], 3);
    // A response to an id nobody asked for is passed to the server, which ignores it.
    s.send(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#);
    s.send(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
    assert_eq!(s.recv()["id"], 4);
}

#[test]
fn a_crashing_server_answers_calls_in_flight_and_leaves_no_process() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    let pid = s.server_pid();
    s.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"crash","arguments":{}}}"#);
    let r = s.recv();
    assert_eq!(r["id"], 5);
    assert_eq!(r["error"]["code"], -32000);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exited before answering")
    );
    // The proxy ends by itself (stdin still open), so the client sees its server end.
    let mut exited = None;
    for _ in 0..100 {
        exited = s.child.try_wait().unwrap();
        if exited.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        exited.and_then(|e| e.code()),
        Some(3),
        "the proxy did not exit with its server"
    );
    let (status, _) = s.close();
    assert_eq!(
        status.code(),
        Some(3),
        "airlock exits with the server's code"
    );
    assert!(!alive(pid));
}

#[test]
fn closing_stdin_stops_the_server() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    let pid = s.server_pid();
    assert!(alive(pid));
    let (status, _) = s.close();
    assert!(status.success());
    assert!(!alive(pid), "no orphan server process");
}

#[test]
fn listed_tools_hide_what_the_policy_denies_and_paging_is_followed() {
    let mut s = Session::start(
        &[],
        Some("[policy]\ndeny = [\"delete_*\"]\n"),
        &[("AIRLOCK_TEST_PAGE", "1")],
    );
    // A call first: the proxy must fetch both pages to know `slow` (on page 2).
    s.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"ms":0}}}"#);
    assert_eq!(s.recv()["result"]["content"][0]["text"], "done");
    s.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"page2"}}"#);
    let r = s.recv();
    let names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["slow", "crash", "hostile", "leaky", "leaky_error"],
        "delete_everything is hidden"
    );
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_everything","arguments":{}}}"#);
    assert_eq!(
        s.recv()["result"]["_meta"]["airlock/refusal"]["metadata"]["code"],
        "tool_access.denied"
    );
}

#[test]
fn a_tools_call_without_an_id_never_reaches_the_server() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    s.send(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_everything","arguments":{}}}"#);
    s.send(r#"{"jsonrpc":"2.0","method":"tools\/call","params":{"name":"delete_everything","arguments":{}}}"#);
    s.send(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
    assert_eq!(s.recv()["id"], 9);
    assert!(
        !s.server_saw()
            .iter()
            .any(|l| l.contains("delete_everything")),
        "{:?}",
        s.server_saw()
    );
}

#[test]
fn smuggling_attempts_are_refused_not_forwarded() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    // A batch whose first element is a call.
    s.send(r#"[{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"delete_everything","arguments":{}}},"ping"]"#);
    assert_eq!(s.recv()["error"]["code"], -32600);
    // A call hidden behind bare carriage returns inside an innocent-looking message.
    s.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\r{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"delete_everything\",\"arguments\":{}}}\r}");
    assert_eq!(s.recv()["error"]["code"], -32600);
    // Duplicate keys, at any depth: refused, never forwarded (a receiver may read either).
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"arguments":{"text":"y","evil":1}}}"#);
    let answer = s.recv();
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"arguments\" appears twice")
    );
    s.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","text":"evil"}}}"#);
    assert_eq!(s.recv()["error"]["code"], -32600);
    s.send(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
    assert_eq!(s.recv()["id"], 4);
    assert!(
        !s.server_saw()
            .iter()
            .any(|l| l.contains("delete_everything") || l.contains("evil")),
        "{:?}",
        s.server_saw()
    );
}

/// Start `airlock run -- sh -c '<leave a grandchild>; exec <test server>'`; returns the proxy
/// and the grandchild's pid.
fn with_grandchild(dir: &Path) -> (Child, u32) {
    let pidfile = dir.join("grandchild.pid");
    let script = format!(
        "sleep 300 & echo $! > {}; exec {}",
        pidfile.display(),
        test_server().display()
    );
    let mut cmd = Command::cargo_bin("airlock").unwrap();
    let child = cmd
        .args(["run", "--", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pidfile)
            && let Ok(pid) = text.trim().parse::<u32>()
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the server script did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    (child, pid)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "airlock run did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn closing_stdin_leaves_no_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, grandchild) = with_grandchild(dir.path());
    assert!(alive(grandchild));
    drop(child.stdin.take());
    wait_exit(&mut child);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !alive(grandchild),
        "the server's grandchild outlived the proxy"
    );
}

#[test]
fn sigterm_stops_the_proxy_the_server_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, grandchild) = with_grandchild(dir.path());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_exit(&mut child);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !alive(grandchild),
        "the server's grandchild outlived the proxy"
    );
}

/// The proxy reports each call's outcome to the engine, so `required_before` rules see what
/// succeeded.
#[test]
fn required_before_sees_successful_calls_through_the_proxy() {
    let mut s = Session::start(
        &[],
        Some("[tools.add]\nrequired_before = [\"echo\"]\n"),
        &[],
    );
    s.send(INIT);
    s.recv();
    let add = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#;
    s.send(add);
    let r = s.recv();
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r["result"]["_meta"]["airlock/refusal"]["metadata"]["code"]
            .as_str()
            .unwrap()
            .starts_with("session."),
        "{r}"
    );
    s.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"first"}}}"#);
    assert_eq!(s.recv()["result"]["content"][0]["text"], "first");
    s.send(&add.replace("\"id\":1", "\"id\":3"));
    let r = s.recv();
    assert_eq!(r["result"]["content"][0]["text"], "3", "{r}");
}

#[test]
fn a_tool_whose_definition_changes_is_refused_and_hidden() {
    let mut s = Session::start(&[], None, &[("AIRLOCK_TEST_RUG_PULL", "1")]);
    s.send(INIT);
    s.recv();
    let answer_to = |s: &mut Session, id: u64| loop {
        let v = s.recv();
        if v["id"] == id {
            return v;
        }
    };
    // The first definition seen is the pin.
    s.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#);
    assert_eq!(answer_to(&mut s, 1)["result"]["content"][0]["text"], "hi");
    // The server swaps echo's description for one that tells the model to leak a key.
    s.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rug_pull","arguments":{}}}"#);
    assert_eq!(
        answer_to(&mut s, 2)["result"]["content"][0]["text"],
        "changed"
    );
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#);
    let refused = answer_to(&mut s, 3);
    let refusal = &refused["result"]["_meta"]["airlock/refusal"];
    assert_eq!(
        refusal["metadata"]["code"], "tool_integrity.changed",
        "{refused}"
    );
    assert_eq!(refusal["block_reason"], "tool_changed");
    s.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{}}"#);
    let list = answer_to(&mut s, 4);
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"echo"),
        "the changed tool is hidden: {names:?}"
    );
    assert!(names.contains(&"add"), "{names:?}");
    // The second echo never reached the server.
    let echoes = s
        .server_saw()
        .iter()
        .filter(|l| l.contains("\"echo\"") && l.contains("tools/call"))
        .count();
    assert_eq!(echoes, 1);
}

#[test]
fn the_airlocks_own_answers_follow_the_negotiated_protocol_version() {
    use airlock_testkit::schema::McpSchema;
    for version in McpSchema::VERSIONS {
        let schema = McpSchema::load(version);
        let mut s = Session::start(&[], None, &[]);
        let meta = if version >= "2026-07-28" {
            // Stateless: no handshake; every request names its version.
            json!({"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}})
        } else {
            s.send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).to_string());
            assert_eq!(s.recv()["result"]["protocolVersion"], version);
            json!({})
        };
        // Refused by the airlock: a ghost argument, an unknown tool.
        for (id, name, args) in [
            (1, "echo", json!({"text": "a", "x": 1})),
            (2, "ech", json!({})),
        ] {
            s.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args, "_meta": meta}}).to_string());
            let answer = s.recv();
            assert_eq!(answer["id"], id);
            assert_eq!(
                answer["result"].get("resultType").is_some(),
                version >= "2026-07-28",
                "{version}: {answer}"
            );
            schema.check(schema.result_response(), &answer).unwrap();
            schema.check("CallToolResult", &answer["result"]).unwrap();
        }
        // Not JSON: no id to answer with.
        s.send("{oops");
        let answer = s.recv();
        assert_eq!(answer["error"]["code"], -32700);
        if version >= "2025-11-25" {
            assert!(answer.get("id").is_none(), "{version}: {answer}");
            schema.check(schema.error_response(), &answer).unwrap();
        } else {
            assert_eq!(answer["id"], Value::Null, "{version}: JSON-RPC 2.0's form");
        }
    }
}

#[test]
fn library_logs_reach_stderr_through_the_printer() {
    // Text on request (a terminal's default), JSON lines when stderr is not a terminal.
    for format in ["text", "auto"] {
        let out = Command::cargo_bin("airlock")
            .unwrap()
            .args(["--log-format", format, "-vv", "run", "--"])
            .arg(test_server())
            .env_remove("AIRLOCK_LOG")
            .env_remove("AIRLOCK_LOG_FORMAT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"x\\u001b[2J\"}}\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}\n")?;
                c.wait_with_output()
            })
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\u{1b}'),
            "{format}: terminal controls are escaped: {stderr}"
        );
        if format == "text" {
            assert!(
                stderr.contains("airlock: warning: dropped a tools/call without an id"),
                "{stderr}"
            );
            // -vv: every decision.
            assert!(
                stderr.contains(
                    "airlock: debug: refused (tool=nope, code=tool_integrity.unknown_tool"
                ),
                "{stderr}"
            );
            assert!(
                stderr.contains("airlock: info: airlock run: starting"),
                "{stderr}"
            );
            // What an operator reads, as a whole: the airlock's own lines (not the server's).
            let server = test_server().display().to_string();
            let ours: Vec<String> = stderr
                .lines()
                .filter(|l| l.starts_with("airlock: "))
                .map(|l| l.replace(&server, "[SERVER]"))
                .collect();
            insta::assert_snapshot!("text_logs", ours.join("\n"));
        } else {
            let lines: Vec<Value> = stderr
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
            assert!(
                lines.iter().any(|l| l["level"] == "warn"
                    && l["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("dropped a tools/call without an id"))),
                "{stderr}"
            );
            let start = lines
                .iter()
                .find(|l| l["level"] == "info")
                .unwrap_or_else(|| panic!("no start-up line: {stderr}"));
            assert_eq!(start["config"], "built-in defaults", "{stderr}");
            assert!(
                start["checks"].as_str().unwrap().contains("validation"),
                "{stderr}"
            );
        }
        // stdout belongs to the protocol: the refusal of call 7, nothing else.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let answers: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(answers.len(), 1, "{stdout}");
        assert_eq!(answers[0]["id"], 7, "{stdout}");
    }
}

#[test]
fn roots_in_input_responses_are_narrowed_however_the_key_is_spelt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work");
    std::fs::create_dir_all(&root).unwrap();
    let config = format!(
        "[filesystem]\nallowed_roots = [{:?}]\n",
        root.display().to_string()
    );
    let mut s = Session::start(&[], Some(&config), &[]);
    let meta = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    // A retried 2026-07-28 request answering the server's roots/list input request, once with
    // the key as is and once spelt with an escape.
    for key in ["inputResponses", "\\u0069nputResponses"] {
        s.send(&format!(
            r#"{{"jsonrpc":"2.0","id":"{key}","method":"prompts/get","params":{{"name":"p","_meta":{meta},"{key}":{{"r":{{"roots":[{{"uri":"file:///"}}]}}}}}}}}"#
        ));
        s.recv();
    }
    let seen: Vec<Value> = s
        .server_saw()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["method"] == "prompts/get")
        .collect();
    assert_eq!(seen.len(), 2);
    let want = json!([{"uri": format!("file://{}", root.display())}]);
    for v in seen {
        assert_eq!(v["params"]["inputResponses"]["r"]["roots"], want, "{v}");
    }
}

/// Issue 12, id games: a client reusing an id in flight, a null id, an id that cannot be read
/// exactly — refused, never forwarded; a server answering ids nobody sent, answering twice, or
/// with two `result` members — never relayed.
#[test]
fn id_games_are_refused_and_unsolicited_answers_dropped() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    // Two requests with one id in one write: the second is refused, not forwarded.
    s.send(concat!(
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow","arguments":{"ms":300}}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ann@example.com"}}}"#
    ));
    let refused = s.recv();
    assert_eq!(refused["id"], 7);
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already in flight")
    );
    let answered = s.recv();
    assert_eq!(
        answered["result"]["content"][0]["text"], "done",
        "{answered}"
    );
    // Once answered, the id is free again.
    s.send(r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#);
    assert_eq!(s.recv()["id"], 7);
    // A null id and an id that is not exact JSON text.
    s.send(r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#);
    assert_eq!(s.recv()["error"]["code"], -32600);
    s.send(r#"{"jsonrpc":"2.0","id":"x\ud800","method":"tools/list"}"#);
    assert!(s.recv()["error"]["code"].as_i64().is_some());
    s.send(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#);
    assert_eq!(s.recv()["error"]["code"], -32600);
    // The airlock's own id namespace is not the client's.
    s.send(r#"{"jsonrpc":"2.0","id":"airlock-internal-1-1","method":"ping"}"#);
    assert_eq!(s.recv()["error"]["code"], -32600);
    assert!(
        !s.server_saw().iter().any(|l| l.contains("ann@example.com")
            || l.contains("null")
            || l.contains("ud800")
            || l.contains("1.5")
            || l.contains("airlock-internal-1-1")),
        "{:?}",
        s.server_saw()
    );

    // The server's games: only the answer to what was asked reaches the client, cleaned.
    for (id, mode) in [(20, "unknown_id"), (21, "twice"), (22, "duplicate_result")] {
        s.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "hostile", "arguments": {"mode": mode}}}).to_string());
        let answer = s.recv();
        assert_eq!(answer["id"], id, "{mode}: {answer}");
        let text = answer.to_string();
        assert!(!text.contains("ann@example.com"), "{mode}: {text}");
        if mode == "duplicate_result" {
            assert_eq!(answer["error"]["code"], -32000, "{answer}");
            assert!(text.contains("appears twice"), "{text}");
        } else {
            assert_eq!(answer["result"]["content"][0]["text"], "clean");
        }
    }
    // Nothing else came: the next answer is the ping's.
    s.send(r#"{"jsonrpc":"2.0","id":30,"method":"ping"}"#);
    assert_eq!(s.recv()["id"], 30);
}

/// Issue 12: an integer a JavaScript server would read as another number never reaches it.
#[test]
fn integers_beyond_2_pow_53_never_reach_the_server() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    s.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":9007199254740993,"b":0}}}"#);
    let answer = s.recv();
    assert_eq!(
        answer["result"]["_meta"]["airlock/refusal"]["metadata"]["code"],
        "arguments.unsafe_integer",
        "{answer}"
    );
    assert!(
        !s.server_saw()
            .iter()
            .any(|l| l.contains("9007199254740993"))
    );
}

/// Issue 12: everything a model or a person reads is cleaned — tool results in every field,
/// resources, prompts, completions, errors, log and progress notifications, and the server's
/// own sampling and elicitation requests; binary content is left alone.
#[test]
fn every_message_a_reader_sees_is_cleaned() {
    let mut s = Session::start(&[], None, &[]);
    s.send(INIT);
    s.recv();
    let requests = airlock_testkit::leaky_requests();
    let mut seen: Vec<Value> = Vec::new();
    for r in &requests {
        s.send(&r.to_string());
        loop {
            let m = s.recv();
            let done = m["id"] == r["id"] && m.get("method").is_none();
            seen.push(m);
            if done {
                break;
            }
        }
    }
    let all = serde_json::to_string(&seen).unwrap();
    for secret in airlock_testkit::PLANTED {
        assert!(!all.contains(secret), "{secret} reached the client: {all}");
    }
    let by_method = |m: &str| {
        seen.iter()
            .find(|v| v["method"] == m)
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        by_method("notifications/progress")["params"]["message"]
            .as_str()
            .unwrap()
            .contains("[EMAIL]")
    );
    assert!(
        by_method("notifications/message")["params"]["data"]["line"]
            .as_str()
            .unwrap()
            .contains("[EMAIL]")
    );
    assert!(
        by_method("sampling/createMessage")["params"]["systemPrompt"]
            .as_str()
            .unwrap()
            .contains("[EMAIL]")
    );
    assert!(
        by_method("elicitation/create")["params"]["message"]
            .as_str()
            .unwrap()
            .contains("[EMAIL]")
    );
    let leaky = seen
        .iter()
        .find(|v| v["id"] == 1 && v.get("result").is_some())
        .unwrap();
    assert_eq!(
        leaky["result"]["content"][4]["data"], "bm90IGEgc2VjcmV0",
        "images are left alone"
    );
    assert!(
        leaky["result"]["content"][1]["description"]
            .as_str()
            .unwrap()
            .contains("[EMAIL]")
    );
    let read = seen.iter().find(|v| v["id"] == 5).unwrap();
    assert_eq!(
        read["result"]["contents"][2]["blob"], "AAECAwQ=",
        "binary blobs are left alone"
    );
    let error = seen.iter().find(|v| v["id"] == 2).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[EMAIL]"),
        "{error}"
    );
}

/// Issue 15: a call safe to repeat (`readOnlyHint`) whose first attempt misses its deadline is
/// sent again under the airlock's own id, and the client gets the second attempt's answer under
/// its own id; a call that is not safe to repeat is never retried; the audit log lists the
/// attempts.
#[test]
fn calls_safe_to_repeat_are_retried_after_a_timeout_and_others_never() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let config = r#"
[upstream]
timeout = "500ms"

[upstream.retry]
attempts = 3
backoff = "10ms"
"#;
    let mut s = Session::start(
        &["--audit", audit.to_str().unwrap()],
        Some(config),
        &[("AIRLOCK_TEST_FLAKY", "1")],
    );
    s.send(r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"flaky","arguments":{"ms":3000}}}"#);
    let a = s.recv();
    assert_eq!(a["id"], "c1", "{a}");
    assert_eq!(a["result"]["content"][0]["text"], "attempt 2", "{a}");
    // The server saw the call twice: the client's id, then the airlock's, with a cancellation
    // of the first in between.
    let saw = s.server_saw();
    let calls: Vec<&String> = saw.iter().filter(|l| l.contains("\"flaky\"")).collect();
    assert_eq!(calls.len(), 2, "{saw:?}");
    assert!(calls[1].contains("airlock-internal-"), "{saw:?}");
    assert!(
        saw.iter()
            .any(|l| l.contains("notifications/cancelled") && l.contains("\"c1\"")),
        "{saw:?}"
    );
    // `slow` declares no hints: it may have had an effect, so it is never repeated.
    s.send(r#"{"jsonrpc":"2.0","id":"c2","method":"tools/call","params":{"name":"slow","arguments":{"ms":1500}}}"#);
    let a = s.recv();
    assert_eq!(a["id"], "c2", "{a}");
    assert_eq!(
        a.pointer("/result/_meta/airlock~1refusal/metadata/code"),
        Some(&json!("upstream.timeout")),
        "{a}"
    );
    let slow = s
        .server_saw()
        .iter()
        .filter(|l| l.contains("\"slow\""))
        .count();
    assert_eq!(slow, 1);
    // The first attempt's late answer arrives after the second's and is dropped: nothing more
    // reaches the client, whose next call is answered normally.
    std::thread::sleep(Duration::from_millis(1600));
    s.send(r#"{"jsonrpc":"2.0","id":"c3","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#);
    let a = s.recv();
    assert_eq!(a["id"], "c3", "{a}");
    let (_, _s) = s.close();
    let notes: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["event"] == "retry")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["tool"], "flaky");
    assert_eq!(notes[0]["outcomes"], json!(["timed_out", "succeeded"]));
}

/// Issue 16: a session recorded through `airlock run`, replayed under a policy that denies one
/// of its tools, lists exactly those calls as changed (exit 1); under its own policy, none
/// (exit 0). The definitions come from the store next to the log.
#[test]
fn replay_lists_exactly_the_calls_a_new_policy_would_decide_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut s = Session::start(&["--audit", audit.to_str().unwrap()], None, &[]);
    let calls = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b","loud":true}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"add","arguments":{"a":3,"b":4}}}"#,
    ];
    for c in calls {
        s.send(c);
        s.recv();
    }
    let (_, _s) = s.close();
    assert!(dir.path().join("airlock-defs").read_dir().unwrap().count() >= 2);
    let replay = |config: &str| {
        let path = dir.path().join("new.toml");
        std::fs::write(&path, config).unwrap();
        let out = Command::cargo_bin("airlock")
            .unwrap()
            .args(["replay", "--json", "--config"])
            .arg(&path)
            .arg(&audit)
            .env_remove("AIRLOCK_CONFIG")
            .output()
            .unwrap();
        let changes: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap(), changes)
    };
    let (code, changes) = replay("[policy]\ndeny = [\"add\"]\n");
    assert_eq!(code, 1, "{changes}");
    let changed: Vec<(&str, &str, &str)> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["tool"].as_str().unwrap(),
                c["before"].as_str().unwrap(),
                c["after"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("add", "allowed", "refused (tool_access.denied)"),
            ("add", "allowed", "refused (tool_access.denied)"),
        ]
    );
    // Under the configuration it was recorded with, nothing changes; the ghost argument is
    // refused again.
    let (code, changes) = replay("");
    assert_eq!(code, 0, "{changes}");
    assert_eq!(changes, json!([]));
    // Undeclared arguments stripped instead: that call changes.
    let (_, changes) = replay("[ghost_args]\nmode = \"strip_and_log\"\n");
    assert_eq!(
        changes[0]["before"], "refused (ghost_args.unknown)",
        "{changes}"
    );
    assert_eq!(changes[0]["after"], "allowed (stripped loud)", "{changes}");
}

/// Issue 18, approval over MCP, 2026-07-28: a call needing a person gets an `input_required`
/// result; only the airlock's own single-use `requestState`, for the same call, with the
/// person's yes, lets it through — and neither the state nor the answer reaches the server.
#[test]
fn an_approval_is_bound_to_its_own_request_state_and_call() {
    let config = "[tools.add]\napproval = \"required\"\n";
    let mut s = Session::start(&[], Some(config), &[]);
    let meta = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}"#;
    let call = |id: &str, b: i64, state: Option<&str>, action: &str| {
        let retry = state.map_or_else(String::new, |st| {
            format!(
                r#","requestState":"{st}","inputResponses":{{"airlock/approval":{{"action":"{action}"}}}}"#
            )
        });
        format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"add","arguments":{{"a":2,"b":{b}}},"_meta":{meta}{retry}}}}}"#
        )
    };
    let asked = |answer: &Value| -> String {
        assert_eq!(answer["result"]["resultType"], "input_required", "{answer}");
        let request = &answer["result"]["inputRequests"]["airlock/approval"];
        assert_eq!(request["method"], "elicitation/create");
        let message = request["params"]["message"].as_str().unwrap();
        assert!(
            message.contains("Tool: add") && message.contains("\"b\": 3"),
            "{message}"
        );
        answer["result"]["requestState"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    s.send(&call("1", 3, None, ""));
    let state = asked(&s.recv());
    // A state the airlock never issued, even spelt like one: asked again.
    s.send(&call(
        "2",
        3,
        Some("airlock-approval.00000000000000000000000000000000"),
        "accept",
    ));
    let state2 = asked(&s.recv());
    assert_ne!(state, state2);
    // The real state, but other arguments: asked again, and the state is spent.
    s.send(&call("3", 300, Some(&state2), "accept"));
    assert_eq!(s.recv()["result"]["resultType"], "input_required");
    s.send(&call("4", 3, Some(&state2), "accept"));
    let state3 = asked(&s.recv());
    // A decline refuses the call.
    s.send(&call("5", 3, Some(&state3), "decline"));
    let declined = s.recv();
    assert_eq!(
        declined["result"]["_meta"]["airlock/refusal"]["metadata"]["code"], "approval.denied",
        "{declined}"
    );
    assert!(
        s.server_saw().iter().all(|l| !l.contains("\"add\"")),
        "no call reached the server yet: {:?}",
        s.server_saw()
    );
    // Asked again, and accepted: the call runs, without the airlock's state or answer.
    s.send(&call("6", 3, None, ""));
    let state4 = asked(&s.recv());
    s.send(&call("7", 3, Some(&state4), "accept"));
    let ran = s.recv();
    assert_eq!(ran["result"]["structuredContent"]["sum"], 5, "{ran}");
    let seen: Vec<Value> = s
        .server_saw()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["method"] == "tools/call")
        .collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0]["params"].get("requestState").is_none(),
        "{}",
        seen[0]
    );
    assert!(
        seen[0]["params"].get("inputResponses").is_none(),
        "{}",
        seen[0]
    );
}
