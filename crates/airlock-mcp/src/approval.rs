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
pub(crate) const INPUT_KEY: &str = "airlock/approval";
/// How the airlock's `requestState` starts.
const STATE_PREFIX: &str = "airlock-approval.";
/// How an `elicitation/create` id of the airlock's own starts (stdio and HTTP doors).
pub(crate) const ELICIT_ID_PREFIX: &str = "airlock-approval-";
/// The longest argument text shown to the person.
const SHOWN_ARGUMENTS: usize = 4000;
/// Pending approvals kept at most (the oldest are dropped past it).
const MAX_PENDING: usize = 4096;
/// Pending approvals one session keeps at most.
const PER_SESSION: usize = 32;

/// Whether these client capabilities accept form elicitation (`elicitation: {}` means form).
pub(crate) fn can_elicit_form(capabilities: Option<&Value>) -> bool {
    match capabilities.and_then(|c| c.get("elicitation")) {
        Some(Value::Object(e)) => e.is_empty() || e.contains_key("form"),
        _ => false,
    }
}

/// The capabilities a 2026-07-28 request declares for itself in `_meta`.
pub(crate) fn request_capabilities(message: &Value) -> Option<&Value> {
    message
        .pointer("/params/_meta")?
        .get("io.modelcontextprotocol/clientCapabilities")
}

/// What the person is shown and asked: `elicitation/create` params (form mode).
pub(crate) fn elicitation(ask: &ApprovalAsk, offer_session: bool) -> Value {
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

/// What the client's JSON-RPC answer to an `elicitation/create` request means (`None`: no answer
/// in time). An error, or anything but a result, is a refusal: the person did not say yes.
pub(crate) fn answer_of(answer: Option<&Value>) -> PersonAnswer {
    match answer {
        None => PersonAnswer::TimedOut,
        Some(a) => match a.get("result") {
            Some(result) if a.get("error").is_none() => result_of(result),
            _ => PersonAnswer::Denied(Some("the client could not ask its user".into())),
        },
    }
}

/// What an `ElicitResult` (the client's `inputResponses` entry) means; anything but an accept
/// is a refusal.
fn result_of(result: &Value) -> PersonAnswer {
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

/// The airlock's own `elicitation/create` requests to one client (a stdio connection, a
/// gateway session), waiting for their answers. Ids are random (`airlock-approval-<128 bits>`):
/// neither the client nor the server can answer, or pre-empt, one they were not sent.
#[derive(Debug, Default)]
pub(crate) struct Asking {
    waiting: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Value>>>,
}

impl Asking {
    /// An [`Elicit`](crate::lifecycle::Elicit) that hands each request to `send` (false: it
    /// could not be sent) and resolves to the client's answer. Dropped before the answer (the
    /// approval's deadline), the request is forgotten and a late answer dropped.
    pub(crate) fn elicit(
        self: &std::sync::Arc<Self>,
        send: impl FnOnce(Value) -> bool + Send + 'static,
    ) -> crate::lifecycle::Elicit<'static> {
        struct Waiting(std::sync::Arc<Asking>, String);
        impl Drop for Waiting {
            fn drop(&mut self) {
                self.0.lock().remove(&self.1);
            }
        }
        let asking = self.clone();
        Box::new(move |params: Value| {
            Box::pin(async move {
                let id = format!("{ELICIT_ID_PREFIX}{}", crate::protocol::random_id());
                let (tx, rx) = tokio::sync::oneshot::channel();
                asking.lock().insert(id.clone(), tx);
                let _waiting = Waiting(asking.clone(), id.clone());
                let request = json!({"jsonrpc": "2.0", "id": id, "method": "elicitation/create", "params": params});
                if !send(request) {
                    return None;
                }
                rx.await.ok()
            })
        })
    }

    /// Route a client's answer: `Some` when its id is in the airlock's namespace (then it never
    /// goes to the server), true when a request of ours was waiting for it.
    pub(crate) fn answered(&self, message: &Value) -> Option<bool> {
        let id = message.get("id")?.as_str()?;
        if !id.starts_with(ELICIT_ID_PREFIX) {
            return None;
        }
        Some(match self.lock().remove(id) {
            Some(tx) => tx.send(message.clone()).is_ok(),
            None => {
                tracing::warn!("dropped a client answer to an approval request no longer waiting");
                false
            }
        })
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, tokio::sync::oneshot::Sender<Value>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One approval asked for with an `input_required` result, waiting for the client's retry.
#[derive(Debug)]
struct Pending {
    session: String,
    tool: String,
    arguments: Value,
    asked: Instant,
    /// The server's own `requestState` and `inputResponses` the held request carried (a call
    /// already in a multi-round exchange with its server): put back on the approved retry.
    theirs: Map<String, Value>,
}

/// Approvals asked for with `input_required` results, by their `requestState`.
#[derive(Debug, Default)]
pub(crate) struct PendingApprovals {
    map: Mutex<HashMap<String, Pending>>,
}

/// What a retried request's `requestState` turned out to be.
#[derive(Debug, PartialEq)]
pub(crate) enum Retry {
    /// Not the airlock's (absent, or the server's own).
    NotOurs,
    /// The person's answer to the approval asked for, for this very call.
    Answered(PersonAnswer),
    /// The airlock's, but unknown, spent, or asked about another call: ask again.
    AskAgain,
}

impl PendingApprovals {
    /// Keep an approval asked for about the held `message` (a `tools/call`); returns the
    /// `requestState` that names it. A session keeps at most [`PER_SESSION`] waiting (its
    /// oldest goes first), and all sessions at most [`MAX_PENDING`]: one caller cannot push out
    /// the others' approvals.
    pub(crate) fn ask(&self, caller: &CallerContext, message: &Value, timeout: Duration) -> String {
        let state = format!("{STATE_PREFIX}{}", crate::protocol::random_id());
        let session = session_key(caller);
        let params = message.get("params");
        let theirs: Map<String, Value> = ["requestState", "inputResponses"]
            .into_iter()
            .filter_map(|k| Some((k.to_owned(), params?.get(k)?.clone())))
            .collect();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_PENDING {
            map.retain(|_, p| p.asked.elapsed() <= timeout);
        }
        let oldest = |map: &HashMap<String, Pending>, mine: bool| {
            map.iter()
                .filter(|(_, p)| !mine || p.session == session)
                .min_by_key(|(_, p)| p.asked)
                .map(|(k, _)| k.clone())
        };
        let own = map.values().filter(|p| p.session == session).count();
        let evict = if own >= PER_SESSION {
            oldest(&map, true)
        } else if map.len() >= MAX_PENDING {
            oldest(&map, false)
        } else {
            None
        };
        if let Some(k) = evict {
            map.remove(&k);
        }
        map.insert(
            state.clone(),
            Pending {
                session,
                tool: params
                    .and_then(|p| p.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                arguments: params
                    .and_then(|p| p.get("arguments"))
                    .cloned()
                    .unwrap_or(Value::Null),
                asked: Instant::now(),
                theirs,
            },
        );
        state
    }

    /// Read a retried `tools/call` that carries the airlock's `requestState`: take it and its
    /// input response out of `message` (the server never sees them), put back what the server's
    /// own exchange had carried, and say what the answer means. An answer after `timeout` is a
    /// timeout; a state kept for another caller, tool or arguments is never used for this call.
    /// A request without the airlock's state is left as it is.
    pub(crate) fn retried(
        &self,
        message: &mut Value,
        caller: &CallerContext,
        timeout: Duration,
    ) -> Retry {
        let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
            return Retry::NotOurs;
        };
        let ours = params
            .get("requestState")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with(STATE_PREFIX));
        if !ours {
            return Retry::NotOurs;
        }
        let state = params.remove("requestState");
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
        let Some(pending) = state
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|s| self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(s))
        else {
            return Retry::AskAgain;
        };
        let same = pending.session == session_key(caller)
            && params.get("name").and_then(Value::as_str) == Some(pending.tool.as_str())
            && params.get("arguments").unwrap_or(&Value::Null) == &pending.arguments;
        if !same {
            return Retry::AskAgain;
        }
        if pending.asked.elapsed() > timeout {
            return Retry::Answered(PersonAnswer::TimedOut);
        }
        let Some(response) = response else {
            return Retry::AskAgain;
        };
        // The call goes on where its server's exchange stood.
        params.extend(pending.theirs);
        Retry::Answered(result_of(&response))
    }
}

/// The `input_required` result asking the client's user about `ask`.
pub(crate) fn input_required(ask: &ApprovalAsk, state: String, offer_session: bool) -> Value {
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
        // A JSON-RPC answer (elicitation/create) holds the ElicitResult in `result`.
        let r = |v: Value| answer_of(Some(&json!({"jsonrpc": "2.0", "id": "x", "result": v})));
        assert_eq!(
            r(json!({"action": "accept", "content": {"remember": "session"}})),
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
            answer_of(Some(&json!({"error": {"code": -1, "message": "no"}}))),
            PersonAnswer::Denied(_)
        ));
        assert!(matches!(
            r(json!({"action": "yes!"})),
            PersonAnswer::Denied(_)
        ));
        assert_eq!(answer_of(None), PersonAnswer::TimedOut);
        // A message with no result is no answer, whatever else it says.
        assert!(matches!(
            answer_of(Some(&json!({"id": "x", "action": "accept"}))),
            PersonAnswer::Denied(_)
        ));
        // An inputResponses entry is the ElicitResult itself.
        assert_eq!(
            result_of(&json!({"action": "accept"})),
            PersonAnswer::Approved(ApprovalScope::Once)
        );
    }

    /// A held call of `pay`.
    fn held(amount: i64) -> Value {
        json!({"method": "tools/call", "params": {"name": "pay", "arguments": {"amount": amount}}})
    }

    #[test]
    fn a_request_state_holds_for_its_own_call_once() {
        let pending = PendingApprovals::default();
        let caller = CallerContext::default().session("s1");
        let state = pending.ask(&caller, &held(5), Duration::from_secs(60));
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
        let state = pending.ask(&caller, &held(5), Duration::from_secs(60));
        assert_eq!(
            retry(&state, 5, &CallerContext::default().session("s2")),
            Retry::AskAgain
        );
        let state = pending.ask(&caller, &held(5), Duration::from_secs(60));
        assert_eq!(
            retry(&state, 5, &caller),
            Retry::Answered(PersonAnswer::Approved(ApprovalScope::Once))
        );
        assert_eq!(retry(&state, 5, &caller), Retry::AskAgain, "single use");
        // Too late.
        let state = pending.ask(&caller, &held(5), Duration::from_secs(60));
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
        assert_eq!(
            m["params"]["inputResponses"],
            json!({"k": {}}),
            "left as it was"
        );
    }

    #[test]
    fn the_servers_own_exchange_goes_on_after_the_approval() {
        let pending = PendingApprovals::default();
        let caller = CallerContext::default().session("s1");
        // The held call was a retry in the server's own exchange.
        let mut call = held(5);
        call["params"]["requestState"] = json!("server-state");
        call["params"]["inputResponses"] = json!({"q": {"action": "accept"}});
        let state = pending.ask(&caller, &call, Duration::from_secs(60));
        let mut m = json!({"params": {"name": "pay", "arguments": {"amount": 5}, "requestState": state,
            "inputResponses": {INPUT_KEY: {"action": "accept"}}}});
        assert_eq!(
            pending.retried(&mut m, &caller, Duration::from_secs(60)),
            Retry::Answered(PersonAnswer::Approved(ApprovalScope::Once))
        );
        assert_eq!(m["params"]["requestState"], "server-state");
        assert_eq!(
            m["params"]["inputResponses"],
            json!({"q": {"action": "accept"}})
        );
    }

    #[test]
    fn one_session_cannot_push_out_the_others() {
        let pending = PendingApprovals::default();
        let other = CallerContext::default().session("other");
        let kept = pending.ask(&other, &held(1), Duration::from_secs(60));
        let greedy = CallerContext::default().session("greedy");
        for _ in 0..(PER_SESSION * 3) {
            pending.ask(&greedy, &held(2), Duration::from_secs(60));
        }
        let map = pending.map.lock().unwrap();
        assert!(map.contains_key(&kept));
        assert_eq!(
            map.values()
                .filter(|p| p.session == session_key(&greedy))
                .count(),
            PER_SESSION
        );
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
