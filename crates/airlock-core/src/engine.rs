//! The engine: takes a [`Call`], decides, records, answers.
//!
//! ```text
//!   Call ──► intake ──► admit ─► normalise ─► validate ─► guard ─► spend ──► record ──► Decision
//!            │          (checks, in fixed phases; first refusal wins)         │
//!            │ tool known? arguments JSON, an object, within size and depth?   │ audit event
//!            └── refuse ───────────────────────────────────────────────────────┘ written first
//! ```
//!
//! Intake finds the tool's definition (on the call, or in the engine's catalog) and checks the
//! arguments as a whole: valid JSON, an object (absent or `null` counts as `{}`), no larger
//! than `arguments.max_bytes`, no deeper than `arguments.max_depth`. Then the pipeline runs.
//! Whatever the outcome, one audit event is handed to the sink *before* the decision is
//! returned; if the sink fails, the call is refused (`audit.unavailable`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::{AuditEvent, AuditSink, Recorded};
use crate::call::{Arguments, Call, ToolDef};
use crate::checks::validation::clip;
use crate::checks::{
    Approval, Approver, Capabilities, GhostArgs, RateLimit, SessionLimits, TimeWindow, ToolAccess,
    Validation,
};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::limits::{MemoryRateStore, RateStore};
use crate::pipeline::{CallState, Change, Check, Pipeline, PipelineError, Verdict};
use crate::policy::PolicyResolver;
use crate::refusal::{DenyCode, Refusal};
use crate::schema::measure;
use crate::sessions::{SessionState, Sessions, session_key};
use crate::suggest::closest;

/// What the audit log records for arguments that held a secret when no masked copy exists.
const REDACTED_ARGUMENTS: &str = "[REDACTED: the arguments held a secret]";

/// What the engine decided.
#[derive(Clone, Debug)]
pub enum Decision {
    /// The call may run, with these (possibly changed) arguments.
    Allowed(Allowed),
    /// The call is refused.
    Refused(Box<Refused>),
}

/// An allowed call.
#[derive(Clone, Debug, Serialize)]
pub struct Allowed {
    /// The tool.
    pub tool: String,
    /// The arguments to forward, after any changes.
    pub arguments: Map<String, Value>,
    /// What was changed, in order.
    pub changes: Vec<Change>,
}

/// A refused call.
#[derive(Clone, Debug)]
pub struct Refused {
    /// What the model reads.
    pub refusal: Refusal,
    /// The check that refused (`None` for intake and audit failures).
    pub check: Option<&'static str>,
    /// For operators only: what broke, when a check failed rather than refused.
    pub internal: Option<String>,
}

impl Decision {
    /// Whether the call may run.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }

    /// The refusal, if refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Decision::Refused(r) => Some(&r.refusal),
            Decision::Allowed(_) => None,
        }
    }

    /// The decision as JSON: the refusal object when refused (DESIGN §4); otherwise
    /// `{"success": true, "status": "allowed" | "allowed_with_changes", "tool", "arguments", "changes"}`.
    pub fn to_json(&self) -> Value {
        match self {
            Decision::Refused(r) => r.refusal.to_json(),
            Decision::Allowed(a) => {
                let mut m = Map::new();
                m.insert("success".into(), Value::Bool(true));
                let status = if a.changes.is_empty() {
                    "allowed"
                } else {
                    "allowed_with_changes"
                };
                m.insert("status".into(), status.into());
                m.insert("tool".into(), a.tool.clone().into());
                m.insert("arguments".into(), Value::Object(a.arguments.clone()));
                m.insert(
                    "changes".into(),
                    serde_json::to_value(&a.changes).unwrap_or(Value::Null),
                );
                Value::Object(m)
            }
        }
    }
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The pipeline could not be assembled (bad `pipeline.order`, duplicate checks).
    #[error("pipeline.order: {0}")]
    Pipeline(#[from] PipelineError),
    /// `audit.path` is set but no sink was given: the core opens no files.
    #[error(
        "audit.path is set to {0:?} but no audit sink was given; the engine opens no files\nhint: pass EngineBuilder::audit(sink) (the airlock binary opens audit.path for you), or remove audit.path"
    )]
    AuditPathWithoutSink(String),
    /// `limits.backend` names a shared store but no store was given: the core opens no sockets.
    #[error(
        "limits.backend is {0} but no rate store was given; the engine opens no connections\nhint: pass EngineBuilder::rate_store(airlock_redis::RedisRateStore::open(…)) (the airlock binary does this for you), or set limits.backend = \"memory\""
    )]
    SharedStoreWithoutStore(String),
    /// The configuration turns a section on that no check of this engine serves: the core
    /// holds no path, URL or secret checks of its own.
    #[error(
        "{key} is on, but no check of this engine serves [{section}], so nothing would enforce it\nhint: build the engine with `agent_airlock::engine(config)` (crate agent-airlock), which adds every check the configuration asks for; or add a check that serves [{section}] with EngineBuilder::check; or set {key} = false"
    )]
    Unserved {
        /// The section (`filesystem`, `network`, `sanitize.arguments`).
        section: &'static str,
        /// The key that turns it on.
        key: &'static str,
    },
    /// `[sanitize]` is on but no result cleaner was given.
    #[error(
        "sanitize.enabled is on, but no result cleaner was given, so tool results would reach the model unmasked\nhint: build the engine with `agent_airlock::engine(config)` (crate agent-airlock), which adds the scanner; or pass EngineBuilder::cleaner(…); or set sanitize.enabled = false"
    )]
    NoCleaner,
    /// `pinning.mode = "file"` but no pins were given: the core reads no files.
    #[error(
        "pinning.mode is \"file\" but no pins were given; the engine reads no files\nhint: build the engine with `agent_airlock::engine(config)`, which reads pinning.file; or pass EngineBuilder::pins(…)"
    )]
    PinsNotGiven,
}

/// The tools the engine knows by name (from the server's `tools/list`).
#[derive(Debug, Default)]
pub struct Catalog {
    tools: HashMap<String, Arc<ToolDef>>,
    /// Tools whose last listed definition is at odds with its pin (`[pinning]`).
    pin_problems: HashMap<String, crate::pins::PinProblem>,
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
        }
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

/// Builds an [`Engine`].
pub struct EngineBuilder {
    config: Config,
    resolver: Option<Arc<dyn PolicyResolver>>,
    rate_store: Option<Arc<dyn RateStore>>,
    approver: Option<Arc<dyn Approver>>,
    extra: Vec<Arc<dyn Check>>,
    audit: Option<Arc<dyn AuditSink>>,
    clock: Arc<dyn Clock>,
    tools: Vec<ToolDef>,
    cleaner: Option<Arc<dyn crate::clean::ResultCleaner>>,
    pins: Option<HashMap<String, String>>,
}

impl EngineBuilder {
    /// Start from these pins (tool name → `sha256:…`, as `airlock pin` writes them): the
    /// pins file of `pinning.mode = "file"`, or pins to keep across restarts.
    #[must_use]
    pub fn pins(mut self, pins: HashMap<String, String>) -> Self {
        self.pins = Some(pins);
        self
    }

    /// Clean every tool result with this cleaner before the model sees it (default: none;
    /// the scanner is one).
    #[must_use]
    pub fn cleaner(mut self, cleaner: Arc<dyn crate::clean::ResultCleaner>) -> Self {
        self.cleaner = Some(cleaner);
        self
    }

    /// Use this configuration (default: [`Config::default`]).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Decide each caller's policy with this resolver instead of the configuration's
    /// `[policy]`/`[tenants]` (a closure `Fn(&CallerContext) -> Option<Arc<Policy>>` works).
    /// A resolver that returns `None` refuses the call.
    #[must_use]
    pub fn policy_resolver(mut self, resolver: Arc<dyn PolicyResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Keep rate-limit state in this store (default: in memory, per engine). Engines sharing
    /// one store share their limits.
    #[must_use]
    pub fn rate_store(mut self, store: Arc<dyn RateStore>) -> Self {
        self.rate_store = Some(store);
        self
    }

    /// Ask this approver for tools whose rule says `approval = "required"` (default: none, so
    /// such calls are refused with `approval.required`).
    #[must_use]
    pub fn approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = Some(approver);
        self
    }

    /// Add a check of your own; it runs in its phase after the built-in ones (unless
    /// `pipeline.order` says otherwise).
    #[must_use]
    pub fn check(mut self, check: Arc<dyn Check>) -> Self {
        self.extra.push(check);
        self
    }

    /// Record every decision to this sink (default: none).
    #[must_use]
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Use this clock (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Know these tools (calls without a definition are looked up here).
    #[must_use]
    pub fn tools(mut self, tools: impl IntoIterator<Item = ToolDef>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// Assemble the pipeline and the engine.
    pub fn build(self) -> Result<Engine, EngineError> {
        let s = &self.config.settings;
        let sessions = Arc::new(Sessions::new());
        if let (Some(path), None) = (&s.audit.path, &self.audit) {
            return Err(EngineError::AuditPathWithoutSink(path.clone()));
        }
        if s.limits.is_redis() && self.rate_store.is_none() {
            return Err(EngineError::SharedStoreWithoutStore(
                crate::config::redact_url(&s.limits.backend),
            ));
        }
        let mut checks: Vec<Arc<dyn Check>> = vec![
            Arc::new(ToolAccess),
            Arc::new(TimeWindow),
            Arc::new(Capabilities),
            Arc::new(GhostArgs::new(s.ghost_args.mode)),
            Arc::new(Validation::new(
                s.validation.max_errors,
                self.config.redactor.clone(),
            )),
            Arc::new(RateLimit::new(
                self.rate_store
                    .unwrap_or_else(|| Arc::new(MemoryRateStore::new())),
            )),
        ];
        // Spend phase, in this order: rate_limit, session_limits (only when configured),
        // approval last — a person is asked only about calls nothing else refuses.
        // A library resolver's policies are not known here: keep session state for them.
        let sessions_enabled = self.config.sessions_enabled() || self.resolver.is_some();
        if sessions_enabled {
            checks.push(Arc::new(SessionLimits::new(
                sessions.clone(),
                s.session.clone(),
            )));
        }
        checks.push(Arc::new(Approval::new(
            self.approver,
            std::time::Duration::from_secs(s.approval.timeout_secs),
        )));
        checks.extend(self.extra);
        // Fail closed: every section the configuration turns on has a check that serves it.
        let required = [
            (s.filesystem_on(), "filesystem", "filesystem.enabled"),
            (s.network_on(), "network", "network.enabled"),
            (
                s.argument_scan_on(),
                "sanitize.arguments",
                "sanitize.arguments",
            ),
        ];
        for (on, section, key) in required {
            if on && !checks.iter().any(|c| c.serves().contains(&section)) {
                return Err(EngineError::Unserved { section, key });
            }
        }
        if s.sanitize_on() && self.cleaner.is_none() {
            return Err(EngineError::NoCleaner);
        }
        if s.pinning.mode == crate::pins::PinMode::File && self.pins.is_none() {
            return Err(EngineError::PinsNotGiven);
        }
        let may_block = checks.iter().any(|c| c.may_block());
        let pipeline = Pipeline::new(checks)?.with_order(&s.pipeline.order)?;
        let resolver = self
            .resolver
            .unwrap_or_else(|| Arc::new(self.config.policies.clone()));
        let mut pins = crate::pins::Pins::new(s.pinning.mode, self.pins.unwrap_or_default());
        for t in &self.tools {
            pins.observe(t);
        }
        let mut catalog = Catalog::new(self.tools);
        catalog.pin_problems = pins.problems().clone();
        Ok(Engine {
            may_block,
            sessions,
            sessions_enabled,
            resolver,
            config: Arc::new(self.config),
            pipeline,
            audit: self.audit,
            clock: self.clock,
            catalog: RwLock::new(Arc::new(catalog)),
            cleaner: self.cleaner,
            pins: std::sync::Mutex::new(pins),
        })
    }
}

/// The decision engine. Share it (`Arc<Engine>`) across threads and sessions.
pub struct Engine {
    may_block: bool,
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
    /// A builder with the default configuration, no audit sink, the system clock, no tools.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            config: Config::default(),
            resolver: None,
            rate_store: None,
            approver: None,
            extra: Vec::new(),
            audit: None,
            clock: Arc::new(SystemClock),
            tools: Vec::new(),
            cleaner: None,
            pins: None,
        }
    }

    /// Whether [`Engine::check`] may wait on the outside world: a check waits on a shared rate
    /// store, DNS or a person. Async callers then decide off their runtime (e.g. tokio's
    /// `spawn_blocking`); every wait has its own deadline (`limits.timeout_ms`,
    /// `network.dns_timeout_ms`, the approver's).
    pub fn may_block(&self) -> bool {
        self.may_block
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
    pub fn set_tools(&self, tools: impl IntoIterator<Item = ToolDef>) {
        self.update_tools(tools, false);
    }

    /// Add or replace these tools, keeping every other known tool (one page of a paged
    /// `tools/list`). Unchanged definitions keep their compiled schemas.
    pub fn merge_tools(&self, tools: impl IntoIterator<Item = ToolDef>) {
        self.update_tools(tools, true);
    }

    fn update_tools(&self, tools: impl IntoIterator<Item = ToolDef>, keep_others: bool) {
        let mut slot = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        let old = &slot.tools;
        let mut next: HashMap<String, Arc<ToolDef>> = if keep_others {
            old.clone()
        } else {
            HashMap::new()
        };
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        for t in tools {
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
        *slot = Arc::new(Catalog {
            tools: next,
            pin_problems,
        });
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
            ..
        } = call;
        let (decision, recorded_args) = match self.intake(&tool_name, definition, arguments) {
            Err(rejected) => {
                let (refused, recorded) = *rejected;
                (Decision::Refused(Box::new(refused)), recorded)
            }
            Ok((def, args)) => {
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
                    })),
                    Some(policy) => {
                        let (decision, after) =
                            self.run_pipeline(&tool_name, &def, &caller, &policy, at, args);
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
        self.count(&caller, at, &decision);
        self.record(decision, tool_name, caller, at, recorded_args, started)
    }

    /// Report how an allowed call ended (after the tool ran): a success satisfies
    /// `required_before` rules of later calls in the session.
    pub fn record_outcome(&self, caller: &crate::call::CallerContext, tool: &str, succeeded: bool) {
        if succeeded {
            let now = self.clock.now();
            self.sessions.with(&session_key(caller), now, |s| {
                s.succeeded.insert(tool.to_owned());
            });
        }
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
        def: &ToolDef,
        caller: &crate::call::CallerContext,
        policy: &crate::policy::Policy,
        at: jiff::Timestamp,
        args: Map<String, Value>,
    ) -> (Decision, Option<Map<String, Value>>) {
        let mut state = CallState {
            tool: def,
            caller,
            policy,
            at,
            arguments: args,
        };
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
                })),
                Some(state.arguments),
            ),
        }
    }

    /// Write the audit record, then answer; an unrecordable call is refused.
    fn record(
        &self,
        decision: Decision,
        tool_name: String,
        caller: crate::call::CallerContext,
        at: jiff::Timestamp,
        recorded_args: Value,
        started: Instant,
    ) -> Decision {
        let Some(sink) = &self.audit else {
            return decision;
        };
        let caller = self.config.redactor.redact_caller(&caller);
        let event = event_for(&decision, tool_name, caller, at, recorded_args, started);
        match sink.record(&event) {
            Ok(()) => decision,
            Err(e) => Decision::Refused(Box::new(Refused {
                refusal: Refusal::new(
                    DenyCode::AuditUnavailable,
                    &event.tool,
                    format!(
                        "Tool '{}' was not called: the call could not be recorded in the audit log.",
                        event.tool
                    ),
                ),
                check: None,
                internal: Some(e.to_string()),
            })),
        }
    }

    /// The definition and the arguments as an object, or the refusal and what to record.
    #[allow(clippy::type_complexity)]
    fn intake(
        &self,
        tool: &str,
        definition: Option<Arc<ToolDef>>,
        arguments: Arguments,
    ) -> Result<(Arc<ToolDef>, Map<String, Value>), Box<(Refused, Value)>> {
        let refuse = |code: DenyCode, message: String, recorded: Value| {
            Box::new((
                Refused {
                    refusal: Refusal::new(code, tool, message),
                    check: None,
                    internal: None,
                },
                recorded,
            ))
        };
        let args = self.arguments(tool, arguments);
        let catalog = self.catalog();
        let (def, pin_problem) = match definition {
            // A definition handed in with the call is checked against the pins here.
            Some(d) => {
                let problem = self
                    .pins
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe(&d);
                (Some(d), problem)
            }
            None => (catalog.get(tool).cloned(), catalog.pin_problem(tool)),
        };
        if let Some(problem) = pin_problem {
            let recorded = match &args {
                Ok(map) => self.config.redactor.redact(map),
                Err(bad) => bad.recorded.clone(),
            };
            let (code, message) = match problem {
                crate::pins::PinProblem::Changed => (
                    DenyCode::ToolIntegrityChanged,
                    format!(
                        "Tool '{}' was not called: the server changed its definition after it was pinned.",
                        clip(tool, 80)
                    ),
                ),
                crate::pins::PinProblem::Unpinned => (
                    DenyCode::ToolIntegrityUnpinned,
                    format!(
                        "Tool '{}' was not called: it has no pin, and only pinned tools may be called.",
                        clip(tool, 80)
                    ),
                ),
            };
            return Err(refuse(code, message, recorded));
        }
        let def = match def {
            Some(d) => d,
            None => {
                let recorded = match &args {
                    Ok(map) => self.config.redactor.redact(map),
                    Err(bad) => bad.recorded.clone(),
                };
                let mut r = refuse(
                    DenyCode::UnknownTool,
                    format!(
                        "Tool '{}' is not one of this server's tools.",
                        clip(tool, 80)
                    ),
                    recorded,
                );
                if let Some(near) = closest(tool, self.catalog().names()) {
                    r.0.refusal = r.0.refusal.clone().with_hints(vec![format!(
                        "Did you mean '{near}'? Call only tools from the server's tool list."
                    )]);
                }
                return Err(r);
            }
        };
        match args {
            Ok(map) => Ok((def, map)),
            Err(bad) => {
                let bad = *bad;
                let mut r = refuse(bad.code, bad.message, bad.recorded);
                for (k, v) in bad.details {
                    r.0.refusal.details.insert(k.to_owned(), v);
                }
                Err(r)
            }
        }
    }

    /// Parse and bound the arguments: a JSON object within `arguments.max_bytes` and
    /// `arguments.max_depth` (absent or `null` counts as `{}`).
    fn arguments(
        &self,
        tool: &str,
        arguments: Arguments,
    ) -> Result<Map<String, Value>, Box<BadArguments>> {
        let limits = &self.config.settings.arguments;
        let too_large = |got: usize| {
            Box::new(BadArguments {
                code: DenyCode::ArgumentsTooLarge,
                message: format!(
                    "Tool '{tool}' was called with arguments of {got} bytes or more; the limit is {} bytes.",
                    limits.max_bytes
                ),
                recorded: Value::String(format!("(not recorded: {got}+ bytes)")),
                details: vec![("max_bytes", Value::from(limits.max_bytes))],
            })
        };
        let value = match arguments {
            Arguments::Json(v) => v,
            Arguments::Raw(text) => {
                if text.len() > limits.max_bytes {
                    return Err(too_large(text.len()));
                }
                match serde_json::from_str::<Value>(&text) {
                    Ok(v) => v,
                    Err(e) => {
                        // Never record the text: it may hold secrets the redactor cannot find
                        // in unparsed JSON.
                        return Err(Box::new(BadArguments {
                            code: DenyCode::ArgumentsNotJson,
                            message: format!(
                                "Tool '{tool}' was called with arguments that are not valid JSON ({e})."
                            ),
                            recorded: Value::String(format!(
                                "(not recorded: {} bytes of invalid JSON)",
                                text.len()
                            )),
                            details: Vec::new(),
                        }));
                    }
                }
            }
        };
        let stats = measure(&value, limits.max_depth, limits.max_bytes);
        if stats.depth > limits.max_depth {
            drop_iteratively(value);
            return Err(Box::new(BadArguments {
                code: DenyCode::ArgumentsTooDeep,
                message: format!(
                    "Tool '{tool}' was called with arguments nested deeper than {} levels.",
                    limits.max_depth
                ),
                recorded: Value::String("(not recorded: too deep)".into()),
                details: vec![("max_depth", Value::from(limits.max_depth))],
            }));
        }
        if stats.bytes > limits.max_bytes {
            // `measure` stopped at the size limit, so the depth of the rest is unknown: never
            // let serde_json's recursive drop loose on it.
            drop_iteratively(value);
            return Err(too_large(stats.bytes));
        }
        match value {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            other => {
                let got = crate::checks::validation::article(crate::checks::validation::json_type(
                    &other,
                ));
                Err(Box::new(BadArguments {
                    code: DenyCode::ArgumentsNotObject,
                    message: format!(
                        "Tool '{tool}' was called with arguments that are {got}, not an object."
                    ),
                    recorded: self.config.redactor.redact_value(&other),
                    details: Vec::new(),
                }))
            }
        }
    }
}

/// Arguments refused at intake: the code, the message, what to record.
struct BadArguments {
    code: DenyCode,
    message: String,
    recorded: Value,
    details: Vec<(&'static str, Value)>,
}

fn event_for(
    decision: &Decision,
    tool: String,
    caller: crate::call::CallerContext,
    at: jiff::Timestamp,
    arguments: Value,
    started: Instant,
) -> AuditEvent {
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    match decision {
        Decision::Allowed(a) => {
            let stripped: Vec<String> = a
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::StrippedArgument { path, logged: true } => Some(path.clone()),
                    Change::StrippedArgument { logged: false, .. }
                    | Change::Degraded { .. }
                    | Change::MaskedArgument { .. } => None,
                })
                .collect();
            let degraded: Vec<String> = a
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::Degraded { check, reason } => Some(format!("{check}: {reason}")),
                    Change::StrippedArgument { .. } | Change::MaskedArgument { .. } => None,
                })
                .collect();
            let masked: Vec<String> = a
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::MaskedArgument { path, found } => Some(format!("{path}: {found}")),
                    _ => None,
                })
                .collect();
            AuditEvent {
                ts: at,
                tool,
                caller,
                decision: if stripped.is_empty() && masked.is_empty() {
                    Recorded::Allowed
                } else {
                    Recorded::AllowedWithChanges
                },
                block_reason: None,
                code: None,
                check: None,
                internal_error: None,
                arguments,
                stripped,
                masked,
                degraded,
                duration_us,
            }
        }
        Decision::Refused(r) => AuditEvent {
            ts: at,
            tool,
            caller,
            decision: Recorded::Refused,
            block_reason: Some(r.refusal.block_reason()),
            code: Some(r.refusal.code),
            check: r.check,
            internal_error: r.internal.clone(),
            arguments,
            stripped: Vec::new(),
            masked: Vec::new(),
            degraded: Vec::new(),
            duration_us,
        },
    }
}

/// Drop a value of any depth without recursion (serde_json's own drop recurses).
fn drop_iteratively(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditError, MemorySink};
    use crate::call::CallerContext;
    use crate::checks::UnknownArgs;
    use serde_json::json;

    fn tools() -> Vec<ToolDef> {
        vec![ToolDef::new(
            "read_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "max_bytes": {"type": "integer"}}, "required": ["path"]}),
        )]
    }

    fn engine(mode: UnknownArgs, sink: Arc<MemorySink>) -> Engine {
        let config = crate::config::bare().unknown_args(mode).build().unwrap();
        Engine::builder()
            .config(config)
            .tools(tools())
            .audit(sink)
            .build()
            .unwrap()
    }

    #[test]
    fn allowed_refused_and_stripped_are_all_recorded() {
        let sink = Arc::new(MemorySink::new());
        let e = engine(UnknownArgs::StripAndLog, sink.clone());
        let caller = CallerContext::default().agent("bot").roles(["reader"]);
        let ok = e.check(Call::new("read_file", json!({"path": "a.txt"})).caller(caller.clone()));
        assert!(ok.is_allowed());
        let stripped = e.check(Call::new(
            "read_file",
            json!({"path": "a", "token": "sekrit", "x": 1}),
        ));
        let Decision::Allowed(a) = &stripped else {
            panic!()
        };
        assert_eq!(Value::Object(a.arguments.clone()), json!({"path": "a"}));
        let refused = e.check(Call::new("read_file", json!({"path": 5})));
        assert_eq!(refused.refusal().unwrap().code, DenyCode::ValidationType);

        let events = sink.events();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].decision, Recorded::Allowed);
        assert_eq!(events[0].caller.agent.as_deref(), Some("bot"));
        assert_eq!(events[1].decision, Recorded::AllowedWithChanges);
        assert_eq!(events[1].stripped, ["token", "x"]);
        // Recorded as received, with the sensitive field redacted.
        assert_eq!(
            events[1].arguments,
            json!({"path": "a", "token": "[REDACTED]", "x": 1})
        );
        assert_eq!(events[2].code, Some(DenyCode::ValidationType));
        assert_eq!(events[2].check, Some("validation"));
    }

    #[test]
    fn intake_refuses_bad_arguments() {
        let sink = Arc::new(MemorySink::new());
        let e = engine(UnknownArgs::Block, sink.clone());
        let code = |call: Call| e.check(call).refusal().map(|r| r.code);
        assert_eq!(
            code(Call::new("read_file", Arguments::Raw("{not json".into()))),
            Some(DenyCode::ArgumentsNotJson)
        );
        assert_eq!(
            code(Call::new("read_file", json!([1, 2]))),
            Some(DenyCode::ArgumentsNotObject)
        );
        assert_eq!(
            code(Call::new("read_file", json!("path")).clone()),
            Some(DenyCode::ArgumentsNotObject)
        );
        let big = json!({"path": "x".repeat(2 << 20)});
        assert_eq!(
            code(Call::new("read_file", big)),
            Some(DenyCode::ArgumentsTooLarge)
        );
        let raw_big = Arguments::Raw(format!("{{\"path\": \"{}\"}}", "x".repeat(2 << 20)));
        assert_eq!(
            code(Call::new("read_file", raw_big)),
            Some(DenyCode::ArgumentsTooLarge)
        );
        let mut deep = json!("x");
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(
            code(Call::new("read_file", json!({"path": "a"})).clone()),
            None
        );
        let deep_args = Value::Object(Map::from_iter([("path".to_owned(), deep)]));
        assert_eq!(
            code(Call::new("read_file", deep_args)),
            Some(DenyCode::ArgumentsTooDeep)
        );
        let raw_deep = Arguments::Raw(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
        assert_eq!(
            code(Call::new("read_file", raw_deep)),
            Some(DenyCode::ArgumentsNotJson)
        );
        // Absent arguments are an empty object: here refused for the missing path.
        assert_eq!(
            code(Call::new("read_file", Value::Null)),
            Some(DenyCode::ValidationRequired)
        );
        assert_eq!(sink.events().len(), 9);
    }

    #[test]
    fn unknown_tool_is_refused_with_suggestion() {
        let e = engine(UnknownArgs::Block, Arc::new(MemorySink::new()));
        let d = e.check(Call::new("read_files", json!({})));
        let r = d.refusal().unwrap();
        assert_eq!(r.code, DenyCode::UnknownTool);
        assert_eq!(
            r.fix_hints[0],
            "Did you mean 'read_file'? Call only tools from the server's tool list."
        );
    }

    struct FailingSink;
    impl AuditSink for FailingSink {
        fn record(&self, _: &AuditEvent) -> Result<(), AuditError> {
            Err(AuditError::Io(std::io::Error::other("disk full")))
        }
    }

    #[test]
    fn audit_failure_refuses_the_call() {
        let e = Engine::builder()
            .config(crate::config::bare().build().unwrap())
            .tools(tools())
            .audit(Arc::new(FailingSink))
            .build()
            .unwrap();
        let Decision::Refused(r) = e.check(Call::new("read_file", json!({"path": "a"}))) else {
            panic!("an unrecorded call must not be allowed")
        };
        assert_eq!(r.refusal.code, DenyCode::AuditUnavailable);
        assert!(r.internal.unwrap().contains("disk full"));
    }

    #[test]
    fn the_record_exists_before_the_answer() {
        struct Witness(Arc<MemorySink>);
        impl AuditSink for Witness {
            fn record(&self, e: &AuditEvent) -> Result<(), AuditError> {
                self.0.record(e)
            }
        }
        let mem = Arc::new(MemorySink::new());
        let e = Engine::builder()
            .config(crate::config::bare().build().unwrap())
            .tools(tools())
            .audit(Arc::new(Witness(mem.clone())))
            .build()
            .unwrap();
        for i in 0..5 {
            let _ = e.check(Call::new("read_file", json!({"path": i.to_string()})));
            assert_eq!(
                mem.events().len(),
                i + 1,
                "record {i} must be written when check returns"
            );
        }
    }

    #[test]
    fn bad_pipeline_order_is_an_error() {
        let config = crate::config::bare()
            .set(
                "pipeline.order",
                toml::Value::Array(vec!["nope".into()]),
                "test",
            )
            .build()
            .unwrap();
        assert!(Engine::builder().config(config).build().is_err());
    }

    #[test]
    fn too_large_value_of_unmeasured_depth_does_not_overflow() {
        // Regression (review finding 1): `measure` stops at the size limit before it reaches the
        // deep part, so the refused value must be dropped without recursion.
        let mut deep = json!(1);
        for _ in 0..200_000 {
            deep = Value::Array(vec![deep]);
        }
        // `measure` walks with a stack, so the last key is measured first.
        let mut args = Map::new();
        args.insert("deep".into(), deep);
        args.insert("big".into(), json!("x".repeat(2 << 20)));
        let e = engine(UnknownArgs::Block, Arc::new(MemorySink::new()));
        let d = e.check(Call::new("read_file", Value::Object(args)));
        assert_eq!(
            d.refusal().map(|r| r.code),
            Some(DenyCode::ArgumentsTooLarge)
        );
    }

    #[test]
    fn refused_calls_record_nothing_secret() {
        let sink = Arc::new(MemorySink::new());
        let e = engine(UnknownArgs::Block, sink.clone());
        let _ = e.check(Call::new(
            "read_file",
            json!([{"password": "hunter2", "api_key": "sk-live-123"}, "y".repeat(5000)]),
        ));
        let _ = e.check(Call::new(
            "read_file",
            Arguments::Raw(r#"{"path":"a","password":"hunter2",}"#.into()),
        ));
        let _ = e.check(Call::new(
            "no_such_tool",
            json!({"token": "sk-live-123", "q": 1}),
        ));
        let mut caller = CallerContext::default().agent("bot");
        caller
            .metadata
            .insert("authorization".into(), "Bearer sk-live-123".into());
        let _ = e.check(Call::new("read_file", json!({"path": "a"})).caller(caller));
        let events = sink.events();
        let text = serde_json::to_string(
            &events
                .iter()
                .map(|e| serde_json::to_value(e).unwrap())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("sk-live-123"), "{text}");
        assert!(!text.contains(&"y".repeat(300)), "long values are cut");
        assert_eq!(events[2].code, Some(DenyCode::UnknownTool));
        assert_eq!(events[2].arguments, json!({"token": "[REDACTED]", "q": 1}));
        assert_eq!(events[3].caller.metadata["authorization"], "[REDACTED]");
    }

    #[test]
    fn audit_path_without_a_sink_is_an_error() {
        let config = crate::config::bare()
            .set("audit.path", "a.jsonl", "test")
            .build()
            .unwrap();
        let e = Engine::builder().config(config).build().unwrap_err();
        assert!(matches!(e, EngineError::AuditPathWithoutSink(_)));
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
