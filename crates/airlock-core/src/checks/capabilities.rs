//! `capabilities` — what a tool may do, against what the caller's policy grants. Phase: admit.
//!
//! Guards against a caller using tools whose effects its policy does not cover: a tool needs
//! the capabilities its most specific `[tools]` rule lists, plus `destructive` when annotated
//! `destructiveHint: true` (and not `readOnlyHint: true`) and `net_any` when annotated
//! `openWorldHint: true`. The policy grants capabilities (preset, `grant`, composites
//! `dangerous`, `safe_read`, `all`) and `deny_capabilities` removes them — denied wins. A tool
//! needing anything ungranted is refused with the capabilities named.
//!
//! Not covered: absent annotations are not claims (MCP's pessimistic defaults are not applied);
//! list capabilities in `[tools]` for tools that under-declare.

use crate::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};

/// The capability check.
#[derive(Clone, Copy, Debug, Default)]
pub struct Capabilities;

impl Check for Capabilities {
    fn name(&self) -> &'static str {
        "capabilities"
    }

    fn phase(&self) -> Phase {
        Phase::Admit
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let policy = call.policy;
        let missing = policy.needs(call.tool).minus(policy.granted());
        if missing.is_empty() {
            return Ok(Outcome::Pass);
        }
        let tool = &call.tool.name;
        let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
        let quoted = names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Outcome::Refuse(
            Refusal::new(
                DenyCode::CapabilityDenied,
                tool,
                format!(
                    "Tool '{tool}' needs the capabilit{} {quoted}, which this caller's policy does not grant.",
                    if names.len() == 1 { "y" } else { "ies" }
                ),
            )
            .with_detail("capabilities", names),
        ))
    }
}
