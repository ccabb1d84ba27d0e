//! `breaker` — stop calling a server, or a tool, that keeps failing. Phase: spend.
//!
//! Guards against piling calls onto a server that is down, hanging or crashing: after
//! `failures` consecutive failures (`[upstream.breaker]` for the whole server, `[tools."X"]
//! breaker` for one tool) calls are refused at once with `breaker.open` and when to retry, for
//! `open_for`; then one probe call is let through, and its outcome closes or reopens the
//! breaker ([`crate::breaker`]). Outcomes come from the doors after the call
//! ([`crate::Engine::record_outcome`]).
//!
//! Runs first in its phase, so an open breaker spends no rate-limit token or budget. Only in
//! the pipeline when some breaker is configured.

use std::sync::Arc;

use crate::breaker::{BreakerRule, Breakers};
use crate::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};

/// The breaker check.
#[derive(Debug)]
pub struct Breaker {
    breakers: Arc<Breakers>,
    server: Option<BreakerRule>,
}

impl Breaker {
    /// A check over `breakers`, with the whole server's rule.
    pub(crate) fn new(breakers: Arc<Breakers>, server: Option<BreakerRule>) -> Self {
        Breaker { breakers, server }
    }
}

impl Check for Breaker {
    fn name(&self) -> &'static str {
        "breaker"
    }

    fn may_block(&self) -> bool {
        self.breakers.may_block()
    }

    fn phase(&self) -> Phase {
        Phase::Spend
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = call.tool.name.as_str();
        let tool_rule = call.policy.upstream_rule(tool).breaker;
        let key = match tool_rule {
            Some(_) => format!("tool:{tool}"),
            None => String::new(),
        };
        let mut pending = Vec::new();
        let rules = [
            self.server.map(|r| ("server", r)),
            tool_rule.map(|r| (key.as_str(), r)),
        ];
        for (key, rule) in rules.into_iter().flatten() {
            let (admitted, transition) = self
                .breakers
                .admit(key, &rule, call.at)
                .map_err(|e| CheckError::new(format!("the breaker store failed: {e}")))?;
            pending.extend(transition);
            if let Err(retry_after) = admitted {
                for t in &pending {
                    self.breakers.report(t, call.at);
                }
                let whose = if key == "server" {
                    "its server".to_owned()
                } else {
                    format!("'{tool}'")
                };
                let secs = (retry_after.as_secs_f64() * 10.0).ceil() / 10.0;
                let mut r = Refusal::new(
                    DenyCode::BreakerOpen,
                    tool,
                    format!(
                        "Tool '{tool}' was not called: {whose} failed {} times in a row and is given a rest.",
                        rule.failures
                    ),
                )
                .with_hints(vec![format!(
                    "Wait {secs:.1} seconds before calling '{tool}' again, or use another tool meanwhile."
                )]);
                r.retry_after = Some(retry_after);
                return Ok(Outcome::Refuse(r));
            }
        }
        for t in &pending {
            self.breakers.report(t, call.at);
        }
        Ok(Outcome::Pass)
    }
}
