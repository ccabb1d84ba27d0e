//! The stdio proxy's message router on arbitrary sequences of client and server lines.
//!
//! Properties: no panic; nothing the policy forbids reaches the server (every `tools/call` that
//! reaches it is for `echo`, with a string `text` and nothing else, as the schema says; the
//! denied `delete_all` and unknown tools never do); nothing reaches either side that holds a
//! member named twice or is not JSON; and the planted secret (an e-mail address) that the server
//! side sends never reaches the client unmasked outside the protocol's own fields (ids, methods,
//! types…). Client lines holding the secret are skipped, so an echo of the client's own words
//! is not counted.
//!
//! Input: chunks separated by `\n`; a chunk whose first byte is even comes from the client,
//! odd from the server (the byte itself is dropped).

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const SECRET: &str = "ann@example.com";

fn engine() -> Arc<airlock_core::Engine> {
    static ENGINE: OnceLock<Arc<airlock_core::Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let config = agent_airlock::ConfigBuilder::new()
                .file("fuzz.toml", "[policy]\ndeny = [\"delete_*\"]\n")
                .build()
                .unwrap();
            let tools = agent_airlock::ToolDef::parse_list(json!({"tools": [
                {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
                {"name": "delete_all", "inputSchema": {"type": "object"}}
            ]}))
            .unwrap();
            Arc::new(
                agent_airlock::engine_builder(config)
                    .unwrap()
                    .tools(tools)
                    .build()
                    .unwrap(),
            )
        })
        .clone()
}

/// Whether a reader-visible string of `v` (outside the protocol's own members) holds the secret.
fn leaks(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(SECRET),
        Value::Array(a) => a.iter().any(leaks),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| !airlock_core::clean::is_structural(k) && (k.contains(SECRET) || leaks(v))),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    // Each line is handled on a runtime of its own; a new router per input.
    let Ok(mut router) = airlock_mcp::fuzzing::Router::new(engine()) else {
        return;
    };
    for chunk in data.split(|b| *b == b'\n') {
        let Some((&side, line)) = chunk.split_first() else {
            continue;
        };
        if side % 2 == 0 {
            if line.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()) {
                continue;
            }
            router.client_line(line);
        } else {
            router.server_line(line);
        }
    }
    router.settle();
    for line in router.to_server() {
        assert!(airlock_mcp::protocol::unique_members(&line).is_ok());
        let v: Value = serde_json::from_slice(&line).expect("only JSON reaches the server");
        if v["method"] == "tools/call" {
            assert_eq!(v["params"]["name"], "echo", "a forbidden call reached the server: {v}");
            let args = v["params"]["arguments"].as_object().expect("checked arguments");
            assert!(args.len() == 1 && args["text"].is_string(), "unchecked arguments: {v}");
        }
    }
    for line in router.to_client() {
        assert!(airlock_mcp::protocol::unique_members(&line).is_ok());
        let v: Value = serde_json::from_slice(&line).expect("only JSON reaches the client");
        let mut reader_visible = v.clone();
        if let Value::Object(o) = &mut reader_visible {
            o.remove("id");
            o.remove("method");
        }
        assert!(!leaks(&reader_visible), "the secret reached the client: {v}");
    }
});
