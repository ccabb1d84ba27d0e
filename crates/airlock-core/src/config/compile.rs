//! The compile step: the merged [`Settings`] checked value by value (ranges, absolute paths,
//! globs, schemes, key sources, modes) and turned into the [`Config`] the engine runs on —
//! the audit redactor built and the base and per-tenant policies compiled. Every error names
//! the key, where its value came from (with the file's line when it can be found) and a fix.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Config;
use super::layers::{ConfigError, Origin};
use super::settings::{
    FilesystemSettings, GatewaySettings, NetworkSettings, STRATEGIES, Settings, normalize_absolute,
    redact_url,
};
use crate::audit::Redactor;
use crate::policy::{ConfigPolicies, Policy};

pub(super) fn compile(
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
    let upstream = upstream(&settings).map_err(policy_error)?;
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
        upstream,
    })
}

/// `[upstream]` and `[honeypot]` compiled: durations parsed, codes known, the hook runnable.
fn upstream(settings: &Settings) -> Result<super::Upstream, crate::policy::PolicyError> {
    use crate::policy::{PolicyError, breaker_rule, parse_duration};
    let timeout = parse_duration(&settings.upstream.timeout).map_err(|message| PolicyError {
        key: "upstream.timeout".to_owned(),
        message,
        hint: "write a whole number with a unit, e.g. \"60s\" or \"5m\"; \"0s\" waits for ever"
            .to_owned(),
    })?;
    let breaker = match &settings.upstream.breaker {
        Some(b) => Some(breaker_rule(b, "upstream.breaker")?),
        None => None,
    };
    let t = &settings.telemetry;
    if let Some(url) = &t.endpoint
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(PolicyError {
            key: "telemetry.endpoint".to_owned(),
            message: format!("{url:?} is not an http:// or https:// URL"),
            hint: "give the collector's OTLP/HTTP base URL, e.g. \"http://localhost:4318\"; /v1/traces and /v1/metrics are appended".to_owned(),
        });
    }
    let metrics_interval = match &t.metrics_interval {
        Some(text) => match parse_duration(text) {
            Ok(d) if d >= std::time::Duration::from_millis(100) => Some(d),
            Ok(_) => {
                return Err(PolicyError {
                    key: "telemetry.metrics_interval".to_owned(),
                    message: format!("{text:?} is shorter than 100 ms"),
                    hint: "export metrics every \"10s\" or more; the default is \"60s\"".to_owned(),
                });
            }
            Err(message) => {
                return Err(PolicyError {
                    key: "telemetry.metrics_interval".to_owned(),
                    message,
                    hint: "write a whole number with a unit, e.g. \"60s\"".to_owned(),
                });
            }
        },
        None => None,
    };
    let mut honeypot_codes = Vec::new();
    for code in &settings.honeypot.codes {
        let Some(c) = crate::refusal::DenyCode::ALL
            .iter()
            .find(|c| c.as_str() == code)
        else {
            let near = crate::suggest::closest(
                code,
                crate::refusal::DenyCode::ALL.iter().map(|c| c.as_str()),
            );
            return Err(PolicyError {
                key: "honeypot.codes".to_owned(),
                message: format!("{code:?} is not a refusal code"),
                hint: match near {
                    Some(n) => {
                        format!("did you mean {n:?}? the codes are listed in docs/errors.md")
                    }
                    None => "the codes are listed in docs/errors.md".to_owned(),
                },
            });
        };
        if matches!(
            c,
            crate::refusal::DenyCode::AuditUnavailable
                | crate::refusal::DenyCode::InternalError
                | crate::refusal::DenyCode::UpstreamTimeout
        ) {
            return Err(PolicyError {
                key: "honeypot.codes".to_owned(),
                message: format!("{code:?} is not the caller's doing"),
                hint: "list codes of refusals an agent provokes, e.g. \"filesystem.denied\""
                    .to_owned(),
            });
        }
        honeypot_codes.push(*c);
    }
    command_line(
        "honeypot.hook",
        &settings.honeypot.hook,
        r#"["logger", "-t", "airlock"]"#,
    )?;
    command_line(
        "approval.command",
        &settings.approval.command,
        r#"["/usr/local/bin/approve", "--channel", "ops"]"#,
    )?;
    let mut budgets = Vec::new();
    for (i, b) in settings.budgets.iter().enumerate() {
        let key = format!("budgets[{i}]");
        let name = b
            .name
            .clone()
            .unwrap_or_else(|| format!("budget {}", i + 1));
        let caps = crate::budget::Caps {
            calls: b.calls,
            argument_bytes: b.argument_bytes,
            result_bytes: b.result_bytes,
            tokens: b.tokens,
            cost: b.cost,
        };
        if caps.fields().iter().all(|(_, v)| v.is_none()) {
            return Err(PolicyError {
                key,
                message: "the budget caps nothing".to_owned(),
                hint: "set calls, argument_bytes, result_bytes, tokens or cost".to_owned(),
            });
        }
        if b.cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
            return Err(PolicyError {
                key: format!("{key}.cost"),
                message: "a cost cap is a number of at least 0".to_owned(),
                hint: "e.g. cost = 5.0, in the unit of the tools' prices".to_owned(),
            });
        }
        if budgets
            .iter()
            .any(|r: &crate::budget::BudgetRule| r.name == name)
        {
            return Err(PolicyError {
                key: format!("{key}.name"),
                message: format!("two budgets are named {name:?}"),
                hint: "give each budget its own name".to_owned(),
            });
        }
        let tools = if b.tools.is_empty() {
            None
        } else {
            let mut g = globset::GlobSetBuilder::new();
            for t in &b.tools {
                g.add(
                    globset::GlobBuilder::new(t)
                        .case_insensitive(true)
                        .build()
                        .map_err(|e| PolicyError {
                            key: format!("{key}.tools"),
                            message: format!("{t:?} is not a valid glob: {e}"),
                            hint: "use * for any run of characters, e.g. \"read_*\"".to_owned(),
                        })?,
                );
            }
            Some(g.build().map_err(|e| PolicyError {
                key: format!("{key}.tools"),
                message: e.to_string(),
                hint: "simplify the patterns".to_owned(),
            })?)
        };
        budgets.push(crate::budget::BudgetRule {
            name,
            per: b.per,
            window: b.window,
            tools,
            patterns: b.tools.clone(),
            caps,
            spent: std::sync::Arc::default(),
        });
    }
    for (pattern, rule) in &settings.tools {
        for (k, v) in [
            ("price_per_call", rule.price_per_call),
            ("price_per_1k_tokens", rule.price_per_1k_tokens),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(PolicyError {
                    key: format!("tools.{pattern}.{k}"),
                    message: "a price is a number of at least 0".to_owned(),
                    hint: "e.g. 0.01".to_owned(),
                });
            }
        }
    }
    let r = &settings.upstream.retry;
    if !(1..=10).contains(&r.attempts) {
        return Err(PolicyError {
            key: "upstream.retry.attempts".to_owned(),
            message: format!("{} is out of range", r.attempts),
            hint: "use 1 (no retries) to 10 attempts, e.g. 3".to_owned(),
        });
    }
    let duration = |key: &str, text: &str| {
        parse_duration(text).map_err(|message| PolicyError {
            key: format!("upstream.retry.{key}"),
            message,
            hint: "write a whole number with a unit, e.g. \"200ms\" or \"5s\"".to_owned(),
        })
    };
    let retry = super::RetryRule {
        attempts: r.attempts,
        backoff: duration("backoff", &r.backoff)?,
        max_backoff: duration("max_backoff", &r.max_backoff)?,
        within: duration("within", &r.within)?,
    };
    Ok(super::Upstream {
        retry,
        timeout: (!timeout.is_zero()).then_some(timeout),
        breaker,
        honeypot_codes,
        budgets,
        metrics_interval,
    })
}

/// A command line (`approval.command`, `honeypot.hook`): unset, or a program and its arguments;
/// `example` is one, for the hint.
fn command_line(
    key: &str,
    command: &[String],
    example: &str,
) -> Result<(), crate::policy::PolicyError> {
    let Some(program) = command.first() else {
        return Ok(());
    };
    // A configuration file's relative paths are made absolute against the file; one left
    // relative (from the environment or `--set`) would run whatever the working directory
    // holds there.
    let relative = program.contains('/') && !std::path::Path::new(program).is_absolute();
    if program.trim().is_empty() || relative {
        return Err(crate::policy::PolicyError {
            key: key.to_owned(),
            message: if relative {
                format!("{program:?} is a relative path")
            } else {
                "the command is empty".to_owned()
            },
            hint: format!(
                "give the program (an absolute path, or a name looked up in PATH) and its arguments, e.g. {example}"
            ),
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::super::{ConfigBuilder, Origin};

    fn file(text: &str) -> Result<super::Config, super::ConfigError> {
        ConfigBuilder::new().file("airlock.toml", text).build()
    }

    #[test]
    fn out_of_range_values_in_the_file_have_a_line() {
        let e = file("# c\n[validation]\n\nmax_errors = 0\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.key, "validation.max_errors");
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
    fn a_command_line_needs_a_program() {
        for (text, key, example) in [
            (
                "[approval]\ncommand = [\" \", \"--channel\", \"ops\"]\n",
                "approval.command",
                "/usr/local/bin/approve",
            ),
            ("[honeypot]\nhook = [\"\"]\n", "honeypot.hook", "logger"),
        ] {
            let e = file(text).unwrap_err();
            assert_eq!(e.key, key);
            assert_eq!(e.message, "the command is empty");
            assert!(e.hint.unwrap().contains(example), "{key}");
        }
        // Unset, or a program: fine.
        let c = file("[approval]\ncommand = []\n[honeypot]\nhook = [\"logger\", \"-t\", \"x\"]\n");
        assert!(c.is_ok());
    }
}
