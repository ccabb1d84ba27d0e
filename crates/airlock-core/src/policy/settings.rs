//! The raw shapes of the policy sections of the configuration file: `[policy]`,
//! `[tools."NAME or GLOB"]`, `[tenants.NAME]` and its `policy` overrides, with their defaults.
//! They reject unknown keys; [`Policy::compile`](super::Policy::compile) turns them into what
//! the admit-phase checks run on.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::RateKey;

/// A named starting point for a policy, composable with explicit rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Every tool allowed, every capability granted; only explicit rules restrict.
    #[default]
    Permissive,
    /// Callers must name an agent; only read capabilities (`safe_read`) are granted, so tools
    /// declared destructive, open-world, writing, executing or touching secrets are refused.
    Strict,
    /// Only reading tools: names starting `read_`, `get_`, `list_`, `search_`, `find_`,
    /// `describe_`, or annotated `readOnlyHint: true`; writing names and tools annotated
    /// `destructiveHint: true` are denied.
    ReadOnly,
    /// Destructive tools (writing names or `destructiveHint: true`) only inside
    /// `business_hours` on `business_days`, in the policy's time zone.
    BusinessHours,
}

impl Preset {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Permissive => "permissive",
            Preset::Strict => "strict",
            Preset::ReadOnly => "read_only",
            Preset::BusinessHours => "business_hours",
        }
    }
}

/// `[policy]` (also inside `[tenants.NAME]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    /// `permissive`, `strict`, `read_only` or `business_hours`; explicit rules add to it.
    pub preset: Preset,
    /// Tool names or globs that may be called (empty: all, unless `default_deny`).
    pub allow: Vec<String>,
    /// Tool names or globs that may never be called; deny wins over allow.
    pub deny: Vec<String>,
    /// With an empty `allow`, refuse every tool instead of allowing every tool.
    pub default_deny: bool,
    /// Refuse calls that carry no agent id.
    pub require_agent: bool,
    /// IANA time zone for every window of this policy, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Capabilities granted, besides the preset's (names or composites: `dangerous`, `safe_read`, `all`).
    pub grant: Vec<String>,
    /// Capabilities never granted, whatever grants them (denied wins).
    pub deny_capabilities: Vec<String>,
    /// The window of the `business_hours` preset, `HH:MM-HH:MM`.
    pub business_hours: String,
    /// The days of the `business_hours` preset (`mon` … `sun`).
    pub business_days: Vec<String>,
    /// The role names in use. When set, every role a `[tools]` rule names must be listed here,
    /// so a misspelt role is an error instead of a rule nobody can satisfy.
    pub roles: Vec<String>,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            preset: Preset::Permissive,
            allow: Vec::new(),
            deny: Vec::new(),
            default_deny: false,
            require_agent: false,
            timezone: "UTC".to_owned(),
            grant: Vec::new(),
            deny_capabilities: Vec::new(),
            business_hours: "09:00-17:00".to_owned(),
            business_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(str::to_owned)
                .to_vec(),
            roles: Vec::new(),
        }
    }
}

/// `[tools."NAME or GLOB"]`: rules for matching tools.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolRule {
    /// The caller must hold one of these roles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The tool may only be called inside this window, `HH:MM-HH:MM` (overnight if the end is
    /// not after the start), in the policy's time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    /// Days the window applies to (`mon` … `sun`; for overnight windows, the day it opens).
    /// Empty with `hours` set: every day.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// Capabilities the tool needs (besides what its annotations imply).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// At most this many calls, `"N/second|minute|hour|day"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// Most calls admitted at once under `rate_limit` (default: N).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// What one limiter bucket covers: `tool_caller` (default), `tool`, `caller`, `tenant`, `global`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_key: Option<RateKey>,
    /// `"required"`: every call needs a person's approval; `"none"`: it does not (overrides a glob).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalMode>,
    /// At most this many calls of the tool per session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls_per_session: Option<u64>,
    /// At least this long between two calls of the tool in a session: `"500ms"`, `"30s"`, `"5m"`, `"1h"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
    /// Tools that must have succeeded in the session before this one may be called.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_before: Vec<String>,
    /// Deadline of one call of the tool (overrides `upstream.timeout`): `"2s"`; `"0s"` waits
    /// for ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// A circuit breaker of the tool's own: `{ failures = 2, open_for = "30s" }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<crate::config::BreakerSettings>,
    /// Answer every call with a fake success; the server is never called. `true` (the text of
    /// `honeypot.text`) or the text to answer with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honeypot: Option<Honeypot>,
    /// Whether calls of the tool may be repeated after a timeout or a transport failure
    /// (`[upstream.retry]`): `true` even without `idempotentHint`/`readOnlyHint`, `false` never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<bool>,
    /// What one call costs, for `cost` budgets (any unit, the same for every tool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_call: Option<f64>,
    /// What 1000 tokens of the call's arguments and result cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_1k_tokens: Option<f64>,
}

/// `[tools."X"] honeypot`: on, or the fake result's text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Honeypot {
    /// `true`: answer with `honeypot.text`; `false`: no honeypot (overrides a glob's).
    On(bool),
    /// Answer with this text.
    Text(String),
}

/// Whether calls need approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Every call needs a person's approval.
    Required,
    /// No approval needed.
    None,
}

/// `[tenants.NAME]`: overrides for callers of that tenant.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSettings {
    /// Overrides of `[policy]` keys (unset keys keep the base value).
    #[serde(skip_serializing_if = "PolicyOverrides::is_empty")]
    pub policy: PolicyOverrides,
    /// Overrides of `[tools]` rules, by the same names or globs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, ToolRule>,
    /// Changes to `[sanitize]` for this tenant's results.
    #[serde(skip_serializing_if = "crate::config::SanitizeOverrides::is_empty")]
    pub sanitize: crate::config::SanitizeOverrides,
    /// Changes to `[filesystem]` for this tenant's calls.
    #[serde(skip_serializing_if = "crate::config::FilesystemOverrides::is_empty")]
    pub filesystem: crate::config::FilesystemOverrides,
    /// Changes to `[network]` for this tenant's calls.
    #[serde(skip_serializing_if = "crate::config::NetworkOverrides::is_empty")]
    pub network: crate::config::NetworkOverrides,
}

/// `[tenants.NAME.policy]`: the `[policy]` keys a tenant overrides; the rest are inherited.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // each field is the `[policy]` key of the same name
pub struct PolicyOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_deny: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_agent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_capabilities: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_days: Option<Vec<String>>,
}

impl PolicyOverrides {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == PolicyOverrides::default()
    }
}
