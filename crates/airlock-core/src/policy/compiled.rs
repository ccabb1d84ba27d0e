//! The compiled [`Policy`]: built once from the raw shapes by [`Policy::compile`] (globs
//! compiled, windows parsed, the time zone resolved, capability names expanded, the preset
//! folded in), then asked on every call whether a tool may be called ([`Policy::access`]), by
//! which roles, inside which window, with which capabilities, at which rate and with which
//! session constraints. What the rules say about a tool name is resolved once and cached.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::names::{READ_PREFIXES, WRITE_PREFIXES, has_prefix};
use super::{ApprovalMode, CapSet, Capability, PolicySettings, Preset, ToolRule, Window};
use crate::call::ToolDef;
use crate::limits::{Rate, RateKey};

/// Session constraints of a tool, from the most specific rule that sets each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRule {
    /// Calls per session.
    pub max_calls: Option<u64>,
    /// Minimum spacing between calls.
    pub cooldown: Option<std::time::Duration>,
    /// Tools that must have succeeded first.
    pub required_before: Vec<String>,
}

/// What the rules say about calling a tool's server, from the most specific rule that sets
/// each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpstreamRule {
    /// The call's deadline (`Some(ZERO)`: none); `None`: `upstream.timeout`.
    pub timeout: Option<std::time::Duration>,
    /// A breaker of the tool's own.
    pub breaker: Option<crate::breaker::BreakerRule>,
    /// A honeypot: answered with this text (`None`: `honeypot.text`).
    pub honeypot: Option<Option<String>>,
    /// Whether the tool's calls may be repeated (`None`: as its annotations say).
    pub retry: Option<bool>,
    /// What one call costs.
    pub price_per_call: Option<f64>,
    /// What 1000 tokens of arguments and result cost.
    pub price_per_1k_tokens: Option<f64>,
}

/// Compile a `[upstream.breaker]` or `[tools."X"] breaker` table; `key` names it in errors.
pub fn breaker_rule(
    b: &crate::config::BreakerSettings,
    key: &str,
) -> Result<crate::breaker::BreakerRule, PolicyError> {
    if !(1..=1000).contains(&b.failures) {
        return Err(PolicyError {
            key: format!("{key}.failures"),
            message: format!("{} is out of range", b.failures),
            hint: "use 1 to 1000 consecutive failures, e.g. 5".to_owned(),
        });
    }
    let open_for = parse_duration(&b.open_for).map_err(|message| PolicyError {
        key: format!("{key}.open_for"),
        message,
        hint: "write a whole number with a unit, e.g. \"30s\"".to_owned(),
    })?;
    if open_for.is_zero() {
        return Err(PolicyError {
            key: format!("{key}.open_for"),
            message: "0 never rests the server".to_owned(),
            hint: "give the server a rest of at least a second, e.g. \"30s\"".to_owned(),
        });
    }
    Ok(crate::breaker::BreakerRule {
        failures: b.failures,
        open_for,
        tool_errors: b.tool_errors,
    })
}

/// Parse `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like \"30s\""))?;
    let secs = |s: u64| std::time::Duration::from_secs(n.saturating_mul(s));
    Ok(match unit.trim() {
        "ms" => std::time::Duration::from_millis(n),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => {
            return Err(format!(
                "{text:?} is not a duration like \"30s\" (units: ms, s, m, h, d)"
            ));
        }
    })
}

/// A compiled rate limit and the rule it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRate {
    /// The `[tools]` pattern that set it (part of the bucket key).
    pub pattern: String,
    /// The rate.
    pub rate: Rate,
    /// What one bucket covers.
    pub key: RateKey,
}

/// Why a window, day, zone, glob, capability or rule could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyError {
    /// The key path under the policy (`policy.timezone`, `tools."write_*".hours`).
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}\nhint: {}", self.key, self.message, self.hint)
    }
}

/// One compiled `[tools."…"]` rule.
#[derive(Clone, Debug)]
struct Rule {
    pattern: String,
    matcher: globset::GlobMatcher,
    /// Exact names first, then globs with more literal characters.
    specificity: (bool, usize),
    roles: Option<Vec<String>>,
    window: Option<Window>,
    capabilities: Option<CapSet>,
    rate: Option<Arc<ToolRate>>,
    approval: Option<ApprovalMode>,
    max_calls: Option<u64>,
    cooldown: Option<std::time::Duration>,
    required_before: Option<Vec<String>>,
    timeout: Option<std::time::Duration>,
    breaker: Option<crate::breaker::BreakerRule>,
    /// `Some(None)`: no honeypot (`false`, overriding a glob's).
    honeypot: Option<Option<Option<String>>>,
    price_per_call: Option<f64>,
    price_per_1k_tokens: Option<f64>,
    retry: Option<bool>,
}

/// Everything the rules say about one tool name, resolved once and cached.
#[derive(Debug, Default)]
struct Resolved {
    denied: bool,
    /// `None`: no allow list.
    allowed: Option<bool>,
    roles: Option<Vec<String>>,
    window: Option<Window>,
    capabilities: Option<CapSet>,
    rate: Option<Arc<ToolRate>>,
    approval: Option<ApprovalMode>,
    session: SessionRule,
    upstream: Arc<UpstreamRule>,
    /// Named like a writing tool (`WRITE_PREFIXES`, after normalising the name).
    write_named: bool,
    /// Named like a reading tool (`READ_PREFIXES`, after normalising the name).
    read_named: bool,
}

type FnvMap<V> = crate::fnv::FnvMap<V>;

/// Most tool names kept resolved (tool names reaching checks come from the server's list).
const RESOLVED_CACHE: usize = 10_000;

/// Per-name resolutions; starts empty on clone.
#[derive(Default)]
struct ResolveCache(std::sync::RwLock<FnvMap<Arc<Resolved>>>);

impl Clone for ResolveCache {
    fn clone(&self) -> Self {
        ResolveCache::default()
    }
}

impl fmt::Debug for ResolveCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResolveCache")
    }
}

/// A compiled policy: what the admit-phase checks run on.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `base` or the tenant's name.
    pub name: String,
    /// The preset it started from.
    pub preset: Preset,
    allow: Option<globset::GlobSet>,
    deny: globset::GlobSet,
    default_deny: bool,
    /// Calls without an agent id are refused.
    pub require_agent: bool,
    /// The time zone of every window.
    pub tz: TimeZone,
    /// The zone's name as configured.
    pub tz_name: String,
    rules: Vec<Rule>,
    granted: CapSet,
    business: Option<Window>,
    cache: ResolveCache,
}

/// How a policy judges access to a tool (no reasons that reveal rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The tool may be called (other checks still apply).
    Allowed,
    /// The tool is denied or not allowed.
    Denied,
}

fn glob(pattern: &str, key: &str) -> Result<globset::Glob, PolicyError> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .case_insensitive(true)
        .build()
        .map_err(|e| PolicyError {
            key: key.to_owned(),
            message: format!("{pattern:?} is not a valid glob: {e}"),
            hint: "use * for any run of characters and ? for one, e.g. \"read_*\"".to_owned(),
        })
}

fn globset(patterns: &[String], key: &str) -> Result<globset::GlobSet, PolicyError> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        b.add(glob(p, key)?);
    }
    b.build().map_err(|e| PolicyError {
        key: key.to_owned(),
        message: e.to_string(),
        hint: "simplify the patterns".to_owned(),
    })
}

fn caps(names: &[String], key: &str, as_grant: bool) -> Result<CapSet, PolicyError> {
    let mut set = CapSet::EMPTY;
    for n in names {
        let parsed = CapSet::parse(n, as_grant).ok_or_else(|| {
            let known = CapSet::names();
            let near = crate::suggest::closest(n, known.iter().copied());
            PolicyError {
                key: key.to_owned(),
                message: format!("{n:?} is not a capability"),
                hint: match near {
                    Some(near) => format!("did you mean \"{near}\"? known: {}", known.join(", ")),
                    None => format!("known: {}", known.join(", ")),
                },
            }
        })?;
        set = set.union(parsed);
    }
    Ok(set)
}

/// Characters a glob matches literally: outside `[…]` and `{…}` groups, not `*` or `?`.
fn literal_len(pattern: &str) -> usize {
    let mut depth = 0usize;
    let mut n = 0;
    for c in pattern.chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            '*' | '?' => {}
            _ if depth == 0 => n += 1,
            _ => {}
        }
    }
    n
}

/// Whether a name is a literal (no glob metacharacters).
fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', ']', '{', '}'])
}

impl Policy {
    /// Compile `settings` and `tools` rules into a policy named `name`.
    pub fn compile(
        name: &str,
        settings: &PolicySettings,
        tools: &BTreeMap<String, ToolRule>,
    ) -> Result<Policy, PolicyError> {
        let prefix = if name == "base" {
            String::new()
        } else {
            format!("tenants.{name}.")
        };
        let tz = TimeZone::get(&settings.timezone).map_err(|_| {
            let known = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"];
            PolicyError {
                key: format!("{prefix}policy.timezone"),
                message: format!("{:?} is not an IANA time zone", settings.timezone),
                hint: format!(
                    "use a name from the IANA database, e.g. {}",
                    known.join(", ")
                ),
            }
        })?;
        let mut allow = settings.allow.clone();
        let mut deny = settings.deny.clone();
        let mut default_deny = settings.default_deny;
        let mut require_agent = settings.require_agent;
        let mut granted = caps(&settings.grant, &format!("{prefix}policy.grant"), true)?;
        let mut business = None;
        match settings.preset {
            Preset::Permissive => granted = CapSet::all(),
            Preset::Strict => {
                require_agent = true;
                granted = granted.union(CapSet::parse("safe_read", true).unwrap_or_default());
            }
            Preset::ReadOnly => {
                allow.extend(READ_PREFIXES.iter().map(|p| format!("{p}*")));
                deny.extend(WRITE_PREFIXES.iter().map(|p| format!("{p}*")));
                default_deny = true;
                granted = granted.union(CapSet::parse("safe_read", true).unwrap_or_default());
            }
            Preset::BusinessHours => granted = CapSet::all(),
        }
        let denied = caps(
            &settings.deny_capabilities,
            &format!("{prefix}policy.deny_capabilities"),
            true,
        )?;
        // A tool needing `net_any` may reach any scheme: denying one scheme denies it too.
        let denied =
            if denied.contains(Capability::NetHttp) || denied.contains(Capability::NetHttps) {
                denied.with(Capability::NetAny)
            } else {
                denied
            };
        granted = granted.minus(denied);
        // The business window is checked whatever the preset, so a typo never waits for a
        // preset change to surface.
        let business_window = Window::parse(
            &settings.business_hours,
            &settings.business_days,
            &format!("{prefix}policy.business_hours"),
        )?;
        if settings.preset == Preset::BusinessHours {
            business = Some(business_window);
        }
        let mut rules = Vec::new();
        for (pattern, rule) in tools {
            let key = format!("{prefix}tools.{pattern}");
            if !settings.roles.is_empty() {
                for role in &rule.roles {
                    if !settings.roles.contains(role) {
                        let near = crate::suggest::closest(
                            role,
                            settings.roles.iter().map(String::as_str),
                        );
                        return Err(PolicyError {
                            key: format!("{key}.roles"),
                            message: format!(
                                "{role:?} is not one of the roles listed in policy.roles"
                            ),
                            hint: match near {
                                Some(n) => {
                                    format!("did you mean {n:?}? or add {role:?} to policy.roles")
                                }
                                None => format!(
                                    "add {role:?} to policy.roles, or use one of {}",
                                    settings.roles.join(", ")
                                ),
                            },
                        });
                    }
                }
            }
            let matcher = glob(pattern, &key)?.compile_matcher();
            let literal_chars = literal_len(pattern);
            let window = match &rule.hours {
                Some(h) => Some(Window::parse(h, &rule.days, &format!("{key}.hours"))?),
                None if !rule.days.is_empty() => Some(Window::parse(
                    "00:00-24:00",
                    &rule.days,
                    &format!("{key}.days"),
                )?),
                None => None,
            };
            let rate = match &rule.rate_limit {
                Some(text) => Some(Arc::new(ToolRate {
                    pattern: pattern.clone(),
                    rate: Rate::parse(text, rule.burst).map_err(|message| PolicyError {
                        key: if message.starts_with("burst") {
                            format!("{key}.burst")
                        } else {
                            format!("{key}.rate_limit")
                        },
                        message,
                        hint: "write it as N/unit, e.g. \"10/minute\", with burst = M for bursts"
                            .to_owned(),
                    })?,
                    key: rule.rate_key.unwrap_or_default(),
                })),
                None if rule.burst.is_some() || rule.rate_key.is_some() => {
                    return Err(PolicyError {
                        key: format!("{key}.burst"),
                        message: "burst and rate_key need a rate_limit".to_owned(),
                        hint: "add rate_limit = \"N/unit\" to this rule".to_owned(),
                    });
                }
                None => None,
            };
            let cooldown = match &rule.cooldown {
                Some(text) => Some(parse_duration(text).map_err(|message| PolicyError {
                    key: format!("{key}.cooldown"),
                    message,
                    hint: "write a whole number with a unit: 500ms, 30s, 5m, 1h, 1d".to_owned(),
                })?),
                None => None,
            };
            let timeout = match &rule.timeout {
                Some(text) => Some(parse_duration(text).map_err(|message| {
                    PolicyError {
                        key: format!("{key}.timeout"),
                        message,
                        hint:
                            "write a whole number with a unit, e.g. \"30s\"; \"0s\" waits for ever"
                                .to_owned(),
                    }
                })?),
                None => None,
            };
            let breaker = match &rule.breaker {
                Some(b) => Some(breaker_rule(b, &format!("{key}.breaker"))?),
                None => None,
            };
            let honeypot = rule.honeypot.as_ref().map(|h| match h {
                super::Honeypot::On(false) => None,
                super::Honeypot::On(true) => Some(None),
                super::Honeypot::Text(t) => Some(Some(t.clone())),
            });
            rules.push(Rule {
                retry: rule.retry,
                price_per_call: rule.price_per_call,
                price_per_1k_tokens: rule.price_per_1k_tokens,
                timeout,
                breaker,
                honeypot,
                rate,
                approval: rule.approval,
                max_calls: rule.max_calls_per_session,
                cooldown,
                required_before: (!rule.required_before.is_empty())
                    .then(|| rule.required_before.clone()),
                pattern: pattern.clone(),
                matcher,
                specificity: (is_literal(pattern), literal_chars),
                roles: (!rule.roles.is_empty()).then(|| rule.roles.clone()),
                window,
                capabilities: if rule.capabilities.is_empty() {
                    None
                } else {
                    Some(caps(
                        &rule.capabilities,
                        &format!("{key}.capabilities"),
                        false,
                    )?)
                },
            });
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.specificity));
        Ok(Policy {
            name: name.to_owned(),
            preset: settings.preset,
            allow: if allow.is_empty() {
                None
            } else {
                Some(globset(&allow, &format!("{prefix}policy.allow"))?)
            },
            deny: globset(&deny, &format!("{prefix}policy.deny"))?,
            default_deny,
            require_agent,
            tz,
            tz_name: settings.timezone.clone(),
            rules,
            granted,
            business,
            cache: ResolveCache::default(),
        })
    }

    /// A policy that allows every tool and grants every capability (the default's meaning),
    /// built without anything that can fail.
    pub fn permissive() -> Policy {
        Policy {
            name: "base".to_owned(),
            preset: Preset::Permissive,
            allow: None,
            deny: globset::GlobSet::empty(),
            default_deny: false,
            require_agent: false,
            tz: TimeZone::UTC,
            tz_name: "UTC".to_owned(),
            rules: Vec::new(),
            granted: CapSet::all(),
            business: None,
            cache: ResolveCache::default(),
        }
    }

    /// What the rules say about `tool`, from the cache or resolved now.
    fn resolved(&self, tool: &str) -> Arc<Resolved> {
        let cache = &self.cache.0;
        if let Some(r) = cache.read().unwrap_or_else(|p| p.into_inner()).get(tool) {
            return r.clone();
        }
        let r = Arc::new(Resolved {
            denied: self.deny.is_match(tool),
            allowed: self.allow.as_ref().map(|a| a.is_match(tool)),
            roles: self
                .most_specific(tool, |r| r.roles.clone())
                .map(|(v, _)| v),
            window: self
                .most_specific(tool, |r| r.window.clone())
                .map(|(v, _)| v),
            capabilities: self.most_specific(tool, |r| r.capabilities).map(|(v, _)| v),
            rate: self.most_specific(tool, |r| r.rate.clone()).map(|(v, _)| v),
            approval: self.most_specific(tool, |r| r.approval).map(|(v, _)| v),
            write_named: has_prefix(tool, WRITE_PREFIXES),
            read_named: has_prefix(tool, READ_PREFIXES),
            session: SessionRule {
                max_calls: self.most_specific(tool, |r| r.max_calls).map(|(v, _)| v),
                cooldown: self.most_specific(tool, |r| r.cooldown).map(|(v, _)| v),
                required_before: self
                    .most_specific(tool, |r| r.required_before.clone())
                    .map(|(v, _)| v)
                    .unwrap_or_default(),
            },
            upstream: Arc::new(UpstreamRule {
                timeout: self.most_specific(tool, |r| r.timeout).map(|(v, _)| v),
                breaker: self.most_specific(tool, |r| r.breaker).map(|(v, _)| v),
                honeypot: self
                    .most_specific(tool, |r| r.honeypot.clone())
                    .and_then(|(v, _)| v),
                retry: self.most_specific(tool, |r| r.retry).map(|(v, _)| v),
                price_per_call: self
                    .most_specific(tool, |r| r.price_per_call)
                    .map(|(v, _)| v),
                price_per_1k_tokens: self
                    .most_specific(tool, |r| r.price_per_1k_tokens)
                    .map(|(v, _)| v),
            }),
        });
        let mut w = cache.write().unwrap_or_else(|p| p.into_inner());
        if w.len() < RESOLVED_CACHE {
            w.insert(tool.to_owned(), r.clone());
        }
        r
    }

    fn most_specific<'p, T>(
        &'p self,
        tool: &str,
        pick: impl Fn(&'p Rule) -> Option<T>,
    ) -> Option<(T, &'p str)> {
        self.rules
            .iter()
            .filter(|r| r.matcher.is_match(tool))
            .find_map(|r| pick(r).map(|v| (v, r.pattern.as_str())))
    }

    /// Whether the tool may be called at all (deny wins; annotations count for presets).
    pub fn access(&self, tool: &ToolDef) -> Access {
        let resolved = self.resolved(&tool.name);
        if resolved.denied {
            return Access::Denied;
        }
        if self.preset == Preset::ReadOnly {
            if self.is_destructive(tool) {
                return Access::Denied;
            }
            if hint(tool, "readOnlyHint") == Some(true) || resolved.read_named {
                return Access::Allowed;
            }
        }
        match resolved.allowed {
            Some(true) => Access::Allowed,
            Some(false) => Access::Denied,
            None if self.default_deny => Access::Denied,
            None => Access::Allowed,
        }
    }

    /// The roles the most specific rule for `tool` requires, if any.
    pub fn roles(&self, tool: &str) -> Option<Vec<String>> {
        self.resolved(tool).roles.clone()
    }

    /// Whether a caller holding `roles` may call `tool` (no roles rule: yes).
    pub fn has_role(&self, tool: &str, roles: &[String]) -> bool {
        match &self.resolved(tool).roles {
            Some(needed) => roles.iter().any(|r| needed.contains(r)),
            None => true,
        }
    }

    /// The window the tool is restricted to, if any: the most specific rule's, else the
    /// `business_hours` preset's for destructive tools.
    pub fn window(&self, tool: &ToolDef) -> Option<Window> {
        self.with_window(tool, |w| w.cloned())
    }

    /// Apply `f` to the window `tool` is restricted to (without copying it).
    fn with_window<R>(&self, tool: &ToolDef, f: impl FnOnce(Option<&Window>) -> R) -> R {
        let resolved = self.resolved(&tool.name);
        match (&resolved.window, &self.business) {
            (Some(w), _) => f(Some(w)),
            (None, Some(w)) if self.is_destructive(tool) => f(Some(w)),
            (None, _) => f(None),
        }
    }

    /// The window `tool` is restricted to, if `at` is outside it (`None`: the call may go on).
    pub fn window_closed(&self, tool: &ToolDef, at: Timestamp) -> Option<Window> {
        self.with_window(tool, |w| w.filter(|w| !w.contains(at, &self.tz)).cloned())
    }

    /// The capabilities `tool` needs: the most specific rule's, plus what its annotations imply
    /// (`destructiveHint: true` → `destructive`, `openWorldHint: true` → `net_any`).
    pub fn needs(&self, tool: &ToolDef) -> CapSet {
        let resolved = self.resolved(&tool.name);
        let mut need = resolved.capabilities.unwrap_or_default();
        if hint(tool, "destructiveHint") == Some(true) || resolved.write_named {
            need = need.with(Capability::Destructive);
        }
        if hint(tool, "openWorldHint") == Some(true) {
            need = need.with(Capability::NetAny);
        }
        need
    }

    /// The rate limit of the most specific rule that sets one for `tool`.
    pub fn rate(&self, tool: &str) -> Option<Arc<ToolRate>> {
        self.resolved(tool).rate.clone()
    }

    /// The session constraints of `tool`.
    pub fn session_rule(&self, tool: &str) -> SessionRule {
        self.resolved(tool).session.clone()
    }

    /// The deadline, breaker, retry, prices and honeypot the rules give `tool`.
    pub fn upstream_rule(&self, tool: &str) -> Arc<UpstreamRule> {
        self.resolved(tool).upstream.clone()
    }

    /// Whether any rule makes a tool a honeypot.
    pub fn has_honeypots(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.honeypot, Some(Some(_))))
    }

    /// Whether calls of `tool` may be repeated: its rule's `retry`, else its annotations
    /// (`idempotentHint` or `readOnlyHint`).
    pub fn safe_to_repeat(&self, tool: &ToolDef) -> bool {
        match self.resolved(&tool.name).upstream.retry {
            Some(r) => r,
            None => {
                hint(tool, "idempotentHint") == Some(true)
                    || hint(tool, "readOnlyHint") == Some(true)
            }
        }
    }

    /// Whether any rule sets a breaker.
    pub fn has_breakers(&self) -> bool {
        self.rules.iter().any(|r| r.breaker.is_some())
    }

    /// Whether any rule requires approval (then some call may wait for a person).
    pub fn has_approvals(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.approval == Some(ApprovalMode::Required))
    }

    /// Whether the most specific rule that says so requires approval for `tool`.
    pub fn needs_approval(&self, tool: &str) -> bool {
        self.resolved(tool).approval == Some(ApprovalMode::Required)
    }

    /// Rules that can never apply, for start-up warnings: a `[tools]` rule for a literal tool
    /// name that the deny list always refuses.
    pub fn contradictions(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.specificity.0 && self.deny.is_match(&r.pattern))
            .map(|r| {
                format!(
                    "{}tools.{}: the deny list always refuses {:?}, so this rule never applies",
                    if self.name == "base" {
                        String::new()
                    } else {
                        format!("tenants.{}.", self.name)
                    },
                    r.pattern,
                    r.pattern
                )
            })
            .collect()
    }

    /// Whether a tool counts as destructive: annotated `destructiveHint: true` (whatever else
    /// its hints claim: contradictory hints are read the cautious way) or named like a writing
    /// tool.
    pub fn is_destructive(&self, tool: &ToolDef) -> bool {
        hint(tool, "destructiveHint") == Some(true) || self.resolved(&tool.name).write_named
    }

    /// The capabilities granted.
    pub fn granted(&self) -> CapSet {
        self.granted
    }
}

/// An annotation hint as written (absent hints are not claims).
fn hint(tool: &ToolDef, name: &str) -> Option<bool> {
    tool.annotations.as_ref()?.get(name)?.as_bool()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn most_specific_rule_wins_and_deny_wins() {
        let mut tools = BTreeMap::new();
        tools.insert(
            "write_*".to_owned(),
            ToolRule {
                hours: Some("09:00-17:00".into()),
                roles: vec!["editor".into()],
                ..Default::default()
            },
        );
        tools.insert(
            "write_log".to_owned(),
            ToolRule {
                hours: Some("00:00-24:00".into()),
                ..Default::default()
            },
        );
        let settings = PolicySettings {
            allow: vec!["write_*".into(), "read_*".into()],
            deny: vec!["write_secret*".into()],
            ..Default::default()
        };
        let p = Policy::compile("base", &settings, &tools).unwrap();
        let def = |n: &str| ToolDef::new(n, json!({}));
        assert_eq!(p.window(&def("write_log")).unwrap().text, "00:00-24:00");
        assert_eq!(p.window(&def("write_file")).unwrap().text, "09:00-17:00");
        // Roles come from the most specific rule that sets them.
        assert_eq!(p.roles("write_log"), Some(vec!["editor".to_owned()]));
        assert_eq!(p.access(&def("write_secrets")), Access::Denied);
        assert_eq!(p.access(&def("read_x")), Access::Allowed);
        assert_eq!(p.access(&def("delete_x")), Access::Denied);
    }

    #[test]
    fn presets() {
        let none = BTreeMap::new();
        let read_only = Policy::compile(
            "base",
            &PolicySettings {
                preset: Preset::ReadOnly,
                ..Default::default()
            },
            &none,
        )
        .unwrap();
        let def = |n: &str, ann: serde_json::Value| {
            let mut d = ToolDef::new(n, json!({}));
            d.annotations = Some(ann);
            d
        };
        assert_eq!(
            read_only.access(&def("read_file", json!({}))),
            Access::Allowed
        );
        assert_eq!(
            read_only.access(&def("write_file", json!({}))),
            Access::Denied
        );
        assert_eq!(
            read_only.access(&def("fetch", json!({"readOnlyHint": true}))),
            Access::Allowed
        );
        assert_eq!(read_only.access(&def("fetch", json!({}))), Access::Denied);
        assert_eq!(
            read_only.access(&def("get_x", json!({"destructiveHint": true}))),
            Access::Denied
        );

        let strict = Policy::compile(
            "base",
            &PolicySettings {
                preset: Preset::Strict,
                ..Default::default()
            },
            &none,
        )
        .unwrap();
        assert!(strict.require_agent);
        assert!(strict.granted().contains(Capability::FsRead));
        assert!(!strict.granted().contains(Capability::Destructive));
        assert!(
            strict
                .needs(&def("rm", json!({"destructiveHint": true})))
                .contains(Capability::Destructive)
        );

        let bh = Policy::compile(
            "base",
            &PolicySettings {
                preset: Preset::BusinessHours,
                timezone: "Europe/Berlin".into(),
                ..Default::default()
            },
            &none,
        )
        .unwrap();
        assert!(bh.window(&def("delete_x", json!({}))).is_some());
        assert!(bh.window(&def("read_x", json!({}))).is_none());
    }

    #[test]
    fn capability_grants_and_denials() {
        let settings = PolicySettings {
            preset: Preset::Strict,
            grant: vec!["net_any".into(), "dangerous".into()],
            deny_capabilities: vec!["process_shell".into()],
            ..Default::default()
        };
        let p = Policy::compile("base", &settings, &BTreeMap::new()).unwrap();
        assert!(
            p.granted().contains(Capability::NetHttps),
            "net_any grants https"
        );
        assert!(
            p.granted().contains(Capability::FsDelete),
            "dangerous composite"
        );
        assert!(
            !p.granted().contains(Capability::ProcessShell),
            "denied wins"
        );
        let bad = PolicySettings {
            grant: vec!["fs_wirte".into()],
            ..Default::default()
        };
        let e = Policy::compile("base", &bad, &BTreeMap::new()).unwrap_err();
        assert_eq!(e.key, "policy.grant");
        assert!(
            e.hint.starts_with("did you mean \"fs_write\"?"),
            "{}",
            e.hint
        );
        let tz = PolicySettings {
            timezone: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert_eq!(
            Policy::compile("acme", &tz, &BTreeMap::new())
                .unwrap_err()
                .key,
            "tenants.acme.policy.timezone"
        );
    }
}
