//! Policy: which tools a caller may call, when, and with which capabilities.
//!
//! The raw shapes ([`PolicySettings`], [`ToolRule`], [`TenantSettings`]) are parts of the
//! configuration file; [`Policy::compile`] turns them into what the admit-phase checks
//! (`tool_access`, `time_window`, `capabilities`) run on: globs compiled, windows parsed, the
//! time zone resolved from the bundled IANA database (never the machine's local time),
//! capability names expanded into sets, and the preset folded in.
//!
//! Per-tool rules are keyed by a tool name or a glob (`write_*`). For each attribute — roles,
//! time window, capabilities — the most specific rule that sets it wins: an exact name beats
//! any glob, and among globs the one with more literal characters wins.
//!
//! Which policy applies to a call is decided by a [`PolicyResolver`]: from the configuration
//! (the caller's tenant's `[tenants.NAME]` overrides, else the base policy), or a closure in the
//! library. A resolver that returns no policy refuses the call.
//!
//! One job per file: `settings.rs` holds the raw shapes and their defaults, `names.rs` the
//! tool-name prefixes the presets read, `capability.rs` the capabilities and their sets,
//! `window.rs` time windows, `compiled.rs` the compiled [`Policy`] and its lookups, and
//! `resolver.rs` the choice of policy per caller.

mod capability;
mod compiled;
mod names;
mod resolver;
mod settings;
mod window;

pub use capability::{CapSet, Capability};
pub use compiled::{
    Access, Policy, PolicyError, SessionRule, ToolRate, UpstreamRule, breaker_rule, parse_duration,
};
pub use names::{READ_PREFIXES, WRITE_PREFIXES, normalise_name};
pub use resolver::{ConfigPolicies, PolicyResolver};
pub use settings::{
    ApprovalMode, Honeypot, PolicyOverrides, PolicySettings, Preset, TenantSettings, ToolRule,
};
pub use window::Window;
