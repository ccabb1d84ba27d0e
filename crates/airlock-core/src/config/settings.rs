//! The raw shape of the configuration: one serde struct per section (`[ghost_args]`,
//! `[filesystem]`, `[gateway]`, …) and per override table (`[tenants.NAME.sanitize]`,
//! `[filesystem.tools."NAME"]`, …), each rejecting unknown keys, with every field documented
//! and every default set here (and explained in `docs/defaults.md`). Also the small helpers
//! that read these shapes: which sections are on for anyone, a section with its overrides
//! applied, lexical path normalisation and URL redaction. Nothing here checks ranges or
//! compiles anything; that is `compile.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::UnknownArgs;
use crate::policy::{PolicySettings, TenantSettings, ToolRule};

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
    /// Poisoned tool definitions: instructions, invisible text, collection URLs, shadowing.
    pub tool_integrity: ToolIntegritySettings,
    /// Arguments that smuggle commands into tools that execute them.
    pub injection: InjectionSettings,
    /// Calls a person must approve (`[tools."X"] approval = "required"`).
    pub approval: ApprovalSettings,
    /// The server behind the airlock: how long a call may take, and when to stop calling a
    /// server that keeps failing.
    pub upstream: UpstreamSettings,
    /// Calls answered with a fake success instead of a refusal; the server is never called.
    pub honeypot: HoneypotSettings,
    /// What a session, an agent or a tenant may spend (`[[budgets]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetSettings>,
    /// OpenTelemetry traces and metrics over OTLP (HTTP/protobuf).
    pub telemetry: TelemetrySettings,
    /// The sandbox of the servers `airlock run` and `airlock serve -- CMD` start. Unset: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxSettings>,
}

/// `[sandbox]`: servers the airlock starts run in Linux namespaces (user, mount, pid, network,
/// IPC), with Landlock, a seccomp filter and resource limits, and only the environment variables
/// listed. The keys here are the profile used unless `profile` (or `--sandbox-profile`) names
/// one of `[sandbox.profiles.NAME]`, whose keys override them.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// Refuse to start a server when a layer of the sandbox is unavailable on this machine.
    /// `false`: start it with what works, and say per layer what is missing (degraded).
    pub required: bool,
    /// How: `namespaces` (Linux namespaces, Landlock, seccomp, rlimits; no daemon, no root),
    /// or `podman` (a Podman container with no image, for machines without unprivileged user
    /// namespaces).
    pub backend: String,
    /// The profile servers get (a key of `profiles`). Unset: the keys of `[sandbox]` itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `none` (no network at all, loopback included), `loopback` (the host's loopback, only
    /// the `ports` listed), `ports` (the host's network, TCP to the `ports` listed only, no
    /// UDP), or `any`.
    pub network: String,
    /// With `network = "loopback"`: the ports of the host's loopback the server may reach.
    /// With `network = "ports"`: the TCP ports the server may connect to (on any address:
    /// Landlock filters ports, not hosts).
    pub ports: Vec<u16>,
    /// Paths the server may read (beside the system's library and program directories, and the
    /// server's own install directory).
    pub read_only: Vec<String>,
    /// Paths the server may read and write.
    pub read_write: Vec<String>,
    /// Grant `filesystem.allowed_roots` read-write.
    pub allowed_roots: bool,
    /// Most processes (and threads) the server's user may run (`RLIMIT_NPROC`).
    pub processes: u64,
    /// Most address space per process: `"1GiB"`, `"512MiB"` (`RLIMIT_AS`).
    pub memory: String,
    /// Most CPU time per process, in seconds (`RLIMIT_CPU`); 0: no limit.
    pub cpu_seconds: u64,
    /// Most open files per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// The server is stopped this long after it started: `"8h"`; `"0s"`: never.
    pub wall_time: String,
    /// Environment variables passed to the server; every other one (API keys, tokens in the
    /// airlock's environment) is not.
    pub env: Vec<String>,
    /// Named profiles: each key set overrides the one of `[sandbox]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, SandboxProfile>,
}

/// The variables a sandboxed server gets by default: where programs are, who and where it is,
/// language and time zone.
pub const SANDBOX_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "TMPDIR",
];

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            required: true,
            backend: "namespaces".to_owned(),
            profile: None,
            network: "none".to_owned(),
            ports: Vec::new(),
            read_only: Vec::new(),
            read_write: Vec::new(),
            allowed_roots: false,
            processes: 256,
            memory: "4GiB".to_owned(),
            cpu_seconds: 0,
            open_files: 1024,
            wall_time: "0s".to_owned(),
            env: SANDBOX_ENV.iter().map(|v| (*v).to_owned()).collect(),
            profiles: BTreeMap::new(),
        }
    }
}

/// `[sandbox.profiles.NAME]`: the keys of `[sandbox]` this profile sets differently.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxProfile {
    /// As `sandbox.network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// As `sandbox.ports`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u16>>,
    /// As `sandbox.read_only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<Vec<String>>,
    /// As `sandbox.read_write`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_write: Option<Vec<String>>,
    /// As `sandbox.allowed_roots`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_roots: Option<bool>,
    /// As `sandbox.processes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    /// As `sandbox.memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// As `sandbox.cpu_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
    /// As `sandbox.open_files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// As `sandbox.wall_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_time: Option<String>,
    /// As `sandbox.env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
}

/// `[telemetry]`: OpenTelemetry traces and metrics, exported over OTLP (HTTP/protobuf). Keys
/// left unset follow the standard `OTEL_*` environment variables.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Export. Unset: on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its `_TRACES_`/`_METRICS_`
    /// form) is set, unless `OTEL_SDK_DISABLED=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The collector's base URL; `/v1/traces` and `/v1/metrics` are appended. Unset: the
    /// `OTEL_EXPORTER_OTLP_*ENDPOINT` variables, else `http://localhost:4318`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute. Unset: `OTEL_SERVICE_NAME`, else `agent-airlock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Export traces: one span per MCP request, with child spans for the check, the tool-list
    /// fetch, the upstream call and the result's cleaning.
    pub traces: bool,
    /// Export metrics.
    pub metrics: bool,
    /// How often metrics are exported: `"60s"`. Unset: `OTEL_METRIC_EXPORT_INTERVAL`
    /// (milliseconds), else 60 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_interval: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            enabled: None,
            endpoint: None,
            service_name: None,
            traces: true,
            metrics: true,
            metrics_interval: None,
        }
    }
}

/// One `[[budgets]]` entry: caps on what calls spend, per session, agent or tenant.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// Its name, for refusals and the audit log (default: `budget N`, counted from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whose spending it counts: `session`, `agent` or `tenant`.
    pub per: crate::budget::BudgetScope,
    /// `hour`, `day` or `month`, calendar-aligned in the policy's time zone. Unset: it never
    /// resets (for `per = "session"`: the session's life).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<crate::budget::BudgetWindow>,
    /// Tool names or globs it counts. Empty: every tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Most calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
    /// Most bytes of arguments (JSON as forwarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument_bytes: Option<u64>,
    /// Most bytes of results (JSON as delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_bytes: Option<u64>,
    /// Most tokens of arguments and results' text (`o200k_base`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Most cost, in the unit of the tools' prices (`price_per_call`, `price_per_1k_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

/// `[upstream]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// Deadline of one `tools/call`, from forwarding to the answer: `"60s"`, `"5m"`; `"0s"`
    /// waits for ever. Per tool: `[tools."X"] timeout`. On expiry the client gets
    /// `upstream.timeout` and the server `notifications/cancelled`.
    pub timeout: String,
    /// A circuit breaker over the whole server. Unset: none (per tool: `[tools."X"] breaker`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerSettings>,
    /// Retries of calls that are safe to repeat.
    pub retry: RetrySettings,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            timeout: "300s".to_owned(),
            breaker: None,
            retry: RetrySettings::default(),
        }
    }
}

/// `[upstream.retry]`: calls repeated after a timeout, a transport failure or an HTTP 5xx —
/// only calls of tools safe to repeat (`idempotentHint` or `readOnlyHint`, or `[tools."X"]
/// retry = true`), and only while nothing of the answer has reached the client.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Most attempts of one call, the first included (1–10); 1: no retries.
    pub attempts: u32,
    /// The first backoff; each next one doubles, up to `max_backoff`, and a random part of it
    /// is waited (full jitter): `"200ms"`.
    pub backoff: String,
    /// The longest backoff: `"5s"`.
    pub max_backoff: String,
    /// No attempt starts later than this after the call was forwarded: `"60s"`.
    pub within: String,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            attempts: 1,
            backoff: "200ms".to_owned(),
            max_backoff: "5s".to_owned(),
            within: "60s".to_owned(),
        }
    }
}

/// A circuit breaker: `[upstream.breaker]`, or `[tools."X"] breaker = { … }`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker (1–1000): transport errors, timeouts, the
    /// server exiting, JSON-RPC errors.
    pub failures: u32,
    /// How long it stays open before one probe call is let through: `"30s"`.
    pub open_for: String,
    /// Count tool results marked `isError` as failures too.
    pub tool_errors: bool,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            open_for: "30s".to_owned(),
            tool_errors: false,
        }
    }
}

/// `[honeypot]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HoneypotSettings {
    /// Refusal codes answered with a fake success instead of the refusal, e.g.
    /// `["filesystem.denied"]`. Per tool: `[tools."X"] honeypot`.
    pub codes: Vec<String>,
    /// The text of the fake success where the tool's rule gives none.
    pub text: String,
    /// A command run for every honeypot answer, with its audit record as one JSON line on
    /// stdin, e.g. `["logger", "-t", "airlock"]`. Empty: a log line at warn only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hook: Vec<String>,
}

impl Default for HoneypotSettings {
    fn default() -> Self {
        HoneypotSettings {
            codes: Vec::new(),
            text: "Done.".to_owned(),
            hook: Vec::new(),
        }
    }
}

/// `[approval]`
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSettings {
    /// How long the approver may take before the call is refused (`approval.timed_out`), in
    /// seconds (1–86400). An approver that answers later is ignored.
    pub timeout_secs: u64,
    /// The approver for calls the client cannot ask its user about: a program (and its
    /// arguments) given the call as one JSON line on stdin; exit 0 approves, exit 1 declines
    /// (the first line of its output is the reason), anything else refuses the call as a
    /// failure. Killed at the deadline.
    pub command: Vec<String>,
    /// Whether a client that can ask its user (MCP elicitation) is asked. `false`: only the
    /// configured approver decides — for approvals the agent's own client must not be able to
    /// give.
    pub ask_client: bool,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            timeout_secs: 300,
            command: Vec::new(),
            ask_client: true,
        }
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

/// `[tool_integrity]`: what a server's tool definitions may not hide (`crate::poison`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolIntegritySettings {
    /// `block`: a poisoned tool is hidden from `tools/list` and its calls are refused
    /// (`tool_integrity.poisoned`); `warn`: it is logged and stays usable; `off`.
    pub mode: ToolIntegrityMode,
    /// Tools whose definitions are not scanned (reviewed by you).
    pub allow: Vec<String>,
}

/// What is done with a poisoned tool definition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolIntegrityMode {
    /// Hide the tool and refuse its calls.
    #[default]
    Block,
    /// Log it; the tool stays usable.
    Warn,
    /// Do not scan.
    Off,
}

impl Default for ToolIntegritySettings {
    fn default() -> Self {
        ToolIntegritySettings {
            mode: ToolIntegrityMode::Block,
            allow: Vec::new(),
        }
    }
}

/// `[injection]`: shell, code, SQL and template injection in the arguments of tools that
/// execute or interpret them (`crate::checks::injection`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionSettings {
    /// Check tools recognised as executors (by name or by a `command`/`code`/`sql`/`template`
    /// property) and the tools listed in `tools`.
    pub enabled: bool,
    /// How a tool reads its arguments, by tool name: `shell`, `code`, `sql`, `template`, or
    /// `off` (not checked).
    pub tools: BTreeMap<String, crate::checks::injection::ToolKind>,
}

impl Default for InjectionSettings {
    fn default() -> Self {
        InjectionSettings {
            enabled: true,
            tools: BTreeMap::new(),
        }
    }
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
    /// Integers beyond ±2^53 (9007199254740992): `refuse` the call, since a JavaScript server
    /// reads them as another number than the one checked; `allow` them.
    pub large_integers: LargeIntegers,
}

/// What `arguments.large_integers` does with integers beyond ±2^53.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LargeIntegers {
    /// Refuse the call (`arguments.unsafe_integer`).
    #[default]
    Refuse,
    /// Let them through (for servers known to read 64-bit integers exactly).
    Allow,
}

impl Default for ArgumentsSettings {
    fn default() -> Self {
        ArgumentsSettings {
            max_bytes: 1 << 20,
            max_depth: 32,
            large_integers: LargeIntegers::Refuse,
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
    /// The absolute directory the server resolves relative paths against. Default: the working
    /// directory of a server the airlock starts itself (`airlock run`, `airlock serve -- …`);
    /// otherwise unset, and then relative paths are refused while `allowed_roots` is set (with
    /// no roots either, a relative path may not climb above its start).
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
    /// Parameter names that are not paths in these tools (`not_paths = ["to"]`): their name
    /// alone no longer makes a value a path; a path `format` or a path-shaped value (`/…`,
    /// `../…`, `~/…`) still does. Added to the list of a less specific scope.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
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

impl Settings {
    /// These settings with the credentials in their URLs (`limits.backend`,
    /// `telemetry.endpoint`) replaced by `***` ([`redact_url`]), for printing.
    #[must_use]
    pub fn redacted(&self) -> Settings {
        let mut shown = self.clone();
        shown.limits.backend = redact_url(&shown.limits.backend);
        if let Some(e) = shown.telemetry.endpoint.as_mut() {
            *e = redact_url(e);
        }
        shown
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
    /// Seal every record into a hash chain (`seq`, `prev`, `hash`), so that `airlock audit
    /// verify` finds an edited, deleted, reordered or cut-off record.
    pub chain: bool,
    /// Start a new file once this one is larger than this many bytes (the old one is renamed
    /// with the time; the chain goes on in the new one). Unset: never for size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate_bytes: Option<u64>,
    /// Start a new file on the first record of each UTC day.
    pub rotate_daily: bool,
    /// Write a checkpoint signed with the Ed25519 key every this many records (needs
    /// `signing_key_file` or `signing_key_env`): `airlock audit verify --public-key` then also
    /// catches a rewrite of the whole chain. Unset: no checkpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<u64>,
    /// A file holding the Ed25519 signing key (its 32-byte seed in hex), e.g. from
    /// `airlock audit keygen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key_file: Option<String>,
    /// An environment variable holding the signing key (hex), instead of a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key_env: Option<String>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            path: None,
            fsync: false,
            redact_keys: Vec::new(),
            max_value_chars: 256,
            max_items: 32,
            chain: true,
            rotate_bytes: None,
            rotate_daily: false,
            checkpoint_every: None,
            signing_key_file: None,
            signing_key_env: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_hides_the_passwords_in_every_url() {
        let mut s = Settings::default();
        s.limits.backend = "redis://u:secret@127.0.0.1:6379/0".to_owned();
        s.telemetry.endpoint = Some("http://u:pw@127.0.0.1:4318".to_owned());
        let shown = s.redacted();
        assert_eq!(shown.limits.backend, "redis://u:***@127.0.0.1:6379/0");
        assert_eq!(
            shown.telemetry.endpoint.as_deref(),
            Some("http://u:***@127.0.0.1:4318")
        );
        let printed = serde_json::to_string(&shown).unwrap();
        assert!(
            !printed.contains("secret") && !printed.contains(":pw@"),
            "{printed}"
        );
        // Everything else is left as it was; the original is untouched.
        assert_eq!(
            Settings {
                limits: s.limits.clone(),
                telemetry: s.telemetry.clone(),
                ..shown
            },
            s
        );
        assert_eq!(s.limits.backend, "redis://u:secret@127.0.0.1:6379/0");
    }

    #[test]
    fn redacted_leaves_urls_without_credentials_alone() {
        let mut s = Settings::default();
        s.telemetry.endpoint = Some("http://127.0.0.1:4318".to_owned());
        assert_eq!(s.redacted(), s);
        s.limits.backend = "redis://secret-token@cache:6379".to_owned();
        assert_eq!(s.redacted().limits.backend, "redis://***@cache:6379");
    }
}
