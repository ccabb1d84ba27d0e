//! `time_window` — when a tool may be called. Phase: admit.
//!
//! Guards against destructive or sensitive tools being used outside the hours someone is
//! watching: per-tool (or per-glob) `hours` and `days`, overnight windows, in the policy's IANA
//! time zone (never the machine's), and the `business_hours` preset for destructive tools. The
//! most specific rule wins. The time is the call's evaluation time (`airlock check --at`), else
//! the engine's clock.
//!
//! A refusal is retryable: it carries `retry_after_seconds` until the window next opens and
//! says when that is in the policy's local time.
//!
//! Not covered: rate limits (a later phase) and who may call (`tool_access`).

use std::time::Duration;

use crate::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};

/// The time-window check.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeWindow;

impl Check for TimeWindow {
    fn name(&self) -> &'static str {
        "time_window"
    }

    fn phase(&self) -> Phase {
        Phase::Admit
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let policy = call.policy;
        let Some(window) = policy.window_closed(call.tool, call.at) else {
            return Ok(Outcome::Pass);
        };
        let tool = &call.tool.name;
        let mut refusal = Refusal::new(
            DenyCode::TimeWindowClosed,
            tool,
            format!("Tool '{tool}' is not available at this time."),
        );
        match window.next_open(call.at, &policy.tz) {
            Some(opens) => {
                let secs = opens.duration_since(call.at).as_secs().max(1);
                let local = opens.to_zoned_datetime(policy.tz.clone());
                refusal.retry_after = Some(Duration::from_secs(secs.unsigned_abs()));
                refusal = refusal
                    .with_hints(vec![format!(
                        "Try again after {} ({}), in {} minutes.",
                        local.strftime("%a %Y-%m-%d %H:%M"),
                        policy.tz_name,
                        secs.unsigned_abs().div_ceil(60)
                    )])
                    .with_detail("opens_at", opens.to_string());
            }
            None => {
                refusal = refusal.with_hints(vec![
                    "The window for this tool does not open in the next week; ask the operator."
                        .to_owned(),
                ]);
            }
        }
        Ok(Outcome::Refuse(refusal))
    }
}
