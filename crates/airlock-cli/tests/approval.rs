//! Issue 18, human approval over MCP itself, with the official Python SDK client (`mcp` from
//! PyPI) as the client nobody here wrote, through both doors, in both of its protocol modes:
//! its elicitation callback is the person. 2025-11-25 (`legacy`) clients are asked with an
//! `elicitation/create` request; 2026-07-28 (`auto`) clients with an `input_required` result.
//! Accept runs the call, decline refuses it (`approval.denied`), no answer in time refuses it
//! (`approval.timed_out`), "for this session" is remembered where the session is the client's
//! own; every answer is in the audit log. A client that cannot ask gets `approval.command`, or
//! `approval.required`; with `ask_client = false` no client is asked. The official TypeScript SDK
//! client, with an elicitation handler, is asked the same way (2025-11-25).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

mod common;

use std::path::Path;

use airlock_testkit::clients;
use serde_json::{Value, json};

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("airlock.toml");
    let audit = dir.join("audit.jsonl");
    std::fs::write(
        &path,
        format!(
            "[tools.transfer_money]\napproval = \"required\"\n\n[audit]\npath = {:?}\n\n[approval]\ntimeout_secs = 1\n{extra}",
            audit.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// Five transfers: amounts 5, 7, 9, 11, 13.
fn transfers() -> Value {
    Value::Array(
        [5, 7, 9, 11, 13]
            .iter()
            .map(|n| json!(["transfer_money", {"to": "DE89370400440532013000", "amount": n, "currency": "EUR"}]))
            .collect(),
    )
}

/// The calls' outcomes (the refusal code, or `ok`), and what the user was asked.
fn outcomes(lines: &[Value]) -> (Vec<String>, Vec<&Value>) {
    let asked = lines
        .iter()
        .filter(|l| l.get("elicited").is_some())
        .collect();
    let done = lines
        .iter()
        .filter(|l| l.get("tool").is_some())
        .map(|l| {
            assert_eq!(l["accepted"], true, "the SDK took the answer: {l}");
            l["code"].as_str().unwrap_or("ok").to_owned()
        })
        .collect();
    (done, asked)
}

/// The audit records of transfers: (decision, code, approval).
fn audited(dir: &Path) -> Vec<(String, String, Value)> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["tool"] == "transfer_money")
        .map(|v| {
            (
                v["decision"].as_str().unwrap().to_owned(),
                v["code"].as_str().unwrap_or("").to_owned(),
                v["approval"].clone(),
            )
        })
        .collect()
}

/// Accept, decline, no answer in time, accept for the session: the fifth call is not asked.
fn check_session_client(who: &str, lines: &[Value], dir: &Path) {
    let (done, asked) = outcomes(lines);
    assert_eq!(
        done,
        ["ok", "approval.denied", "approval.timed_out", "ok", "ok"],
        "{who}: {lines:?}"
    );
    assert_eq!(
        asked.len(),
        4,
        "{who}: remembered for the session: {asked:?}"
    );
    let first = asked[0]["elicited"].as_str().unwrap();
    for shown in ["Tool: transfer_money", "\"amount\": 5", "approval"] {
        assert!(
            first.contains(shown),
            "{who}: the user sees {shown}: {first}"
        );
    }
    assert_eq!(
        asked[0]["schema"]["properties"]["remember"]["enum"],
        json!(["once", "session"]),
        "{who}"
    );
    // Only approved calls reached the server: its second transfer is the fourth call.
    let texts: Vec<&str> = lines.iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(
        texts[3].contains("transfer #2 queued: 11"),
        "{who}: {texts:?}"
    );
    let records = audited(dir);
    let approvals: Vec<&Value> = records
        .iter()
        .filter(|(d, _, _)| d == "allowed")
        .map(|(_, _, a)| a)
        .collect();
    assert_eq!(
        approvals,
        [
            &json!({"via": "client", "scope": "once"}),
            &json!({"via": "client", "scope": "session"}),
            &json!({"via": "session", "scope": "session"}),
        ],
        "{who}: {records:?}"
    );
    let codes: Vec<&str> = records.iter().map(|(_, c, _)| c.as_str()).collect();
    assert!(
        codes.contains(&"approval.denied") && codes.contains(&"approval.timed_out"),
        "{who}: {records:?}"
    );
    let held = records
        .iter()
        .filter(|(d, _, _)| d == "awaiting_approval")
        .count();
    assert_eq!(held, 4, "{who}: every question is recorded: {records:?}");
}

#[test]
fn python_sdk_user_approves_over_stdio_in_both_modes() {
    for mode in ["auto", "legacy"] {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), "");
        let mut cmd = clients::python(mode);
        cmd.args(["--approve", "accept,decline,sleep:2.5,accept:session"])
            .arg("--")
            .args(common::stdio_demo(&config));
        let lines = clients::run(cmd, &transfers());
        check_session_client(&format!("python {mode} over stdio"), &lines, dir.path());
    }
}

#[test]
fn python_sdk_user_approves_over_http_in_both_modes() {
    // A legacy session is the client's own: "for this session" holds.
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, url) = common::serve_demo(&config(dir.path(), ""));
    let mut cmd = clients::python("legacy");
    cmd.args([
        "--url",
        &url,
        "--approve",
        "accept,decline,sleep:2.5,accept:session",
    ]);
    let lines = clients::run(cmd, &transfers());
    check_session_client("python legacy over HTTP", &lines, dir.path());
    // Anonymous 2026-07-28 requests share one session: nothing is remembered, nor offered.
    let mut cmd = clients::python("auto");
    cmd.args([
        "--url",
        &url,
        "--approve",
        "accept,decline,sleep:2.5,accept:session,decline",
    ]);
    let lines = clients::run(cmd, &transfers());
    let (done, asked) = outcomes(&lines);
    assert_eq!(
        done,
        [
            "ok",
            "approval.denied",
            "approval.timed_out",
            "ok",
            "approval.denied"
        ],
        "{lines:?}"
    );
    assert_eq!(asked.len(), 5, "asked every time: {asked:?}");
    assert_eq!(asked[0]["schema"]["properties"], json!({}));
}

/// Stateless requests holding the same API key share one session, though they may come from
/// independent clients: "for this session" is neither offered nor remembered there, or one
/// person's answer would let another client's calls through unasked.
#[test]
fn stateless_clients_of_one_api_key_share_no_approval_for_the_session() {
    let dir = tempfile::tempdir().unwrap();
    // The SHA-256 of `key-approver`.
    let key = "[gateway]\napi_keys = [{ sha256 = \"f798367fcb819e63474daaac8584c86ad1ae9fed20cb9de0f8680dbacdd973cf\", agent = \"ops\" }]\n";
    let (_gateway, url) = common::serve_demo(&config(dir.path(), key));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let call = |id: i64, amount: i64, retry: Value| {
        let mut params = json!({
            "name": "transfer_money",
            "arguments": {"to": "DE89370400440532013000", "amount": amount, "currency": "EUR"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
            },
        });
        if let (Value::Object(p), Value::Object(r)) = (&mut params, retry) {
            p.extend(r);
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
        common::post(
            &rt,
            &url,
            None,
            body,
            &[("authorization", "Bearer key-approver")],
        )
        .1
    };
    let asked = |answer: &Value| -> String {
        assert_eq!(answer["result"]["resultType"], "input_required", "{answer}");
        let request = &answer["result"]["inputRequests"]["airlock/approval"];
        assert_eq!(
            request["params"]["requestedSchema"]["properties"],
            json!({}),
            "no \"for this session\" on offer: {answer}"
        );
        answer["result"]["requestState"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // One client's user approves, and says "for this session" all the same.
    let state = asked(&call(1, 5, json!({})));
    let ran = call(
        2,
        5,
        json!({
            "requestState": state,
            "inputResponses": {"airlock/approval": {"action": "accept", "content": {"remember": "session"}}},
        }),
    );
    assert!(
        ran["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("transfer #1 queued: 5")),
        "{ran}"
    );
    // Another client with the same key: its user is asked too.
    asked(&call(3, 7, json!({})));
    let approvals: Vec<Value> = audited(dir.path())
        .into_iter()
        .filter(|(d, _, _)| d == "allowed")
        .map(|(_, _, a)| a)
        .collect();
    assert_eq!(approvals, [json!({"via": "client", "scope": "once"})]);
}

#[test]
fn a_client_that_cannot_ask_gets_the_approver_or_a_refusal() {
    // No elicitation callback: no approver, so approval.required.
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path(), "");
    for mode in ["auto", "legacy"] {
        let mut cmd = clients::python(mode);
        cmd.arg("--").args(common::stdio_demo(&config_path));
        let lines = clients::run(cmd, &transfers());
        let (done, asked) = outcomes(&lines);
        assert_eq!(done, vec!["approval.required"; 5], "python {mode}");
        assert!(asked.is_empty());
    }
    // approval.command decides instead: yes to 5, no (with its reason) to 7, no answer to 9,
    // a failure for 11 (fail closed).
    let script = r#"read l; case "$l" in *'"amount":5,'*) exit 0;; *'"amount":9,'*) exec sleep 30;; *'"amount":11,'*) exit 3;; esac; echo 'over the limit for agents'; exit 1"#;
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(
        dir.path(),
        &format!("command = [\"/bin/sh\", \"-c\", {script:?}]\n"),
    );
    approver_decides(&config_path, None);
    // The approver's records say who approved.
    assert!(
        audited(dir.path())
            .iter()
            .any(|(d, _, a)| d == "allowed" && *a == json!({"via": "approver", "scope": "once"}))
    );
    // `ask_client = false`: a client that could ask is never asked; the approver decides.
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(
        dir.path(),
        &format!("ask_client = false\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n"),
    );
    approver_decides(&config_path, Some("accept,accept,accept,accept,accept"));
}

/// The Python SDK client in both modes, its user answering `approve` if given, in front of a
/// configuration whose `approval.command` says yes to 5, no (with its reason) to 7, nothing to 9
/// and fails for 11: the approver decides every transfer, and the user is never asked.
fn approver_decides(config_path: &Path, approve: Option<&str>) {
    for mode in ["auto", "legacy"] {
        let mut cmd = clients::python(mode);
        if let Some(answers) = approve {
            cmd.args(["--approve", answers]);
        }
        cmd.arg("--").args(common::stdio_demo(config_path));
        let lines = clients::run(cmd, &transfers());
        let (done, asked) = outcomes(&lines);
        assert!(asked.is_empty(), "python {mode}: {asked:?}");
        assert_eq!(
            done,
            [
                "ok",
                "approval.denied",
                "approval.timed_out",
                "engine.internal_error",
                "approval.denied"
            ],
            "python {mode}: {lines:?}"
        );
        assert!(lines.iter().any(|l| {
            l["text"]
                .as_str()
                .is_some_and(|t| t.contains("over the limit for agents"))
        }));
    }
}

/// The official TypeScript SDK client (`@modelcontextprotocol/sdk`, 2025-11-25), with an
/// elicitation handler as the person: the same answers, over stdio and over HTTP (where the
/// question comes on the call's SSE stream and the answer as a POST of its own).
#[test]
fn typescript_sdk_user_approves_over_stdio_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = clients::typescript();
    cmd.args(["--approve", "accept,decline,sleep:2.5,accept:session", "--"])
        .args(common::stdio_demo(&config(dir.path(), "")));
    let lines = clients::run(cmd, &transfers());
    check_session_client("typescript over stdio", &lines, dir.path());
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, url) = common::serve_demo(&config(dir.path(), ""));
    let mut cmd = clients::typescript();
    cmd.args([
        "--url",
        &url,
        "--approve",
        "accept,decline,sleep:2.5,accept:session",
    ]);
    let lines = clients::run(cmd, &transfers());
    check_session_client("typescript over HTTP", &lines, dir.path());
}
