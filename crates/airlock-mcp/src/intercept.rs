//! What every transport does to the few messages it touches: refusals as tool results, learning
//! and filtering `tools/list` answers, narrowing `roots/list` answers. The stdio proxy, the HTTP
//! gateway and the rmcp wrapper share these, so the model sees the same thing whichever way
//! airlock is deployed.

use std::collections::HashSet;

use airlock_core::policy::Access;
use airlock_core::{CallerContext, Engine, Refusal, ToolDef};
use serde_json::{Value, json};

/// The `_meta` key carrying the refusal object in a refused call's result.
pub const REFUSAL_META: &str = "airlock/refusal";

/// The JSON-RPC answer a model reads for a refused call: a tool result with `isError: true`,
/// the refusal text (what was wrong and how to fix it) as its content, and the refusal object
/// in `_meta["airlock/refusal"]`.
pub fn refusal_result(id: Value, refusal: &Refusal) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": refusal_tool_result(refusal),
    })
}

/// The `CallToolResult` part of [`refusal_result`].
pub fn refusal_tool_result(refusal: &Refusal) -> Value {
    json!({
        "content": [{"type": "text", "text": refusal.render_text()}],
        "isError": true,
        "_meta": {REFUSAL_META: refusal.to_json()}
    })
}

/// A JSON-RPC error answer.
pub fn error_message(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Learn the definitions in a `tools/list` result (merged by name: clients page) and remove the
/// tools `caller` may never call (denied by the policy, or needing a role the caller lacks). Returns whether `result` was changed. A result that is not a
/// tool list is left alone (and false returned).
pub fn learn_and_hide(engine: &Engine, caller: &CallerContext, result: &mut Value) -> bool {
    let Ok(page) = ToolDef::parse_list(result.clone()) else {
        return false;
    };
    engine.merge_tools(page.iter().cloned());
    // Hidden: tools the caller may never call, and tools at odds with their pin.
    let hidden: HashSet<&str> = match engine.policy_for(caller) {
        Some(policy) => page
            .iter()
            .filter(|t| {
                policy.access(t) == Access::Denied
                    || !policy.has_role(&t.name, &caller.roles)
                    || engine.pin_problem(&t.name).is_some()
            })
            .map(|t| t.name.as_str())
            .collect(),
        // A caller without a policy (an unknown tenant) may call nothing.
        None => page.iter().map(|t| t.name.as_str()).collect(),
    };
    if hidden.is_empty() {
        return false;
    }
    if let Some(Value::Array(list)) = result.get_mut("tools") {
        list.retain(|t| {
            t.get("name")
                .and_then(Value::as_str)
                .is_none_or(|n| !hidden.contains(n))
        });
    }
    true
}

/// Whether a `tools/call` answer reports success (a result not marked `isError`).
pub fn call_succeeded(answer: &Value) -> bool {
    answer
        .get("result")
        .is_some_and(|r| r.get("isError") != Some(&Value::Bool(true)))
}

/// Narrow the roots in a client's `roots/list` answer to `policy`'s roots (no-op when it has
/// none). Anything but a list of roots narrows to nothing. Returns whether it changed.
pub fn narrow_roots_answer(msg: &mut Value, policy: &airlock_guard::path::PathPolicy) -> bool {
    if policy.roots().is_empty() {
        return false;
    }
    let Some(roots) = msg.pointer_mut("/result/roots") else {
        return false;
    };
    *roots = match roots {
        Value::Array(list) => Value::Array(crate::roots::narrow(list, policy)),
        _ => Value::Array(Vec::new()),
    };
    true
}

/// A JSON-RPC id as a map key: numbers by value (`1`, `1.0` and `1e0` are one id to a
/// JavaScript server), everything else by its JSON text (`1` and `"1"` differ).
pub fn id_key(id: &Value) -> String {
    if let Value::Number(n) = id
        && let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 9_007_199_254_740_992.0
    {
        return format!("{}", f as i64);
    }
    id.to_string()
}

/// Every page of a server's `tools/list`, asked for with `ask`: given a page's `params`
/// (`{}` or `{"cursor": …}`), it sends the request and returns the server's answer (the whole
/// JSON-RPC response), or `None` when there is none. `None` when any page fails; at most 100
/// pages.
pub async fn list_all_tools<F, Fut>(mut ask: F) -> Option<Vec<ToolDef>>
where
    F: FnMut(Value) -> Fut,
    Fut: Future<Output = Option<Value>>,
{
    let mut tools: Vec<ToolDef> = Vec::new();
    let mut cursor: Option<Value> = None;
    for _page in 0..100 {
        let mut params = json!({});
        if let Some(c) = cursor.take() {
            params["cursor"] = c;
        }
        let answer = ask(params).await?;
        let result = answer.get("result")?;
        tools.append(&mut ToolDef::parse_list(result.clone()).ok()?);
        cursor = result.get("nextCursor").filter(|c| !c.is_null()).cloned();
        if cursor.is_none() {
            return Some(tools);
        }
    }
    None
}
