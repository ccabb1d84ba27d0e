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

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::audit::Redactor;
use crate::checks::UnknownArgs;
use crate::policy::{ConfigPolicies, Policy, PolicySettings, TenantSettings, ToolRule};
use crate::suggest::closest;

/// Environment variables with the `AIRLOCK_` prefix that are not configuration keys.
pub const RESERVED_ENV: &[&str] = &[
    "AIRLOCK_CONFIG",
    "AIRLOCK_LOG",
    "AIRLOCK_BLESS",
    "AIRLOCK_AGENT",
    "AIRLOCK_ROLES",
    "AIRLOCK_TENANT",
    "AIRLOCK_SESSION",
];

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Arguments the tool's schema does not declare.
    pub ghost_args: GhostArgsSettings,
    /// Strict JSON-Schema validation of arguments.
    pub validation: ValidationSettings,
    /// Limits on the arguments as a whole, checked before any other check.
    pub arguments: ArgumentsSettings,
    /// The order of checks within their phases.
    pub pipeline: PipelineSettings,
    /// The audit log.
    pub audit: AuditSettings,
    /// Paths in arguments: roots, deny lists, symlinks.
    pub filesystem: FilesystemSettings,
    /// URLs and hosts in arguments: schemes, hosts, ports, internal addresses.
    pub network: NetworkSettings,
    /// Where rate-limit state lives.
    pub limits: LimitsSettings,
    /// Limits on a whole session (all tools).
    pub session: SessionSettings,
    /// Who may call which tool, when, with which capabilities.
    pub policy: PolicySettings,
    /// Rules for tools by name or glob (`[tools."write_*"]`).
    pub tools: BTreeMap<String, ToolRule>,
    /// Per-tenant overrides of `[policy]` and `[tools]`, chosen by the caller's tenant.
    pub tenants: BTreeMap<String, TenantSettings>,
    /// `airlock serve`, the Streamable-HTTP gateway: who may connect and what reaches the upstream.
    pub gateway: GatewaySettings,
    /// Masking of PII and secrets in tool results before the model sees them.
    pub sanitize: SanitizeSettings,
    /// Tool definitions pinned against change (rug pulls).
    pub pinning: PinningSettings,
    /// Calls a person must approve (`[tools."X"] approval = "required"`).
    pub approval: ApprovalSettings,
}

/// `[approval]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSettings {
    /// How long the approver may take before the call is refused (`approval.timed_out`), in
    /// seconds (1–86400). An approver that answers later is ignored.
    pub timeout_secs: u64,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings { timeout_secs: 300 }
    }
}

impl Settings {
    /// Whether paths in arguments are checked for anyone: `[filesystem]`, or a tool's or a
    /// tenant's change to it, turns the check on.
    pub fn filesystem_on(&self) -> bool {
        self.filesystem.enabled
            || self
                .filesystem
                .tools
                .values()
                .any(|o| o.enabled == Some(true))
            || self
                .tenants
                .values()
                .any(|t| t.filesystem.enabled == Some(true))
    }

    /// Whether URLs in arguments are checked for anyone.
    pub fn network_on(&self) -> bool {
        self.network.enabled
            || self.network.tools.values().any(|o| o.enabled == Some(true))
            || self
                .tenants
                .values()
                .any(|t| t.network.enabled == Some(true))
    }

    /// Whether host names are resolved for anyone (the DNS check waits on the network).
    pub fn dns_check_on(&self) -> bool {
        self.network_on()
            && (self.network.dns_check
                || self
                    .network
                    .tools
                    .values()
                    .any(|o| o.dns_check == Some(true))
                || self
                    .tenants
                    .values()
                    .any(|t| t.network.dns_check == Some(true)))
    }

    /// Whether anyone's tool results are scanned and masked (`[sanitize]` or a tenant's).
    pub fn sanitize_on(&self) -> bool {
        self.sanitize.enabled
            || self
                .tenants
                .values()
                .any(|t| t.sanitize.enabled == Some(true))
    }

    /// Whether secrets in arguments are refused or masked (`sanitize.arguments`).
    pub fn argument_scan_on(&self) -> bool {
        self.sanitize.arguments != "off"
    }
}

/// `[pinning]`
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PinningSettings {
    /// `first_seen`: the first definition seen of each tool is its pin, a later different one
    /// is refused; `file`: pins come from `file` (written by `airlock pin`), a tool without a
    /// pin or with a different definition is refused; `off`.
    pub mode: crate::pins::PinMode,
    /// The pins file for `mode = "file"`: a JSON object, tool name → `sha256:…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// `[sanitize]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SanitizeSettings {
    /// Scan every tool result and mask what is found.
    pub enabled: bool,
    /// The masking of types without their own: `full`, `partial`, `type_only` or `hash`.
    pub strategy: String,
    /// Per-type masking, e.g. `{ credit_card = "partial", email = "hash" }`.
    pub strategies: BTreeMap<String, String>,
    /// Detector types turned off (`airlock scan --list` names them).
    pub disable: Vec<String>,
    /// Values never masked: exact values, or `*suffix` such as `*@mycompany.com`.
    pub allow: Vec<String>,
    /// An environment variable holding the key of `hash` masking (unset: a random key per
    /// process, so hashes link values within one run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_key_env: Option<String>,
    /// Cut each text of a result after this many characters (at a line end when one is near,
    /// with a notice; JSON texts keep their structure). Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_chars: Option<usize>,
    /// The same limit in approximate tokens (4 characters each). Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<usize>,
    /// Detectors of your own: `{ name = "employee_id", pattern = "EMP-[0-9]{6}" }`.
    pub custom: Vec<CustomDetector>,
    /// Secrets in a call's arguments (on their way to the tool): `off`, `refuse` the call, or
    /// `mask` them and let the call go on. Personal data in arguments is left alone.
    pub arguments: String,
}

/// One entry of `sanitize.custom`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// The type name findings get (letters, digits and `_`; not a built-in type's).
    pub name: String,
    /// The regular expression (ASCII classes; `(?i)` for case-insensitive).
    pub pattern: String,
    /// Its masking (default: `sanitize.strategy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

/// `[tenants.NAME.sanitize]`: a tenant's changes to `[sanitize]`. `enabled` and `strategy`
/// replace the base values; `strategies` override per type; `disable`, `allow` and `custom`
/// add to the base lists.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SanitizeOverrides {
    /// Replaces `sanitize.enabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replaces `sanitize.strategy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Per-type masking on top of the base's.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub strategies: BTreeMap<String, String>,
    /// More types turned off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disable: Vec<String>,
    /// More values never masked (the tenant's own domain, its test card numbers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// More detectors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomDetector>,
}

impl SanitizeOverrides {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &SanitizeOverrides::default()
    }
}

impl SanitizeSettings {
    /// These settings with a tenant's changes.
    pub fn with(&self, o: &SanitizeOverrides) -> SanitizeSettings {
        let mut s = self.clone();
        if let Some(e) = o.enabled {
            s.enabled = e;
        }
        if let Some(st) = &o.strategy {
            s.strategy = st.clone();
        }
        s.strategies
            .extend(o.strategies.iter().map(|(k, v)| (k.clone(), v.clone())));
        s.disable.extend(o.disable.iter().cloned());
        s.allow.extend(o.allow.iter().cloned());
        s.custom.extend(o.custom.iter().cloned());
        s
    }
}

impl Default for SanitizeSettings {
    fn default() -> Self {
        SanitizeSettings {
            enabled: true,
            strategy: "type_only".into(),
            strategies: BTreeMap::new(),
            disable: Vec::new(),
            allow: Vec::new(),
            hash_key_env: None,
            max_output_chars: None,
            max_output_tokens: None,
            custom: Vec::new(),
            arguments: "off".into(),
        }
    }
}

/// The masking strategies `[sanitize]` accepts.
pub const STRATEGIES: &[&str] = &["full", "partial", "type_only", "hash"];

/// `[gateway]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// `Host` header values accepted, as `host` (any port) or `host:port`: requests naming any
    /// other host get 403 (DNS-rebinding defence). `"*"` accepts every host.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted, as `scheme://host[:port]` (`:*` for any port). A request whose
    /// `Origin` header is not listed gets 403; requests without `Origin` (not browsers) pass.
    pub allowed_origins: Vec<String>,
    /// Serve callers that present no credentials, as agent `anonymous` with no roles. Off:
    /// they get 401.
    pub allow_anonymous: bool,
    /// API keys, sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Only the key's
    /// SHA-256 is configured.
    pub api_keys: Vec<ApiKeySettings>,
    /// JWT bearer tokens, verified with keys from a JWKS file, a PEM public key or a shared secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSettings>,
    /// Forward the caller's `Authorization` header to the upstream (token passthrough). Off:
    /// the caller's credentials never leave the gateway.
    pub pass_credentials: bool,
    /// An environment variable holding the bearer token the gateway itself sends to an HTTP
    /// upstream. Unset: no `Authorization` header (unless `pass_credentials`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_token_env: Option<String>,
    /// Most sessions open at once (1 – 100000); a new session beyond it gets 503.
    pub max_sessions: usize,
    /// Most sessions one caller (one identity) may have open at once (1 – 100000); a new one
    /// beyond it gets 429.
    pub max_sessions_per_caller: usize,
    /// Seconds without a request after which a session is closed (and its server stopped).
    pub idle_timeout_secs: u64,
    /// Largest request body accepted, in bytes (1024 – 67108864); larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            allowed_origins: Vec::new(),
            allow_anonymous: false,
            api_keys: Vec::new(),
            jwt: None,
            pass_credentials: false,
            upstream_token_env: None,
            max_sessions: 1024,
            max_sessions_per_caller: 32,
            idle_timeout_secs: 900,
            max_body_bytes: 4 << 20,
        }
    }
}

/// One entry of `gateway.api_keys`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeySettings {
    /// SHA-256 of the key, 64 hex digits (`printf %s "$KEY" | sha256sum`).
    pub sha256: String,
    /// The agent id callers with this key get.
    pub agent: String,
    /// Their roles.
    pub roles: Vec<String>,
    /// Their tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// `[gateway.jwt]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct JwtSettings {
    /// A JWKS file (`{"keys": [...]}`); the token's `kid` picks the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    /// A PEM public key (RSA, EC or Ed25519).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<String>,
    /// An environment variable holding a shared secret (HS256/384/512).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Accepted signature algorithms.
    pub algorithms: Vec<String>,
    /// Required `iss`. Unset: not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Required `aud`. Unset: tokens carrying an `aud` are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The claim holding the agent id.
    pub agent_claim: String,
    /// The claim holding the roles (an array, or a space- or comma-separated string).
    pub roles_claim: String,
    /// The claim holding the tenant.
    pub tenant_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (0 – 300).
    pub leeway_secs: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            jwks_file: None,
            public_key_file: None,
            secret_env: None,
            algorithms: vec!["RS256".into(), "ES256".into(), "EdDSA".into()],
            issuer: None,
            audience: None,
            agent_claim: "sub".into(),
            roles_claim: "roles".into(),
            tenant_claim: "tenant".into(),
            leeway_secs: 30,
        }
    }
}

/// `[ghost_args]`
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GhostArgsSettings {
    /// `block` (refuse the call), `strip_and_log` (remove them, record it), or `strip_silent`.
    pub mode: UnknownArgs,
}

/// `[validation]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSettings {
    /// Most problems reported in one refusal (1–100).
    pub max_errors: usize,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        ValidationSettings { max_errors: 10 }
    }
}

/// `[arguments]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ArgumentsSettings {
    /// Largest arguments object accepted, in bytes of JSON (64 – 67108864).
    pub max_bytes: usize,
    /// Deepest nesting of objects and arrays accepted (1–128).
    pub max_depth: usize,
}

impl Default for ArgumentsSettings {
    fn default() -> Self {
        ArgumentsSettings {
            max_bytes: 1 << 20,
            max_depth: 32,
        }
    }
}

/// `[pipeline]`
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// Check names to run first within their phase, in this order. Phases never mix.
    pub order: Vec<String>,
}

/// `[filesystem]`: the `filesystem` check (paths in arguments) and `roots/list` narrowing.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemSettings {
    /// Check paths found in the arguments (roots narrowing applies either way).
    pub enabled: bool,
    /// Absolute directories tools may work in. Paths in arguments must resolve inside one;
    /// the MCP proxy narrows the roots a client announces (`roots/list` answers) to these.
    /// Empty: any directory, but the deny lists still apply.
    pub allowed_roots: Vec<String>,
    /// Globs refused anywhere (matched case-insensitively on the full path, the base name and
    /// each component): `"**/.ssh/**"`, `"*.pem"`, `".env*"`. Added to the preset's.
    pub deny: Vec<String>,
    /// The built-in deny list: `restrictive` (keys, certificates, credentials, `.ssh`, `.aws`,
    /// `.env*`, `/etc/shadow`, `/proc`, `/sys`, …) or `none`.
    pub preset: PathPreset,
    /// Symbolic links: `resolve` (followed; refused when the target leaves the roots or is
    /// denied), `deny` (any link in a path is refused), `lexical` (the disk is never read: for
    /// servers on another machine).
    pub symlinks: Symlinks,
    /// Relative paths are resolved against this absolute directory (default: the first root;
    /// with no roots, a relative path may not climb above its start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// What `~` means (default: the airlock process's `HOME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Most components a path may have.
    pub max_depth: usize,
    /// Compare paths with the roots case-insensitively (for servers on case-insensitive
    /// filesystems). Deny globs always ignore case.
    pub case_insensitive: bool,
    /// Changes for tools by name or glob (`[filesystem.tools."write_*"]`); the most specific
    /// pattern applies.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, FilesystemOverrides>,
}

impl Default for FilesystemSettings {
    fn default() -> Self {
        FilesystemSettings {
            enabled: true,
            allowed_roots: Vec::new(),
            deny: Vec::new(),
            preset: PathPreset::Restrictive,
            symlinks: Symlinks::Resolve,
            base: None,
            home: None,
            max_depth: 64,
            case_insensitive: false,
            tools: BTreeMap::new(),
        }
    }
}

/// The built-in filesystem deny list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathPreset {
    /// Keys, certificates, credential files, shell histories, system secrets, `/proc`, `/sys`.
    Restrictive,
    /// Only the configured `deny` globs.
    None,
}

/// How the `filesystem` check treats symbolic links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Symlinks {
    /// Follow links (and `..` after them) as the kernel would; the target must be allowed.
    Resolve,
    /// Refuse any path that goes through a link below `/`.
    Deny,
    /// Never read the disk: paths are checked as written (the server runs elsewhere).
    Lexical,
}

/// `[filesystem.tools."NAME"]` and `[tenants.NAME.filesystem]`: changes to `[filesystem]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // each field replaces the `[filesystem]` key of the same name
pub struct FilesystemOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_roots: Option<Vec<String>>,
    /// Added to the deny globs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symlinks: Option<Symlinks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

impl FilesystemOverrides {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &FilesystemOverrides::default()
    }
}

impl FilesystemSettings {
    /// The allowed roots, lexically normalised (`/srv/data/../x/` → `/srv/x`).
    pub fn roots(&self) -> Vec<std::path::PathBuf> {
        self.allowed_roots
            .iter()
            .filter_map(|r| normalize_absolute(r))
            .collect()
    }

    /// These settings with `o`'s changes.
    pub fn with(&self, o: &FilesystemOverrides) -> FilesystemSettings {
        let mut s = self.clone();
        if let Some(e) = o.enabled {
            s.enabled = e;
        }
        if let Some(r) = &o.allowed_roots {
            s.allowed_roots = r.clone();
        }
        s.deny.extend(o.deny.iter().cloned());
        if let Some(l) = o.symlinks {
            s.symlinks = l;
        }
        if let Some(b) = &o.base {
            s.base = Some(b.clone());
        }
        s
    }
}

/// `[network]`: the `network` check (URLs and hosts in arguments).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// Check URLs and hosts found in the arguments.
    pub enabled: bool,
    /// Allowed URL schemes, lower-case.
    pub schemes: Vec<String>,
    /// Host globs allowed (`api.example.com`, `*.example.com` — subdomains only — or `*`).
    /// Empty: any public host.
    pub allow_hosts: Vec<String>,
    /// Host globs refused even when allowed (never shown to the model).
    pub deny_hosts: Vec<String>,
    /// Allowed ports besides each scheme's default. Empty: default ports only.
    pub ports: Vec<u16>,
    /// Allow loopback, private, link-local, CGNAT and local names. Cloud metadata addresses
    /// stay refused unless listed in `allow_addresses` (or the name in `allow_hosts`).
    pub allow_private: bool,
    /// CIDRs allowed even when internal (`"10.1.2.0/24"`, `"fd00::/8"`).
    pub allow_addresses: Vec<String>,
    /// Allow credentials in URLs (`https://user:pass@host/`).
    pub allow_userinfo: bool,
    /// Resolve host names and refuse those that point at internal addresses. Blocks the call
    /// for up to `dns_timeout_ms`; does not stop DNS rebinding between the check and the
    /// tool's own lookup.
    pub dns_check: bool,
    /// How long the DNS check may take; past it the call is refused.
    pub dns_timeout_ms: u64,
    /// Changes for tools by name or glob (`[network.tools."fetch_*"]`); the most specific
    /// pattern applies.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, NetworkOverrides>,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            enabled: true,
            schemes: vec!["https".into(), "http".into()],
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            ports: Vec::new(),
            allow_private: false,
            allow_addresses: Vec::new(),
            allow_userinfo: false,
            dns_check: false,
            dns_timeout_ms: 2000,
            tools: BTreeMap::new(),
        }
    }
}

/// `[network.tools."NAME"]` and `[tenants.NAME.network]`: changes to `[network]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // each field replaces the `[network]` key of the same name
pub struct NetworkOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_hosts: Option<Vec<String>>,
    /// Added to the denied hosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_private: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_addresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_userinfo: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_check: Option<bool>,
}

impl NetworkOverrides {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &NetworkOverrides::default()
    }
}

impl NetworkSettings {
    /// These settings with `o`'s changes.
    pub fn with(&self, o: &NetworkOverrides) -> NetworkSettings {
        let mut s = self.clone();
        if let Some(e) = o.enabled {
            s.enabled = e;
        }
        if let Some(v) = &o.schemes {
            s.schemes = v.clone();
        }
        if let Some(v) = &o.allow_hosts {
            s.allow_hosts = v.clone();
        }
        s.deny_hosts.extend(o.deny_hosts.iter().cloned());
        if let Some(v) = &o.ports {
            s.ports = v.clone();
        }
        if let Some(v) = o.allow_private {
            s.allow_private = v;
        }
        if let Some(v) = &o.allow_addresses {
            s.allow_addresses = v.clone();
        }
        if let Some(v) = o.allow_userinfo {
            s.allow_userinfo = v;
        }
        if let Some(v) = o.dns_check {
            s.dns_check = v;
        }
        s
    }
}

/// A lexically normalised absolute path (`.` and `..` resolved, no trailing `/`), or `None`
/// for a relative path. Symlinks are not resolved (that needs the filesystem).
pub fn normalize_absolute(path: &str) -> Option<std::path::PathBuf> {
    use std::path::{Component, PathBuf};
    let p = std::path::Path::new(path);
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// `[limits]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// `"memory"` (per process) or a Redis URL (`redis://host:port/db`, `rediss://…`,
    /// `unix:///path`) to share limits between airlock instances (needs the `redis` feature).
    pub backend: String,
    /// When Redis cannot be reached: `refuse` the call (default) or use `local` limits and say
    /// so in the audit log.
    pub on_unavailable: crate::limits::OnUnavailable,
    /// Prefix of every Redis key airlock writes.
    pub prefix: String,
    /// Connect, read and write timeout for Redis, in milliseconds (1–10000).
    pub timeout_ms: u64,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        LimitsSettings {
            backend: "memory".to_owned(),
            on_unavailable: crate::limits::OnUnavailable::Refuse,
            prefix: "airlock:rl:".to_owned(),
            timeout_ms: 100,
        }
    }
}

impl LimitsSettings {
    /// Whether the backend is Redis.
    pub fn is_redis(&self) -> bool {
        ["redis://", "rediss://", "unix://", "redis+unix://"]
            .iter()
            .any(|p| self.backend.starts_with(p))
    }
}

/// A URL with any password replaced by `***`, for printing.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => format!("{}***{}", &url[..scheme + 3], &url[at..]),
            }
        }
        _ => url.to_owned(),
    }
}

/// `[session]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Most calls one session may make (all tools). Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    /// Cut a session off once more than this share of its calls were refused (0 < r ≤ 1). Unset: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_refused_ratio: Option<f64>,
    /// Calls a session makes before `max_refused_ratio` applies.
    pub min_calls: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            max_calls: None,
            max_refused_ratio: None,
            min_calls: 10,
        }
    }
}

/// `[audit]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// JSON Lines file to append one record per decision to. Unset: no audit file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `fsync` every record (survives power loss, not just a killed process). Slower.
    pub fsync: bool,
    /// Extra field names whose values are redacted (matched ignoring case, `_` and `-`).
    pub redact_keys: Vec<String>,
    /// Longest string value kept in a record; longer ones are cut (8 – 1048576).
    pub max_value_chars: usize,
    /// Most array items or object keys kept per level (1 – 10000).
    pub max_items: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            path: None,
            fsync: false,
            redact_keys: Vec::new(),
            max_value_chars: 256,
            max_items: 32,
        }
    }
}

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file at this path.
    File(String),
    /// Code: a builder call or a command-line flag (named).
    Code(String),
    /// This environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{p}"),
            Origin::Code(what) => write!(f, "{what}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// A configuration error: where, which key, what is wrong, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Where the bad setting came from.
    pub origin: Origin,
    /// The line in the file, when known.
    pub line: Option<usize>,
    /// The dotted key path, e.g. `ghost_args.mode` (empty for whole-file syntax errors).
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ", key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

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
            }
        })
    }
}

/// One line of `airlock verify`: a key, its value, where it came from, what it means.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    /// Dotted key.
    pub key: String,
    /// The effective value, as TOML.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
    /// What it means for calls.
    pub meaning: String,
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

    /// The effective settings, key by key, with what each means.
    pub fn explain(&self) -> Vec<Explanation> {
        let s = &self.settings;
        let mut out = Vec::new();
        let mut add = |key: &str, value: String, meaning: String| {
            out.push(Explanation {
                key: key.to_owned(),
                value,
                origin: self.origin(key),
                meaning,
            })
        };
        add(
            "ghost_args.mode",
            format!("{:?}", s.ghost_args.mode.as_str()),
            match s.ghost_args.mode {
                UnknownArgs::Block => "calls with arguments the tool does not declare are refused, naming them".into(),
                UnknownArgs::StripAndLog => "undeclared arguments are removed before the call runs, and the audit log records which".into(),
                UnknownArgs::StripSilent => "undeclared arguments are removed before the call runs, without a record".into(),
            },
        );
        add(
            "validation.max_errors",
            s.validation.max_errors.to_string(),
            format!(
                "arguments are validated strictly against the tool's input schema (no coercion); a refusal lists up to {} problems",
                s.validation.max_errors
            ),
        );
        add(
            "arguments.max_bytes",
            s.arguments.max_bytes.to_string(),
            format!(
                "arguments larger than {} bytes are refused before any check",
                s.arguments.max_bytes
            ),
        );
        add(
            "arguments.max_depth",
            s.arguments.max_depth.to_string(),
            format!(
                "arguments nested deeper than {} levels are refused before any check",
                s.arguments.max_depth
            ),
        );
        add(
            "pipeline.order",
            format!("{:?}", s.pipeline.order),
            if s.pipeline.order.is_empty() {
                "checks run in their built-in order within each phase".into()
            } else {
                format!(
                    "within their phases, these run first: {}",
                    s.pipeline.order.join(", ")
                )
            },
        );
        add(
            "audit.path",
            s.audit
                .path
                .as_ref()
                .map_or_else(|| "(unset)".to_owned(), |p| format!("{p:?}")),
            match &s.audit.path {
                Some(p) => format!(
                    "one JSON line per decision is appended to {p}, before the decision is returned"
                ),
                None => "no audit file is written".into(),
            },
        );
        add(
            "audit.fsync",
            s.audit.fsync.to_string(),
            if s.audit.fsync {
                "every audit record is synced to disk (survives power loss)".into()
            } else {
                "audit records are flushed to the operating system (survive a killed process, not power loss)".into()
            },
        );
        add(
            "audit.redact_keys",
            format!("{:?}", s.audit.redact_keys),
            "values of fields named like passwords, tokens, secrets, keys and cards are redacted in records, plus these names".into(),
        );
        add(
            "audit.max_value_chars",
            s.audit.max_value_chars.to_string(),
            format!(
                "string values longer than {} characters are cut in records",
                s.audit.max_value_chars
            ),
        );
        add(
            "filesystem.allowed_roots",
            format!("{:?}", s.filesystem.allowed_roots),
            if s.filesystem.allowed_roots.is_empty() {
                "paths in arguments may name any directory (the deny lists still apply); roots announced by the client pass to the server unchanged".into()
            } else {
                "paths in arguments must resolve inside these directories; roots announced by the client are narrowed to them before the server sees them".into()
            },
        );
        add(
            "pinning.mode",
            s.pinning.mode.as_str().to_owned(),
            match s.pinning.mode {
                crate::pins::PinMode::FirstSeen => "the first definition seen of each tool is pinned; a tool whose definition later changes is refused and hidden until the server lists the pinned one again".into(),
                crate::pins::PinMode::File => "pins come from pinning.file; a tool without a pin, or whose definition differs from it, is refused and hidden".into(),
                crate::pins::PinMode::Off => "tool definitions may change at any time".into(),
            },
        );
        add(
            "pinning.file",
            format!("{:?}", s.pinning.file),
            "the pins file for mode = \"file\" (airlock pin writes it)".into(),
        );
        let f = &s.filesystem;
        add(
            "filesystem.enabled",
            f.enabled.to_string(),
            if f.enabled {
                "paths found in arguments (by schema format, parameter name or shape) are checked before the tool runs".into()
            } else {
                "paths in arguments are not checked".into()
            },
        );
        add(
            "filesystem.preset",
            format!("{:?}", f.preset).to_lowercase(),
            match f.preset {
                PathPreset::Restrictive => "keys, certificates, credential files, shell histories, /etc/shadow, /proc, /sys … are refused anywhere".into(),
                PathPreset::None => "only the configured deny globs are refused".into(),
            },
        );
        add(
            "filesystem.deny",
            format!("{:?}", f.deny),
            "more globs refused anywhere (full path, base name, each component; case-insensitive)"
                .into(),
        );
        add(
            "filesystem.symlinks",
            format!("{:?}", f.symlinks).to_lowercase(),
            match f.symlinks {
                Symlinks::Resolve => {
                    "symlinks are followed on disk; a target outside the roots or denied is refused"
                        .into()
                }
                Symlinks::Deny => "a path through any symlink below a root is refused".into(),
                Symlinks::Lexical => "the disk is never read: paths are checked as written".into(),
            },
        );
        add(
            "filesystem.max_depth",
            f.max_depth.to_string(),
            format!("paths deeper than {} components are refused", f.max_depth),
        );
        add(
            "filesystem.case_insensitive",
            f.case_insensitive.to_string(),
            if f.case_insensitive {
                "paths are compared with the roots ignoring case".into()
            } else {
                "paths are compared with the roots case by case (deny globs always ignore case)"
                    .into()
            },
        );
        let n = &s.network;
        add(
            "network.enabled",
            n.enabled.to_string(),
            if n.enabled {
                "URLs and hosts found in arguments are checked before the tool runs".into()
            } else {
                "URLs and hosts in arguments are not checked".into()
            },
        );
        add(
            "network.schemes",
            format!("{:?}", n.schemes),
            "URL schemes allowed".into(),
        );
        add(
            "network.allow_hosts",
            format!("{:?}", n.allow_hosts),
            if n.allow_hosts.is_empty() {
                "any public host".into()
            } else {
                "only these hosts (`*.x` matches subdomains)".into()
            },
        );
        add(
            "network.deny_hosts",
            format!("{} pattern(s)", n.deny_hosts.len()),
            "hosts refused even when allowed (the patterns are never shown to the model)".into(),
        );
        add(
            "network.ports",
            format!("{:?}", n.ports),
            if n.ports.is_empty() {
                "only each scheme's default port".into()
            } else {
                "these ports besides each scheme's default".into()
            },
        );
        add(
            "network.allow_addresses",
            format!("{:?}", n.allow_addresses),
            "internal address ranges (CIDRs) allowed all the same".into(),
        );
        add(
            "network.allow_userinfo",
            n.allow_userinfo.to_string(),
            if n.allow_userinfo {
                "URLs may carry credentials (user:pass@)".into()
            } else {
                "URLs carrying credentials (user:pass@) are refused".into()
            },
        );
        add(
            "network.allow_private",
            n.allow_private.to_string(),
            if n.allow_private {
                "loopback, private, link-local and local names are allowed (cloud metadata stays refused)".into()
            } else {
                "loopback, private, link-local, CGNAT, cloud metadata and local names are refused, in every spelling".into()
            },
        );
        add(
            "network.dns_check",
            n.dns_check.to_string(),
            if n.dns_check {
                format!(
                    "host names are resolved (at most {} ms) and refused when they point at internal addresses",
                    n.dns_timeout_ms
                )
            } else {
                "host names are not resolved".into()
            },
        );
        add(
            "network.dns_timeout_ms",
            n.dns_timeout_ms.to_string(),
            "how long the DNS check may take before the call is refused".into(),
        );
        let z = &s.sanitize;
        add(
            "sanitize.enabled",
            z.enabled.to_string(),
            if z.enabled {
                "every tool result is scanned for PII and secrets, and what is found is masked before the model sees it".into()
            } else {
                "tool results reach the model as the server sent them".into()
            },
        );
        add(
            "sanitize.strategy",
            format!("{:?}", z.strategy),
            match z.strategy.as_str() {
                "full" => "findings become [REDACTED]".into(),
                "partial" => "findings keep a safe tail (last 4 digits, an e-mail's domain, a token's prefix)".into(),
                "hash" => "findings become [TYPE:hash], equal values alike".into(),
                _ => "findings become [TYPE], e.g. [EMAIL]".into(),
            },
        );
        add(
            "sanitize.strategies",
            format!("{:?}", z.strategies),
            "per-type masking that overrides sanitize.strategy".into(),
        );
        add(
            "sanitize.disable",
            format!("{:?}", z.disable),
            "detector types not used".into(),
        );
        add(
            "sanitize.allow",
            format!("{:?}", z.allow),
            "values never masked".into(),
        );
        add(
            "sanitize.max_output_chars",
            format!("{:?}", z.max_output_chars),
            match z.max_output_chars {
                Some(n) => {
                    format!("each text of a result is cut after {n} characters, with a notice")
                }
                None => "results are not cut by characters".into(),
            },
        );
        add(
            "sanitize.max_output_tokens",
            format!("{:?}", z.max_output_tokens),
            match z.max_output_tokens {
                Some(n) => {
                    format!("each text of a result is cut after about {n} tokens, with a notice")
                }
                None => "results are not cut by tokens".into(),
            },
        );
        add(
            "sanitize.arguments",
            format!("{:?}", z.arguments),
            match z.arguments.as_str() {
                "refuse" => "a call whose arguments carry a secret (key, token, password) is refused, naming the fields".into(),
                "mask" => "secrets in a call's arguments are masked before the tool gets them, and the audit log records where".into(),
                _ => "arguments are not scanned for secrets".into(),
            },
        );
        add(
            "sanitize.custom",
            format!("{} detector(s)", z.custom.len()),
            "detectors of your own, by name and pattern".into(),
        );
        add(
            "sanitize.hash_key_env",
            format!("{:?}", z.hash_key_env),
            match &z.hash_key_env {
                Some(v) => format!("hash masking is keyed by ${v}: hashes link values across runs"),
                None => "hash masking uses a random key per process".into(),
            },
        );
        let g = &s.gateway;
        add(
            "gateway.allowed_hosts",
            format!("{:?}", g.allowed_hosts),
            if g.allowed_hosts.iter().any(|h| h == "*") {
                "airlock serve accepts every Host header (no DNS-rebinding defence)".into()
            } else {
                "airlock serve answers only requests whose Host header names one of these (DNS-rebinding defence)".into()
            },
        );
        add(
            "gateway.allowed_origins",
            format!("{:?}", g.allowed_origins),
            if g.allowed_origins.is_empty() {
                "browser requests (with an Origin header) are refused; other clients pass".into()
            } else {
                "browser requests are accepted only from these origins".into()
            },
        );
        add(
            "gateway.allow_anonymous",
            g.allow_anonymous.to_string(),
            if g.allow_anonymous {
                "callers without credentials are served as agent \"anonymous\"".into()
            } else {
                "callers without valid credentials get 401".into()
            },
        );
        add(
            "gateway.api_keys",
            format!("{} key(s)", g.api_keys.len()),
            "API keys accepted as `Authorization: Bearer` or `X-API-Key`, each mapped to an agent, roles and tenant".into(),
        );
        if let Some(j) = &g.jwt {
            let source = match (&j.jwks_file, &j.public_key_file, &j.secret_env) {
                (Some(f), _, _) => format!("keys from the JWKS file {f:?}"),
                (_, Some(f), _) => format!("the public key in {f:?}"),
                (_, _, Some(v)) => format!("the shared secret in ${v}"),
                _ => "no key (every token is refused)".into(),
            };
            for key in ["jwks_file", "public_key_file", "secret_env"] {
                add(
                    &format!("gateway.jwt.{key}"),
                    String::new(),
                    format!("JWT bearer tokens are verified with {source}"),
                );
            }
            add(
                "gateway.jwt.algorithms",
                format!("{:?}", j.algorithms),
                "signature algorithms accepted".into(),
            );
            add(
                "gateway.jwt.issuer",
                format!("{:?}", j.issuer),
                "required `iss` (unset: not checked)".into(),
            );
            add(
                "gateway.jwt.audience",
                format!("{:?}", j.audience),
                "required `aud` (unset: tokens naming an audience are refused)".into(),
            );
            add(
                "gateway.jwt.agent_claim",
                format!("{:?}", j.agent_claim),
                "the claim giving the caller's agent id".into(),
            );
            add(
                "gateway.jwt.roles_claim",
                format!("{:?}", j.roles_claim),
                "the claim giving the caller's roles".into(),
            );
            add(
                "gateway.jwt.tenant_claim",
                format!("{:?}", j.tenant_claim),
                "the claim giving the caller's tenant".into(),
            );
            add(
                "gateway.jwt.leeway_secs",
                j.leeway_secs.to_string(),
                "clock skew allowed on exp and nbf".into(),
            );
        }
        add(
            "gateway.pass_credentials",
            g.pass_credentials.to_string(),
            if g.pass_credentials {
                "the caller's Authorization header is forwarded to the upstream (token passthrough)"
                    .into()
            } else {
                "the caller's credentials never reach the upstream".into()
            },
        );
        add(
            "gateway.upstream_token_env",
            format!("{:?}", g.upstream_token_env),
            match &g.upstream_token_env {
                Some(v) => format!(
                    "the gateway authenticates to an HTTP upstream with the bearer token in ${v}"
                ),
                None => "the gateway sends no credentials of its own to the upstream".into(),
            },
        );
        add(
            "gateway.max_sessions",
            g.max_sessions.to_string(),
            "most sessions open at once; more get 503".into(),
        );
        add(
            "gateway.max_sessions_per_caller",
            g.max_sessions_per_caller.to_string(),
            "most sessions one caller may have open at once; more get 429".into(),
        );
        add(
            "gateway.idle_timeout_secs",
            g.idle_timeout_secs.to_string(),
            "an idle session is closed and its server stopped after this many seconds".into(),
        );
        add(
            "gateway.max_body_bytes",
            g.max_body_bytes.to_string(),
            "larger request bodies get 413".into(),
        );
        let l = &s.limits;
        add(
            "limits.backend",
            format!("{:?}", redact_url(&l.backend)),
            if l.is_redis() {
                "rate limits are shared with every airlock instance using this Redis".into()
            } else {
                "rate limits are kept in this process only".into()
            },
        );
        add(
            "limits.on_unavailable",
            format!(
                "{:?}",
                serde_json::to_value(l.on_unavailable)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            match l.on_unavailable {
                crate::limits::OnUnavailable::Refuse => {
                    "if Redis cannot be reached, rate-limited calls are refused".into()
                }
                crate::limits::OnUnavailable::Local => {
                    "if Redis cannot be reached, local limits are used and the audit log says so"
                        .into()
                }
            },
        );
        add(
            "limits.prefix",
            format!("{:?}", l.prefix),
            "every Redis key airlock writes starts with this".into(),
        );
        add(
            "limits.timeout_ms",
            l.timeout_ms.to_string(),
            format!("Redis must answer within {} ms", l.timeout_ms),
        );
        add(
            "session.max_calls",
            s.session
                .max_calls
                .map_or_else(|| "(unset)".to_owned(), |n| n.to_string()),
            match s.session.max_calls {
                Some(n) => format!("a session may make at most {n} calls"),
                None => "no limit on calls per session".into(),
            },
        );
        add(
            "session.max_refused_ratio",
            s.session
                .max_refused_ratio
                .map_or_else(|| "(unset)".to_owned(), |r| r.to_string()),
            match s.session.max_refused_ratio {
                Some(r) => format!(
                    "a session with more than {:.0}% of its calls refused (after {} calls) is cut off",
                    r * 100.0,
                    s.session.min_calls
                ),
                None => "sessions are never cut off for refused calls".into(),
            },
        );
        add(
            "session.min_calls",
            s.session.min_calls.to_string(),
            "calls a session makes before the refused-call ratio applies".into(),
        );
        add(
            "approval.timeout_secs",
            s.approval.timeout_secs.to_string(),
            format!(
                "a call needing approval is refused when the approver has not answered within {} s",
                s.approval.timeout_secs
            ),
        );
        let p = &s.policy;
        let list = |v: &[String]| format!("{v:?}");
        add(
            "policy.preset",
            format!("{:?}", p.preset.as_str()),
            match p.preset {
                crate::policy::Preset::Permissive => "every tool allowed and every capability granted, unless the rules below say otherwise".into(),
                crate::policy::Preset::Strict => "callers must name an agent; only read capabilities are granted, so destructive, open-world, writing or executing tools are refused".into(),
                crate::policy::Preset::ReadOnly => "only reading tools (read_/get_/list_/search_/find_/describe_ names or readOnlyHint) may be called; writing names and destructiveHint tools are denied".into(),
                crate::policy::Preset::BusinessHours => format!("destructive tools only {} on {} ({})", p.business_hours, p.business_days.join(","), p.timezone),
            },
        );
        add(
            "policy.allow",
            list(&p.allow),
            if p.allow.is_empty() {
                if p.default_deny {
                    "no allow list and default_deny: every tool is refused unless the preset allows it".into()
                } else {
                    "no allow list: every tool not denied may be called".into()
                }
            } else {
                format!(
                    "only tools matching these {} pattern(s) may be called (besides the preset's)",
                    p.allow.len()
                )
            },
        );
        add(
            "policy.deny",
            list(&p.deny),
            format!(
                "tools matching these {} pattern(s) are always refused; deny wins over allow",
                p.deny.len()
            ),
        );
        add(
            "policy.default_deny",
            p.default_deny.to_string(),
            if p.default_deny {
                "with an empty allow list, every tool is refused".into()
            } else {
                "with an empty allow list, every tool is allowed".into()
            },
        );
        add(
            "policy.require_agent",
            p.require_agent.to_string(),
            if p.require_agent {
                "calls without an agent id are refused".into()
            } else {
                "calls need no agent id (the strict preset requires one)".into()
            },
        );
        add(
            "policy.timezone",
            format!("{:?}", p.timezone),
            format!("every time window is read in {}", p.timezone),
        );
        add(
            "policy.grant",
            list(&p.grant),
            "capabilities granted on top of the preset's".into(),
        );
        add(
            "policy.deny_capabilities",
            list(&p.deny_capabilities),
            "capabilities never granted, whatever grants them".into(),
        );
        add(
            "policy.business_hours",
            format!("{:?}", p.business_hours),
            "the window of the business_hours preset".into(),
        );
        add(
            "policy.business_days",
            list(&p.business_days),
            "the days of the business_hours preset".into(),
        );
        add(
            "policy.roles",
            list(&p.roles),
            if p.roles.is_empty() {
                "roles in [tools] rules are not checked against a list".into()
            } else {
                "every role a [tools] rule names must be one of these".into()
            },
        );
        for (pattern, rule) in &s.tools {
            let mut parts = Vec::new();
            if !rule.roles.is_empty() {
                parts.push(format!(
                    "callers need one of the roles {}",
                    rule.roles.join(", ")
                ));
            }
            if let Some(h) = &rule.hours {
                let days = if rule.days.is_empty() {
                    "every day".to_owned()
                } else {
                    rule.days.join(",")
                };
                parts.push(format!("only {h} on {days} ({})", p.timezone));
            }
            if !rule.capabilities.is_empty() {
                parts.push(format!(
                    "needs the capabilities {}",
                    rule.capabilities.join(", ")
                ));
            }
            if rule.approval == Some(crate::policy::ApprovalMode::Required) {
                parts.push("every call needs a person's approval".to_owned());
            }
            if let Some(n) = rule.max_calls_per_session {
                parts.push(format!("at most {n} calls per session"));
            }
            if let Some(c) = &rule.cooldown {
                parts.push(format!("at least {c} between calls in a session"));
            }
            if !rule.required_before.is_empty() {
                parts.push(format!(
                    "only after {} succeeded in the session",
                    rule.required_before.join(", ")
                ));
            }
            if let Some(rate) = &rule.rate_limit {
                let scope = match rule.rate_key.unwrap_or_default() {
                    crate::limits::RateKey::ToolCaller => "tool and caller",
                    crate::limits::RateKey::Tool => "tool",
                    crate::limits::RateKey::Caller => "caller",
                    crate::limits::RateKey::Tenant => "tenant",
                    crate::limits::RateKey::Global => "everyone together",
                };
                parts.push(format!(
                    "at most {rate}{} per {scope}",
                    rule.burst
                        .map(|b| format!(" (bursts of {b})"))
                        .unwrap_or_default()
                ));
            }
            let value = toml::to_string(rule)
                .unwrap_or_default()
                .trim_end()
                .replace('\n', "; ");
            add(
                &format!("tools.{pattern}"),
                value,
                format!(
                    "tools matching {pattern:?}: {}",
                    if parts.is_empty() {
                        "no restriction".to_owned()
                    } else {
                        parts.join("; ")
                    }
                ),
            );
        }
        for name in s.tenants.keys() {
            add(
                &format!("tenants.{name}"),
                "(overrides)".into(),
                format!(
                    "callers of tenant {name:?} get the base policy and tool rules with this section's overrides on top (deny lists add up); callers naming an unconfigured tenant are refused"
                ),
            );
        }
        add(
            "audit.max_items",
            s.audit.max_items.to_string(),
            format!(
                "arrays and objects keep at most {} entries per level in records",
                s.audit.max_items
            ),
        );
        out
    }
}

/// Builds a [`Config`] from a file's text, code overrides and environment variables.
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    file: Option<(String, String)>,
    code: Vec<(String, toml::Value, String)>,
    env: Vec<(String, String)>,
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

impl ConfigBuilder {
    /// An empty builder: all defaults.
    pub fn new() -> Self {
        ConfigBuilder::default()
    }

    /// The configuration file's text; `name` (its path) is used in errors.
    #[must_use]
    pub fn file(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.file = Some((name.into(), text.into()));
        self
    }

    /// Set a dotted key from code; `origin` names the flag or call in errors (`--unknown-args`).
    #[must_use]
    pub fn set(
        mut self,
        key: impl Into<String>,
        value: impl Into<toml::Value>,
        origin: impl Into<String>,
    ) -> Self {
        self.code.push((key.into(), value.into(), origin.into()));
        self
    }

    /// Set `ghost_args.mode` from code.
    #[must_use]
    pub fn unknown_args(self, mode: UnknownArgs) -> Self {
        self.set("ghost_args.mode", mode.as_str(), "builder: unknown_args()")
    }

    /// Environment variables; only `AIRLOCK_*` ones are read. Pass `std::env::vars()`.
    #[must_use]
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in vars {
            let k = k.into();
            if k.starts_with("AIRLOCK_") && !RESERVED_ENV.contains(&k.as_str()) {
                self.env.push((k, v.into()));
            }
        }
        self.env.sort();
        self
    }

    /// Check every layer, merge them (file, then code, then environment) and compile.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut merged = toml::Table::new();
        let mut origins = BTreeMap::new();
        if let Some((name, text)) = &self.file {
            let table = parse_file(name, text)?;
            record_origins(&table, "", &Origin::File(name.clone()), &mut origins);
            merge(&mut merged, table);
        }
        for (key, value, origin) in &self.code {
            let origin = Origin::Code(origin.clone());
            let patch = patch_for(key, value.clone(), &origin)?;
            check_layer(&patch, &origin)?;
            record_origins(&patch, "", &origin, &mut origins);
            merge(&mut merged, patch);
        }
        let mut warnings = Vec::new();
        for (var, raw) in &self.env {
            let origin = Origin::Env(var.clone());
            let Some(key) = env_key(var) else {
                warnings.push(format!(
                    "ignoring environment variable {var}: configuration variables are AIRLOCK_<SECTION>__<KEY> with a double underscore, e.g. AIRLOCK_GHOST_ARGS__MODE"
                ));
                continue;
            };
            let typed = env_value(raw);
            let mut patch = patch_for(&key, typed.clone(), &origin)?;
            if let Err(e) = check_layer(&patch, &origin) {
                // `AIRLOCK_AUDIT__PATH=1234` means the string "1234": retry untyped values as text.
                let as_text = patch_for(&key, toml::Value::String(raw.clone()), &origin)?;
                if typed.is_str() || check_layer(&as_text, &origin).is_err() {
                    return Err(e);
                }
                patch = as_text;
            }
            record_origins(&patch, "", &origin, &mut origins);
            merge(&mut merged, patch);
        }
        let merged_for_tenants = merged.clone();
        let settings =
            Settings::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError {
                origin: Origin::Default,
                line: None,
                key: String::new(),
                message: e.to_string(),
                hint: None,
            })?;
        // Each tenant's effective settings: the merged base with its overrides on top.
        let mut tenant_settings = BTreeMap::new();
        if let Some(toml::Value::Table(tenants)) = merged_for_tenants.get("tenants") {
            let mut base = merged_for_tenants.clone();
            base.remove("tenants");
            for (name, overrides) in tenants {
                if name == "base" {
                    return Err(ConfigError {
                        origin: origins
                            .iter()
                            .find(|(k, _)| k.starts_with("tenants.base."))
                            .map(|(_, o)| o.clone())
                            .unwrap_or(Origin::Default),
                        line: None,
                        key: "tenants.base".into(),
                        message: "\"base\" names the base policy and cannot be a tenant".into(),
                        hint: Some("rename the tenant".into()),
                    });
                }
                let mut effective = base.clone();
                if let toml::Value::Table(t) = overrides {
                    merge(&mut effective, t.clone());
                }
                // Deny lists add up: a tenant can deny more than the base, never less.
                for key in ["deny", "deny_capabilities"] {
                    let base_list = base
                        .get("policy")
                        .and_then(|p| p.get(key))
                        .and_then(toml::Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(toml::Value::Table(policy)) = effective.get_mut("policy")
                        && let Some(toml::Value::Array(list)) = policy.get_mut(key)
                    {
                        for v in base_list {
                            if !list.contains(&v) {
                                list.push(v);
                            }
                        }
                    }
                }
                let s = Settings::deserialize(toml::Value::Table(effective)).map_err(|e| {
                    ConfigError {
                        origin: origins
                            .iter()
                            .find(|(k, _)| k.starts_with(&format!("tenants.{name}.")))
                            .map(|(_, o)| o.clone())
                            .unwrap_or(Origin::Default),
                        line: None,
                        key: format!("tenants.{name}"),
                        message: e.message().to_owned(),
                        hint: None,
                    }
                })?;
                tenant_settings.insert(name.clone(), s);
            }
        }
        let mut config = compile(settings, origins, self.file.as_ref(), tenant_settings)?;
        for pattern in &config.settings.policy.allow {
            if config.settings.policy.deny.contains(pattern) {
                warnings.push(format!(
                    "policy.allow and policy.deny both list {pattern:?}; deny wins, so it is never allowed"
                ));
            }
        }
        warnings.extend(config.policies.base.contradictions());
        for p in config.policies.tenants.values() {
            warnings.extend(p.contradictions());
        }
        if config.settings.ghost_args.mode == UnknownArgs::StripSilent {
            warnings.push(
                "ghost_args.mode = \"strip_silent\": undeclared arguments are removed without any audit record; use \"strip_and_log\" to keep a trace".to_owned(),
            );
        }
        config.warnings = warnings;
        Ok(config)
    }
}

fn compile(
    settings: Settings,
    origins: BTreeMap<String, Origin>,
    file: Option<&(String, String)>,
    tenant_settings: BTreeMap<String, Settings>,
) -> Result<Config, ConfigError> {
    let bad = |key: &str, message: String, hint: &str| {
        let origin = origins.get(key).cloned().unwrap_or(Origin::Default);
        let line = match (&origin, file) {
            (Origin::File(_), Some((_, text))) => line_of_key(text, key),
            _ => None,
        };
        ConfigError {
            origin,
            line,
            key: key.to_owned(),
            message,
            hint: Some(hint.to_owned()),
        }
    };
    let within = |key: &str, v: usize, lo: usize, hi: usize| within(&bad, key, v, lo, hi);
    within(
        "validation.max_errors",
        settings.validation.max_errors,
        1,
        100,
    )?;
    within(
        "arguments.max_bytes",
        settings.arguments.max_bytes,
        64,
        64 << 20,
    )?;
    within("arguments.max_depth", settings.arguments.max_depth, 1, 128)?;
    within(
        "audit.max_value_chars",
        settings.audit.max_value_chars,
        8,
        1 << 20,
    )?;
    within("audit.max_items", settings.audit.max_items, 1, 10_000)?;
    within(
        "limits.timeout_ms",
        usize::try_from(settings.limits.timeout_ms).unwrap_or(usize::MAX),
        1,
        10_000,
    )?;
    let fs = &settings.filesystem;
    let mut fs_sections: Vec<(String, FilesystemSettings)> =
        vec![("filesystem".to_owned(), fs.clone())];
    let mut net_sections: Vec<(String, NetworkSettings)> =
        vec![("network".to_owned(), settings.network.clone())];
    for (name, t) in &settings.tenants {
        fs_sections.push((format!("tenants.{name}.filesystem"), fs.with(&t.filesystem)));
        net_sections.push((
            format!("tenants.{name}.network"),
            settings.network.with(&t.network),
        ));
    }
    for (pattern, o) in &fs.tools {
        fs_sections.push((format!("filesystem.tools.{pattern:?}"), fs.with(o)));
    }
    for (pattern, o) in &settings.network.tools {
        net_sections.push((
            format!("network.tools.{pattern:?}"),
            settings.network.with(o),
        ));
    }
    for (section, f) in &fs_sections {
        check_filesystem(section, f, &bad)?;
    }
    for (section, n) in &net_sections {
        check_network(section, n, &bad)?;
    }
    check_gateway(&settings.gateway, &bad)?;
    if settings.pinning.mode == crate::pins::PinMode::File && settings.pinning.file.is_none() {
        return Err(bad(
            "pinning.mode",
            "\"file\" needs pinning.file".into(),
            "set pinning.file = \"airlock-pins.json\" (write it with `airlock pin --tools tools.json`), or use mode = \"first_seen\"",
        ));
    }
    if !["off", "refuse", "mask"].contains(&settings.sanitize.arguments.as_str()) {
        return Err(bad(
            "sanitize.arguments",
            format!("{:?} is not a mode", settings.sanitize.arguments),
            "use \"off\", \"refuse\" or \"mask\"",
        ));
    }
    for (key, v) in std::iter::once((
        String::from("sanitize.strategy"),
        &settings.sanitize.strategy,
    ))
    .chain(
        settings
            .sanitize
            .strategies
            .iter()
            .map(|(k, v)| (format!("sanitize.strategies.{k}"), v)),
    ) {
        if !STRATEGIES.contains(&v.as_str()) {
            return Err(bad(
                &key,
                format!("{v:?} is not a masking strategy"),
                &format!("use one of {}", STRATEGIES.join(", ")),
            ));
        }
    }
    if settings.limits.backend != "memory" && !settings.limits.is_redis() {
        return Err(bad(
            "limits.backend",
            format!(
                "{:?} is not a backend",
                redact_url(&settings.limits.backend)
            ),
            "use \"memory\" or a Redis URL such as \"redis://127.0.0.1:6379/0\"",
        ));
    }
    if let Some(r) = settings.session.max_refused_ratio
        && !(r > 0.0 && r <= 1.0)
    {
        return Err(bad(
            "session.max_refused_ratio",
            format!("{r} is out of range"),
            "use a share above 0 and at most 1, e.g. 0.5 to cut off sessions with more than half their calls refused",
        ));
    }
    if !(1..=86_400).contains(&settings.approval.timeout_secs) {
        return Err(bad(
            "approval.timeout_secs",
            format!("{} is out of range", settings.approval.timeout_secs),
            "use 1 to 86400 seconds, e.g. 300 for five minutes",
        ));
    }
    if settings.session.max_calls == Some(0) {
        return Err(bad(
            "session.max_calls",
            "0 refuses every call".into(),
            "remove the key for no limit, or give a positive number",
        ));
    }
    if let Some(p) = &settings.audit.path
        && p.trim().is_empty()
    {
        return Err(bad(
            "audit.path",
            "the path is empty".into(),
            "give a file path such as \"airlock-audit.jsonl\", or remove the key to write no audit file",
        ));
    }
    for (i, name) in settings.audit.redact_keys.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(bad(
                "audit.redact_keys",
                format!("entry {i} is empty"),
                "list field names such as \"account_number\"",
            ));
        }
    }
    let redactor = Redactor::new(
        settings.audit.redact_keys.clone(),
        settings.audit.max_value_chars,
        settings.audit.max_items,
    );
    let policy_error = |e: crate::policy::PolicyError| {
        // The origin of the key, or of the nearest enclosing key that was set.
        let origin = origins
            .iter()
            .filter(|(k, _)| e.key.starts_with(k.as_str()) || k.starts_with(&e.key))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, o)| o.clone())
            .unwrap_or(Origin::Default);
        let line = match (&origin, file) {
            (Origin::File(_), Some((_, text))) => line_of_key(text, &e.key),
            _ => None,
        };
        ConfigError {
            origin,
            line,
            key: e.key,
            message: e.message,
            hint: Some(e.hint),
        }
    };
    let base = Policy::compile("base", &settings.policy, &settings.tools).map_err(policy_error)?;
    let mut tenants = BTreeMap::new();
    for (name, s) in &tenant_settings {
        let p = Policy::compile(name, &s.policy, &s.tools).map_err(policy_error)?;
        tenants.insert(name.clone(), Arc::new(p));
    }
    Ok(Config {
        settings,
        origins,
        redactor,
        warnings: Vec::new(),
        policies: ConfigPolicies {
            base: Arc::new(base),
            tenants,
        },
    })
}

/// The line of `section.key` in TOML text: the `key =` line under `[section]` (or a dotted
/// `section.key =` at the top). `None` when it cannot be found this simply.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(header) = t.strip_prefix('[').and_then(|h| h.split(']').next()) {
            current = header.trim().replace('"', "");
            continue;
        }
        let Some((lhs, _)) = t.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().replace('"', "");
        let lhs = lhs.as_str();
        if (current == section && lhs == key) || (current.is_empty() && lhs == dotted) {
            return Some(i + 1);
        }
    }
    None
}

fn parse_file(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    let origin = Origin::File(name.to_owned());
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
    };
    // First as the typed shape, for key paths and line numbers of every error.
    let de = toml::de::Deserializer::parse(text).map_err(|e| ConfigError {
        origin: origin.clone(),
        line: line_of(e.span()),
        key: String::new(),
        message: format!("not valid TOML: {}", e.message()),
        hint: Some("check the quoting and brackets on that line".into()),
    })?;
    if let Err(e) = serde_path_to_error::deserialize::<_, Settings>(de) {
        let key = clean_path(&e.path().to_string());
        let inner = e.into_inner();
        return Err(describe_serde_error(
            origin,
            line_of(inner.span()),
            key,
            inner.message(),
        ));
    }
    toml::from_str::<toml::Table>(text).map_err(|e| ConfigError {
        origin,
        line: line_of(e.span()),
        key: String::new(),
        message: format!("not valid TOML: {}", e.message()),
        hint: None,
    })
}

fn check_layer(patch: &toml::Table, origin: &Origin) -> Result<(), ConfigError> {
    let value = toml::Value::Table(patch.clone());
    serde_path_to_error::deserialize::<_, Settings>(value)
        .map(|_| ())
        .map_err(|e| {
            let key = clean_path(&e.path().to_string());
            let inner = e.into_inner();
            describe_serde_error(origin.clone(), None, key, inner.message())
        })
}

fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

/// Turn serde's messages ("unknown field `x`, expected one of `a`, `b`") into an error with a
/// suggestion.
fn describe_serde_error(
    origin: Origin,
    line: Option<usize>,
    key: String,
    message: &str,
) -> ConfigError {
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let message = message.trim().to_owned();
    let hint = if message.starts_with("unknown field") || message.starts_with("unknown variant") {
        let (bad, known) = ticked.split_first().map_or(("", &[][..]), |(b, k)| (*b, k));
        let what = if message.starts_with("unknown field") {
            "keys"
        } else {
            "values"
        };
        let mut hint = String::new();
        if let Some(near) = closest(bad, known.iter().copied()) {
            hint.push_str(&format!("did you mean `{near}`? "));
        }
        if known.is_empty() {
            hint.push_str("this table takes no keys");
        } else {
            hint.push_str(&format!("known {what}: {}", known.join(", ")));
        }
        Some(hint)
    } else if message.starts_with("invalid type") {
        Some("see docs/config.md for the type of each key".into())
    } else {
        None
    };
    ConfigError {
        origin,
        line,
        key,
        message,
        hint,
    }
}

/// `AIRLOCK_GHOST_ARGS__MODE` → `ghost_args.mode`; `None` for variables without `__`.
fn env_key(var: &str) -> Option<String> {
    let rest = var.trim_start_matches("AIRLOCK_");
    if !rest.contains("__") {
        return None;
    }
    Some(
        rest.split("__")
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn patch_for(key: &str, value: toml::Value, origin: &Origin) -> Result<toml::Table, ConfigError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError {
            origin: origin.clone(),
            line: None,
            key: key.to_owned(),
            message: "not a valid key path".into(),
            hint: Some("use a dotted path such as ghost_args.mode".into()),
        });
    }
    let Some((last, parents)) = parts.split_last() else {
        return Ok(toml::Table::new());
    };
    let mut table = toml::Table::new();
    table.insert((*last).to_owned(), value);
    for part in parents.iter().rev() {
        let mut outer = toml::Table::new();
        outer.insert((*part).to_owned(), toml::Value::Table(table));
        table = outer;
    }
    Ok(table)
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// `Ok` when `lo <= v <= hi`, else the error saying so.
fn within(
    bad: &dyn Fn(&str, String, &str) -> ConfigError,
    key: &str,
    v: usize,
    lo: usize,
    hi: usize,
) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        Err(bad(
            key,
            format!("{v} is out of range"),
            &format!("use a whole number from {lo} to {hi}"),
        ))
    } else {
        Ok(())
    }
}

/// `[filesystem]` (or a tenant's or tool's version of it) as a whole.
fn check_filesystem(
    section: &str,
    f: &FilesystemSettings,
    bad: &dyn Fn(&str, String, &str) -> ConfigError,
) -> Result<(), ConfigError> {
    for (i, root) in f.allowed_roots.iter().enumerate() {
        if normalize_absolute(root).is_none() {
            return Err(bad(
                &format!("{section}.allowed_roots"),
                format!("entry {i} ({root:?}) is not an absolute path"),
                "list absolute directories, e.g. [\"/srv/data\"]",
            ));
        }
    }
    for (key, v) in [("base", &f.base), ("home", &f.home)] {
        if let Some(p) = v
            && normalize_absolute(p).is_none()
        {
            return Err(bad(
                &format!("{section}.{key}"),
                format!("{p:?} is not an absolute path"),
                "use an absolute directory, e.g. \"/srv/data\"",
            ));
        }
    }
    for (i, g) in f.deny.iter().enumerate() {
        if let Err(e) = globset::Glob::new(g) {
            return Err(bad(
                &format!("{section}.deny"),
                format!("entry {i} ({g:?}) is not a glob: {e}"),
                "use globs like \"**/.ssh/**\", \"*.pem\" or \".env*\"",
            ));
        }
    }
    within(bad, &format!("{section}.max_depth"), f.max_depth, 1, 4096)?;
    Ok(())
}

/// `[network]` (or a tenant's or tool's version of it) as a whole. Host globs and CIDRs are
/// checked where the `network` check is built.
fn check_network(
    section: &str,
    n: &NetworkSettings,
    bad: &dyn Fn(&str, String, &str) -> ConfigError,
) -> Result<(), ConfigError> {
    for s in &n.schemes {
        let ok = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !ok {
            return Err(bad(
                &format!("{section}.schemes"),
                format!("{s:?} is not a lower-case URL scheme"),
                "list schemes like \"https\", without \"://\"",
            ));
        }
    }
    within(
        bad,
        &format!("{section}.dns_timeout_ms"),
        usize::try_from(n.dns_timeout_ms).unwrap_or(usize::MAX),
        1,
        60_000,
    )?;
    Ok(())
}

fn check_gateway(
    g: &GatewaySettings,
    bad: &dyn Fn(&str, String, &str) -> ConfigError,
) -> Result<(), ConfigError> {
    let within = |key: &str, v: usize, lo: usize, hi: usize| within(&bad, key, v, lo, hi);
    within("gateway.max_sessions", g.max_sessions, 1, 100_000)?;
    within(
        "gateway.max_sessions_per_caller",
        g.max_sessions_per_caller,
        1,
        100_000,
    )?;
    within("gateway.max_body_bytes", g.max_body_bytes, 1024, 64 << 20)?;
    for (i, k) in g.api_keys.iter().enumerate() {
        if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(
                "gateway.api_keys",
                format!(
                    "entry {i}: sha256 must be 64 hex digits (the key's SHA-256), not the key itself"
                ),
                "printf %s \"$KEY\" | sha256sum",
            ));
        }
        if k.agent.is_empty() {
            return Err(bad(
                "gateway.api_keys",
                format!("entry {i}: agent is empty"),
                "name the agent that uses this key, e.g. agent = \"ci-bot\"",
            ));
        }
    }
    if let Some(j) = &g.jwt {
        let sources = [&j.jwks_file, &j.public_key_file, &j.secret_env]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if sources != 1 {
            return Err(bad(
                "gateway.jwt",
                format!("{sources} key sources are set; exactly one is needed"),
                "set one of jwks_file, public_key_file or secret_env",
            ));
        }
        const ALGS: &[&str] = &[
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
            "ES256", "ES384", "EdDSA",
        ];
        for a in &j.algorithms {
            if !ALGS.contains(&a.as_str()) {
                return Err(bad(
                    "gateway.jwt.algorithms",
                    format!("{a:?} is not a signature algorithm"),
                    &format!("use some of {}", ALGS.join(", ")),
                ));
            }
        }
        if j.algorithms.is_empty() {
            return Err(bad(
                "gateway.jwt.algorithms",
                "no algorithm is accepted".into(),
                "e.g. algorithms = [\"RS256\"]",
            ));
        }
        let hs = j.algorithms.iter().any(|a| a.starts_with("HS"));
        if hs != j.secret_env.is_some() || (hs && j.algorithms.iter().any(|a| !a.starts_with("HS")))
        {
            return Err(bad(
                "gateway.jwt.algorithms",
                "HS* algorithms go with secret_env, and only with it".into(),
                "a shared secret: algorithms = [\"HS256\"]; a public key or JWKS: RS256, ES256, EdDSA …",
            ));
        }
        within(
            "gateway.jwt.leeway_secs",
            usize::try_from(j.leeway_secs).unwrap_or(usize::MAX),
            0,
            300,
        )?;
    }
    Ok(())
}

fn record_origins(
    t: &toml::Table,
    prefix: &str,
    origin: &Origin,
    out: &mut BTreeMap<String, Origin>,
) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => record_origins(inner, &key, origin, out),
            _ => {
                out.insert(key, origin.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Config, ConfigError> {
        ConfigBuilder::new().file("airlock.toml", text).build()
    }

    #[test]
    fn defaults_are_valid() {
        let c = ConfigBuilder::new().build().unwrap();
        assert_eq!(c.settings, Settings::default());
        assert_eq!(c.origin("ghost_args.mode"), Origin::Default);
    }

    #[test]
    fn unknown_key_names_file_line_key_and_suggestion() {
        let e = file("[ghost_args]\nmode = \"block\"\nmdoe = \"block\"\n").unwrap_err();
        assert_eq!(e.origin, Origin::File("airlock.toml".into()));
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key, "ghost_args.mdoe");
        assert!(e.message.contains("unknown field `mdoe`"), "{e}");
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `mode`? known keys: mode")
        );
    }

    #[test]
    fn unknown_section_and_bad_value() {
        let e = file("[ghost_arg]\nmode = \"block\"\n").unwrap_err();
        assert!(e.hint.unwrap().starts_with("did you mean `ghost_args`?"));
        let e = file("[ghost_args]\nmode = \"blok\"\n").unwrap_err();
        assert_eq!(e.key, "ghost_args.mode");
        assert_eq!(e.line, Some(2));
        assert!(e.hint.unwrap().starts_with("did you mean `block`?"));
        let e = file("[arguments]\nmax_depth = \"deep\"\n").unwrap_err();
        assert_eq!(e.key, "arguments.max_depth");
        let e = file("[arguments\n").unwrap_err();
        assert!(e.message.starts_with("not valid TOML"), "{e}");
    }

    #[test]
    fn out_of_range_values_in_the_file_have_a_line() {
        let e = file("# c\n[validation]\n\nmax_errors = 0\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.key, "validation.max_errors");
    }

    #[test]
    fn strip_silent_is_announced() {
        let c = file("[ghost_args]\nmode = \"strip_silent\"\n").unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("strip_silent")));
        assert!(file("").unwrap().warnings.is_empty());
    }

    #[test]
    fn out_of_range_values_name_their_origin() {
        let e = ConfigBuilder::new()
            .file("a.toml", "[arguments]\nmax_depth = 4\n")
            .env([("AIRLOCK_ARGUMENTS__MAX_DEPTH", "500")])
            .build()
            .unwrap_err();
        assert_eq!(e.origin, Origin::Env("AIRLOCK_ARGUMENTS__MAX_DEPTH".into()));
        assert_eq!(e.key, "arguments.max_depth");
        assert_eq!(e.hint.as_deref(), Some("use a whole number from 1 to 128"));
    }

    #[test]
    fn env_beats_code_beats_file() {
        let base = || {
            ConfigBuilder::new()
                .file(
                    "a.toml",
                    "[ghost_args]\nmode = \"block\"\n[arguments]\nmax_depth = 10\n",
                )
                .unknown_args(UnknownArgs::StripAndLog)
        };
        let c = base().build().unwrap();
        assert_eq!(c.settings.ghost_args.mode, UnknownArgs::StripAndLog);
        assert_eq!(c.settings.arguments.max_depth, 10);
        assert_eq!(
            c.origin("arguments.max_depth"),
            Origin::File("a.toml".into())
        );
        let c = base()
            .env([
                ("AIRLOCK_GHOST_ARGS__MODE", "strip_silent"),
                ("PATH", "/bin"),
            ])
            .build()
            .unwrap();
        assert_eq!(c.settings.ghost_args.mode, UnknownArgs::StripSilent);
        assert_eq!(
            c.origin("ghost_args.mode"),
            Origin::Env("AIRLOCK_GHOST_ARGS__MODE".into())
        );
    }

    #[test]
    fn env_values_are_typed_and_checked() {
        let c = ConfigBuilder::new()
            .env([
                ("AIRLOCK_AUDIT__REDACT_KEYS", "[\"iban_no\"]"),
                ("AIRLOCK_AUDIT__FSYNC", "true"),
                ("AIRLOCK_AUDIT__PATH", "/tmp/a.jsonl"),
            ])
            .build()
            .unwrap();
        assert!(c.settings.audit.fsync);
        assert_eq!(c.settings.audit.redact_keys, ["iban_no"]);
        assert_eq!(c.settings.audit.path.as_deref(), Some("/tmp/a.jsonl"));
        let e = ConfigBuilder::new()
            .env([("AIRLOCK_GHOST_ARGS__MODDE", "block")])
            .build()
            .unwrap_err();
        assert_eq!(e.origin, Origin::Env("AIRLOCK_GHOST_ARGS__MODDE".into()));
        assert!(e.hint.unwrap().starts_with("did you mean `mode`?"));
        // Variables that cannot be configuration keys are ignored, with a warning.
        let c = ConfigBuilder::new()
            .env([("AIRLOCK_HOME", "/x")])
            .build()
            .unwrap();
        assert!(c.warnings[0].contains("AIRLOCK_HOME"));
        // A string key given digits is the string, not an error.
        let c = ConfigBuilder::new()
            .env([("AIRLOCK_AUDIT__PATH", "1234")])
            .build()
            .unwrap();
        assert_eq!(c.settings.audit.path.as_deref(), Some("1234"));
        // A number key given text is still an error.
        assert!(
            ConfigBuilder::new()
                .env([("AIRLOCK_ARGUMENTS__MAX_DEPTH", "deep")])
                .build()
                .is_err()
        );
    }

    #[test]
    fn errors_render_with_hint_lines() {
        let e = file("[ghost_args]\nmdoe = 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "airlock.toml, line 2, key `ghost_args.mdoe`: unknown field `mdoe`, expected `mode`\nhint: did you mean `mode`? known keys: mode"
        );
    }

    #[test]
    fn explain_covers_every_key() {
        let c = Config::default();
        let keys: Vec<String> = c.explain().into_iter().map(|e| e.key).collect();
        let Ok(toml::Value::Table(t)) = toml::Value::try_from(&c.settings) else {
            panic!()
        };
        let mut all = BTreeMap::new();
        record_origins(&t, "", &Origin::Default, &mut all);
        for key in all.keys() {
            assert!(keys.contains(key), "explain() misses {key}");
        }
        let c = ConfigBuilder::new()
            .file("a.toml", "[tools.\"write_*\"]\nroles = [\"editor\"]\n[tenants.acme.policy]\npreset = \"read_only\"\n")
            .build()
            .unwrap();
        let keys: Vec<String> = c.explain().into_iter().map(|e| e.key).collect();
        assert!(
            keys.contains(&"tools.write_*".to_owned()) && keys.contains(&"tenants.acme".to_owned())
        );
    }
}
