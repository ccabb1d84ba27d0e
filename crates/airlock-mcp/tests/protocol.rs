//! Everything the airlock writes itself — refusal results, JSON-RPC errors, withheld results,
//! filtered tool lists, narrowed roots — is valid under the protocol version in force, checked
//! against the MCP specification's own JSON schema of each version (2024-11-05 to 2026-07-28,
//! vendored in airlock-testkit).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::sync::Arc;

use agent_airlock::{CallerContext, ConfigBuilder, ToolDef};
use airlock_core::CleanError;
use airlock_mcp::lifecycle::{Admission, CallRequest, Lifecycle};
use airlock_mcp::protocol::{self, PARSE_ERROR};
use airlock_testkit::schema::McpSchema;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[policy]
deny = ["delete_*"]

[filesystem]
allowed_roots = ["/srv/workspace"]
symlinks = "lexical"

[tools."add"]
rate_limit = "1/minute"
"#;

/// The server's tools, as its `tools/list` result holds them.
fn tool_list() -> Value {
    json!({"tools": [
        {"name": "read_file", "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
        {"name": "add", "inputSchema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
         "outputSchema": {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}},
        {"name": "delete_all", "description": "Deletes.", "inputSchema": {"type": "object"}}
    ]})
}

fn tools() -> Vec<ToolDef> {
    ToolDef::parse_list(tool_list()).unwrap()
}

fn lifecycle() -> Lifecycle {
    let config = ConfigBuilder::new().file("p.toml", CONFIG).build().unwrap();
    let engine = agent_airlock::engine_builder(config)
        .unwrap()
        .tools(tools())
        .build()
        .unwrap();
    Lifecycle::new(Arc::new(engine))
}

/// The `_meta` a 2026-07-28 request carries.
fn meta_2026() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

fn call(version: Option<&str>, id: i64, name: &str, args: Value) -> Value {
    let mut params = json!({"name": name, "arguments": args});
    if version == Some("2026-07-28") {
        params["_meta"] = meta_2026();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

async fn admit(l: &Lifecycle, version: Option<&str>, message: Value) -> Admission {
    let caller = CallerContext::default().agent("schema");
    let lock = tokio::sync::Mutex::new(());
    let request = CallRequest {
        message,
        caller: &caller,
        version,
        fetch_lock: &lock,
        trace: None,
        elicit: None,
        remember: true,
    };
    l.admit(request, |_, _| async { None }).await.admission
}

/// A JSON-RPC answer the airlock wrote, checked against the version's schema: as a message, as
/// a response, and its result as the result of the method.
fn check_answer(schema: &McpSchema, answer: &Value, result_def: &str) {
    schema.check("JSONRPCMessage", answer).unwrap();
    if answer.get("result").is_some() {
        schema.check(schema.result_response(), answer).unwrap();
        schema.check(result_def, &answer["result"]).unwrap();
    } else {
        schema.check(schema.error_response(), answer).unwrap();
    }
}

#[tokio::test]
async fn refusals_are_valid_under_every_version() {
    for version in McpSchema::VERSIONS {
        let schema = McpSchema::load(version);
        let l = lifecycle();
        let v = Some(version);
        let refused = [
            call(v, 1, "read_file", json!({"path": "a", "mode": "r"})),
            call(v, 2, "add", json!({"a": "1", "b": 2})),
            call(v, 3, "add", json!({"a": 1})),
            call(v, 4, "read_files", json!({})),
            call(v, 5, "delete_all", json!({})),
            call(v, 6, "read_file", json!({"path": "/etc/passwd"})),
            call(v, 7, "read_file", json!({"path": "../x"})),
            call(v, 8, "read_file", json!([1, 2])),
        ];
        for message in refused {
            let Admission::Answer(answer) = admit(&l, v, message.clone()).await else {
                panic!("{version}: {message} must be refused")
            };
            assert_eq!(answer["id"], message["id"]);
            assert_eq!(answer["result"]["isError"], true, "{answer}");
            assert_eq!(
                answer["result"].get("resultType").is_some(),
                version >= "2026-07-28",
                "{version}: {answer}"
            );
            check_answer(&schema, &answer, "CallToolResult");
        }
        // A rate-limit refusal (it says when to retry): the second call within the minute.
        assert!(matches!(
            admit(&l, v, call(v, 9, "add", json!({"a": 1, "b": 2}))).await,
            Admission::Forward { .. }
        ));
        let Admission::Answer(answer) =
            admit(&l, v, call(v, 10, "add", json!({"a": 1, "b": 2}))).await
        else {
            panic!("{version}: the second call within the minute is refused")
        };
        assert_eq!(
            answer.pointer("/result/_meta/airlock~1refusal/metadata/code"),
            Some(&json!("rate_limit.exceeded"))
        );
        check_answer(&schema, &answer, "CallToolResult");
        // A call without a name is a protocol error, answered with the request's id.
        let nameless = json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {}});
        let Admission::Answer(answer) = admit(&l, v, nameless).await else {
            panic!()
        };
        assert_eq!(answer["id"], 11);
        check_answer(&schema, &answer, "CallToolResult");
    }
}

#[tokio::test]
async fn a_stateless_request_names_its_own_version() {
    // A session that negotiated 2025-06-18 sends a 2026-07-28 request: the request wins.
    let l = lifecycle();
    let message = call(Some("2026-07-28"), 1, "read_files", json!({}));
    let version = protocol::version_for(&message, Some("2025-06-18")).map(str::to_owned);
    assert_eq!(version.as_deref(), Some("2026-07-28"));
    let Admission::Answer(answer) = admit(&l, version.as_deref(), message).await else {
        panic!()
    };
    check_answer(&McpSchema::load("2026-07-28"), &answer, "CallToolResult");
    // The version unknown (no initialize seen, none named): valid under every version.
    let Admission::Answer(answer) = admit(&l, None, call(None, 2, "read_files", json!({}))).await
    else {
        panic!()
    };
    for version in McpSchema::VERSIONS {
        check_answer(&McpSchema::load(version), &answer, "CallToolResult");
    }
}

#[tokio::test]
async fn withheld_results_are_valid_under_every_version() {
    let refuse_all =
        |_: &airlock_core::CleanContext<'_>, _: &str| -> Result<Option<String>, CleanError> {
            Err(CleanError("the test cleaner refuses everything".into()))
        };
    for version in McpSchema::VERSIONS {
        let schema = McpSchema::load(version);
        let config = ConfigBuilder::new().build().unwrap();
        let engine = agent_airlock::engine_builder(config)
            .unwrap()
            .cleaner(Arc::new(refuse_all))
            .tools(tools())
            .build()
            .unwrap();
        let l = Lifecycle::new(Arc::new(engine));
        let v = Some(version);
        let Admission::Forward { ticket, .. } =
            admit(&l, v, call(v, 1, "add", json!({"a": 1, "b": 2}))).await
        else {
            panic!()
        };
        // What the server answered, in its version's shape.
        let mut result =
            json!({"content": [{"type": "text", "text": "3"}], "structuredContent": {"sum": 3}});
        protocol::complete(&mut result, v);
        let mut answer = json!({"jsonrpc": "2.0", "id": 1, "result": result});
        l.finish(&ticket, &mut answer);
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("withheld"), "{answer}");
        assert_eq!(answer["result"]["isError"], true);
        check_answer(&schema, &answer, "CallToolResult");
        // The stdio framing's own reading: an answer that is not JSON is withheld as an error.
        let line = l.finish_line(&ticket, b"{not json\n".to_vec());
        let answer: Value = serde_json::from_slice(&line).unwrap();
        check_answer(&schema, &answer, "CallToolResult");
    }
}

#[test]
fn protocol_errors_are_valid_where_the_version_can_express_them() {
    for version in McpSchema::VERSIONS {
        let schema = McpSchema::load(version);
        let v = Some(version);
        let known = protocol::error(Some(json!("a-1")), PARSE_ERROR, "bad", v);
        check_answer(&schema, &known, "CallToolResult");
        let unknown = protocol::error(None, PARSE_ERROR, "not valid JSON", v);
        if version >= "2025-11-25" {
            // The id may be left out: and is.
            check_answer(&schema, &unknown, "CallToolResult");
        } else {
            // These versions require an id of type string or integer, which a message that
            // could not be read has not: JSON-RPC 2.0's `"id": null` is sent, and it is the
            // one answer their schemas cannot express.
            assert_eq!(unknown["id"], Value::Null);
            assert!(schema.check(schema.error_response(), &unknown).is_err());
        }
    }
}

#[tokio::test]
async fn filtered_lists_and_narrowed_roots_are_valid_under_every_version() {
    for version in McpSchema::VERSIONS {
        let schema = McpSchema::load(version);
        let l = lifecycle();
        let v = Some(version);
        // The server's tool list, in its version's shape, filtered for the caller.
        let mut result = tool_list();
        result["nextCursor"] = json!("2");
        protocol::complete(&mut result, v);
        if version >= "2026-07-28" {
            result["ttlMs"] = json!(60_000);
            result["cacheScope"] = json!("public");
        }
        assert!(l.tools_listed(&CallerContext::default(), &mut result));
        assert_eq!(
            result["tools"].as_array().unwrap().len(),
            2,
            "delete_all is hidden"
        );
        if version >= "2026-07-28" {
            // What a caller sees depends on who it is: no shared cache may keep it.
            assert_eq!(result["cacheScope"], "private");
        }
        check_answer(
            &schema,
            &json!({"jsonrpc": "2.0", "id": 3, "result": result}),
            "ListToolsResult",
        );
        // A client's roots/list answer, narrowed.
        let mut roots = json!({"jsonrpc": "2.0", "id": "r1", "result": {"roots": [
            {"uri": "file:///", "name": "everything"}, {"uri": "file:///etc"}
        ]}});
        assert!(l.narrow_roots(&mut roots));
        assert_eq!(
            roots["result"]["roots"],
            json!([{"uri": "file:///srv/workspace", "name": "everything"}])
        );
        if version >= "2026-07-28" {
            // No server-to-client requests any more: roots come back in inputResponses (below).
            schema.check("ListRootsResult", &roots["result"]).unwrap();
        } else {
            check_answer(&schema, &roots, "ListRootsResult");
        }
    }
    // 2026-07-28: roots come back in a retried request's inputResponses, narrowed too.
    let schema = McpSchema::load("2026-07-28");
    let l = lifecycle();
    let mut retried = call(
        Some("2026-07-28"),
        7,
        "read_file",
        json!({"path": "/srv/workspace/a.txt"}),
    );
    retried["params"]["inputResponses"] = json!({"roots": {"roots": [{"uri": "file:///"}]}});
    retried["params"]["requestState"] = json!("opaque");
    schema.check("CallToolRequest", &retried).unwrap();
    let Admission::Forward { request, .. } = admit(&l, Some("2026-07-28"), retried).await else {
        panic!()
    };
    assert_eq!(
        request["params"]["inputResponses"]["roots"]["roots"],
        json!([{"uri": "file:///srv/workspace"}])
    );
    assert_eq!(request["params"]["requestState"], "opaque");
    schema.check("CallToolRequest", &request).unwrap();
    schema.check("JSONRPCMessage", &request).unwrap();
}

/// Issue 18: what the airlock asks a client's user, valid under the version asked in: an
/// `elicitation/create` request before 2026-07-28, an `input_required` result on it.
#[tokio::test]
async fn approval_questions_are_valid_under_their_versions() {
    let config = ConfigBuilder::new()
        .file("p.toml", "[tools.add]\napproval = \"required\"\n")
        .build()
        .unwrap();
    let engine = agent_airlock::engine_builder(config)
        .unwrap()
        .tools(tools())
        .build()
        .unwrap();
    let l = Lifecycle::new(Arc::new(engine));
    let caller = CallerContext::default().session("s");
    let lock = tokio::sync::Mutex::new(());
    // 2026-07-28, the request declaring elicitation: an input_required result.
    let mut message = call(Some("2026-07-28"), 1, "add", json!({"a": 1, "b": 2}));
    message["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
        json!({"elicitation": {"form": {}}});
    let request = CallRequest {
        message,
        caller: &caller,
        version: Some("2026-07-28"),
        fetch_lock: &lock,
        trace: None,
        elicit: None,
        remember: true,
    };
    let Admission::Answer(answer) = l.admit(request, |_, _| async { None }).await.admission else {
        panic!("held for the person")
    };
    let schema = McpSchema::load("2026-07-28");
    check_answer(&schema, &answer, "InputRequiredResult");
    schema
        .check(
            "ElicitRequest",
            &answer["result"]["inputRequests"]["airlock/approval"],
        )
        .unwrap();
    // Before 2026-07-28: the door's elicitation/create request, as sent.
    for version in ["2025-06-18", "2025-11-25"] {
        let schema = McpSchema::load(version);
        let sent = Arc::new(std::sync::Mutex::new(None));
        let seen = sent.clone();
        let elicit: airlock_mcp::lifecycle::Elicit<'_> = Box::new(move |params| {
            *seen.lock().unwrap() = Some(params);
            Box::pin(async {
                Some(json!({"jsonrpc": "2.0", "id": "x", "result": {"action": "decline"}}))
            })
        });
        let request = CallRequest {
            message: call(Some(version), 2, "add", json!({"a": 1, "b": 2})),
            caller: &caller,
            version: Some(version),
            fetch_lock: &lock,
            trace: None,
            elicit: Some(elicit),
            remember: true,
        };
        let Admission::Answer(answer) = l.admit(request, |_, _| async { None }).await.admission
        else {
            panic!("declined")
        };
        assert_eq!(
            answer.pointer("/result/_meta/airlock~1refusal/metadata/code"),
            Some(&json!("approval.denied"))
        );
        check_answer(&schema, &answer, "CallToolResult");
        let params = sent.lock().unwrap().take().expect("the user was asked");
        let request = json!({"jsonrpc": "2.0", "id": "airlock-approval-1", "method": "elicitation/create", "params": params});
        schema.check("ElicitRequest", &request).unwrap();
        schema.check("JSONRPCMessage", &request).unwrap();
    }
}
