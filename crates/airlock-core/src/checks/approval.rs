//! `approval` — tools that need a human's yes. Phase: spend (last: nothing else can refuse
//! the call once a person has been asked).
//!
//! Guards against high-stakes calls running unattended: a tool whose most specific `[tools]`
//! rule says `approval = "required"` is put to the configured [`Approver`] with its validated
//! arguments. Without an approver the call is refused (`approval.required`); a denial
//! (`approval.denied`) and a timeout (`approval.timed_out`) are refusals of their own.
//!
//! The approver is a trait: library users plug in their own (a chat prompt, a ticket). It runs on
//! a thread of its own under a deadline (`approval.timeout_secs`): past it the call is refused
//! as timed out and a late answer is ignored. The engine says it may block while an approver is
//! configured ([`crate::Engine::may_block`]), so async transports decide off their runtime. Not
//! covered: approvals that outlive the call (no memory of past approvals; every call asks).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::call::CallerContext;
use crate::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};

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
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("approver", &self.approver.is_some())
            .finish()
    }
}

impl Approval {
    /// A check asking `approver` (none: every call needing approval is refused), who must
    /// answer within `timeout`.
    pub fn new(approver: Option<Arc<dyn Approver>>, timeout: std::time::Duration) -> Self {
        Approval { approver, timeout }
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

impl Check for Approval {
    fn name(&self) -> &'static str {
        "approval"
    }

    fn may_block(&self) -> bool {
        // A person (or a ticket system) answers in seconds or minutes.
        self.approver.is_some()
    }

    fn phase(&self) -> Phase {
        // Without an approver the answer is known up front: refuse in admit, before anything
        // is spent. With one, ask last, when nothing else can refuse the call.
        if self.approver.is_some() {
            Phase::Spend
        } else {
            Phase::Admit
        }
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = &call.tool.name;
        if !call.policy.needs_approval(tool) {
            return Ok(Outcome::Pass);
        }
        let Some(approver) = &self.approver else {
            return Ok(Outcome::Refuse(Refusal::new(
                DenyCode::ApprovalRequired,
                tool,
                format!("Tool '{tool}' needs a person's approval, and no approver is available."),
            )));
        };
        let request = ApprovalRequest {
            tool,
            arguments: &call.arguments,
            caller: call.caller,
        };
        Ok(match self.ask(approver, &request)? {
            ApprovalOutcome::Approved => Outcome::Pass,
            ApprovalOutcome::Denied(reason) => {
                let mut r = Refusal::new(
                    DenyCode::ApprovalDenied,
                    tool,
                    format!("The call of tool '{tool}' was not approved."),
                );
                if let Some(reason) = reason {
                    r = r
                        .with_hints(vec![format!(
                            "The approver said: {}. Do not retry the same call.",
                            crate::checks::validation::clip(&reason, 200)
                        )])
                        .with_detail("reason", crate::checks::validation::clip(&reason, 200));
                }
                Outcome::Refuse(r)
            }
            ApprovalOutcome::TimedOut => Outcome::Refuse(Refusal::new(
                DenyCode::ApprovalTimedOut,
                tool,
                format!("The call of tool '{tool}' was not approved in time."),
            )),
        })
    }
}
