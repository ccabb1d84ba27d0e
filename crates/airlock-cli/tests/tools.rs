//! `airlock tools`: a server's tools, every page, printed in the form `airlock check --tools`
//! and `airlock pin --tools` read — from our test server and server-everything over stdio, and
//! over Streamable HTTP from the gateway (JSON answers), an rmcp server (SSE answers) and
//! server-everything (SSE, a session ended with DELETE). Everything on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Stopped, airlock_command, serve, wait_for_port};
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Run {
    let out = cmd
        .borrow_mut()
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn tools(args: &[&str]) -> Command {
    let mut c = airlock_command();
    c.arg("tools").args(args);
    c
}

fn names(tools_json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(tools_json).unwrap();
    v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The test server's tools, in its order.
const TEST_SERVER_TOOLS: [&str; 8] = [
    "echo",
    "add",
    "slow",
    "crash",
    "delete_everything",
    "hostile",
    "leaky",
    "leaky_error",
];

fn test_server() -> String {
    airlock_testkit::test_server().display().to_string()
}

/// A binary of the pinned npm servers `scripts/test.sh` installs, if it is there.
fn npm_bin(name: &str) -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/npm/node_modules/.bin")
        .join(name);
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!(
            "skipped: {} is missing (scripts/test.sh installs the pinned npm MCP servers)",
            bin.display()
        );
        None
    }
}

#[test]
fn stdio_tools_of_every_page_round_trip_through_check_and_pin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tools.json");
    let server = test_server();
    // Two pages: the test server pages its list with AIRLOCK_TEST_PAGE.
    let r =
        run(tools(&["--output", file.to_str().unwrap(), "--", &server])
            .env("AIRLOCK_TEST_PAGE", "1"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "--output leaves stdout empty: {}",
        r.stdout
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(names(&saved), TEST_SERVER_TOOLS);

    // stdout gets the same text.
    let r = run(tools(&["--", &server]).env("AIRLOCK_TEST_PAGE", "1"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, saved);

    // `check --tools` reads it: valid calls pass, bad ones are refused by the listed schema.
    let tools_file = file.to_str().unwrap();
    let check = |args: &str| {
        run(airlock_command().args([
            "check", "--tools", tools_file, "--tool", "add", "--args", args,
        ]))
    };
    let r = check(r#"{"a": 1, "b": 2}"#);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = check(r#"{"a": "1", "b": 2}"#);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("validation.type"), "{}", r.stdout);

    // `pin --tools` reads it: one pin per tool.
    let r = run(airlock_command().args(["pin", "--tools", tools_file]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pins: serde_json::Map<String, Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(pins.len(), TEST_SERVER_TOOLS.len());
    assert!(
        pins.values()
            .all(|p| p.as_str().unwrap().starts_with("sha256:"))
    );
}

#[test]
fn server_everything_over_stdio() {
    let Some(bin) = npm_bin("mcp-server-everything") else {
        return;
    };
    let r = run(tools(&["--", bin.to_str().unwrap(), "stdio"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let listed = names(&r.stdout);
    for expected in ["echo", "get-sum", "trigger-long-running-operation"] {
        assert!(
            listed.iter().any(|n| n == expected),
            "{expected} missing: {listed:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tools.json");
    std::fs::write(&file, &r.stdout).unwrap();
    let r = run(airlock_command().args([
        "check",
        "--tools",
        file.to_str().unwrap(),
        "--tool",
        "get-sum",
        "--args",
        r#"{"a": 1}"#,
    ]));
    assert_eq!(
        r.code, 1,
        "a missing b is refused: {}{}",
        r.stdout, r.stderr
    );
    assert!(r.stdout.contains("validation.required"), "{}", r.stdout);
}

#[test]
fn url_gateway_json_answers_every_page() {
    let server = test_server();
    let (_gateway, url) = serve(&["--", &server], &[("AIRLOCK_TEST_PAGE", "1")]);
    let r = run(tools(&["--url", &url]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names(&r.stdout), TEST_SERVER_TOOLS);
}

#[test]
fn url_rmcp_server_sse_answers() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, seen) = runtime.block_on(airlock_testkit::echo_http());
    let r = run(tools(&["--url", &url]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names(&r.stdout), ["echo"]);
    // initialize, notifications/initialized, tools/list, and the DELETE ending the session.
    assert_eq!(seen.lock().unwrap().len(), 4, "{:?}", seen.lock().unwrap());
}

#[test]
fn url_headers_reach_every_request() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, seen) = runtime.block_on(airlock_testkit::echo_http());
    let r = run(tools(&[
        "--url",
        &url,
        "--header",
        "Authorization: Bearer t0ken",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter().all(|h| h.as_deref() == Some("Bearer t0ken")),
        "{seen:?}"
    );
    let r = run(tools(&["--url", &url, "--header", "no colon"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not `Name: value`"), "{}", r.stderr);
}

#[test]
fn url_server_everything_session_is_ended() {
    let Some(bin) = npm_bin("mcp-server-everything") else {
        return;
    };
    let port = airlock_testkit::free_port();
    let mut server = Stopped(
        Command::new(bin)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let r = run(tools(&["--url", &format!("http://127.0.0.1:{port}/mcp")]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(names(&r.stdout).iter().any(|n| n == "echo"), "{}", r.stdout);
    // Its log says the session was ended (the DELETE arrives before `airlock tools` exits).
    let mut log = server.0.stdout.take().unwrap();
    drop(server);
    let mut text = String::new();
    log.read_to_string(&mut text).unwrap();
    assert!(text.contains("session termination request"), "{text}");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = test_server();
    let r = run(tools(&["--timeout", "1", "--", &server]).env("AIRLOCK_TEST_SILENT_LIST", "1"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error: the server did not answer tools/list within 1 second\nhint: "),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn a_server_that_exits_is_an_error_with_its_status() {
    let r = run(tools(&["--", "sh", "-c", "echo broken >&2; exit 3"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    insta::assert_snapshot!("server_exits", r.stderr);
}

#[test]
fn usage_errors() {
    let r = run(tools(&["--", "/nonexistent/mcp-server"]));
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("command_missing", r.stderr);

    let r = run(tools(&["--url", "ftp://127.0.0.1/mcp"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("is not an http:// or https:// URL"),
        "{}",
        r.stderr
    );

    let port = airlock_testkit::free_port();
    let r = run(tools(&["--url", &format!("http://127.0.0.1:{port}/mcp")]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot reach the MCP server"),
        "{}",
        r.stderr
    );

    let r = run(tools(&[]));
    assert_eq!(r.code, 2, "a command or --url is required: {}", r.stderr);
}

#[test]
fn help() {
    let r = run(tools(&["--help"]));
    assert_eq!(r.code, 0);
    insta::assert_snapshot!("help", r.stdout);
}
