//! `rate_limit` — how often a tool may be called. Phase: spend.
//!
//! Guards against runaway agents and abuse: the most specific `[tools]` rule with a
//! `rate_limit = "N/unit"` (and optional `burst`, `rate_key`) limits matching calls with GCRA,
//! keyed by tool × caller by default (or tool, caller, tenant, global). It runs in the spend
//! phase, after validation and the guards, so a malformed or otherwise refused call never
//! consumes a token. A refusal says when to retry (`retry_after_seconds`).
//!
//! A store that fails refuses the call (fail closed). Not covered: sharing limits between
//! processes (a shared `RateStore`, e.g. Redis, plugs in through the engine builder).

use std::sync::Arc;

use crate::limits::{Acquire, RateKey, RateStore};
use crate::pipeline::{CallState, Change, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};

/// The rate-limit check.
#[derive(Clone)]
pub struct RateLimit {
    store: Arc<dyn RateStore>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimit")
    }
}

impl RateLimit {
    /// A check keeping its state in `store`.
    pub fn new(store: Arc<dyn RateStore>) -> Self {
        RateLimit { store }
    }
}

impl Check for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    fn may_block(&self) -> bool {
        self.store.may_block()
    }

    fn phase(&self) -> Phase {
        Phase::Spend
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = &call.tool.name;
        let Some(limit) = call.policy.rate(tool) else {
            return Ok(Outcome::Pass);
        };
        // One allocation: policy | rule | scope. The policy and the rule name the bucket, so
        // rules and tenants never share one.
        let c = call.caller;
        let mut key = String::with_capacity(96);
        key.push_str(&call.policy.name);
        key.push('|');
        key.push_str(&limit.pattern);
        key.push('|');
        // Caller-chosen parts are length-prefixed, so no id can be crafted to collide.
        let push_part = |key: &mut String, kind: &str, v: &str| {
            key.push_str(kind);
            key.push_str(&v.len().to_string());
            key.push(':');
            key.push_str(v);
        };
        let push_caller = |key: &mut String| match (&c.agent, &c.session) {
            (Some(a), _) => push_part(key, "agent", a),
            (None, Some(s)) => push_part(key, "session", s),
            (None, None) => key.push_str("anonymous"),
        };
        match limit.key {
            RateKey::ToolCaller => {
                key.push_str("tool:");
                key.push_str(tool);
                key.push('|');
                push_caller(&mut key);
            }
            RateKey::Tool => {
                key.push_str("tool:");
                key.push_str(tool);
            }
            RateKey::Caller => push_caller(&mut key),
            RateKey::Tenant => push_part(&mut key, "tenant", c.tenant.as_deref().unwrap_or("")),
            RateKey::Global => key.push_str("global"),
        }
        let noted = self
            .store
            .acquire_noted(&key, limit.rate, call.at)
            .map_err(|e| CheckError::new(e.to_string()))?;
        match noted.acquire {
            Acquire::Allowed => Ok(match noted.degraded {
                None => Outcome::Pass,
                Some(reason) => Outcome::Changed(vec![Change::Degraded {
                    check: "rate_limit",
                    reason,
                }]),
            }),
            Acquire::Limited { retry_after } => {
                let secs = retry_after.as_secs_f64();
                let mut r = Refusal::new(
                    DenyCode::RateLimited,
                    tool,
                    format!(
                        "Tool '{tool}' was called too often: the limit is {}.",
                        limit.rate
                    ),
                )
                .with_hints(vec![format!(
                    "Wait {:.1} seconds before calling '{tool}' again; do not retry sooner.",
                    (secs * 10.0).ceil() / 10.0
                )]);
                r.retry_after = Some(retry_after);
                Ok(Outcome::Refuse(r))
            }
        }
    }
}
