//! Human approval over MCP itself: a call whose tool needs a person's yes (`[tools."X"]
//! approval = "required"`) is put to the client's user, through the protocol.
//!
//! ```text
//!  2025-06-18 … 2025-11-25, the client declared `elicitation` at initialize:
//!    client ─ tools/call ─► airlock ─ elicitation/create ─► client's user ─ accept/decline ─► airlock
//!                            └─ decided again with the answer ─► server, or the refusal ─► client
//!  2026-07-28, the request's `_meta` client capabilities name `elicitation`:
//!    client ─ tools/call ─► airlock ─ input_required {inputRequests: {airlock/approval: elicitation/create},
//!                                                     requestState: "airlock-approval.<random>"} ─► client
//!    client ─ tools/call + inputResponses + requestState ─► airlock ─ decided again ─► server, or the refusal
//! ```
//!
//! The person sees the tool, the validated arguments and the reason, and picks "once" or "this
//! session". Accept runs the call; decline and cancel refuse it (`approval.denied`); no answer
//! before `approval.timeout_secs` refuses it (`approval.timed_out`). A client that cannot ask
//! gets the configured approver (library), else `approval.required`.
//!
//! Guards against an approval being stretched: a 2026-07-28 approval is bound to one random,
//! single-use `requestState`, to the caller's session and to the exact tool and arguments it was
//! asked about; a retry with other arguments is asked about again, a late one is refused as
//! timed out. Not covered: URL-mode elicitation (the person answers in the client itself).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airlock_core::checks::{ApprovalAsk, ApprovalScope, PersonAnswer};
use airlock_core::{CallerContext, session_key};
use serde_json::{Map, Value, json};

/// The key of the airlock's request in `inputRequests` / `inputResponses`.
pub const INPUT_KEY: &str = "airlock/approval";
/// How the airlock's `requestState` starts.
const STATE_PREFIX: &str = "airlock-approval.";
/// How an `elicitation/create` id of the airlock's own starts (stdio and HTTP doors).
pub const ELICIT_ID_PREFIX: &str = "airlock-approval-";
/// The longest argument text shown to the person.
const SHOWN_ARGUMENTS: usize = 4000;
/// Pending approvals kept at most (the oldest are dropped past it).
const MAX_PENDING: usize = 4096;

/// How the client's user can be asked for this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Nobody through the protocol: the configured approver, else refused.
    None,
    /// A server-to-client `elicitation/create` request (the door sends it and waits).
    Elicit,
    /// An `input_required` result (2026-07-28): the client retries with the answer.
    InputRequired,
}

/// Whether these client capabilities accept form elicitation (`elicitation: {}` means form).
pub fn can_elicit_form(capabilities: Option<&Value>) -> bool {
    match capabilities.and_then(|c| c.get("elicitation")) {
        Some(Value::Object(e)) => e.is_empty() || e.contains_key("form"),
        _ => false,
    }
}

/// The capabilities a 2026-07-28 request declares for itself in `_meta`.
pub fn request_capabilities(message: &Value) -> Option<&Value> {
    message
        .pointer("/params/_meta")?
        .get("io.modelcontextprotocol/clientCapabilities")
}

/// What the person is shown and asked: `elicitation/create` params (form mode).
pub fn elicitation(ask: &ApprovalAsk, offer_session: bool) -> Value {
    let shown = serde_json::to_string_pretty(&ask.arguments).unwrap_or_default();
    let shown = if shown.len() > SHOWN_ARGUMENTS {
        let mut end = SHOWN_ARGUMENTS;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}\n… ({} more bytes not shown)",
            &shown[..end],
            shown.len() - end
        )
    } else {
        shown
    };
    let message = format!(
        "Approve a tool call?\n\nTool: {}\nWhy you are asked: {}.\nArguments, as the tool will get them:\n{shown}\n\nAccept to run this call; decline to refuse it.",
        ask.tool, ask.reason
    );
    let mut properties = Map::new();
    if offer_session {
        properties.insert(
            "remember".into(),
            json!({
                "type": "string",
                "title": "Approve for",
                "description": "once: this call only; session: every call of this tool for the rest of this session",
                "enum": ["once", "session"],
                "default": "once"
            }),
        );
    }
    json!({
        "mode": "form",
        "message": message,
        "requestedSchema": {"type": "object", "properties": properties}
    })
}

/// What an `elicitation/create` answer (an `ElicitResult`, or a JSON-RPC answer holding one)
/// means. An error, or anything unreadable, is a refusal: the person did not say yes.
pub fn answer_of(answer: Option<&Value>) -> PersonAnswer {
    let Some(answer) = answer else {
        return PersonAnswer::TimedOut;
    };
    let result = answer.get("result").unwrap_or(answer);
    if answer.get("error").is_some() {
        return PersonAnswer::Denied(Some("the client could not ask its user".into()));
    }
    match result.get("action").and_then(Value::as_str) {
        Some("accept") => {
            let remember = result.pointer("/content/remember").and_then(Value::as_str);
            PersonAnswer::Approved(if remember == Some("session") {
                ApprovalScope::Session
            } else {
                ApprovalScope::Once
            })
        }
        Some("decline") => PersonAnswer::Denied(Some("the user declined".into())),
        Some("cancel") => PersonAnswer::Denied(Some("the user dismissed the request".into())),
        _ => PersonAnswer::Denied(Some("the client's answer was not understood".into())),
    }
}

/// One approval asked for with an `input_required` result, waiting for the client's retry.
#[derive(Debug)]
struct Pending {
    session: String,
    tool: String,
    arguments: String,
    asked: Instant,
}

/// Approvals asked for with `input_required` results, by their `requestState`.
#[derive(Debug, Default)]
pub struct PendingApprovals {
    map: Mutex<HashMap<String, Pending>>,
}

/// What a retried request's `requestState` turned out to be.
#[derive(Debug, PartialEq)]
pub enum Retry {
    /// Not the airlock's (absent, or the server's own).
    NotOurs,
    /// The person's answer to the approval asked for, for this very call.
    Answered(PersonAnswer),
    /// The airlock's, but unknown, spent, or asked about another call: ask again.
    AskAgain,
}

impl PendingApprovals {
    /// Keep an approval asked for; returns the `requestState` that names it.
    pub fn ask(&self, caller: &CallerContext, tool: &str, arguments: &Value) -> String {
        let state = format!("{STATE_PREFIX}{}", crate::protocol::random_id());
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_PENDING {
            // The oldest go first.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, p)| p.asked)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            state.clone(),
            Pending {
                session: session_key(caller),
                tool: tool.to_owned(),
                arguments: arguments.to_string(),
                asked: Instant::now(),
            },
        );
        state
    }

    /// Read a retried `tools/call`: take the airlock's `requestState` and its input response
    /// out of `message` (the server never sees them), and say what they mean. An answer after
    /// `timeout` is a timeout; a state kept for another caller, tool or arguments is never
    /// used for this call.
    pub fn retried(&self, message: &mut Value, caller: &CallerContext, timeout: Duration) -> Retry {
        let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
            return Retry::NotOurs;
        };
        let ours = params
            .get("requestState")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with(STATE_PREFIX));
        let response = params
            .get_mut("inputResponses")
            .and_then(Value::as_object_mut)
            .and_then(|r| r.remove(INPUT_KEY));
        if params
            .get("inputResponses")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            params.remove("inputResponses");
        }
        if !ours {
            return Retry::NotOurs;
        }
        let Some(Value::String(state)) = params.remove("requestState") else {
            return Retry::NotOurs;
        };
        let Some(pending) = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&state)
        else {
            return Retry::AskAgain;
        };
        let same = pending.session == session_key(caller)
            && params.get("name").and_then(Value::as_str) == Some(pending.tool.as_str())
            && params
                .get("arguments")
                .map_or_else(|| "null".to_owned(), Value::to_string)
                == pending.arguments;
        if !same {
            return Retry::AskAgain;
        }
        if pending.asked.elapsed() > timeout {
            return Retry::Answered(PersonAnswer::TimedOut);
        }
        match response {
            Some(r) => Retry::Answered(answer_of(Some(&r))),
            None => Retry::AskAgain,
        }
    }

    /// Drop approvals nobody answered within `keep`.
    pub fn prune(&self, keep: Duration) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, p| p.asked.elapsed() <= keep);
    }
}

/// The `input_required` result asking the client's user about `ask`.
pub fn input_required(ask: &ApprovalAsk, state: String, offer_session: bool) -> Value {
    json!({
        "resultType": "input_required",
        "inputRequests": {
            INPUT_KEY: {"method": "elicitation/create", "params": elicitation(ask, offer_session)}
        },
        "requestState": state
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask() -> ApprovalAsk {
        ApprovalAsk {
            tool: "pay".into(),
            arguments: json!({"amount": 5}).as_object().unwrap().clone(),
            reason: "the policy says so".into(),
        }
    }

    #[test]
    fn answers_read_as_the_person_meant_them() {
        let r = |v: Value| answer_of(Some(&v));
        assert_eq!(
            r(json!({"result": {"action": "accept", "content": {"remember": "session"}}})),
            PersonAnswer::Approved(ApprovalScope::Session)
        );
        assert_eq!(
            r(json!({"action": "accept"})),
            PersonAnswer::Approved(ApprovalScope::Once)
        );
        assert!(matches!(
            r(json!({"action": "decline"})),
            PersonAnswer::Denied(_)
        ));
        assert!(matches!(
            r(json!({"action": "cancel"})),
            PersonAnswer::Denied(_)
        ));
        assert!(matches!(
            r(json!({"error": {"code": -1, "message": "no"}})),
            PersonAnswer::Denied(_)
        ));
        assert!(matches!(
            r(json!({"action": "yes!"})),
            PersonAnswer::Denied(_)
        ));
        assert_eq!(answer_of(None), PersonAnswer::TimedOut);
    }

    #[test]
    fn a_request_state_holds_for_its_own_call_once() {
        let pending = PendingApprovals::default();
        let caller = CallerContext::default().session("s1");
        let state = pending.ask(&caller, "pay", &json!({"amount": 5}));
        let retry = |state: &str, amount: i64, caller: &CallerContext| {
            let mut m = json!({"method": "tools/call", "params": {"name": "pay", "arguments": {"amount": amount},
                "requestState": state, "inputResponses": {INPUT_KEY: {"action": "accept"}, "other": {"action": "decline"}}}});
            let r = pending.retried(&mut m, caller, Duration::from_secs(60));
            assert!(m.pointer("/params/requestState").is_none());
            assert!(
                m.pointer("/params/inputResponses/airlock~1approval")
                    .is_none()
            );
            assert!(m.pointer("/params/inputResponses/other").is_some());
            r
        };
        // Other arguments, or another session: asked again, and the state is spent.
        assert_eq!(retry(&state, 500, &caller), Retry::AskAgain);
        let state = pending.ask(&caller, "pay", &json!({"amount": 5}));
        assert_eq!(
            retry(&state, 5, &CallerContext::default().session("s2")),
            Retry::AskAgain
        );
        let state = pending.ask(&caller, "pay", &json!({"amount": 5}));
        assert_eq!(
            retry(&state, 5, &caller),
            Retry::Answered(PersonAnswer::Approved(ApprovalScope::Once))
        );
        assert_eq!(retry(&state, 5, &caller), Retry::AskAgain, "single use");
        // Too late.
        let state = pending.ask(&caller, "pay", &json!({"amount": 5}));
        let mut m = json!({"params": {"name": "pay", "arguments": {"amount": 5}, "requestState": state,
            "inputResponses": {INPUT_KEY: {"action": "accept"}}}});
        assert_eq!(
            pending.retried(&mut m, &caller, Duration::ZERO),
            Retry::Answered(PersonAnswer::TimedOut)
        );
        // The server's own state passes through.
        let mut m = json!({"params": {"name": "pay", "requestState": "theirs", "inputResponses": {"k": {}}}});
        assert_eq!(
            pending.retried(&mut m, &caller, Duration::ZERO),
            Retry::NotOurs
        );
        assert_eq!(m["params"]["requestState"], "theirs");
    }

    #[test]
    fn the_person_sees_tool_arguments_and_reason() {
        let p = elicitation(&ask(), true);
        let msg = p["message"].as_str().unwrap();
        assert!(
            msg.contains("Tool: pay")
                && msg.contains("\"amount\": 5")
                && msg.contains("the policy says so")
        );
        assert_eq!(
            p["requestedSchema"]["properties"]["remember"]["enum"],
            json!(["once", "session"])
        );
        assert_eq!(
            elicitation(&ask(), false)["requestedSchema"]["properties"],
            json!({})
        );
        let r = input_required(&ask(), "airlock-approval.x".into(), false);
        assert_eq!(
            r["inputRequests"][INPUT_KEY]["method"],
            "elicitation/create"
        );
        assert!(can_elicit_form(Some(&json!({"elicitation": {}}))));
        assert!(can_elicit_form(Some(&json!({"elicitation": {"form": {}}}))));
        assert!(!can_elicit_form(Some(&json!({"elicitation": {"url": {}}}))));
        assert!(!can_elicit_form(Some(&json!({"roots": {}}))));
    }
}
