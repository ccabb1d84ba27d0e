//! `budget` — what a session, an agent or a tenant may spend. Phase: spend.
//!
//! Guards against runaway agents and runaway bills: `[[budgets]]` cap calls, argument and
//! result bytes, tokens and cost per session, agent or tenant over a calendar window
//! ([`crate::budget`]). The part of a call known before it runs (one call, its arguments'
//! bytes and tokens, `price_per_call`) is charged here, atomically with the check that it fits;
//! a call that would go past a cap is refused with `budget.exhausted` and when the budget
//! resets. The result's part is charged after the call ([`crate::Engine::charge_result`]).
//!
//! Runs after `session_limits` and before `approval`. A store that fails refuses the call
//! (fail closed). Only in the pipeline when budgets are configured.

use std::sync::Arc;

use crate::budget::{BudgetRule, BudgetStore, Spend, budget_key, count_tokens};
use crate::pipeline::{CallState, Change, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, Refusal};

/// The budget check.
#[derive(Debug)]
pub struct Budget {
    budgets: Arc<[BudgetRule]>,
    store: Arc<dyn BudgetStore>,
}

impl Budget {
    /// A check of `budgets`, counted in `store`.
    pub(crate) fn new(budgets: Arc<[BudgetRule]>, store: Arc<dyn BudgetStore>) -> Self {
        Budget { budgets, store }
    }
}

impl Check for Budget {
    fn name(&self) -> &'static str {
        "budget"
    }

    fn phase(&self) -> Phase {
        Phase::Spend
    }

    fn may_block(&self) -> bool {
        self.store.may_block()
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = call.tool.name.as_str();
        let rules: Vec<&BudgetRule> = self.budgets.iter().filter(|b| b.covers(tool)).collect();
        if rules.is_empty() {
            return Ok(Outcome::Pass);
        }
        let prices = call.policy.upstream_rule(tool);
        let arguments = serde_json::to_string(&call.arguments)
            .map_err(|e| CheckError::new(format!("the arguments could not be measured: {e}")))?;
        let per_token = prices.price_per_1k_tokens.is_some_and(|p| p > 0.0);
        let tokens = if rules.iter().any(|r| r.caps.needs_tokens(per_token)) {
            count_tokens(&arguments)
        } else {
            0
        };
        let spend = Spend {
            calls: 1,
            argument_bytes: arguments.len() as u64,
            result_bytes: 0,
            tokens,
            cost: prices.price_per_call.unwrap_or(0.0)
                + tokens as f64 / 1000.0 * prices.price_per_1k_tokens.unwrap_or(0.0),
        };
        let mut charged: Vec<String> = Vec::new();
        let refund = |charged: &[String]| {
            for key in charged {
                // Best effort: the call is refused either way.
                let _ = self.store.refund(key, &spend);
            }
        };
        for &rule in &rules {
            let window = rule.window.map(|w| w.around(call.at, &call.policy.tz));
            let key = budget_key(rule, call.caller, window.map(|(start, _)| start));
            let over = match self.store.try_charge(
                &key,
                &spend,
                &rule.caps,
                crate::budget::expiry(rule, call.at, window),
            ) {
                Ok(over) => over,
                Err(e) => {
                    refund(&charged);
                    return Err(CheckError::new(format!("the budget store failed: {e}")));
                }
            };
            let Some(measure) = over else {
                charged.push(key);
                continue;
            };
            refund(&charged);
            let mut r = Refusal::new(
                DenyCode::BudgetExhausted,
                tool,
                format!(
                    "Tool '{tool}' was not called: the budget '{}' ({}) has no {} left.",
                    rule.name,
                    rule.describe(),
                    measure.replace('_', " ")
                ),
            );
            r = match window {
                Some((_, end)) => {
                    let wait = std::time::Duration::try_from(end.duration_since(call.at))
                        .unwrap_or_default();
                    r.retry_after = Some(wait);
                    let local = call.policy.tz.to_datetime(end);
                    r.with_hints(vec![format!(
                        "Wait until the budget resets at {local} ({}), in {:.0} seconds, or finish without '{tool}'.",
                        call.policy.tz_name,
                        wait.as_secs_f64().ceil()
                    )])
                }
                None => r.with_hints(vec![format!(
                    "Retrying will not help: this budget does not reset for this {}. Finish without '{tool}'.",
                    rule.per.as_str()
                )]),
            };
            return Ok(Outcome::Refuse(r));
        }
        for rule in rules {
            rule.spent.add(&spend);
        }
        Ok(Outcome::Changed(vec![Change::Spent { spend }]))
    }
}
