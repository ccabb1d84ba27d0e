//! `approval` — tools that need a human's yes. Phase: guard, last (after every check that
//! spends nothing, before anything is spent).
//!
//! Guards against high-stakes calls running unattended: a tool whose most specific `[tools]`
//! rule says `approval = "required"` runs only once a person said yes. A person is asked only
//! about a call every other free check admitted (validated arguments), and a call a person
//! declines has charged no rate limit or budget. Who asks depends on the door
//! ([`ApprovalPath`]):
//!
//! * **the client** — an MCP client that can ask its user (elicitation), unless
//!   `approval.ask_client = false`. The check holds the call ([`Outcome::Hold`]): it is refused
//!   with `approval.required` and [`crate::Refused::ask`] says what to put to the person; the
//!   door asks (`elicitation/create`, or an `input_required` result on protocol
//!   2026-07-28) and decides the call again with the answer ([`ApprovalPath::Answered`]). A door
//!   that cannot ask sends the refusal: the safe side.
//! * **the configured approver** — a trait ([`Approver`]): library users plug in their own (a
//!   chat prompt, a ticket). It runs on a thread of its own under a deadline
//!   (`approval.timeout_secs`): past it the call is refused as timed out and a late answer is
//!   ignored. The engine says it may block while an approver is configured
//!   ([`crate::Engine::may_block`]), so async transports decide off their runtime.
//! * nobody — the call is refused (`approval.required`).
//!
//! A denial (`approval.denied`) and a timeout (`approval.timed_out`) are refusals of their own.
//! An approval "for this session" is remembered in the engine's session state: later calls of
//! the same tool in the same session pass without asking, recorded as approved by the session.
//! Every approval is recorded in the audit log ([`crate::audit::AuditEvent::approval`]).

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::call::CallerContext;
use crate::pipeline::{CallState, Change, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};
use crate::sessions::{Sessions, session_key};

/// What an approver is asked.
#[derive(Debug)]
pub struct ApprovalRequest<'a> {
    /// The tool.
    pub tool: &'a str,
    /// The validated arguments.
    pub arguments: &'a Map<String, Value>,
    /// Who is calling.
    pub caller: &'a CallerContext,
}

/// What an approver answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalOutcome {
    /// Go ahead.
    Approved,
    /// No; the reason, if given, is shown to the model.
    Denied(Option<String>),
    /// Nobody answered in time.
    TimedOut,
}

/// How long an approval holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalScope {
    /// This call only.
    Once,
    /// Every call of this tool for the rest of the session.
    Session,
}

/// What a person answered through the client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PersonAnswer {
    /// Yes, for this call or for the session.
    Approved(ApprovalScope),
    /// No; the reason, if given, is shown to the model.
    Denied(Option<String>),
    /// No answer before the deadline.
    TimedOut,
}

/// Who can approve a call that needs it: set by the door on each [`crate::Call`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalPath {
    /// The configured approver, if any; else the call is refused (`approval.required`).
    #[default]
    Approver,
    /// The client can ask its user: the engine holds the call ([`crate::Refused::ask`]).
    Client,
    /// The client's user answered (the door asked and decides the call again).
    Answered(PersonAnswer),
}

/// Who approved a call, as recorded in the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Approved {
    /// `client` (the client's user, asked through MCP), `approver` (the configured approver) or
    /// `session` (an approval for the session, given earlier).
    pub via: &'static str,
    /// How long the approval holds.
    pub scope: ApprovalScope,
}

/// What a door that can ask puts to the person: the call as checked, and why it needs a yes.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalAsk {
    /// The tool.
    pub tool: String,
    /// The validated arguments, as the server would get them.
    pub arguments: Map<String, Value>,
    /// Why a person must approve.
    pub reason: String,
}

/// Decides approvals. May block while a person decides; give it its own timeout.
pub trait Approver: Send + Sync {
    /// Approve, deny, or time out on one call.
    fn decide(&self, request: &ApprovalRequest<'_>) -> Result<ApprovalOutcome, CheckError>;
}

impl<F> Approver for F
where
    F: Fn(&ApprovalRequest<'_>) -> ApprovalOutcome + Send + Sync,
{
    fn decide(&self, request: &ApprovalRequest<'_>) -> Result<ApprovalOutcome, CheckError> {
        Ok(self(request))
    }
}

/// The approval check.
#[derive(Clone)]
pub struct Approval {
    approver: Option<Arc<dyn Approver>>,
    timeout: std::time::Duration,
    sessions: Arc<Sessions>,
    /// `approval.ask_client`: whether a person asked through the client may answer.
    ask_client: bool,
    /// Whether any policy has a tool needing approval: the approver can only be waited on then.
    any_rule: bool,
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("approver", &self.approver.is_some())
            .finish()
    }
}

impl Approval {
    /// A check asking `approver` (none: calls needing approval that the client cannot ask about
    /// are refused), who must answer within `timeout`; approvals for a session are kept in
    /// `sessions`. With `ask_client` false, a person's answer through the client never counts:
    /// only the approver decides. `any_rule`: whether any policy has a tool needing approval
    /// (without one, the check never waits).
    pub fn new(
        approver: Option<Arc<dyn Approver>>,
        timeout: std::time::Duration,
        sessions: Arc<Sessions>,
        ask_client: bool,
        any_rule: bool,
    ) -> Self {
        Approval {
            approver,
            timeout,
            sessions,
            ask_client,
            any_rule,
        }
    }

    /// Ask the approver on a thread of its own; `TimedOut` past the deadline.
    fn ask(
        &self,
        approver: &Arc<dyn Approver>,
        request: &ApprovalRequest<'_>,
    ) -> Result<ApprovalOutcome, CheckError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let approver = approver.clone();
        let (tool, arguments, caller) = (
            request.tool.to_owned(),
            request.arguments.clone(),
            request.caller.clone(),
        );
        std::thread::Builder::new()
            .name("airlock-approval".into())
            .spawn(move || {
                let request = ApprovalRequest {
                    tool: &tool,
                    arguments: &arguments,
                    caller: &caller,
                };
                let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    approver.decide(&request)
                }))
                .unwrap_or_else(|_| Err(CheckError::new("the approver panicked")));
                // The receiver is gone when the deadline passed: the answer is ignored.
                let _ = tx.send(answer);
            })
            .map_err(|e| CheckError::new(format!("cannot start the approval thread: {e}")))?;
        match rx.recv_timeout(self.timeout) {
            Ok(answer) => answer,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(ApprovalOutcome::TimedOut),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(CheckError::new(
                "the approval thread ended without an answer",
            )),
        }
    }
}

/// The refusal of a call nobody approved.
fn denied(tool: &str, reason: Option<String>) -> Outcome {
    let mut r = Refusal::new(
        DenyCode::ApprovalDenied,
        tool,
        format!("The call of tool '{tool}' was not approved."),
    );
    if let Some(reason) = reason {
        let reason = crate::checks::validation::clip(&reason, 200);
        r = r
            .with_hints(vec![format!(
                "The approver said: {reason}. Do not retry the same call."
            )])
            .with_detail("reason", reason);
    }
    Outcome::Refuse(r)
}

fn timed_out(tool: &str) -> Outcome {
    Outcome::Refuse(Refusal::new(
        DenyCode::ApprovalTimedOut,
        tool,
        format!("The call of tool '{tool}' was not approved in time."),
    ))
}

fn approved(via: &'static str, scope: ApprovalScope) -> Outcome {
    Outcome::Changed(vec![Change::Approved(Approved { via, scope })])
}

impl Check for Approval {
    fn name(&self) -> &'static str {
        "approval"
    }

    fn may_block(&self) -> bool {
        // A person (or a ticket system) answers in seconds or minutes; only calls needing
        // approval wait for one.
        self.approver.is_some() && self.any_rule
    }

    fn phase(&self) -> Phase {
        // Last of the checks that spend nothing: a person is asked only about a call every free
        // check admitted, and a declined call has charged nothing.
        Phase::Guard
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = &call.tool.name;
        if !call.policy.needs_approval(tool) {
            return Ok(Outcome::Pass);
        }
        let remembered = || {
            self.sessions
                .read(&session_key(call.caller), |s| {
                    s.approved.contains(tool.as_str())
                })
                .unwrap_or(false)
        };
        if call.caller.session.is_some() && remembered() {
            return Ok(approved("session", ApprovalScope::Session));
        }
        // Without `ask_client`, the client's word is not asked for, nor taken.
        let path = match call.approval {
            ApprovalPath::Client | ApprovalPath::Answered(_) if !self.ask_client => {
                &ApprovalPath::Approver
            }
            path => path,
        };
        match path {
            ApprovalPath::Answered(PersonAnswer::Approved(scope)) => {
                // Only a caller with a session of its own can be remembered: anonymous callers
                // share one key.
                if *scope == ApprovalScope::Session && call.caller.session.is_some() {
                    self.sessions.with(&session_key(call.caller), call.at, |s| {
                        s.approved.insert(tool.clone());
                    });
                    return Ok(approved("client", ApprovalScope::Session));
                }
                Ok(approved("client", ApprovalScope::Once))
            }
            ApprovalPath::Answered(PersonAnswer::Denied(reason)) => {
                Ok(denied(tool, reason.clone()))
            }
            ApprovalPath::Answered(PersonAnswer::TimedOut) => Ok(timed_out(tool)),
            // Held: the door asks the person and decides the call again with the answer.
            ApprovalPath::Client => Ok(Outcome::Hold(
                Refusal::new(
                    DenyCode::ApprovalRequired,
                    tool,
                    format!(
                        "Tool '{tool}' needs a person's approval, and nobody approved this call."
                    ),
                ),
                Box::new(ApprovalAsk {
                    tool: tool.clone(),
                    arguments: call.arguments.clone(),
                    reason: format!(
                        "the policy requires a person's approval for every call of '{tool}'"
                    ),
                }),
            )),
            ApprovalPath::Approver => {
                let Some(approver) = &self.approver else {
                    return Ok(Outcome::Refuse(Refusal::new(
                        DenyCode::ApprovalRequired,
                        tool,
                        format!(
                            "Tool '{tool}' needs a person's approval, and no approver is available."
                        ),
                    )));
                };
                let request = ApprovalRequest {
                    tool,
                    arguments: &call.arguments,
                    caller: call.caller,
                };
                Ok(match self.ask(approver, &request)? {
                    ApprovalOutcome::Approved => approved("approver", ApprovalScope::Once),
                    ApprovalOutcome::Denied(reason) => denied(tool, reason),
                    ApprovalOutcome::TimedOut => timed_out(tool),
                })
            }
        }
    }
}
