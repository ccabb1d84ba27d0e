//! `session_limits` — what one session may do in total. Phase: spend.
//!
//! Guards against sessions that run away or probe: a session that has had more than
//! `session.max_refused_ratio` of its calls refused (after `session.min_calls` calls) is cut
//! off; `session.max_calls` caps its calls; per tool, `max_calls_per_session` caps calls,
//! `cooldown` spaces them, and `required_before` demands that other tools have succeeded first
//! (success is reported after execution, [`crate::Engine::record_outcome`]).
//!
//! Runs after `rate_limit` and before `approval`; a call it admits is charged against the
//! budgets. Not covered: sessions are per engine (in memory).

use std::sync::Arc;
use std::time::Duration;

use crate::config::SessionSettings;
use crate::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};
use crate::sessions::{Sessions, session_key};

/// The session-limits check.
#[derive(Debug)]
pub struct SessionLimits {
    sessions: Arc<Sessions>,
    settings: SessionSettings,
}

impl SessionLimits {
    /// A check over `sessions` with session-wide `settings`.
    pub(crate) fn new(sessions: Arc<Sessions>, settings: SessionSettings) -> Self {
        SessionLimits { sessions, settings }
    }
}

impl Check for SessionLimits {
    fn name(&self) -> &'static str {
        "session_limits"
    }

    fn phase(&self) -> Phase {
        Phase::Spend
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = call.tool.name.clone();
        let rule = call.policy.session_rule(&tool);
        let settings = &self.settings;
        let now = call.at.as_nanosecond();
        let key = session_key(call.caller);
        let refusal = self.sessions.with(&key, call.at, |s| {
            if s.cut_off {
                return Some(Refusal::new(
                    DenyCode::SessionCutOff,
                    &tool,
                    format!("Tool '{tool}' was not called: this session was cut off after too many refused calls."),
                ));
            }
            if let Some(max) = settings.max_calls
                && s.calls >= max
            {
                return Some(Refusal::new(
                    DenyCode::SessionBudgetExceeded,
                    &tool,
                    format!("Tool '{tool}' was not called: this session has used all {max} of its calls."),
                ));
            }
            let (count, last) = s.per_tool.get(&tool).copied().unwrap_or((0, i128::MIN));
            if let Some(max) = rule.max_calls
                && count >= max
            {
                return Some(Refusal::new(
                    DenyCode::SessionToolBudgetExceeded,
                    &tool,
                    format!("Tool '{tool}' may be called at most {max} times per session, and that many calls were made."),
                ));
            }
            if let Some(cooldown) = rule.cooldown
                && count > 0
            {
                let ready = last.saturating_add(cooldown.as_nanos() as i128);
                if now < ready {
                    let wait = Duration::from_nanos(u64::try_from(ready - now).unwrap_or(u64::MAX));
                    let mut r = Refusal::new(
                        DenyCode::SessionCooldown,
                        &tool,
                        format!("Tool '{tool}' was called too recently in this session."),
                    )
                    .with_hints(vec![format!(
                        "Wait {:.1} seconds before calling '{tool}' again.",
                        (wait.as_secs_f64() * 10.0).ceil() / 10.0
                    )]);
                    r.retry_after = Some(wait);
                    return Some(r);
                }
            }
            let missing: Vec<&String> = rule
                .required_before
                .iter()
                .filter(|t| !s.succeeded.contains(*t))
                .collect();
            if !missing.is_empty() {
                let names = missing
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Some(
                    Refusal::new(
                        DenyCode::SessionPrerequisite,
                        &tool,
                        format!("Tool '{tool}' can only be called after {names} succeeded in this session."),
                    )
                    .with_hints(vec![format!("Call {names} first, then call '{tool}' again.")])
                    .with_detail("required_before", missing.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
                );
            }
            s.calls += 1;
            let entry = s.per_tool.entry(tool.clone()).or_insert((0, now));
            entry.0 += 1;
            entry.1 = now;
            None
        });
        Ok(match refusal {
            Some(r) => Outcome::Refuse(r),
            None => Outcome::Pass,
        })
    }
}
