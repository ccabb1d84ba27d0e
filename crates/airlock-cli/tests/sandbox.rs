//! The sandbox (`[sandbox]`, the `sandbox` feature) with real servers and real processes:
//! `@modelcontextprotocol/server-filesystem` told it may use the whole disk, with the airlock's
//! own path guard off, still reaches only its root; `mcp-server-fetch` (PyPI) cannot reach a
//! listener on loopback with `network = "none"` and can with the port granted; a fork bomb, a
//! memory hog and a sleep-for-ever are stopped by the limits; nothing a server started outlives
//! the airlock, even killed with SIGKILL; `serve --upstream` refuses a required sandbox it
//! cannot apply.

#![cfg(all(feature = "sandbox", target_os = "linux"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Lines, airlock_command, left_running, post, processes_with};
use serde_json::{Value, json};

/// `airlock run --config CONFIG -- SERVER…`, initialised.
fn run(config: &Path, server: &[&str], env: &[(&str, &str)]) -> Lines {
    let mut c = Lines::spawn(
        airlock_command()
            .envs(env.iter().copied())
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--")
            .args(server)
            .stderr(Stdio::inherit()),
    );
    c.initialize("2025-06-18", json!({}));
    c
}

/// The text of a tool result, and whether it failed (an `isError` result or a JSON-RPC error).
fn outcome(r: &Value) -> (bool, String) {
    let failed = r.get("error").is_some() || r["result"]["isError"] == true;
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| r.to_string());
    (failed, text)
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("airlock.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// server-filesystem is told it may use `/` and the airlock's own path guard is off: only the
/// sandbox stands between it and the disk. It reads and writes its root, and nothing else.
#[test]
fn server_filesystem_reaches_only_its_root() {
    filesystem_confined("namespaces");
}

/// The same, with the podman backend.
#[test]
fn server_filesystem_reaches_only_its_root_in_podman() {
    filesystem_confined("podman");
}

fn filesystem_confined(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("note.txt"), "inside").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().canonicalize().unwrap().join("escaped.txt");
    let cfg = config(
        dir.path(),
        &format!(
            "[filesystem]\nenabled = false\n[sandbox]\nbackend = {backend:?}\nread_write = [{:?}]\n",
            root.to_str().unwrap()
        ),
    );
    let bin = common::npm_bin("mcp-server-filesystem");
    let mut c = run(&cfg, &[bin.to_str().unwrap(), "/"], &[]);
    let (failed, text) =
        outcome(&c.call(1, "read_text_file", json!({"path": root.join("note.txt")})));
    assert!(!failed && text.contains("inside"), "{text}");
    let (failed, text) = outcome(&c.call(
        2,
        "write_file",
        json!({"path": root.join("new.txt"), "content": "made inside"}),
    ));
    assert!(!failed, "{text}");
    assert_eq!(
        std::fs::read_to_string(root.join("new.txt")).unwrap(),
        "made inside"
    );

    // The host's /etc/hostname: absent (namespaces), or the container's own (podman writes one).
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let (failed, text) = outcome(&c.call(3, "read_text_file", json!({"path": "/etc/hostname"})));
    assert!(
        failed || (backend == "podman" && !host.trim().is_empty() && !text.contains(host.trim())),
        "the host's /etc/hostname was read: {text}"
    );
    let (failed, text) = outcome(&c.call(4, "read_text_file", json!({"path": "/etc/shadow"})));
    assert!(failed, "/etc/shadow was read: {text}");
    let (failed, text) = outcome(&c.call(
        5,
        "write_file",
        json!({"path": outside, "content": "escaped"}),
    ));
    assert!(failed, "a file outside the root was written: {text}");
    assert!(!outside.exists());
    let (failed, text) = outcome(&c.call(6, "list_directory", json!({"path": "/root"})));
    assert!(failed, "/root was listed: {text}");
}

/// A listener on the host's loopback that answers every HTTP request with a fixed page.
fn http_listener() -> (
    u16,
    std::thread::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let handle = std::thread::spawn(move || {
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                    let body = "<html><body><p>hello from the host loopback</p></body></html>";
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (port, handle, stop)
}

fn fetch_server() -> PathBuf {
    let bin =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-fetch/bin/mcp-server-fetch");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh",
        bin.display()
    );
    bin
}

/// mcp-server-fetch with `network = "none"`, or `"loopback"` with another port, cannot reach
/// a listener on the host's loopback; with its port granted (`"loopback"` or `"ports"`) it can.
#[test]
fn mcp_server_fetch_reaches_loopback_only_when_granted() {
    fetch_confined("namespaces");
}

/// The same with the podman backend, whose choices are `none` and `any`.
#[test]
fn mcp_server_fetch_reaches_loopback_only_when_granted_in_podman() {
    fetch_confined("podman");
}

fn fetch_confined(backend: &str) {
    let (port, listener, stop) = http_listener();
    let url = format!("http://127.0.0.1:{port}/page");
    let bin = fetch_server();
    let dir = tempfile::tempdir().unwrap();
    // With the namespaces backend: `loopback` relays only the ports listed, `ports` lets TCP
    // out to them; the podman backend has `none` and `any`.
    let cases: Vec<(String, bool)> = if backend == "podman" {
        vec![
            ("network = \"none\"".into(), false),
            ("network = \"any\"".into(), true),
        ]
    } else {
        let other = if port == u16::MAX { port - 1 } else { port + 1 };
        vec![
            ("network = \"none\"".into(), false),
            (format!("network = \"loopback\"\nports = [{other}]"), false),
            (format!("network = \"loopback\"\nports = [{port}]"), true),
            (format!("network = \"ports\"\nports = [{port}]"), true),
        ]
    };
    for (network, reaches) in &cases {
        let (network, reaches) = (network.as_str(), *reaches);
        let cfg = config(
            dir.path(),
            &format!("[network]\nenabled = false\n[sandbox]\nbackend = {backend:?}\n{network}\n"),
        );
        let mut c = run(
            &cfg,
            &[
                bin.to_str().unwrap(),
                "--ignore-robots-txt",
                "--allow-private-ips",
            ],
            &[],
        );
        let (failed, text) = outcome(&c.call(1, "fetch", json!({"url": url, "raw": true})));
        if reaches {
            assert!(
                !failed && text.contains("hello from the host loopback"),
                "{network}: {text}"
            );
        } else {
            assert!(
                !text.contains("hello from the host loopback"),
                "{network}: {text}"
            );
            assert!(failed, "{network}: {text}");
            // Refused by the sandbox, not by the server's own address check.
            assert!(!text.contains("not a public address"), "{network}: {text}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    listener.join().unwrap();
}

/// `airlock sandbox-exec` with a profile: the exit code and how long it took.
fn sandboxed(profile: Value, command: &[&str], marker: &str) -> (i32, Duration, String) {
    let started = Instant::now();
    let out = airlock_command()
        .env(
            marker.split('=').next().unwrap(),
            marker.split('=').nth(1).unwrap(),
        )
        .args(["sandbox-exec", "--parent", &std::process::id().to_string()])
        .args(["--profile", &profile.to_string(), "--"])
        .args(command)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    (
        out.status.code().unwrap_or(-1),
        took,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn profile(marker_var: &str, wall: Option<u64>, processes: u64, memory: u64) -> Value {
    json!({"required": true, "backend": "namespaces", "network": "none", "read_only": [], "read_write": [],
        "processes": processes, "memory": memory, "cpu_seconds": 0, "open_files": 256,
        "wall_seconds": wall, "env": ["PATH", marker_var]})
}

/// `network = "loopback"` with no ports (`ports = []`): a loopback of its own and nothing of the
/// host's. The server starts (an empty `--ports` used to stop it before it ran).
#[test]
fn loopback_without_ports_starts_the_server() {
    let mut p = profile("SANDBOX_TEST_MARKER", Some(10), 64, 1 << 30);
    p["network"] = json!({"loopback": []});
    let (code, _, err) = sandboxed(
        p,
        &["/bin/sh", "-c", "exit 7"],
        "SANDBOX_TEST_MARKER=loopback-no-ports",
    );
    assert_eq!(code, 7, "{err}");
}

/// `sandbox-exec` read its parent only after it had started: an airlock that died before left
/// it to a subreaper, and the check passed against that. It is told the airlock's pid
/// (`--parent`) and does not start the server when its parent is another process.
#[test]
fn a_sandbox_whose_parent_is_not_the_airlock_does_not_start() {
    let p = profile("SANDBOX_TEST_MARKER", Some(10), 64, 1 << 30);
    let mut not_the_parent = std::process::Command::new("true").spawn().unwrap();
    not_the_parent.wait().unwrap();
    let pid = not_the_parent.id();
    let out = airlock_command()
        .args(["sandbox-exec", "--parent", &pid.to_string()])
        .args(["--profile", &p.to_string(), "--", "/bin/sh", "-c", "exit 7"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("is not its parent"), "{err}");
    let (code, _, err) = sandboxed(
        p,
        &["/bin/sh", "-c", "exit 7"],
        "SANDBOX_TEST_MARKER=parent-checked",
    );
    assert_eq!(code, 7, "{err}");
}

/// A fork bomb, a memory hog and a sleep-for-ever are stopped by the limits, and leave nothing
/// behind.
#[test]
fn limits_contain_a_fork_bomb_a_memory_hog_and_a_sleep_forever() {
    limits_contain("namespaces");
}

/// The same limits with the podman backend: `--pids-limit`, `--memory` (the kernel's OOM killer
/// ends the hog: a cgroup limit on resident memory), `--timeout`.
#[test]
fn limits_contain_a_fork_bomb_a_memory_hog_and_a_sleep_forever_in_podman() {
    limits_contain("podman");
}

fn limits_contain(backend: &str) {
    let marker = format!(
        "SANDBOX_TEST_MARKER=limits-{backend}-{}",
        std::process::id()
    );
    let var = "SANDBOX_TEST_MARKER";
    let podman = backend == "podman";
    let limits = |wall, memory| {
        let mut p = profile(var, wall, 64, memory);
        p["backend"] = json!(backend);
        p
    };
    // A fork bomb: the process limit stops its growth; the wall clock ends it.
    let (code, took, err) = sandboxed(
        limits(Some(3), 1 << 30),
        &["/bin/bash", "-c", ":(){ :|:& };:; sleep 100"],
        &marker,
    );
    assert_ne!(code, 0, "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    // A memory hog: 2 GiB asked for under a 256 MiB limit. Under podman the pages are touched:
    // the cgroup limits resident memory, and the kernel's OOM killer ends the hog.
    let hog = if podman {
        "x = bytearray(2 << 30); x[::4096] = b'x' * len(x[::4096])"
    } else {
        "x = bytearray(2 << 30)"
    };
    let (code, _, err) = sandboxed(
        limits(Some(20), 256 << 20),
        &["/usr/bin/python3", "-c", hog],
        &marker,
    );
    if podman {
        assert_ne!(code, 0, "{err}");
    } else {
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("MemoryError"), "{err}");
    }
    // Sleeping for ever: stopped at the wall clock.
    let (code, took, err) = sandboxed(limits(Some(1), 1 << 30), &["/bin/sleep", "1000"], &marker);
    if podman {
        assert_ne!(code, 0, "{err}");
    } else {
        assert_eq!(code, 137, "{err}");
    }
    assert!(took < Duration::from_secs(15), "{took:?}");
    let left = left_running(&marker, Duration::from_millis(5000));
    assert!(left.is_empty(), "left running: {left:?}");
}

/// The airlock is killed with SIGKILL while its sandboxed server has children of its own:
/// none of them survives.
#[test]
fn nothing_outlives_the_airlock() {
    outlives_nothing("namespaces");
}

/// The same with the podman backend: the server sees its stdin close and ends, and the
/// container with it.
#[test]
fn nothing_outlives_the_airlock_in_podman() {
    outlives_nothing("podman");
}

fn outlives_nothing(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let marker_var = "SANDBOX_TEST_MARKER";
    let marker = format!("{marker_var}=hygiene-{backend}-{}", std::process::id());
    let server = airlock_testkit::test_server();
    let cfg = config(
        dir.path(),
        &format!(
            "[sandbox]\nbackend = {backend:?}\nenv = [\"PATH\", {marker_var:?}]\nread_only = [{:?}]\n",
            server.parent().unwrap().to_str().unwrap()
        ),
    );
    let script = format!(
        "sleep 1000 & sleep 1000 & exec {}",
        server.to_str().unwrap()
    );
    let mut c = run(
        &cfg,
        &["/bin/sh", "-c", &script],
        &[(marker_var, marker.split('=').nth(1).unwrap())],
    );
    let (failed, text) = outcome(&c.call(1, "echo", json!({"text": "sandboxed"})));
    assert!(!failed && text == "sandboxed", "{text}");
    let running = processes_with(&marker);
    assert!(
        running.len() >= 3,
        "the server and its two sleeps: {running:?}"
    );
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    let left = left_running(&marker, Duration::from_millis(10000));
    assert!(
        left.is_empty(),
        "left running after the airlock was killed: {left:?}"
    );
}

/// `[sandbox]` with a profile that does not exist, or a network the sandbox cannot enforce,
/// stops `airlock run` before anything starts, with a clear error.
#[test]
fn a_bad_sandbox_configuration_is_refused_before_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[sandbox]\nnetwork = \"lan\"\n");
    let out = airlock_command()
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--", "/bin/true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"none\", \"loopback\""), "{err}");
    let cfg = config(dir.path(), "[sandbox]\n");
    let out = airlock_command()
        .args(["run", "--sandbox-profile", "strict", "--config"])
        .arg(&cfg)
        .args(["--", "/bin/true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"strict\" is not configured"), "{err}");
}

/// Issue 17: `airlock serve --upstream URL` guards a server the airlock did not start, which
/// `[sandbox]` cannot bound; it used to start anyway. With the sandbox required (the default)
/// the gateway refuses to start, and says why.
#[test]
fn issue_17_serve_upstream_refuses_a_required_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[sandbox]\n");
    let mut child = airlock_command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--upstream", "http://127.0.0.1:9/mcp", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("airlock serve --upstream started with a required [sandbox]");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("[sandbox] applies to the servers the airlock starts"),
        "{err}"
    );
}

/// `airlock serve -- CMD`: each session's server runs in the sandbox, and answers through it.
#[test]
fn the_gateway_starts_each_sessions_server_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = airlock_testkit::test_server();
    let marker_var = "SANDBOX_TEST_MARKER";
    let marker = format!("{marker_var}=gateway-{}", std::process::id());
    let cfg = config(
        dir.path(),
        &format!(
            "[sandbox]\nenv = [\"PATH\", {marker_var:?}]\nread_only = [{:?}]\n",
            server.parent().unwrap().to_str().unwrap()
        ),
    );
    let (gateway, url) = common::serve(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--",
            server.to_str().unwrap(),
        ],
        &[(marker_var, marker.split('=').nth(1).unwrap())],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let post = |body: Value, session: Option<&str>| {
        let (headers, last) = post(&rt, &url, session, body, &[]);
        let session = headers
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        (session, last)
    };
    let (session, init) = post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
        None,
    );
    assert!(init.get("result").is_some(), "{init}");
    let session = session.unwrap();
    let (_, r) = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": "through the sandbox"}}}),
        Some(&session),
    );
    assert_eq!(outcome(&r).1, "through the sandbox", "{r}");
    // The server process holds the marker: it got the variable listed, inside the sandbox.
    let running = processes_with(&marker);
    assert!(!running.is_empty());
    let in_own_pid_namespace = running.iter().any(|pid| {
        let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
        ns(&pid.to_string()) != ns("self")
    });
    assert!(
        in_own_pid_namespace,
        "the server is not in a pid namespace of its own"
    );
    drop(gateway);
    let left = left_running(&marker, Duration::from_millis(10000));
    assert!(
        left.is_empty(),
        "left running after the gateway stopped: {left:?}"
    );
}

/// Greedy tools through `airlock run`: a tool that starts process after process (a fork bomb's
/// growth) is stopped at the process limit, a tool that asks for 2 GiB gets an allocation
/// failure under a 512 MiB limit, and a tool that sleeps for a minute ends with its server at the
/// wall clock. Nothing is left running.
#[test]
fn greedy_tools_are_contained_by_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = airlock_testkit::test_server();
    let marker_var = "SANDBOX_TEST_MARKER";
    let marker = format!("{marker_var}=greedy-{}", std::process::id());
    let cfg = config(
        dir.path(),
        &format!(
            "[upstream]\ntimeout = \"0s\"\n[sandbox]\nprocesses = 32\nmemory = \"512MiB\"\nwall_time = \"4s\"\n\
             env = [\"PATH\", \"AIRLOCK_TEST_GREEDY\", {marker_var:?}]\nread_only = [{:?}]\n",
            server.parent().unwrap().to_str().unwrap()
        ),
    );
    let started = Instant::now();
    let mut c = run(
        &cfg,
        &[server.to_str().unwrap()],
        &[
            ("AIRLOCK_TEST_GREEDY", "1"),
            (marker_var, marker.split('=').nth(1).unwrap()),
        ],
    );
    let r = c.call(1, "spawn_many", json!({"count": 10000}));
    let (failed, text) = outcome(&r);
    let n = r["result"]["structuredContent"]["started"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(!failed && n < 32, "{text}");
    assert!(text.contains("Resource temporarily unavailable"), "{text}");
    let (failed, text) = outcome(&c.call(2, "hog", json!({"mib": 2048})));
    assert!(failed && text.contains("could not allocate"), "{text}");
    let (failed, text) = outcome(&c.call(3, "hog", json!({"mib": 64})));
    assert!(!failed, "a modest allocation fits: {text}");
    let r = c.call(4, "slow", json!({"ms": 60000}));
    assert!(
        r.get("error").is_some(),
        "the server outlived its wall clock: {r}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let left = left_running(&marker, Duration::from_millis(5000));
    assert!(left.is_empty(), "left running: {left:?}");
}
