//! `approval` — tools that need a human's yes. Phase: spend (last: nothing else can refuse
//! the call once a person has been asked).
//!
//! Guards against high-stakes calls running unattended: a tool whose most specific `[tools]`
//! rule says `approval = "required"` is put to the configured [`Approver`] with its validated
//! arguments. Without an approver the call is refused (`approval.required`); a denial
//! (`approval.denied`) and a timeout (`approval.timed_out`) are refusals of their own.
//!
//! The approver is a trait: library users plug in their own (a chat prompt, a ticket), the MCP
//! proxy wires elicitation. Not covered: approvals that outlive the call (no memory of past
//! approvals; every call asks).

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
#[derive(Clone, Default)]
pub struct Approval {
    approver: Option<Arc<dyn Approver>>,
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("approver", &self.approver.is_some())
            .finish()
    }
}

impl Approval {
    /// A check asking `approver` (none: every call needing approval is refused).
    pub fn new(approver: Option<Arc<dyn Approver>>) -> Self {
        Approval { approver }
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
        Ok(match approver.decide(&request)? {
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
