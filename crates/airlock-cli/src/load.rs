//! Loading the configuration for a subcommand: the file (`--config` or `AIRLOCK_CONFIG`),
//! then flags, then `AIRLOCK_*` environment variables — each wins over the one before.

use std::path::PathBuf;
use std::sync::Arc;

use airlock_core::{Config, ConfigBuilder, Engine};
use anyhow::Context;

use crate::audit_file::FileSink;

/// Options every engine-running subcommand shares.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Default: $AIRLOCK_CONFIG, else built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do with undeclared arguments (overrides ghost_args.mode).
    #[arg(long, value_name = "MODE", value_parser = ["block", "strip_and_log", "strip_silent"])]
    pub unknown_args: Option<String>,
    /// Append one JSON line per decision to this file (overrides audit.path).
    #[arg(long, value_name = "FILE")]
    pub audit: Option<String>,
    /// Settings a subcommand's own flags set: key, value, the flag's name.
    #[arg(skip)]
    pub overrides: Vec<(String, toml::Value, String)>,
}

/// The file's path as shown in messages, and the configuration.
pub fn config(args: &ConfigArgs) -> anyhow::Result<(Option<String>, Config)> {
    let path = args
        .config
        .clone()
        .or_else(|| std::env::var_os("AIRLOCK_CONFIG").map(PathBuf::from));
    let mut builder = ConfigBuilder::new();
    let mut shown = None;
    if let Some(path) = path {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read the configuration file {name}\nhint: check the path, or leave out --config to use the built-in defaults")
        })?;
        builder = builder.file(name.clone(), text);
        shown = Some(name);
    }
    if let Some(mode) = &args.unknown_args {
        builder = builder.set("ghost_args.mode", mode.as_str(), "--unknown-args");
    }
    if let Some(audit) = &args.audit {
        builder = builder.set("audit.path", audit.as_str(), "--audit");
    }
    for (key, value, flag) in &args.overrides {
        builder = builder.set(key.as_str(), value.clone(), flag.as_str());
    }
    let config = builder
        .env(std::env::vars())
        .build()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let printer = crate::printer::Printer::stderr();
    for w in &config.warnings {
        printer.warn(w);
    }
    Ok((shown, config))
}

/// An engine for this configuration, with the audit file opened if one is configured.
pub fn engine(config: Config) -> anyhow::Result<Engine> {
    let audit = match &config.settings.audit.path {
        Some(path) => Some(Arc::new(FileSink::open(path, config.settings.audit.fsync)?)),
        None => None,
    };
    let store = rate_store(&config.settings.limits)?;
    let cleaner = cleaner(&config.settings)?;
    let argument_scan = match config.settings.sanitize.arguments.as_str() {
        "refuse" => Some(airlock_scan::arguments::ArgumentMode::Refuse),
        "mask" => Some(airlock_scan::arguments::ArgumentMode::Mask),
        _ => None,
    }
    .map(|mode| -> anyhow::Result<_> {
        let base = &config.settings.sanitize;
        let mut check = airlock_scan::arguments::ArgumentScan::new(Arc::new(scanner(base)?), mode);
        // A tenant's own rules (allow lists, disabled types, custom detectors) apply to its
        // callers' arguments too, whether or not its results are masked.
        for (name, t) in &config.settings.tenants {
            if !t.sanitize.is_empty() {
                let merged = base.with(&t.sanitize);
                let tenant = scanner(&merged)
                    .map_err(|e| anyhow::anyhow!("tenants.{name}.sanitize: {e}"))?;
                check = check.tenant(name, Arc::new(tenant));
            }
        }
        Ok(Arc::new(check))
    })
    .transpose()?;
    // The guard phase: paths and URLs in arguments.
    let guards = airlock_guard::Guards::from_settings(&config.settings)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let pins = pins(&config.settings.pinning)?;
    let mut builder = Engine::builder()
        .config(config)
        .check(Arc::new(guards))
        .pins(pins);
    if let Some(cleaner) = cleaner {
        builder = builder.cleaner(cleaner);
    }
    if let Some(check) = argument_scan {
        builder = builder.check(check);
    }
    if let Some(sink) = audit {
        builder = builder.audit(sink);
    }
    if let Some(store) = store {
        builder = builder.rate_store(store);
    }
    builder.build().map_err(|e| {
        anyhow::anyhow!("invalid configuration: {e}\nhint: list only check names that exist, e.g. ghost_args, validation")
    })
}

/// The pins file of `pinning.mode = "file"` (empty otherwise). A file that cannot be read or
/// holds anything but `"tool": "sha256:…"` pairs stops the start: pinning fails closed.
fn pins(
    pinning: &airlock_core::config::PinningSettings,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let (airlock_core::pins::PinMode::File, Some(path)) = (pinning.mode, &pinning.file) else {
        return Ok(Default::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "invalid configuration: pinning.file {path}: {e}\nhint: write it with `airlock pin --tools tools.json --out {path}`"
        )
    })?;
    let pins: std::collections::HashMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| {
            anyhow::anyhow!(
                "invalid configuration: pinning.file {path} is not a JSON object of tool name → \"sha256:…\": {e}\nhint: write it with `airlock pin --tools tools.json --out {path}`"
            )
        })?;
    if let Some((tool, _)) = pins
        .iter()
        .find(|(_, p)| !(p.len() == 71 && p.starts_with("sha256:")))
    {
        anyhow::bail!(
            "invalid configuration: pinning.file {path}: the pin of {tool:?} is not \"sha256:\" and 64 hex digits\nhint: write the file with `airlock pin`"
        );
    }
    Ok(pins)
}

/// The rate store `[limits]` asks for: `None` for the engine's in-memory default.
fn rate_store(
    limits: &airlock_core::config::LimitsSettings,
) -> anyhow::Result<Option<Arc<dyn airlock_core::limits::RateStore>>> {
    if !limits.is_redis() {
        return Ok(None);
    }
    #[cfg(feature = "redis")]
    {
        let store = airlock_redis::RedisRateStore::open(
            &limits.backend,
            &limits.prefix,
            limits.timeout_ms,
            limits.on_unavailable,
        )
        .map_err(|e| anyhow::anyhow!("invalid configuration: limits.backend: {e}"))?;
        Ok(Some(Arc::new(store)))
    }
    #[cfg(not(feature = "redis"))]
    {
        anyhow::bail!(
            "invalid configuration: limits.backend is {}, but this airlock was built without Redis support\nhint: build with `cargo build -p airlock-cli --features redis`, or set limits.backend = \"memory\"",
            airlock_core::config::redact_url(&limits.backend)
        )
    }
}

/// The result cleaner `[sanitize]` and `[tenants.NAME.sanitize]` describe (`None`: nobody's
/// results are scanned).
fn cleaner(
    settings: &airlock_core::Settings,
) -> anyhow::Result<Option<Arc<dyn airlock_core::ResultCleaner>>> {
    let base = &settings.sanitize;
    let mut tenants = std::collections::HashMap::new();
    for (name, t) in &settings.tenants {
        if t.sanitize.is_empty() {
            continue;
        }
        let merged = base.with(&t.sanitize);
        let scanner = merged
            .enabled
            .then(|| scanner(&merged))
            .transpose()
            .map_err(|e| anyhow::anyhow!("tenants.{name}.sanitize: {e}"))?;
        tenants.insert(name.clone(), scanner);
    }
    let base = base.enabled.then(|| scanner(base)).transpose()?;
    if base.is_none() && tenants.values().all(Option::is_none) {
        return Ok(None);
    }
    if tenants.is_empty() {
        return Ok(base.map(|s| Arc::new(s) as Arc<dyn airlock_core::ResultCleaner>));
    }
    Ok(Some(Arc::new(airlock_scan::TenantScanners {
        base,
        tenants,
    })))
}

/// The PII and secret scanner `[sanitize]` describes.
pub fn scanner(
    settings: &airlock_core::config::SanitizeSettings,
) -> anyhow::Result<airlock_scan::Scanner> {
    use airlock_scan::Strategy;
    let strategy = |name: &str| -> anyhow::Result<Strategy> {
        Ok(match name {
            "full" => Strategy::Full,
            "partial" => Strategy::Partial,
            "hash" => Strategy::Hash,
            "type_only" => Strategy::TypeOnly,
            other => anyhow::bail!(
                "invalid configuration: sanitize: {other:?} is not a masking strategy"
            ),
        })
    };
    let mut b = airlock_scan::Scanner::builder().default_strategy(strategy(&settings.strategy)?);
    for c in &settings.custom {
        b = b
            .custom(&c.name, &c.pattern)
            .map_err(|e| anyhow::anyhow!("invalid configuration: sanitize.custom: {e}"))?;
        if let Some(st) = &c.strategy {
            b = b.strategy(&c.name, strategy(st)?);
        }
    }
    for (kind, s) in &settings.strategies {
        b = b.strategy(kind, strategy(s)?);
    }
    for kind in &settings.disable {
        b = b.disable(kind);
    }
    for value in &settings.allow {
        b = b.allow(value);
    }
    if let Some(n) = settings.max_output_chars {
        b = b.max_chars(n);
    }
    if let Some(n) = settings.max_output_tokens {
        b = b.max_tokens(n);
    }
    if let Some(var) = &settings.hash_key_env {
        let key = std::env::var(var).map_err(|_| {
            anyhow::anyhow!("invalid configuration: sanitize.hash_key_env: ${var} is not set")
        })?;
        b = b.hash_key(key.as_bytes());
    }
    b.build().map_err(|e| {
        anyhow::anyhow!("invalid configuration: sanitize: {e}\nhint: `airlock scan --list` names every detector type")
    })
}

/// The tools in a file holding a `tools/list` result, a JSON-RPC response holding one, or an
/// array of tools (`airlock check --tools`, `airlock pin --tools`).
pub fn tools_file(path: &std::path::Path) -> anyhow::Result<Vec<airlock_core::ToolDef>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the tools file {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "the tools file {} is not valid JSON\nhint: save the result of a tools/list request, e.g. {{\"tools\": [...]}}",
            path.display()
        )
    })?;
    airlock_core::ToolDef::parse_list(json).with_context(|| {
        format!(
            "the tools file {} does not hold a list of tools\nhint: each tool needs at least a \"name\"; give a tools/list result, a JSON-RPC response holding one, or an array of tools",
            path.display()
        )
    })
}
