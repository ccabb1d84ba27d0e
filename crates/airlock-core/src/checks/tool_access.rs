//! `tool_access` — which tools a caller may call at all. Phase: admit.
//!
//! Guards against calls to tools the operator never meant this caller to use: the deny list
//! (globs; deny wins), the allow list (empty allows every tool unless `default_deny`), the
//! `read_only` preset's name and annotation rules, `require_agent` (calls must carry an agent
//! id), and per-tool `roles` (the caller must hold one; the most specific rule wins).
//!
//! Refusals say that retrying will not help and never reveal the patterns or roles involved —
//! a model cannot change its identity, and the rules are the operator's business.
//!
//! Not covered: when a tool may be called (`time_window`) and what it may do (`capabilities`).

use crate::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use crate::policy::Access;
use crate::refusal::{DenyCode, Refusal};

/// The tool-access check.
#[derive(Clone, Copy, Debug, Default)]
pub struct ToolAccess;

impl Check for ToolAccess {
    fn name(&self) -> &'static str {
        "tool_access"
    }

    fn phase(&self) -> Phase {
        Phase::Admit
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = &call.tool.name;
        let policy = call.policy;
        if policy.require_agent && call.caller.agent.as_deref().is_none_or(str::is_empty) {
            return Ok(Outcome::Refuse(Refusal::new(
                DenyCode::ToolAccessAgentRequired,
                tool,
                format!("Tool '{tool}' was not called: the call carries no agent identity."),
            )));
        }
        if policy.access(call.tool) == Access::Denied {
            return Ok(Outcome::Refuse(Refusal::new(
                DenyCode::ToolAccessDenied,
                tool,
                format!("Tool '{tool}' is not available to this caller."),
            )));
        }
        if !policy.has_role(tool, &call.caller.roles) {
            return Ok(Outcome::Refuse(Refusal::new(
                DenyCode::ToolAccessRoleRequired,
                tool,
                format!("Tool '{tool}' needs a role this caller does not hold."),
            )));
        }
        Ok(Outcome::Pass)
    }
}
