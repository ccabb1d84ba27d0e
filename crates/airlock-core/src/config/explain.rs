//! `airlock verify`'s account of a configuration: every effective key with its value, where
//! it came from and what it means for calls ([`Config::explain`]). A test keeps it complete:
//! a key of [`Settings`](super::Settings) that `explain` leaves out fails it.

use serde::Serialize;

use super::Config;
use super::layers::Origin;
use super::settings::{PathPreset, Symlinks, ToolIntegrityMode, redact_url};
use crate::checks::UnknownArgs;

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
            "arguments.large_integers",
            format!("{:?}", s.arguments.large_integers).to_lowercase(),
            match s.arguments.large_integers {
                crate::config::LargeIntegers::Refuse => {
                    "integers beyond ±2^53 are refused: a JavaScript server would read another number".into()
                }
                crate::config::LargeIntegers::Allow => {
                    "integers beyond ±2^53 pass (the server must read 64-bit integers exactly)".into()
                }
            },
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
        add(
            "approval.ask_client",
            s.approval.ask_client.to_string(),
            if s.approval.ask_client {
                "a call needing approval is put to the client's user when the client can ask (MCP elicitation)".into()
            } else {
                "clients are never asked: only the configured approver decides".into()
            },
        );
        add(
            "approval.command",
            shown_command(&s.approval.command),
            match s.approval.command.first() {
                None => "a client that cannot ask its user gets approval.required".into(),
                Some(program) => {
                    format!("{program:?} decides the calls no client's user is asked about")
                }
            },
        );
        let u = &s.upstream;
        add(
            "upstream.timeout",
            format!("{:?}", u.timeout),
            match self.upstream.timeout {
                Some(_) => format!(
                    "a tools/call the server has not answered within {} is cancelled (upstream.timeout for the client, notifications/cancelled for the server); per tool: [tools.\"X\"] timeout",
                    u.timeout
                ),
                None => "calls wait for the server's answer for ever".into(),
            },
        );
        let r = &u.retry;
        add(
            "upstream.retry.attempts",
            r.attempts.to_string(),
            if r.attempts <= 1 {
                "calls are never repeated".into()
            } else {
                format!(
                    "a call safe to repeat (idempotentHint or readOnlyHint, or [tools.\"X\"] retry = true) is tried up to {} times after a timeout, a transport failure or an HTTP 5xx, while nothing of its answer has reached the client",
                    r.attempts
                )
            },
        );
        add(
            "upstream.retry.backoff",
            format!("{:?}", r.backoff),
            format!(
                "the wait before a retry is a random part (full jitter) of {}, doubling with each attempt",
                r.backoff
            ),
        );
        add(
            "upstream.retry.max_backoff",
            format!("{:?}", r.max_backoff),
            format!("no wait before a retry is longer than {}", r.max_backoff),
        );
        add(
            "upstream.retry.within",
            format!("{:?}", r.within),
            format!(
                "no retry starts later than {} after the call was forwarded",
                r.within
            ),
        );
        match &u.breaker {
            Some(b) => {
                add(
                    "upstream.breaker.failures",
                    b.failures.to_string(),
                    format!(
                        "after {} consecutive failures of the server (timeouts, exits, JSON-RPC errors{}), every call is refused with breaker.open",
                        b.failures,
                        if b.tool_errors {
                            ", isError results"
                        } else {
                            ""
                        }
                    ),
                );
                add(
                    "upstream.breaker.open_for",
                    format!("{:?}", b.open_for),
                    format!(
                        "an open breaker refuses calls for {}, then lets one probe call through: its success closes the breaker, its failure reopens it",
                        b.open_for
                    ),
                );
                add(
                    "upstream.breaker.tool_errors",
                    b.tool_errors.to_string(),
                    if b.tool_errors {
                        "results marked isError count as failures".into()
                    } else {
                        "results marked isError do not count as failures (the tool ran)".into()
                    },
                );
            }
            None => add(
                "upstream.breaker",
                "(unset)".into(),
                "no breaker over the whole server (per tool: [tools.\"X\"] breaker)".into(),
            ),
        }
        for (i, b) in self.upstream.budgets.iter().enumerate() {
            add(
                &format!("budgets[{i}]"),
                format!("{:?}", b.name),
                format!(
                    "{}{}; a call that would go past it is refused with budget.exhausted{}; a result that goes past it is delivered and the next call refused",
                    b.describe(),
                    b.window
                        .map(|w| format!(
                            " ({} in policy.timezone {})",
                            match w {
                                crate::budget::BudgetWindow::Hour => "from the start of each hour",
                                crate::budget::BudgetWindow::Day => "from midnight",
                                crate::budget::BudgetWindow::Month => "from the first of the month",
                            },
                            s.policy.timezone
                        ))
                        .unwrap_or_else(|| " (never resets)".to_owned()),
                    if b.caps.needs_tokens(true) {
                        "; tokens counted with o200k_base"
                    } else {
                        ""
                    }
                ),
            );
        }
        let h = &s.honeypot;
        add(
            "honeypot.codes",
            format!("{:?}", h.codes),
            if h.codes.is_empty() {
                "refusals are answered as refusals".into()
            } else {
                format!(
                    "refusals with these codes are answered with a fake success instead ({}); the server is never called",
                    h.codes.join(", ")
                )
            },
        );
        add(
            "honeypot.text",
            format!("{:?}", h.text),
            "the text of a honeypot's fake success, where the tool's rule gives none".into(),
        );
        add(
            "honeypot.hook",
            shown_command(&h.hook),
            match h.hook.first() {
                None => "a honeypot answer is logged at warn".into(),
                Some(program) => format!(
                    "a honeypot answer is logged at warn and {program:?} is run with its audit record on stdin"
                ),
            },
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
            match rule.retry {
                Some(true) => parts
                    .push("calls may be repeated after a timeout or transport failure".to_owned()),
                Some(false) => parts.push("calls are never repeated".to_owned()),
                None => {}
            }
            if let Some(p) = rule.price_per_call {
                parts.push(format!("a call costs {p}"));
            }
            if let Some(p) = rule.price_per_1k_tokens {
                parts.push(format!("1000 tokens cost {p}"));
            }
            if let Some(t) = &rule.timeout {
                parts.push(format!("the server has {t} to answer a call"));
            }
            if let Some(b) = &rule.breaker {
                parts.push(format!(
                    "after {} consecutive failures calls are refused for {}",
                    b.failures, b.open_for
                ));
            }
            match &rule.honeypot {
                Some(crate::policy::Honeypot::On(true)) => parts
                    .push("a honeypot: calls get the fake success of honeypot.text, the server is never called".to_owned()),
                Some(crate::policy::Honeypot::Text(t)) => parts.push(format!(
                    "a honeypot: calls get the fake success {t:?}, the server is never called"
                )),
                Some(crate::policy::Honeypot::On(false)) | None => {}
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
        add(
            "audit.chain",
            s.audit.chain.to_string(),
            if s.audit.chain {
                "records are sealed into a hash chain: airlock audit verify finds an edited, deleted, reordered or cut-off record".into()
            } else {
                "records are not chained: an edit to the file cannot be told afterwards".into()
            },
        );
        add(
            "audit.rotate_bytes",
            s.audit
                .rotate_bytes
                .map_or_else(|| "(unset)".to_owned(), |b| b.to_string()),
            match s.audit.rotate_bytes {
                Some(b) => format!(
                    "past {b} bytes the file is renamed with the time and a new one started; the chain goes on"
                ),
                None => "the file is never rotated for size".into(),
            },
        );
        add(
            "audit.rotate_daily",
            s.audit.rotate_daily.to_string(),
            if s.audit.rotate_daily {
                "a new file on the first record of each UTC day; the chain goes on".into()
            } else {
                "the file is not rotated by day".into()
            },
        );
        add(
            "injection.enabled",
            s.injection.enabled.to_string(),
            if s.injection.enabled {
                "arguments of tools that run or interpret them (shells, code, SQL, templates) are refused when they chain, substitute or stack commands".into()
            } else {
                "arguments are not read for injected commands".into()
            },
        );
        for (tool, kind) in &s.injection.tools {
            add(
                &format!("injection.tools.{tool}"),
                kind.as_str().to_owned(),
                match kind.kind() {
                    Some(k) => format!(
                        "the arguments of tool '{tool}' are read as {} and refused when they smuggle in more than one plain value",
                        k.reads()
                    ),
                    None => format!(
                        "the arguments of tool '{tool}' are not read for injected commands, whatever its name or schema says"
                    ),
                },
            );
        }
        add(
            "tool_integrity.mode",
            format!("{:?}", s.tool_integrity.mode).to_lowercase(),
            match s.tool_integrity.mode {
                ToolIntegrityMode::Block => "a tool whose definition hides instructions, invisible text, a collection URL or shadowing is hidden and its calls are refused".into(),
                ToolIntegrityMode::Warn => "poisoned tool definitions are logged and stay usable".into(),
                ToolIntegrityMode::Off => "tool definitions are not scanned".into(),
            },
        );
        add(
            "tool_integrity.allow",
            format!("{:?}", s.tool_integrity.allow),
            if s.tool_integrity.allow.is_empty() {
                "every tool's definition is scanned".into()
            } else {
                format!(
                    "not scanned (reviewed): {}",
                    s.tool_integrity.allow.join(", ")
                )
            },
        );
        let t = &s.telemetry;
        add(
            "telemetry.enabled",
            format!("{:?}", t.enabled),
            match t.enabled {
                Some(true) => "traces and metrics are exported over OTLP/HTTP".into(),
                Some(false) => "nothing is exported to OpenTelemetry, whatever OTEL_* says".into(),
                None => "traces and metrics are exported when OTEL_EXPORTER_OTLP_ENDPOINT (or a per-signal endpoint) is set".into(),
            },
        );
        add(
            "telemetry.endpoint",
            format!("{:?}", t.endpoint.as_deref().map(redact_url)),
            match t.endpoint.as_deref().map(redact_url) {
                Some(url) => format!("spans go to {url}/v1/traces, metrics to {url}/v1/metrics"),
                None => "the OTEL_EXPORTER_OTLP_*ENDPOINT variables say where, else http://localhost:4318".into(),
            },
        );
        add(
            "telemetry.traces",
            t.traces.to_string(),
            if t.traces {
                "with telemetry on, one span per MCP request is exported".into()
            } else {
                "no spans are exported".into()
            },
        );
        add(
            "telemetry.metrics",
            t.metrics.to_string(),
            if t.metrics {
                "with telemetry on, metrics are exported".into()
            } else {
                "no metrics are exported to OpenTelemetry".into()
            },
        );
        for e in &mut out {
            e.value = as_written(&e.value);
        }
        out
    }
}

/// A command line (`approval.command`, `honeypot.hook`) as shown: `(unset)` when empty.
fn shown_command(command: &[String]) -> String {
    if command.is_empty() {
        "(unset)".to_owned()
    } else {
        format!("{command:?}")
    }
}

/// A value printed the one way everywhere, as it would be written in the file: a word in
/// quotes (`"refuse"`), an unset value as `(unset)`, `Some(x)` as `x`; numbers, booleans,
/// arrays and descriptions (`2 pattern(s)`) as they are.
fn as_written(value: &str) -> String {
    if value == "None" {
        return "(unset)".to_owned();
    }
    if let Some(inner) = value
        .strip_prefix("Some(")
        .and_then(|v| v.strip_suffix(')'))
    {
        return as_written(inner);
    }
    let word = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value != "true"
        && value != "false";
    if word {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::layers::record_origins;
    use super::super::{ConfigBuilder, Origin};
    use super::*;

    #[test]
    fn values_are_printed_one_way() {
        assert_eq!(as_written("refuse"), "\"refuse\"");
        assert_eq!(as_written("first_seen"), "\"first_seen\"");
        assert_eq!(as_written("None"), "(unset)");
        assert_eq!(as_written("Some(2000)"), "2000");
        assert_eq!(as_written("Some(\"KEY\")"), "\"KEY\"");
        for kept in [
            "true",
            "10",
            "[\"a\"]",
            "\"block\"",
            "2 pattern(s)",
            "(unset)",
        ] {
            assert_eq!(as_written(kept), kept);
        }
        // Every explained value of the defaults follows the rule.
        let c = crate::ConfigBuilder::new().build().unwrap();
        for e in c.explain() {
            assert!(
                e.value != "None" && !e.value.starts_with("Some("),
                "{}: {}",
                e.key,
                e.value
            );
        }
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
        let c = ConfigBuilder::new()
            .file(
                "a.toml",
                "[injection.tools]\necho = \"template\"\nrun_command = \"off\"\n",
            )
            .build()
            .unwrap();
        let e: Vec<Explanation> = c
            .explain()
            .into_iter()
            .filter(|e| e.key.starts_with("injection.tools."))
            .collect();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(
            (e[0].key.as_str(), e[0].value.as_str()),
            ("injection.tools.echo", "\"template\"")
        );
        assert!(e[0].meaning.contains("a template"), "{e:?}");
        assert_eq!(e[1].value, "\"off\"");
        assert!(e[1].meaning.contains("not read"), "{e:?}");
    }

    #[test]
    fn command_lines_are_shown_whole_and_name_their_program() {
        let of = |c: &Config, key: &str| {
            c.explain()
                .into_iter()
                .find(|e| e.key == key)
                .map(|e| (e.value, e.meaning))
                .unwrap()
        };
        let c = Config::default();
        for key in ["approval.command", "honeypot.hook"] {
            assert_eq!(of(&c, key).0, "(unset)", "{key}");
        }
        let c = ConfigBuilder::new()
            .file(
                "a.toml",
                "[approval]\ncommand = [\"/opt/approve\", \"-q\"]\n[honeypot]\nhook = [\"logger\", \"-t\", \"x\"]\n",
            )
            .build()
            .unwrap();
        let (value, meaning) = of(&c, "approval.command");
        assert_eq!(value, r#"["/opt/approve", "-q"]"#);
        assert!(
            meaning.starts_with(r#""/opt/approve" decides"#),
            "{meaning}"
        );
        let (value, meaning) = of(&c, "honeypot.hook");
        assert_eq!(value, r#"["logger", "-t", "x"]"#);
        assert!(meaning.contains(r#""logger" is run"#), "{meaning}");
    }
}
