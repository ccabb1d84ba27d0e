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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::call::{CallerContext, ToolDef};
use crate::limits::{Rate, RateKey};

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

/// Name prefixes that mark a reading tool.
pub const READ_PREFIXES: &[&str] = &["read_", "get_", "list_", "search_", "find_", "describe_"];
/// Name prefixes that mark a writing (destructive) tool.
pub const WRITE_PREFIXES: &[&str] = &[
    "write_",
    "delete_",
    "update_",
    "create_",
    "remove_",
    "drop_",
    "insert_",
    "move_",
    "rename_",
    "set_",
    "exec_",
    "execute_",
    "run_",
    "kill_",
    "send_",
    "post_",
    "put_",
    "patch_",
    "deploy_",
    "terminate_",
    "purge_",
    "truncate_",
    "reset_",
    "revoke_",
    "grant_",
    "transfer_",
    "pay_",
    "upload_",
    "edit_",
    "modify_",
    "replace_",
    "append_",
    "destroy_",
    "erase_",
    "wipe_",
];

/// A tool name in `snake_case` and lower case (`deleteFile`, `Delete-File` → `delete_file`),
/// so name-based preset rules cannot be sidestepped by spelling.
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else if c == '-' || c == '.' || c == ' ' {
            out.push('_');
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

fn has_prefix(name: &str, prefixes: &[&str]) -> bool {
    let n = normalise_name(name);
    prefixes.iter().any(|p| n.starts_with(p))
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
}

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

/// Whether calls need approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Every call needs a person's approval.
    Required,
    /// No approval needed.
    None,
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

macro_rules! capabilities {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal ),+ $(,)?) => {
        /// Something a tool may do that a policy grants or denies.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Capability {
            $( $(#[$doc])* $variant, )+
        }

        impl Capability {
            /// Every capability.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant),+];

            /// The config name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Capability::$variant => $name, )+
                }
            }
        }
    };
}

capabilities! {
    /// Read files.
    FsRead = "fs_read",
    /// Write or create files.
    FsWrite = "fs_write",
    /// Delete files.
    FsDelete = "fs_delete",
    /// Plain HTTP requests.
    NetHttp = "net_http",
    /// HTTPS requests.
    NetHttps = "net_https",
    /// Any network access (also implied by `openWorldHint: true`).
    NetAny = "net_any",
    /// Run programs.
    ProcessExec = "process_exec",
    /// Run shell commands.
    ProcessShell = "process_shell",
    /// Handle personal data.
    DataPii = "data_pii",
    /// Handle secrets.
    DataSecrets = "data_secrets",
    /// Read a database.
    DbRead = "db_read",
    /// Write a database.
    DbWrite = "db_write",
    /// Destroy or change things irreversibly (implied by `destructiveHint: true`).
    Destructive = "destructive",
}

/// A set of capabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapSet(u32);

impl CapSet {
    /// No capability.
    pub const EMPTY: CapSet = CapSet(0);

    /// Every capability.
    pub fn all() -> CapSet {
        Capability::ALL
            .iter()
            .fold(CapSet::EMPTY, |s, c| s.with(*c))
    }

    /// This set plus `c`.
    #[must_use]
    pub fn with(self, c: Capability) -> CapSet {
        CapSet(self.0 | (1 << c as u8))
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Capability) -> bool {
        self.0 & (1 << c as u8) != 0
    }

    /// The union.
    #[must_use]
    pub fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    /// The members of `self` not in `other`.
    #[must_use]
    pub fn minus(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(move |c| self.contains(*c))
    }

    /// Parse a capability name or composite: `fs_read`, …, `dangerous`, `safe_read`, `all`.
    /// `net_any` as a grant also grants `net_http` and `net_https`.
    pub fn parse(name: &str, as_grant: bool) -> Option<CapSet> {
        use Capability::*;
        let set = |caps: &[Capability]| caps.iter().fold(CapSet::EMPTY, |s, c| s.with(*c));
        match name {
            "all" => Some(CapSet::all()),
            "dangerous" => Some(set(&[
                FsWrite,
                FsDelete,
                ProcessExec,
                ProcessShell,
                DbWrite,
                DataSecrets,
                Destructive,
            ])),
            "safe_read" => Some(set(&[FsRead, DbRead])),
            "net_any" if as_grant => Some(set(&[NetAny, NetHttp, NetHttps])),
            other => Capability::ALL
                .iter()
                .find(|c| c.as_str() == other)
                .map(|c| CapSet::EMPTY.with(*c)),
        }
    }

    /// Every accepted name, for error hints.
    pub fn names() -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        v.extend(["dangerous", "safe_read", "all"]);
        v
    }
}

/// A daily time window in a time zone's local time, on some days of the week.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    start: Time,
    end: Time,
    days: [bool; 7],
    /// As written, for messages.
    pub text: String,
}

/// Why a window, day, zone, glob, capability or rule could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
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

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// Parse `HH:MM-HH:MM` and day names (empty: every day).
    pub fn parse(text: &str, days: &[String], key: &str) -> Result<Window, PolicyError> {
        let bad = |message: String| {
            PolicyError {
            key: key.to_owned(),
            message,
            hint: "write the window as HH:MM-HH:MM in 24-hour time, e.g. \"09:00-17:00\" or \"22:00-06:00\" for overnight".to_owned(),
        }
        };
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| bad(format!("{text:?} is not a window")))?;
        let parse_time = |s: &str| -> Result<Time, PolicyError> {
            let s = s.trim();
            let (h, m) = s
                .split_once(':')
                .ok_or_else(|| bad(format!("{s:?} is not HH:MM")))?;
            let h: i8 = h.parse().map_err(|_| bad(format!("{s:?} is not HH:MM")))?;
            let m: i8 = m.parse().map_err(|_| bad(format!("{s:?} is not HH:MM")))?;
            if h == 24 && m == 0 {
                return Ok(Time::MAX);
            }
            Time::new(h, m, 0, 0).map_err(|_| bad(format!("{s:?} is not a time of day")))
        };
        let start = parse_time(a)?;
        let end = parse_time(b)?;
        if start == end {
            return Err(bad(format!("{text:?} is empty: the start equals the end")));
        }
        let mut set = [days.is_empty(); 7];
        for d in days {
            let lower = d.to_ascii_lowercase();
            const FULL: [&str; 7] = [
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            ];
            let i = DAY_NAMES
                .iter()
                .position(|n| lower == *n)
                .or_else(|| FULL.iter().position(|n| lower == *n))
                .ok_or_else(|| PolicyError {
                    key: key.to_owned(),
                    message: format!("{d:?} is not a day of the week"),
                    hint: "list each day: mon, tue, wed, thu, fri, sat, sun (ranges like mon-fri are not read)".to_owned(),
                })?;
            set[i] = true;
        }
        Ok(Window {
            start,
            end,
            days: set,
            text: text.to_owned(),
        })
    }

    fn overnight(&self) -> bool {
        self.end < self.start
    }

    /// Whether `at` falls inside the window, in `tz`.
    pub fn contains(&self, at: Timestamp, tz: &TimeZone) -> bool {
        let local = tz.to_datetime(at);
        let t = local.time();
        let day = weekday_index(local.weekday());
        let prev = (day + 6) % 7;
        if self.overnight() {
            (self.days[day] && t >= self.start) || (self.days[prev] && t < self.end)
        } else {
            self.days[day] && t >= self.start && t < self.end
        }
    }

    /// The next instant at or after `at` when the window is open (within 8 days).
    pub fn next_open(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        if self.contains(at, tz) {
            return Some(at);
        }
        let local = at.to_zoned_datetime(tz.clone());
        let today = local.date();
        for offset in 0..8i64 {
            let date = today.checked_add(offset.days()).ok()?;
            if !self.days[weekday_index(date.weekday())] {
                continue;
            }
            let opens = date
                .to_datetime(self.start)
                .to_zoned_datetime(tz.clone())
                .ok()?;
            // On a day whose start time falls in a DST gap, the resolved instant can lie
            // outside the window: skip such a day.
            if opens.timestamp() > at && self.contains(opens.timestamp(), tz) {
                return Some(opens.timestamp());
            }
        }
        None
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
            rules.push(Rule {
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

/// Decides which policy applies to a caller. `None` refuses the call.
pub trait PolicyResolver: Send + Sync {
    /// The policy for this caller, or `None` (the call is refused).
    fn resolve(&self, caller: &CallerContext) -> Option<Arc<Policy>>;
}

impl<F> PolicyResolver for F
where
    F: Fn(&CallerContext) -> Option<Arc<Policy>> + Send + Sync,
{
    fn resolve(&self, caller: &CallerContext) -> Option<Arc<Policy>> {
        self(caller)
    }
}

/// The configuration's resolver: a caller without a tenant gets the base policy; a caller whose
/// tenant has a `[tenants.NAME]` section gets that policy. Once any tenant is configured, a
/// caller naming a tenant that is not configured gets none — the call is refused.
#[derive(Clone, Debug)]
pub struct ConfigPolicies {
    /// The base policy.
    pub base: Arc<Policy>,
    /// Per-tenant policies.
    pub tenants: BTreeMap<String, Arc<Policy>>,
}

impl PolicyResolver for ConfigPolicies {
    fn resolve(&self, caller: &CallerContext) -> Option<Arc<Policy>> {
        match caller.tenant.as_deref() {
            None => Some(self.base.clone()),
            Some(t) => match self.tenants.get(t) {
                Some(p) => Some(p.clone()),
                None if self.tenants.is_empty() => Some(self.base.clone()),
                None => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn windows_in_a_time_zone_with_days_and_overnight() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let office = Window::parse(
            "09:00-17:00",
            &[
                "mon".into(),
                "tue".into(),
                "wed".into(),
                "thu".into(),
                "fri".into(),
            ],
            "k",
        )
        .unwrap();
        // 2026-05-04 is a Monday; Berlin is UTC+2 in May.
        assert!(office.contains(ts("2026-05-04T07:30:00Z"), &berlin));
        assert!(!office.contains(ts("2026-05-04T06:59:00Z"), &berlin));
        assert!(!office.contains(ts("2026-05-04T15:00:00Z"), &berlin));
        assert!(
            !office.contains(ts("2026-05-09T10:00:00Z"), &berlin),
            "Saturday"
        );
        // Next opening after Friday evening is Monday 09:00 local.
        assert_eq!(
            office.next_open(ts("2026-05-08T18:00:00Z"), &berlin),
            Some(ts("2026-05-11T07:00:00Z"))
        );
        let night = Window::parse("22:00-06:00", &["fri".into()], "k").unwrap();
        assert!(
            night.contains(ts("2026-05-08T21:00:00Z"), &berlin),
            "Fri 23:00"
        );
        assert!(
            night.contains(ts("2026-05-09T03:00:00Z"), &berlin),
            "Sat 05:00, opened Friday"
        );
        assert!(
            !night.contains(ts("2026-05-10T03:00:00Z"), &berlin),
            "Sun 05:00, Saturday is not listed"
        );
        for bad in ["9-17", "09:00", "25:00-26:00", "09:00-09:00"] {
            assert!(Window::parse(bad, &[], "k").is_err(), "{bad}");
        }
        assert!(Window::parse("09:00-17:00", &["funday".into()], "k").is_err());
    }

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
