//! Assembling an [`Engine`]: the [`EngineBuilder`] takes the configuration and what the core
//! does not do itself — audit sink, rate store, approver, result cleaner, pins, clock, extra
//! checks — and builds the pipeline. It fails closed with an [`EngineError`] when the
//! configuration asks for something nothing given would serve (an audit file without a sink,
//! a Redis backend without a store, a section no check enforces, masking without a cleaner,
//! file pins without pins).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Catalog, Engine};
use crate::audit::AuditSink;
use crate::call::ToolDef;
use crate::checks::{
    Approval, Approver, Capabilities, GhostArgs, RateLimit, SessionLimits, TimeWindow, ToolAccess,
    Validation,
};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::limits::{MemoryRateStore, RateStore};
use crate::pipeline::{Check, Pipeline, PipelineError};
use crate::policy::PolicyResolver;
use crate::sessions::Sessions;

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

/// Builds an [`Engine`].
pub struct EngineBuilder {
    config: Config,
    resolver: Option<Arc<dyn PolicyResolver>>,
    rate_store: Option<Arc<dyn RateStore>>,
    budget_store: Option<Arc<dyn crate::budget::BudgetStore>>,
    breaker_store: Option<Arc<dyn crate::breaker::BreakerStore>>,
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

    /// Keep circuit breakers' state in `store` instead of this process's memory (e.g.
    /// `airlock_redis::RedisBreakerStore`, so that instances open and close them together).
    #[must_use]
    pub fn breaker_store(mut self, store: Arc<dyn crate::breaker::BreakerStore>) -> Self {
        self.breaker_store = Some(store);
        self
    }

    /// Keep budget counters (`[[budgets]]`) in `store` instead of this process's memory (e.g.
    /// `airlock_redis::RedisBudgetStore`, to share budgets between instances).
    #[must_use]
    pub fn budget_store(mut self, store: Arc<dyn crate::budget::BudgetStore>) -> Self {
        self.budget_store = Some(store);
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
        let budgets = &self.config.upstream.budgets;
        if s.limits.is_redis()
            && (self.rate_store.is_none() || (!budgets.is_empty() && self.budget_store.is_none()))
        {
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
        ];
        if s.injection.enabled {
            checks.push(Arc::new(crate::checks::Injection::new(&s.injection.tools)));
        }
        // Spend phase, in this order: breaker (only when configured), rate_limit,
        // session_limits (only when configured), budget. An open breaker spends nothing.
        let policies = &self.config.policies;
        let breaker_store = match (&self.breaker_store, s.limits.is_redis()) {
            (Some(store), _) => store.clone(),
            (None, false) => Arc::new(crate::breaker::MemoryBreakerStore::new()),
            // Breakers are configured and should be shared, but nothing shares them.
            (None, true)
                if self.config.upstream.breaker.is_some()
                    || policies.base.has_breakers()
                    || policies.tenants.values().any(|p| p.has_breakers()) =>
            {
                return Err(EngineError::SharedStoreWithoutStore(
                    crate::config::redact_url(&s.limits.backend),
                ));
            }
            (None, true) => Arc::new(crate::breaker::MemoryBreakerStore::new()),
        };
        let breakers = Arc::new(crate::breaker::Breakers::with(
            breaker_store,
            self.audit.clone(),
        ));
        let breakers_on = self.config.upstream.breaker.is_some()
            || policies.base.has_breakers()
            || policies.tenants.values().any(|p| p.has_breakers())
            || self.resolver.is_some();
        let honeypots = !self.config.upstream.honeypot_codes.is_empty()
            || policies.base.has_honeypots()
            || policies.tenants.values().any(|p| p.has_honeypots())
            || self.resolver.is_some();
        if breakers_on {
            checks.push(Arc::new(crate::checks::Breaker::new(
                breakers.clone(),
                self.config.upstream.breaker,
            )));
        }
        checks.push(Arc::new(RateLimit::new(
            self.rate_store
                .unwrap_or_else(|| Arc::new(MemoryRateStore::new())),
        )));
        // A library resolver's policies are not known here: keep session state for them.
        let sessions_enabled = self.config.sessions_enabled() || self.resolver.is_some();
        if sessions_enabled {
            checks.push(Arc::new(SessionLimits::new(
                sessions.clone(),
                s.session.clone(),
            )));
        }
        let metering = !budgets.is_empty();
        let budget_store = self
            .budget_store
            .unwrap_or_else(|| Arc::new(crate::budget::MemoryBudgetStore::new()));
        let budgets: Arc<[crate::budget::BudgetRule]> = budgets.clone().into();
        if metering {
            checks.push(Arc::new(crate::checks::Budget::new(
                budgets.clone(),
                budget_store.clone(),
            )));
        }
        checks.extend(self.extra);
        // Last of the guard phase (after any extra guard): a person is asked only about a call
        // every free check admitted, before anything is spent.
        // A library resolver's policies are not known here: its tools may need approval.
        let approvals = if self.resolver.is_some() {
            super::Approvals::Any
        } else if policies.base.has_approvals()
            || policies.tenants.values().any(|p| p.has_approvals())
        {
            super::Approvals::ByPolicy
        } else {
            super::Approvals::None
        };
        let any_approval = approvals != super::Approvals::None;
        checks.push(Arc::new(Approval::new(
            self.approver,
            std::time::Duration::from_secs(s.approval.timeout_secs),
            sessions.clone(),
            s.approval.ask_client,
            any_approval,
        )));
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
        let engine = Engine {
            breakers_on,
            honeypots,
            budgets,
            budget_store,
            breakers,
            may_block,
            approvals,
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
        };
        // The tools given at build are scanned like a listed page (`[tool_integrity]`).
        engine.merge_tools(std::iter::empty());
        Ok(engine)
    }
}

impl Engine {
    /// A builder with the default configuration, no audit sink, the system clock, no tools.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            config: Config::default(),
            resolver: None,
            rate_store: None,
            budget_store: None,
            breaker_store: None,
            approver: None,
            extra: Vec::new(),
            audit: None,
            clock: Arc::new(SystemClock),
            tools: Vec::new(),
            cleaner: None,
            pins: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn audit_path_without_a_sink_is_an_error() {
        let config = crate::config::bare()
            .set("audit.path", "a.jsonl", "test")
            .build()
            .unwrap();
        let e = Engine::builder().config(config).build().unwrap_err();
        assert!(matches!(e, EngineError::AuditPathWithoutSink(_)));
    }
}
