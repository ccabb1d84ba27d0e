//! Clients nobody at agent-airlock wrote, through both proxy doors: the official Python SDK
//! (`mcp` from PyPI, pinned in `scripts/test.sh`) in its default mode (protocol 2026-07-28, which
//! refuses a result without `resultType`) and in its legacy mode (`initialize`), and the official
//! TypeScript SDK (`@modelcontextprotocol/sdk` from npm, pinned). Every refusal must reach the
//! client as a readable tool error carrying the fix hints — never a client exception — and valid
//! calls must work, with personal data masked. (rmcp, the third client, drives every door in the
//! differential test, `doors.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

mod common;

use std::path::Path;

use airlock_testkit::clients;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[policy]
deny = ["delete_*"]

# A honeypot: its fake success must reach every client as an ordinary result.
[tools.list_directory]
honeypot = "reports/\nreports/q3.txt"

# Read as a shell command line: an injected `;` must reach every client as a refusal.
[injection.tools]
fetch_url = "shell"

[filesystem]
allowed_roots = ["/srv/workspace"]
# The demo server reads paths relative to its workspace.
base = "/srv/workspace"
symlinks = "lexical"
"#;

/// Each call, and the refusal code it must get (`None`: it must work).
fn calls() -> Vec<(&'static str, Value, Option<&'static str>)> {
    vec![
        ("read_file", json!({"path": "reports/q3.txt"}), None),
        ("query_customers", json!({"columns": ["id", "email"]}), None),
        (
            "read_file",
            json!({"path": "reports/q3.txt", "mode": "r"}),
            Some("ghost_args.unknown"),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": "5", "currency": "EUR"}),
            Some("validation.type"),
        ),
        (
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 5}),
            Some("validation.required"),
        ),
        (
            "read_files",
            json!({"path": "a"}),
            Some("tool_integrity.unknown_tool"),
        ),
        (
            "delete_records",
            json!({"ids": ["c-1"]}),
            Some("tool_access.denied"),
        ),
        (
            "read_file",
            json!({"path": "../finance/payroll.xlsx"}),
            Some("filesystem.outside_roots"),
        ),
        (
            "fetch_url",
            json!({"url": "http://169.254.169.254/latest/meta-data/"}),
            Some("network.internal"),
        ),
        ("list_directory", json!({"path": "reports"}), None),
        (
            "fetch_url",
            json!({"url": "https://example.org/a;id"}),
            Some("arguments.injection"),
        ),
    ]
}

/// Run a client with the calls on stdin; its JSON lines.
fn run_client(cmd: std::process::Command) -> Vec<Value> {
    let input: Vec<Value> = calls().into_iter().map(|(t, a, _)| json!([t, a])).collect();
    clients::run(cmd, &Value::Array(input))
}

/// What every client must see, whatever the door or the protocol version.
fn check(who: &str, lines: &[Value]) {
    let tools = lines[1]["tools"].as_array().unwrap();
    assert!(
        !tools.iter().any(|t| t == "delete_records"),
        "{who}: a denied tool is hidden: {tools:?}"
    );
    for ((tool, args, want), got) in calls().iter().zip(&lines[2..]) {
        let what = format!("{who}: {tool} {args}");
        assert_eq!(
            got["accepted"], true,
            "{what}: the client refused the answer: {got}"
        );
        let text = got["text"].as_str().unwrap_or_default();
        match want {
            Some(code) => {
                assert_eq!(got["is_error"], true, "{what}: {got}");
                assert_eq!(got["code"], *code, "{what}: {got}");
                assert!(text.starts_with("AIRLOCK_BLOCK: "), "{what}: {text}");
                assert!(
                    text.contains("How to fix:\n- "),
                    "{what}: no fix hints: {text}"
                );
            }
            None => {
                assert_eq!(got["is_error"], false, "{what}: {got}");
                assert!(!text.is_empty(), "{what}");
                assert!(
                    !text.contains('@'),
                    "{what}: e-mail addresses are masked: {text}"
                );
            }
        }
        if *tool == "list_directory" {
            assert_eq!(
                text, "reports/\nreports/q3.txt",
                "{what}: the honeypot's text"
            );
        }
    }
}

fn config_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("airlock.toml");
    std::fs::write(&path, CONFIG).unwrap();
    path
}

#[test]
fn python_sdk_default_and_legacy_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());
    for (mode, version) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let mut cmd = clients::python(mode);
        cmd.arg("--").args(common::stdio_demo(&config));
        let lines = run_client(cmd);
        assert_eq!(lines[0]["protocol"], version, "python {mode}");
        check(&format!("python {mode} over stdio"), &lines);
    }
}

#[test]
fn python_sdk_default_and_legacy_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, url) = common::serve_demo(&config_file(dir.path()));
    for (mode, version) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let mut cmd = clients::python(mode);
        cmd.args(["--url", &url]);
        let lines = run_client(cmd);
        assert_eq!(lines[0]["protocol"], version, "python {mode}");
        check(&format!("python {mode} over HTTP"), &lines);
    }
}

#[test]
fn typescript_sdk_over_stdio_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());
    let mut cmd = clients::typescript();
    cmd.arg("--").args(common::stdio_demo(&config));
    check("typescript over stdio", &run_client(cmd));
    let (_gateway, url) = common::serve_demo(&config);
    let mut cmd = clients::typescript();
    cmd.args(["--url", &url]);
    check("typescript over HTTP", &run_client(cmd));
}
