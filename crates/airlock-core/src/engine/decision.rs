//! What the engine answers: a [`Decision`], either [`Allowed`] (the call may run, with its
//! possibly changed arguments and the list of changes) or [`Refused`] (the refusal the model
//! reads, the check that refused, and for operators what broke). Two outcomes by design:
//! callers match it exhaustively.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::pipeline::Change;
use crate::refusal::Refusal;

/// What the engine decided.
#[derive(Clone, Debug)]
pub enum Decision {
    /// The call may run, with these (possibly changed) arguments.
    Allowed(Allowed),
    /// The call is refused.
    Refused(Box<Refused>),
}

/// An allowed call.
#[derive(Clone, Debug, Serialize)]
pub struct Allowed {
    /// The tool.
    pub tool: String,
    /// The arguments to forward, after any changes.
    pub arguments: Map<String, Value>,
    /// What was changed, in order.
    pub changes: Vec<Change>,
}

/// A refused call.
#[derive(Clone, Debug)]
pub struct Refused {
    /// What the model reads.
    pub refusal: Refusal,
    /// The check that refused (`None` for intake and audit failures).
    pub check: Option<&'static str>,
    /// For operators only: what broke, when a check failed rather than refused.
    pub internal: Option<String>,
    /// A honeypot (`[tools."X"] honeypot`, `honeypot.codes`): the fake `CallToolResult` the
    /// client gets instead of the refusal. The server is never called either way; a door that
    /// does not know honeypots sends the refusal, which is the safe side.
    pub honeypot: Option<Value>,
    /// The call waits for a person (`approval`, on a call whose door said the client can ask,
    /// [`crate::checks::ApprovalPath::Client`]): what to put to them. The door asks, then
    /// decides the call again with the answer; a door that cannot ask sends the refusal
    /// (`approval.required`), which is the safe side.
    pub ask: Option<Box<crate::checks::ApprovalAsk>>,
}

impl Decision {
    /// Whether the call may run.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }

    /// The refusal, if refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Decision::Refused(r) => Some(&r.refusal),
            Decision::Allowed(_) => None,
        }
    }

    /// The decision as JSON: the refusal object when refused (DESIGN §4); otherwise
    /// `{"success": true, "status": "allowed" | "allowed_with_changes", "tool", "arguments", "changes"}`.
    pub fn to_json(&self) -> Value {
        match self {
            Decision::Refused(r) => r.refusal.to_json(),
            Decision::Allowed(a) => {
                let mut m = Map::new();
                m.insert("success".into(), Value::Bool(true));
                let changed = a.changes.iter().any(crate::pipeline::Change::alters_call);
                let status = if !changed {
                    "allowed"
                } else {
                    "allowed_with_changes"
                };
                m.insert("status".into(), status.into());
                m.insert("tool".into(), a.tool.clone().into());
                m.insert("arguments".into(), Value::Object(a.arguments.clone()));
                m.insert(
                    "changes".into(),
                    serde_json::to_value(&a.changes).unwrap_or(Value::Null),
                );
                Value::Object(m)
            }
        }
    }
}
