//! The engine: takes a [`Call`], decides, records, answers.
//!
//! ```text
//!   Call ──► intake ──► admit ─► normalise ─► validate ─► guard ─► spend ──► record ──► Decision
//!            │          (checks, in fixed phases; first refusal wins)         │
//!            │ tool known? arguments JSON, an object, within size and depth?   │ audit event
//!            └── refuse ───────────────────────────────────────────────────────┘ written first
//! ```
//!
//! Intake finds the tool's definition (on the call, or in the engine's catalog), refuses it when
//! `[pinning]` does, and checks the arguments as a whole: valid JSON, an object (absent or
//! `null` counts as `{}`), no larger than `arguments.max_bytes`, no deeper than
//! `arguments.max_depth`. Then the pipeline runs.
//! Whatever the outcome, one audit event is handed to the sink *before* the decision is
//! returned; if the sink fails, the call is refused (`audit.unavailable`).
//!
//! One job per file: `builder.rs` assembles an engine ([`EngineBuilder`], [`EngineError`]),
//! `decision.rs` holds what it answers ([`Decision`], [`Allowed`], [`Refused`]), `intake.rs`
//! finds the tool and bounds the arguments, and `record.rs` builds the audit event. The
//! [`Engine`] itself, with the tools it knows ([`Catalog`]), is here.

mod builder;
mod decision;
mod intake;
mod record;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::audit::AuditSink;
use crate::call::{Call, ToolDef};
use crate::clock::Clock;
use crate::config::Config;
use crate::pipeline::{CallState, Change, Pipeline, Verdict};
use crate::policy::PolicyResolver;
use crate::refusal::{DenyCode, Refusal};
use crate::sessions::{SessionState, Sessions, session_key};

pub use builder::{EngineBuilder, EngineError};
pub use decision::{Allowed, Decision, Refused};
use record::REDACTED_ARGUMENTS;

/// Which calls may wait for a person's approval ([`Engine::may_need_approval`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Approvals {
    /// No policy asks for one.
    None,
    /// The tools some policy of the configuration asks about.
    ByPolicy,
    /// Any: a library resolver supplies the policies, which are only known per call.
    Any,
}

/// The tools the engine knows by name (from the server's `tools/list`).
#[derive(Debug, Default)]
pub struct Catalog {
    tools: HashMap<String, Arc<ToolDef>>,
    /// Tools whose last listed definition is at odds with its pin (`[pinning]`).
    pin_problems: HashMap<String, crate::pins::PinProblem>,
    /// What `[tool_integrity]` found in each scanned definition (empty: nothing), kept so that
    /// an unchanged definition is not scanned again.
    scanned: HashMap<String, Scanned>,
    /// Whether findings refuse the tool (`tool_integrity.mode = "block"`).
    refuse_poisoned: bool,
}

/// What `[tool_integrity]` found in one tool's definition.
#[derive(Clone, Debug, Default)]
struct Scanned {
    /// The definition's own findings ([`crate::poison::scan_definition`]) first, then those
    /// against the other tools' names ([`crate::poison::scan_names`]).
    found: Vec<crate::poison::PoisonFinding>,
    /// How many of `found` are the definition's own: kept while it is unchanged. The rest is
    /// found again whenever the listed names change.
    own: usize,
}

impl Catalog {
    /// A catalog of these tools (a later tool of the same name replaces an earlier one).
    pub fn new(tools: impl IntoIterator<Item = ToolDef>) -> Self {
        Catalog {
            tools: tools
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect(),
            pin_problems: HashMap::new(),
            scanned: HashMap::new(),
            refuse_poisoned: false,
        }
    }

    /// What the tool's definition hides, when `[tool_integrity]` refuses its calls.
    pub fn poisoned(&self, name: &str) -> Option<&[crate::poison::PoisonFinding]> {
        self.scanned
            .get(name)
            .filter(|s| self.refuse_poisoned && !s.found.is_empty())
            .map(|s| s.found.as_slice())
    }

    /// Why the tool's calls are refused by `[pinning]`, if they are.
    pub fn pin_problem(&self, name: &str) -> Option<crate::pins::PinProblem> {
        self.pin_problems.get(name).copied()
    }

    /// A tool by name.
    pub fn get(&self, name: &str) -> Option<&Arc<ToolDef>> {
        self.tools.get(name)
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tools.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// The decision engine. Share it (`Arc<Engine>`) across threads and sessions.
pub struct Engine {
    /// Whether any breaker is configured (or a library resolver may set one).
    breakers_on: bool,
    /// Whether any honeypot is configured (tools or codes).
    honeypots: bool,
    budgets: Arc<[crate::budget::BudgetRule]>,
    budget_store: Arc<dyn crate::budget::BudgetStore>,
    breakers: Arc<crate::breaker::Breakers>,
    may_block: bool,
    /// Which calls may wait for a person's approval.
    approvals: Approvals,
    config: Arc<Config>,
    resolver: Arc<dyn PolicyResolver>,
    sessions: Arc<Sessions>,
    sessions_enabled: bool,
    pipeline: Pipeline,
    audit: Option<Arc<dyn AuditSink>>,
    clock: Arc<dyn Clock>,
    catalog: RwLock<Arc<Catalog>>,
    cleaner: Option<Arc<dyn crate::clean::ResultCleaner>>,
    pins: std::sync::Mutex<crate::pins::Pins>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pipeline", &self.pipeline)
            .field("audit", &self.audit.is_some())
            .finish()
    }
}

impl Engine {
    /// Whether [`Engine::check`] may wait on the outside world: a check waits on a shared rate
    /// store, DNS or a person. Async callers then decide off their runtime (e.g. tokio's
    /// `spawn_blocking`); every wait has its own deadline (`limits.timeout_ms`,
    /// `network.dns_timeout_ms`, the approver's).
    pub fn may_block(&self) -> bool {
        self.may_block
    }

    /// Whether a call of `tool` may have to wait for a person's approval: some policy of the
    /// configuration asks for it, or a library resolver supplies the policies (which are only
    /// known per call, so any tool may).
    pub fn may_need_approval(&self, tool: &str) -> bool {
        let policies = &self.config.policies;
        match self.approvals {
            Approvals::None => false,
            Approvals::ByPolicy => {
                policies.base.needs_approval(tool)
                    || policies.tenants.values().any(|p| p.needs_approval(tool))
            }
            Approvals::Any => true,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The pipeline (for `airlock verify` and docs).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Replace the known tools (e.g. after `tools/list` or `notifications/tools/list_changed`).
    /// A definition equal to one already known keeps the known one, with its compiled schema.
    ///
    /// Returns the tools `[tool_integrity]` refuses now and did not before, sorted (a door
    /// that fetched the list itself then tells its client to list again).
    pub fn set_tools(&self, tools: impl IntoIterator<Item = ToolDef>) -> Vec<String> {
        self.update_tools(tools, false)
    }

    /// Add or replace these tools, keeping every other known tool (one page of a paged
    /// `tools/list`). Unchanged definitions keep their compiled schemas.
    ///
    /// Returns the tools `[tool_integrity]` refuses now and did not before, sorted: read
    /// against this page's names, a tool of an earlier page may turn out to shadow or imitate
    /// one (a door that showed it then tells the client to list again).
    pub fn merge_tools(&self, tools: impl IntoIterator<Item = ToolDef>) -> Vec<String> {
        self.update_tools(tools, true)
    }

    fn update_tools(
        &self,
        tools: impl IntoIterator<Item = ToolDef>,
        keep_others: bool,
    ) -> Vec<String> {
        let mut slot = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        let old = &slot.tools;
        let mut next: HashMap<String, Arc<ToolDef>> = if keep_others {
            old.clone()
        } else {
            HashMap::new()
        };
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        // Names this list gives more than once: the last definition is kept, and
        // `[tool_integrity]` refuses the tool (the server may run either).
        let mut given = HashSet::new();
        let mut twice = HashSet::new();
        for t in tools {
            if !given.insert(t.name.clone()) {
                twice.insert(t.name.clone());
            }
            let def = match old.get(&t.name) {
                Some(known) if **known == t => known.clone(),
                _ => {
                    pins.observe(&t);
                    Arc::new(t)
                }
            };
            next.insert(def.name.clone(), def);
        }
        let pin_problems = pins
            .problems()
            .iter()
            .filter(|(name, _)| next.contains_key(*name))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let scanned = self.scan_tools(&slot.scanned, old, &next, &twice);
        let catalog = Catalog {
            tools: next,
            pin_problems,
            scanned,
            refuse_poisoned: self.config.settings.tool_integrity.mode
                == crate::config::ToolIntegrityMode::Block,
        };
        let mut newly: Vec<String> = catalog
            .scanned
            .keys()
            .filter(|n| catalog.poisoned(n).is_some() && slot.poisoned(n).is_none())
            .cloned()
            .collect();
        newly.sort_unstable();
        *slot = Arc::new(catalog);
        newly
    }

    /// `[tool_integrity]`: what each definition of a new tool list hides. A definition scanned
    /// before and unchanged keeps its own findings (scanned and logged once, in every mode);
    /// shadowing and imitation depend on the other tools' names, so they are found again over
    /// the whole list whenever its names change (a later page, `list_changed`). A name in
    /// `twice` (given more than once by this list) is a finding of this list only.
    fn scan_tools(
        &self,
        known: &HashMap<String, Scanned>,
        old: &HashMap<String, Arc<ToolDef>>,
        next: &HashMap<String, Arc<ToolDef>>,
        twice: &HashSet<String>,
    ) -> HashMap<String, Scanned> {
        let settings = &self.config.settings.tool_integrity;
        if settings.mode == crate::config::ToolIntegrityMode::Off {
            return HashMap::new();
        }
        let mut names: Vec<&str> = next.keys().map(String::as_str).collect();
        names.sort_unstable();
        let names = crate::poison::Names::new(&names);
        let same_names = old.len() == next.len() && next.keys().all(|k| old.contains_key(k));
        let log = |name: &str, x: &crate::poison::PoisonFinding| {
            tracing::warn!(tool = %name, kind = x.kind.as_str(), field = %x.field, "a poisoned tool definition: {}", x.excerpt);
        };
        next.iter()
            .filter(|(name, _)| !settings.allow.contains(name))
            .map(|(name, def)| {
                let before = known
                    .get(name)
                    .filter(|_| old.get(name).is_some_and(|o| Arc::ptr_eq(o, def)));
                let mut found = match before {
                    Some(b) => b.found[..b.own].to_vec(),
                    None => {
                        let f = crate::poison::scan_definition(def);
                        f.iter().for_each(|x| log(name, x));
                        f
                    }
                };
                let own = found.len();
                let duplicate = |x: &crate::poison::PoisonFinding| {
                    x.kind == crate::poison::PoisonKind::Duplicate
                };
                match before {
                    Some(b) if same_names => {
                        found.extend(b.found[b.own..].iter().filter(|x| !duplicate(x)).cloned())
                    }
                    _ => {
                        let by_names = crate::poison::scan_names(def, &names);
                        by_names
                            .iter()
                            .filter(|x| !before.is_some_and(|b| b.found[b.own..].contains(x)))
                            .for_each(|x| log(name, x));
                        found.extend(by_names);
                    }
                }
                if twice.contains(name) {
                    let x = crate::poison::PoisonFinding {
                        kind: crate::poison::PoisonKind::Duplicate,
                        field: "name".into(),
                        excerpt: String::new(),
                    };
                    log(name, &x);
                    found.push(x);
                }
                (name.clone(), Scanned { found, own })
            })
            .collect()
    }

    /// `[tool_integrity]` for a definition handed in with a call (the library door, `airlock
    /// replay`): what it hides, read against the catalog's names, when that refuses the call.
    /// The catalog's own definition keeps its findings.
    fn scan_given(
        &self,
        catalog: &Catalog,
        def: &ToolDef,
    ) -> Option<Vec<crate::poison::PoisonFinding>> {
        let settings = &self.config.settings.tool_integrity;
        if settings.mode == crate::config::ToolIntegrityMode::Off
            || settings.allow.contains(&def.name)
        {
            return None;
        }
        // The pins where both are computed already (`[pinning]` computes the given one's in
        // intake; a pin covers every field the scan reads); else a comparison, which stops at
        // the first difference, rather than hashing a definition made afresh for each call.
        let same = |known: &ToolDef| match (known.known_pin(), def.known_pin()) {
            (Some(a), Some(b)) => a == b,
            _ => known == def,
        };
        if catalog
            .get(&def.name)
            .is_some_and(|known| std::ptr::eq(&**known, def) || same(known))
        {
            return catalog.poisoned(&def.name).map(<[_]>::to_vec);
        }
        let mut found = crate::poison::scan(def, &crate::poison::Names::new(&catalog.names()));
        // A name the server listed twice stays refused whichever of its definitions is given.
        found.extend(
            catalog
                .poisoned(&def.name)
                .into_iter()
                .flatten()
                .filter(|x| x.kind == crate::poison::PoisonKind::Duplicate)
                .cloned(),
        );
        for x in &found {
            tracing::warn!(tool = %def.name, kind = x.kind.as_str(), field = %x.field, "a poisoned tool definition (given with the call): {}", x.excerpt);
        }
        (settings.mode == crate::config::ToolIntegrityMode::Block && !found.is_empty())
            .then_some(found)
    }

    /// Why calls of `tool` are refused by `[pinning]`, if they are (the transports hide such
    /// tools from `tools/list` answers).
    pub fn pin_problem(&self, tool: &str) -> Option<crate::pins::PinProblem> {
        self.catalog().pin_problem(tool)
    }

    /// The pins so far (tool name → `sha256:…`): what `airlock pin` writes.
    pub fn pins(&self) -> std::collections::BTreeMap<String, String> {
        self.pins.lock().unwrap_or_else(|p| p.into_inner()).pinned()
    }

    /// The known tools.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Decide on one call: intake, the pipeline, the audit record, then the answer.
    pub fn check(&self, call: Call) -> Decision {
        let started = Instant::now();
        let at = call.at.unwrap_or_else(|| self.clock.now());
        let Call {
            tool: tool_name,
            arguments,
            definition,
            caller,
            approval,
            ..
        } = call;
        let mut checked_def = None;
        let (decision, recorded_args) = match self.intake(&tool_name, definition, arguments) {
            Err(rejected) => {
                let (refused, recorded) = *rejected;
                (Decision::Refused(Box::new(refused)), recorded)
            }
            Ok((def, args)) => {
                if self.audit.is_some() {
                    checked_def = Some(def.clone());
                }
                let mut recorded = self
                    .audit
                    .as_ref()
                    .map(|_| self.config.redactor.redact(&args));
                let decision = match self.resolver.resolve(&caller) {
                    None => Decision::Refused(Box::new(Refused {
                        refusal: Refusal::new(
                            DenyCode::PolicyUnresolved,
                            &tool_name,
                            format!(
                                "Tool '{tool_name}' was not called: no policy applies to this caller."
                            ),
                        ),
                        check: None,
                        internal: None,
                        honeypot: None,
                        ask: None,
                    })),
                    Some(policy) => {
                        let state = CallState {
                            tool: &def,
                            caller: &caller,
                            policy: &policy,
                            at,
                            arguments: args,
                            approval: &approval,
                        };
                        let (decision, after) = self.run_pipeline(&tool_name, state);
                        // Secrets found in the arguments (`sanitize.arguments`) are never
                        // written to the audit log: the check masked them in place, and the
                        // masked copy is what is recorded.
                        let secret_found = match &decision {
                            Decision::Allowed(a) => a
                                .changes
                                .iter()
                                .any(|c| matches!(c, Change::MaskedArgument { .. })),
                            Decision::Refused(r) => r.refusal.code == DenyCode::ArgumentsSecret,
                        };
                        if secret_found && recorded.is_some() {
                            let masked = match (&decision, &after) {
                                (Decision::Allowed(a), _) => Some(&a.arguments),
                                (Decision::Refused(_), Some(after)) => Some(after),
                                (Decision::Refused(_), None) => None,
                            };
                            recorded = Some(masked.map_or_else(
                                || Value::String(REDACTED_ARGUMENTS.to_owned()),
                                |m| self.config.redactor.redact(m),
                            ));
                        }
                        decision
                    }
                };
                (decision, recorded.unwrap_or(Value::Null))
            }
        };
        // A call held for a person is not decided yet: it counts when the answer comes.
        let held = matches!(&decision, Decision::Refused(r) if r.ask.is_some());
        if !held {
            self.count(&caller, at, &decision);
        }
        let decision = self.honeypot(&tool_name, &caller, decision);
        self.record(
            decision,
            record::Recording {
                tool_name,
                caller,
                at,
                recorded_args,
                started,
                def: checked_def.as_deref(),
            },
        )
    }

    /// The decision as the client gets it when the call is a honeypot: a honeypot tool's call
    /// (allowed or not), or a refusal whose code is listed in `honeypot.codes`, is answered
    /// with a fake success; the server is never called.
    fn honeypot(
        &self,
        tool: &str,
        caller: &crate::call::CallerContext,
        decision: Decision,
    ) -> Decision {
        if !self.honeypots {
            return decision;
        }
        let rule = self
            .resolver
            .resolve(caller)
            .and_then(|p| p.upstream_rule(tool).honeypot.clone());
        let by_code = match &decision {
            Decision::Refused(r) => {
                r.internal.is_none()
                    && self
                        .config
                        .upstream
                        .honeypot_codes
                        .contains(&r.refusal.code)
            }
            Decision::Allowed(_) => false,
        };
        let text = match rule {
            Some(text) => text.unwrap_or_else(|| self.config.settings.honeypot.text.clone()),
            None if by_code => self.config.settings.honeypot.text.clone(),
            None => return decision,
        };
        let fake =
            serde_json::json!({"content": [{"type": "text", "text": text}], "isError": false});
        match decision {
            Decision::Refused(mut r) => {
                r.honeypot = Some(fake);
                // A honeypot answers at once: nobody is asked about it.
                r.ask = None;
                Decision::Refused(r)
            }
            Decision::Allowed(_) => Decision::Refused(Box::new(Refused {
                refusal: Refusal::new(
                    DenyCode::Honeypot,
                    tool,
                    format!("Tool '{tool}' was not called: it is a honeypot."),
                ),
                check: Some("honeypot"),
                internal: None,
                honeypot: Some(fake),
                ask: None,
            })),
        }
    }

    /// Report how an allowed call ended: a success satisfies `required_before` rules of later
    /// calls in the session; failures count towards the server's and the tool's circuit
    /// breakers.
    pub fn record_outcome(
        &self,
        caller: &crate::call::CallerContext,
        tool: &str,
        outcome: crate::breaker::CallOutcome,
    ) {
        let now = self.clock.now();
        if outcome == crate::breaker::CallOutcome::Succeeded {
            self.sessions.with(&session_key(caller), now, |s| {
                s.succeeded.insert(tool.to_owned());
            });
        }
        if !self.breakers_on {
            return;
        }
        let tool_rule = self
            .resolver
            .resolve(caller)
            .and_then(|p| p.upstream_rule(tool).breaker);
        let key = match tool_rule {
            Some(_) => format!("tool:{tool}"),
            None => String::new(),
        };
        let rules = [
            self.config.upstream.breaker.map(|r| ("server", r)),
            tool_rule.map(|r| (key.as_str(), r)),
        ];
        for (key, rule) in rules.into_iter().flatten() {
            // A change of state is reported by the breakers.
            self.breakers.outcome(key, &rule, outcome, now);
        }
    }

    /// Whether results are measured for budgets ([`Engine::charge_result`]): doors then read
    /// every `tools/call` answer.
    pub fn meters_results(&self) -> bool {
        !self.budgets.is_empty()
    }

    /// Charge an allowed call's result (a JSON-RPC answer or a bare `CallToolResult`) against
    /// the budgets that count the tool: its bytes, its tokens and their price. Past a cap it is
    /// delivered all the same, and the next call is refused. Recorded as a `spend` note.
    pub fn charge_result(&self, caller: &crate::call::CallerContext, tool: &str, answer: &Value) {
        let rules: Vec<&crate::budget::BudgetRule> =
            self.budgets.iter().filter(|b| b.covers(tool)).collect();
        if rules.is_empty() {
            return;
        }
        let result = answer.get("result").unwrap_or(answer);
        let Some(policy) = self.resolver.resolve(caller) else {
            return;
        };
        let prices = policy.upstream_rule(tool);
        let per_token = prices.price_per_1k_tokens.is_some_and(|p| p > 0.0);
        let tokens = if rules.iter().any(|r| r.caps.needs_tokens(per_token)) {
            crate::budget::result_tokens(result)
        } else {
            0
        };
        let spend = crate::budget::Spend {
            result_bytes: serde_json::to_string(result).map_or(0, |s| s.len() as u64),
            tokens,
            cost: tokens as f64 / 1000.0 * prices.price_per_1k_tokens.unwrap_or(0.0),
            ..crate::budget::Spend::default()
        };
        let now = self.clock.now();
        for rule in rules {
            rule.spent.add(&spend);
            let window = rule.window.map(|w| w.around(now, &policy.tz));
            let key = crate::budget::budget_key(rule, caller, window.map(|(s, _)| s));
            if let Err(e) =
                self.budget_store
                    .charge(&key, &spend, crate::budget::expiry(rule, now, window))
            {
                tracing::error!(budget = %rule.name, "a result could not be charged: {e}");
            }
        }
        let mut fields = serde_json::Map::new();
        if let Ok(Value::Object(m)) = serde_json::to_value(spend) {
            fields.extend(
                m.into_iter()
                    .filter(|(k, _)| matches!(k.as_str(), "result_bytes" | "tokens" | "cost")),
            );
        }
        self.note("spend", caller, tool, Value::Object(fields));
    }

    /// Write a note to the audit log (an event that is not a decision: `retry`, `spend`), with
    /// the tool, the caller (redacted) and `fields`. A note that cannot be written is logged.
    pub fn note(
        &self,
        event: &'static str,
        caller: &crate::call::CallerContext,
        tool: &str,
        fields: Value,
    ) {
        let Some(sink) = &self.audit else { return };
        let mut all = serde_json::Map::new();
        all.insert("tool".into(), Value::String(tool.to_owned()));
        all.insert(
            "caller".into(),
            serde_json::to_value(self.config.redactor.redact_caller(caller)).unwrap_or(Value::Null),
        );
        if let Value::Object(m) = fields {
            all.extend(m);
        }
        let note = crate::audit::AuditNote {
            ts: self.clock.now(),
            event,
            fields: all,
        };
        if let Err(e) = sink.note(&note) {
            tracing::error!("an audit note ({event}) could not be written: {e}");
        }
    }

    /// What a budget counter holds for `caller` now (`None`: no budget of that name).
    pub fn budget_spent(
        &self,
        name: &str,
        caller: &crate::call::CallerContext,
    ) -> Option<crate::budget::Spend> {
        let rule = self.budgets.iter().find(|b| b.name == name)?;
        let policy = self.resolver.resolve(caller)?;
        let window = rule
            .window
            .map(|w| w.around(self.clock.now(), &policy.tz).0);
        let key = crate::budget::budget_key(rule, caller, window);
        self.budget_store.spent(&key).ok()
    }

    /// The deadline of one call of `tool` by `caller`: the tool's `timeout`, else
    /// `upstream.timeout`; `None`: wait for ever.
    pub fn deadline(
        &self,
        caller: &crate::call::CallerContext,
        tool: &str,
    ) -> Option<std::time::Duration> {
        match self
            .resolver
            .resolve(caller)
            .and_then(|p| p.upstream_rule(tool).timeout)
        {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => self.config.upstream.timeout,
        }
    }

    /// What each budget has charged since start, summed over callers and windows, by name.
    pub fn budget_totals(&self) -> Vec<(&str, crate::budget::Spend)> {
        self.budgets
            .iter()
            .map(|b| (b.name.as_str(), b.spent.get()))
            .collect()
    }

    /// Every circuit breaker and its state: `server` when `[upstream.breaker]` is set, and
    /// `tool:NAME` for each listed tool with a breaker of its own. A breaker whose shared store
    /// cannot be read is left out (and logged), never reported closed. Reads a shared store:
    /// when [`Engine::may_block`], call it off the async runtime.
    pub fn breakers(&self) -> Vec<(String, &'static str)> {
        if !self.breakers_on {
            return Vec::new();
        }
        let mut keys = Vec::new();
        if self.config.upstream.breaker.is_some() {
            keys.push("server".to_owned());
        }
        let policies = &self.config.policies;
        let catalog = self.catalog();
        for name in catalog.names() {
            let has = std::iter::once(&policies.base)
                .chain(policies.tenants.values())
                .any(|p| p.upstream_rule(name).breaker.is_some());
            if has {
                keys.push(format!("tool:{name}"));
            }
        }
        keys.into_iter()
            .filter_map(|k| match self.breakers.try_state(&k) {
                Ok(state) => Some((k, state)),
                Err(e) => {
                    tracing::warn!(breaker = %k, "a circuit breaker's state could not be read: {e}");
                    None
                }
            })
            .collect()
    }

    /// [`Engine::breakers`] as the numbers a metric shows ([`crate::breaker::gauge`]): a state
    /// the engine does not know (a shared store answering something else) has none, so it is
    /// left out rather than shown as closed.
    pub fn breaker_gauges(&self) -> Vec<(String, i64)> {
        self.breakers()
            .into_iter()
            .filter_map(|(key, state)| crate::breaker::gauge(state).map(|g| (key, g)))
            .collect()
    }

    /// Values masked in results so far, by type (what the cleaner counts).
    pub fn masked(&self) -> Vec<(&'static str, u64)> {
        self.cleaner.as_ref().map_or_else(Vec::new, |c| c.masked())
    }

    /// The state of a circuit breaker (`server`, `tool:NAME`): `closed`, `open`, `half_open`.
    pub fn breaker_state(&self, key: &str) -> &'static str {
        self.breakers.state(key)
    }

    /// The policy that applies to `caller` (`None`: calls by this caller are refused).
    pub fn policy_for(
        &self,
        caller: &crate::call::CallerContext,
    ) -> Option<Arc<crate::policy::Policy>> {
        self.resolver.resolve(caller)
    }

    /// What the caller's session has done so far.
    pub fn session(&self, caller: &crate::call::CallerContext) -> Option<SessionState> {
        self.sessions.get(&session_key(caller))
    }

    /// Whether tool results need cleaning (a cleaner is configured). Transports skip parsing
    /// results when they do not.
    pub fn cleans_results(&self) -> bool {
        self.cleaner.is_some()
    }

    /// Clean any other MCP message a server sends, in place ([`crate::clean::clean_message`]):
    /// `method` is the message's own, or for an answer the method of the request it answers.
    /// On `Err` the message may be half cleaned: the caller must withhold it (fail closed).
    pub fn clean_message(
        &self,
        method: &str,
        caller: &crate::call::CallerContext,
        message: &mut Value,
    ) -> Result<crate::clean::CleanReport, crate::clean::CleanError> {
        match &self.cleaner {
            Some(cleaner) => crate::clean::clean_message(cleaner.as_ref(), method, caller, message),
            None => Ok(crate::clean::CleanReport::default()),
        }
    }

    /// Clean a `tools/call` answer in place (a JSON-RPC response or a bare `CallToolResult`)
    /// before the model sees it. When the cleaner fails, the result is replaced by one saying
    /// it was withheld (fail closed) and the error is returned for the logs.
    pub fn clean_result(
        &self,
        tool: &str,
        caller: &crate::call::CallerContext,
        answer: &mut Value,
    ) -> Result<crate::clean::CleanReport, crate::clean::CleanError> {
        let Some(cleaner) = &self.cleaner else {
            return Ok(crate::clean::CleanReport::default());
        };
        match crate::clean::clean_tool_result(cleaner.as_ref(), tool, caller, answer) {
            Ok(r) => Ok(r),
            Err(e) => {
                let withheld = crate::clean::withheld(&e);
                if answer.get("result").is_some() {
                    answer["result"] = withheld;
                } else if answer.get("error").is_some() {
                    answer["error"]["message"] = Value::String(
                        "the tool's error was withheld: it could not be checked".into(),
                    );
                    if let Some(o) = answer.get_mut("error").and_then(Value::as_object_mut) {
                        o.remove("data");
                    }
                } else {
                    *answer = withheld;
                }
                Err(e)
            }
        }
    }

    /// Forget the caller's session state: the transport says the session ended.
    pub fn end_session(&self, caller: &crate::call::CallerContext) {
        self.sessions.remove(&session_key(caller));
    }

    /// Count the decision against the session; cut the session off past the refused ratio.
    fn count(&self, caller: &crate::call::CallerContext, at: jiff::Timestamp, decision: &Decision) {
        if !self.sessions_enabled {
            return;
        }
        let settings = &self.config.settings.session;
        let refused = !decision.is_allowed();
        self.sessions.with(&session_key(caller), at, |s| {
            s.attempts += 1;
            if refused {
                s.refused += 1;
            }
            if let Some(ratio) = settings.max_refused_ratio
                && s.attempts >= settings.min_calls
                && (s.refused as f64) / (s.attempts as f64) > ratio
            {
                s.cut_off = true;
            }
        });
    }

    fn run_pipeline(
        &self,
        tool_name: &str,
        mut state: CallState<'_>,
    ) -> (Decision, Option<Map<String, Value>>) {
        match self.pipeline.run(&mut state) {
            Verdict::Pass(changes) => (
                Decision::Allowed(Allowed {
                    tool: tool_name.to_owned(),
                    arguments: state.arguments,
                    changes,
                }),
                None,
            ),
            Verdict::Refuse {
                refusal,
                check,
                internal,
            } => (
                Decision::Refused(Box::new(Refused {
                    refusal: *refusal,
                    check: Some(check),
                    internal,
                    honeypot: None,
                    ask: None,
                })),
                Some(state.arguments),
            ),
            Verdict::Hold {
                refusal,
                check,
                ask,
            } => (
                Decision::Refused(Box::new(Refused {
                    refusal: *refusal,
                    check: Some(check),
                    internal: None,
                    honeypot: None,
                    ask: Some(ask),
                })),
                Some(state.arguments),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MemorySink;
    use crate::checks::UnknownArgs;
    use serde_json::json;

    pub(super) fn tools() -> Vec<ToolDef> {
        vec![ToolDef::new(
            "read_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "max_bytes": {"type": "integer"}}, "required": ["path"]}),
        )]
    }

    pub(super) fn engine(mode: UnknownArgs, sink: Arc<MemorySink>) -> Engine {
        let config = crate::config::bare().unknown_args(mode).build().unwrap();
        Engine::builder()
            .config(config)
            .tools(tools())
            .audit(sink)
            .build()
            .unwrap()
    }

    #[test]
    fn relisting_unchanged_tools_keeps_their_compiled_schemas() {
        let e = Engine::builder()
            .config(crate::config::bare().build().unwrap())
            .tools(tools())
            .build()
            .unwrap();
        let before = e.catalog().get("read_file").unwrap().clone();
        e.set_tools(tools());
        assert!(Arc::ptr_eq(&before, e.catalog().get("read_file").unwrap()));
        e.merge_tools([ToolDef::new("other", json!({"type": "object"}))]);
        assert!(Arc::ptr_eq(&before, e.catalog().get("read_file").unwrap()));
        assert!(e.catalog().get("other").is_some());
        // A changed definition replaces the old one.
        e.set_tools([ToolDef::new("read_file", json!({"type": "object"}))]);
        assert!(!Arc::ptr_eq(&before, e.catalog().get("read_file").unwrap()));
        assert!(e.catalog().get("other").is_none());
    }
}
