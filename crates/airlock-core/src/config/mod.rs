//! Configuration: `airlock.toml`, then code (builder or CLI flags), then `AIRLOCK_*`
//! environment variables — each layer wins over the one before.
//!
//! The raw shape ([`Settings`]) rejects unknown keys; every section and field is documented and
//! has an explained default (`docs/defaults.md`). [`ConfigBuilder::build`] checks each layer on
//! its own, so an error always names where it came from — the file and line, the environment
//! variable, or the flag — with the key path and a `hint:` (closest known key or value). The
//! merged settings are then compiled into a [`Config`] the engine runs on.
//!
//! This module reads no files and no environment: callers pass the file's text and the
//! variables in. Environment keys nest with a double underscore:
//! `AIRLOCK_GHOST_ARGS__MODE=strip_and_log` sets `ghost_args.mode`. Values are read as TOML
//! when they parse as TOML (`5`, `true`, `["a","b"]`) and as plain strings otherwise.
//!
//! One job per file: `settings.rs` holds the raw serde shapes and their defaults, `layers.rs`
//! reads and merges the layers ([`ConfigBuilder`], [`Origin`], [`ConfigError`]), `compile.rs`
//! checks the merged values and compiles them into a [`Config`], and `explain.rs` says what
//! each effective setting means ([`Config::explain`]).

mod compile;
mod explain;
mod layers;
mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::audit::Redactor;
use crate::policy::{ConfigPolicies, Policy};
use compile::compile;

pub use explain::Explanation;
pub use layers::{ConfigBuilder, ConfigError, Origin, RESERVED_ENV};
pub use settings::{
    ApiKeySettings, ApprovalSettings, ArgumentsSettings, AuditSettings, BreakerSettings,
    BudgetSettings, CustomDetector, FilesystemOverrides, FilesystemSettings, GatewaySettings,
    GhostArgsSettings, HoneypotSettings, InjectionSettings, JwtSettings, LargeIntegers,
    LimitsSettings, NetworkOverrides, NetworkSettings, PathPreset, PinningSettings,
    PipelineSettings, RetrySettings, SANDBOX_ENV, STRATEGIES, SandboxProfile, SandboxSettings,
    SanitizeOverrides, SanitizeSettings, SessionSettings, Settings, Symlinks, TelemetrySettings,
    ToolIntegrityMode, ToolIntegritySettings, UpstreamSettings, ValidationSettings,
    normalize_absolute, redact_url,
};

/// The compiled configuration the engine runs on.
#[derive(Clone, Debug)]
pub struct Config {
    /// The effective settings.
    pub settings: Settings,
    /// Where each set key came from (keys not listed are defaults).
    pub origins: BTreeMap<String, Origin>,
    /// The audit redactor built from `[audit]`.
    pub redactor: Redactor,
    /// Things worth saying at start-up: ignored variables, settings that weaken protection.
    pub warnings: Vec<String>,
    /// The compiled base and per-tenant policies.
    pub policies: ConfigPolicies,
    /// `[upstream]` and `[honeypot]` compiled.
    pub upstream: Upstream,
}

/// `[upstream]` and `[honeypot]`, compiled.
#[derive(Clone, Debug, Default)]
pub struct Upstream {
    /// The default deadline of a call; `None`: none.
    pub timeout: Option<std::time::Duration>,
    /// The breaker over the whole server.
    pub breaker: Option<crate::breaker::BreakerRule>,
    /// Refusal codes answered as honeypots.
    pub honeypot_codes: Vec<crate::refusal::DenyCode>,
    /// `[[budgets]]`, compiled.
    pub budgets: Vec<crate::budget::BudgetRule>,
    /// `[upstream.retry]`, compiled.
    pub retry: RetryRule,
    /// `[telemetry] metrics_interval`, parsed.
    pub metrics_interval: Option<std::time::Duration>,
}

/// `[upstream.retry]`, compiled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryRule {
    /// Most attempts, the first included.
    pub attempts: u32,
    /// The first backoff.
    pub backoff: std::time::Duration,
    /// The longest backoff.
    pub max_backoff: std::time::Duration,
    /// No attempt starts later than this after the first.
    pub within: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        // The defaults are known to be valid; compile cannot fail on them.
        compile(Settings::default(), BTreeMap::new(), None, BTreeMap::new()).unwrap_or_else(|_| {
            Config {
                settings: Settings::default(),
                origins: BTreeMap::new(),
                redactor: Redactor::default(),
                warnings: Vec::new(),
                policies: ConfigPolicies {
                    base: Arc::new(Policy::permissive()),
                    tenants: BTreeMap::new(),
                },
                upstream: Upstream::default(),
            }
        })
    }
}

impl Config {
    /// Whether any session constraint is configured (base, tools or tenants); without one the
    /// engine keeps no session state at all.
    pub fn sessions_enabled(&self) -> bool {
        let s = &self.settings;
        let rule_uses = |r: &crate::policy::ToolRule| {
            r.max_calls_per_session.is_some()
                || r.cooldown.is_some()
                || !r.required_before.is_empty()
        };
        s.session.max_calls.is_some()
            || s.session.max_refused_ratio.is_some()
            || s.tools.values().any(rule_uses)
            || s.tenants.values().any(|t| t.tools.values().any(rule_uses))
    }

    /// Where a key's value came from (for a table: where its first set key came from).
    pub fn origin(&self, key: &str) -> Origin {
        if let Some(o) = self.origins.get(key) {
            return o.clone();
        }
        let prefix = format!("{key}.");
        self.origins
            .iter()
            .find(|(k, _)| k.starts_with(&prefix))
            .map(|(_, o)| o.clone())
            .unwrap_or(Origin::Default)
    }
}

/// For tests of the core alone: a builder with the sections other crates serve (paths and URLs
/// in arguments, result masking) off, as an engine of the core alone requires.
#[cfg(test)]
pub(crate) fn bare() -> ConfigBuilder {
    ConfigBuilder::new()
        .set("filesystem.enabled", false, "test")
        .set("network.enabled", false, "test")
        .set("sanitize.enabled", false, "test")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = ConfigBuilder::new().build().unwrap();
        assert_eq!(c.settings, Settings::default());
        assert_eq!(c.origin("ghost_args.mode"), Origin::Default);
    }
}
