//! The check pipeline: checks are data, run in fixed phases, first refusal wins.
//!
//! A [`Check`] looks at one call ([`CallState`]) and answers with an [`Outcome`]: pass, pass
//! with changes (it changed the arguments in place and says how), or refuse. A Rust `Err`
//! ([`CheckError`]) means the check itself broke; the pipeline then refuses the call with
//! `engine.internal_error` (fail closed). A check that panics is treated the same way.
//!
//! Phases are fixed (`admit → normalise → validate → guard → spend`); a pipeline is built from
//! any list of checks, sorted by phase, and within a phase kept in the order given (or in an
//! explicit order of names, [`Pipeline::with_order`]). Later phases of a call's life — forward,
//! clean, record — belong to the transports and the engine, not to checks.
//!
//! What the pipeline does not do: parse arguments or find the tool definition (the engine does
//! that before the first check), or write audit records (the engine does that after the last).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::call::{CallerContext, ToolDef};
use crate::policy::Policy;
use crate::refusal::{DenyCode, Refusal};

/// The fixed phases a check can run in, in order. Nothing is spent before `Spend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Identity, allow/deny, roles, time windows, capabilities, tool integrity. Nothing spent.
    Admit,
    /// Ghost arguments: undeclared keys refused or stripped.
    Normalise,
    /// Strict JSON-Schema validation.
    Validate,
    /// Argument guards: paths, URLs.
    Guard,
    /// Rate limits, budgets, circuit breaker: the only phase that may consume anything.
    Spend,
}

impl Phase {
    /// The phase's name as used in docs and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Admit => "admit",
            Phase::Normalise => "normalise",
            Phase::Validate => "validate",
            Phase::Guard => "guard",
            Phase::Spend => "spend",
        }
    }
}

/// One call as the checks see it: the definition, the caller, the time, and the arguments
/// (always a JSON object by the time checks run). Checks may change `arguments`.
#[derive(Debug)]
pub struct CallState<'a> {
    /// The tool's definition (its compiled schema is cached on it).
    pub tool: &'a ToolDef,
    /// Who is calling.
    pub caller: &'a CallerContext,
    /// The policy that applies to this caller.
    pub policy: &'a Policy,
    /// The time the call is evaluated at.
    pub at: Timestamp,
    /// The arguments, possibly changed by earlier checks.
    pub arguments: Map<String, Value>,
    /// Who can approve the call, if it needs a person's yes (set by the door).
    pub approval: &'a crate::checks::ApprovalPath,
}

/// A change a check made to a call that it let pass.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// An undeclared argument was removed.
    StrippedArgument {
        /// Where it was: `recurse`, `options.force`, `items[0].extra`.
        path: String,
        /// Whether the change is recorded in the audit log (`strip_and_log`) or not (`strip_silent`).
        logged: bool,
    },
    /// A value in the arguments was masked (a secret on its way out, `sanitize.arguments = "mask"`).
    MaskedArgument {
        /// Where it was.
        path: String,
        /// What was found there (the detector's type).
        found: String,
    },
    /// A check decided in a degraded way (e.g. local rate limits while the shared store was
    /// unreachable); always recorded in the audit log.
    Degraded {
        /// The check.
        check: &'static str,
        /// What happened.
        reason: String,
    },
    /// What the call was charged against its budgets before it ran (`budget`); recorded in
    /// the audit log as `spend`. The result's part is recorded when it comes.
    Spent {
        /// What was charged.
        spend: crate::budget::Spend,
    },
    /// A person approved the call (`approval`); recorded in the audit log as `approval`.
    Approved(crate::checks::Approved),
}

impl Change {
    /// Whether the call goes out otherwise than it came, or was decided otherwise than usual
    /// (a decision reported as `allowed_with_changes`): every change but a budget's charge.
    pub fn alters_call(&self) -> bool {
        !matches!(self, Change::Spent { .. } | Change::Approved(_))
    }
}

/// What a check answers.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The call passes this check unchanged.
    Pass,
    /// The call passes; the check changed it as listed.
    Changed(Vec<Change>),
    /// The call is refused.
    Refuse(Refusal),
    /// The call waits for a person the door can ask (`approval`, [`crate::checks::ApprovalPath::Client`]):
    /// refused with this refusal unless the door asks and decides the call again with the answer.
    Hold(Refusal, Box<crate::checks::ApprovalAsk>),
}

/// A check failed internally. The call is refused (fail closed) and the message is logged,
/// not shown to the model.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CheckError {
    /// What broke.
    pub message: String,
}

impl CheckError {
    /// A check error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        CheckError {
            message: message.into(),
        }
    }
}

/// One check of the pipeline. Copy the shape of `checks::ghost_args` to add one.
pub trait Check: Send + Sync + 'static {
    /// The check's one name: module, type, config key, audit value, code prefix.
    fn name(&self) -> &'static str;
    /// The phase it runs in.
    fn phase(&self) -> Phase;
    /// Decide on one call.
    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError>;

    /// The configuration sections this check serves (`"filesystem"`, `"network"`,
    /// `"sanitize.arguments"`). An engine whose configuration turns a section on refuses to
    /// build unless some check serves it: a setting nothing enforces is an error, never a
    /// silent gap (fail closed).
    fn serves(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether [`Check::check`] may wait on the outside world (a shared store, DNS, a person).
    /// Transports then take the engine's decision off their async runtime
    /// ([`crate::Engine::may_block`]).
    fn may_block(&self) -> bool {
        false
    }
}

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipelineError {
    /// An order names a check that is not in the pipeline.
    #[error("unknown check '{name}' in the order; known checks: {known}")]
    UnknownCheck {
        /// The unknown name.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// Two checks share a name.
    #[error("two checks are named '{0}'; each check needs its own name")]
    DuplicateCheck(String),
}

/// The result of running the pipeline on a call.
#[derive(Debug)]
pub enum Verdict {
    /// Every check passed; these are the changes made, in order.
    Pass(Vec<Change>),
    /// A check refused (or failed, and so refused).
    Refuse {
        /// The refusal.
        refusal: Box<Refusal>,
        /// Which check refused.
        check: &'static str,
        /// If the check broke (error or panic) rather than refused, what broke.
        internal: Option<String>,
    },
    /// A check held the call for a person ([`Outcome::Hold`]).
    Hold {
        /// The refusal, if nobody is asked.
        refusal: Box<Refusal>,
        /// Which check held it.
        check: &'static str,
        /// What to ask.
        ask: Box<crate::checks::ApprovalAsk>,
    },
}

/// An ordered list of checks. Cheap to clone.
#[derive(Clone, Default)]
pub struct Pipeline {
    checks: Vec<Arc<dyn Check>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|c| (c.phase(), c.name())))
            .finish()
    }
}

impl Pipeline {
    /// A pipeline of `checks`, sorted by phase; within a phase the given order is kept.
    pub fn new(checks: Vec<Arc<dyn Check>>) -> Result<Self, PipelineError> {
        let mut seen = std::collections::HashSet::new();
        for c in &checks {
            if !seen.insert(c.name()) {
                return Err(PipelineError::DuplicateCheck(c.name().to_owned()));
            }
        }
        let mut checks = checks;
        checks.sort_by_key(|c| c.phase());
        Ok(Pipeline { checks })
    }

    /// Reorder checks within their phases: names listed in `order` come first in that order;
    /// the others keep their place after them. Phases never mix.
    pub fn with_order(mut self, order: &[String]) -> Result<Self, PipelineError> {
        for name in order {
            if !self.checks.iter().any(|c| c.name() == name) {
                return Err(PipelineError::UnknownCheck {
                    name: name.clone(),
                    known: self.names().join(", "),
                });
            }
        }
        let rank = |c: &Arc<dyn Check>| {
            order
                .iter()
                .position(|n| n == c.name())
                .unwrap_or(order.len())
        };
        self.checks.sort_by_key(|c| (c.phase(), rank(c)));
        Ok(self)
    }

    /// Add a check (it takes its place by phase, after the checks already in that phase).
    pub fn push(&mut self, check: Arc<dyn Check>) -> Result<(), PipelineError> {
        if self.checks.iter().any(|c| c.name() == check.name()) {
            return Err(PipelineError::DuplicateCheck(check.name().to_owned()));
        }
        self.checks.push(check);
        self.checks.sort_by_key(|c| c.phase());
        Ok(())
    }

    /// The checks' names in run order.
    pub fn names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    /// The checks with their phases, in run order.
    pub fn phases(&self) -> impl Iterator<Item = (Phase, &'static str)> + '_ {
        self.checks.iter().map(|c| (c.phase(), c.name()))
    }

    /// Run every check in order; the first refusal wins. A check that errors or panics
    /// refuses the call with `engine.internal_error`.
    pub fn run(&self, state: &mut CallState<'_>) -> Verdict {
        let mut changes = Vec::new();
        for check in &self.checks {
            let outcome = catch_unwind(AssertUnwindSafe(|| check.check(state)));
            let broke = match outcome {
                Ok(Ok(Outcome::Pass)) => continue,
                Ok(Ok(Outcome::Changed(mut c))) => {
                    changes.append(&mut c);
                    continue;
                }
                Ok(Ok(Outcome::Refuse(refusal))) => {
                    return Verdict::Refuse {
                        refusal: Box::new(refusal),
                        check: check.name(),
                        internal: None,
                    };
                }
                Ok(Ok(Outcome::Hold(refusal, ask))) => {
                    return Verdict::Hold {
                        refusal: Box::new(refusal),
                        check: check.name(),
                        ask,
                    };
                }
                Ok(Err(e)) => e.message,
                Err(panic) => panic_message(panic.as_ref()),
            };
            let refusal = Refusal::new(
                DenyCode::InternalError,
                &state.tool.name,
                format!(
                    "Tool '{}' was not called: an internal check failed, so the call was refused for safety.",
                    state.tool.name
                ),
            )
            .with_detail("check", check.name());
            return Verdict::Refuse {
                refusal: Box::new(refusal),
                check: check.name(),
                internal: Some(broke),
            };
        }
        Verdict::Pass(changes)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("check panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("check panicked: {s}")
    } else {
        "check panicked".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Named(&'static str, Phase, fn() -> Result<Outcome, CheckError>);
    impl Check for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn phase(&self) -> Phase {
            self.1
        }
        fn check(&self, _: &mut CallState<'_>) -> Result<Outcome, CheckError> {
            (self.2)()
        }
    }

    fn pass() -> Result<Outcome, CheckError> {
        Ok(Outcome::Pass)
    }
    fn refuse() -> Result<Outcome, CheckError> {
        Ok(Outcome::Refuse(Refusal::new(
            DenyCode::ValidationOther,
            "t",
            "no",
        )))
    }
    fn broken() -> Result<Outcome, CheckError> {
        Err(CheckError::new("store unreachable"))
    }
    fn panics() -> Result<Outcome, CheckError> {
        panic!("boom")
    }

    fn run(p: &Pipeline) -> Verdict {
        let tool = ToolDef::new("t", json!({"type": "object"}));
        let caller = CallerContext::default();
        let policy = Policy::permissive();
        let mut state = CallState {
            tool: &tool,
            caller: &caller,
            policy: &policy,
            at: Timestamp::UNIX_EPOCH,
            arguments: Map::new(),
            approval: &crate::checks::ApprovalPath::Approver,
        };
        p.run(&mut state)
    }

    #[test]
    fn sorted_by_phase_then_given_order() {
        let p = Pipeline::new(vec![
            Arc::new(Named("spend", Phase::Spend, pass)),
            Arc::new(Named("b", Phase::Admit, pass)),
            Arc::new(Named("a", Phase::Admit, pass)),
            Arc::new(Named("v", Phase::Validate, pass)),
        ])
        .unwrap();
        assert_eq!(p.names(), ["b", "a", "v", "spend"]);
        let p = p.with_order(&["a".into()]).unwrap();
        assert_eq!(p.names(), ["a", "b", "v", "spend"]);
        // Ordering never moves a check out of its phase.
        let p = p.with_order(&["spend".into(), "v".into()]).unwrap();
        assert_eq!(p.names(), ["a", "b", "v", "spend"]);
        assert!(matches!(
            p.with_order(&["nope".into()]),
            Err(PipelineError::UnknownCheck { .. })
        ));
    }

    #[test]
    fn first_refusal_wins() {
        let p = Pipeline::new(vec![
            Arc::new(Named("first", Phase::Admit, refuse)),
            Arc::new(Named("second", Phase::Validate, broken)),
        ])
        .unwrap();
        assert!(matches!(
            run(&p),
            Verdict::Refuse {
                check: "first",
                internal: None,
                ..
            }
        ));
    }

    #[test]
    fn broken_or_panicking_checks_fail_closed() {
        for f in [broken as fn() -> _, panics] {
            let p = Pipeline::new(vec![Arc::new(Named("x", Phase::Guard, f))]).unwrap();
            match run(&p) {
                Verdict::Refuse {
                    refusal, internal, ..
                } => {
                    assert_eq!(refusal.code, DenyCode::InternalError);
                    assert!(internal.is_some());
                    // The model never sees what broke.
                    assert!(!refusal.render_text().contains("unreachable"));
                    assert!(!refusal.render_text().contains("boom"));
                }
                Verdict::Pass(_) | Verdict::Hold { .. } => panic!("a broken check must refuse"),
            }
        }
    }

    #[test]
    fn duplicate_names_are_rejected() {
        assert!(
            Pipeline::new(vec![
                Arc::new(Named("x", Phase::Guard, pass)),
                Arc::new(Named("x", Phase::Admit, pass)),
            ])
            .is_err()
        );
    }
}
