//! # agent-airlock — the complete engine from one configuration
//!
//! [`airlock_core`] decides; the checks that look at paths, URLs and secrets, the result
//! scanner, the Redis rate store and the audit file live in other crates, because the core does
//! no I/O. This crate puts them together: [`engine`] turns a [`Config`] into the engine the
//! configuration describes — every check, the argument scan, the result cleaner, the pins, the
//! rate store, the audit sink — exactly as `airlock run`, `airlock serve` and the rmcp wrapper
//! use it. A section the configuration turns on that nothing would serve is an error at build
//! time (fail closed): the core refuses to build an engine whose `[filesystem]`, `[network]`,
//! `[sanitize]` or `pinning.mode = "file"` nobody enforces.
//!
//! ```
//! use agent_airlock::{Call, CallerContext, ConfigBuilder, Decision, ToolDef};
//! use serde_json::json;
//!
//! let config = ConfigBuilder::new()
//!     .file("airlock.toml", "[filesystem]\nallowed_roots = [\"/srv/workspace\"]\n")
//!     .build()?;
//! let engine = agent_airlock::engine_builder(config)?
//!     .tools([ToolDef::new("read_file", json!({
//!         "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]
//!     }))])
//!     .build()?;
//! let call = Call::new("read_file", json!({"path": "/etc/shadow"}))
//!     .caller(CallerContext::default().agent("planner"));
//! let Decision::Refused(refused) = engine.check(call) else { panic!("outside the roots") };
//! assert_eq!(refused.refusal.code.as_str(), "filesystem.outside_roots");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For a program configured by its environment alone, [`config_from_env`] reads
//! `$AIRLOCK_CONFIG` (when set) and the `AIRLOCK_*` variables.
//!
//! ## Cargo features
//!
//! - `redis`: `limits.backend = "redis://…"` (rate limits shared between airlock instances).
//!   Without it such a configuration is refused with a hint.

pub mod approver;
pub mod audit_file;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use airlock_core::config::{LimitsSettings, PinningSettings, SanitizeSettings};
use airlock_core::pins::PinMode;
pub use airlock_core::{
    Allowed, Call, CallerContext, Config, ConfigBuilder, Decision, Engine, EngineBuilder, Refusal,
    Refused, ToolDef,
};
use airlock_core::{ResultCleaner, Settings};
use airlock_scan::{Scanner, Strategy};

pub use airlock_core::program::executable;
pub use audit_file::FileSink;

/// Why the engine a configuration describes could not be built. Every message names the
/// configuration key and ends with a `hint:` line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file could not be read.
    #[error(
        "cannot read the configuration file {path}: {source}\nhint: check the path, or unset AIRLOCK_CONFIG to use the built-in defaults"
    )]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is not valid (it names the file and line, or the variable).
    #[error("invalid configuration: {0}")]
    Config(#[from] airlock_core::ConfigError),
    /// `audit.path` could not be opened for appending.
    #[error(
        "cannot open the audit file {path} (audit.path): {source}\nhint: check that the directory exists and is writable, or set audit.path elsewhere"
    )]
    Audit {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `[sanitize]` (or a tenant's) describes a scanner that cannot be built.
    #[error(
        "invalid configuration: {key}: {message}\nhint: `airlock scan --list` names every detector type"
    )]
    Sanitize {
        /// The key path (`sanitize`, `tenants.acme.sanitize`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `[filesystem]` or `[network]` (or a tool's or tenant's change) cannot be compiled.
    #[error("invalid configuration: {0}\nhint: `airlock verify --config FILE` explains every key")]
    Guards(String),
    /// `pinning.file` cannot be read or does not hold pins.
    #[error(
        "invalid configuration: pinning.file {path}: {message}\nhint: write it with `airlock pin --tools tools.json --out {path}`"
    )]
    Pins {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The audit log's signing key (`audit.signing_key_file`, `audit.signing_key_env`) cannot be
    /// read, or checkpoints are asked for without one.
    #[error(
        "invalid configuration: {key}: {message}\nhint: make a key with `airlock audit keygen --out FILE` and set audit.signing_key_file = FILE"
    )]
    SigningKey {
        /// The key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `[limits]` names a store that cannot be used.
    #[error("invalid configuration: limits.backend: {0}")]
    Limits(String),
    /// A program the configuration names (`approval.command`, `honeypot.hook`) is not there:
    /// caught when the engine is built (`airlock verify` too), not at the first call.
    #[error("invalid configuration: {key}: {program:?} is not an executable file")]
    Program {
        /// The key naming the program.
        key: &'static str,
        /// The program as configured (made absolute next to the config file).
        program: String,
    },
    /// The engine itself refused the configuration (pipeline order, unserved sections).
    #[error("invalid configuration: {0}")]
    Engine(#[from] airlock_core::EngineError),
}

/// The engine `config` describes, complete: see [`engine_builder`].
pub fn engine(config: Config) -> Result<Engine, Error> {
    Ok(engine_builder(config)?.build()?)
}

/// A builder holding everything `config` describes, so that an approver, a clock, known tools or
/// a different audit sink can be added before [`EngineBuilder::build`]:
///
/// - the argument guards (`argument_guards`: `[filesystem]` and `[network]`, with every tool's
///   and tenant's changes), always, so that a tool or tenant turning them on is served;
/// - the argument scan (`argument_scan`) when `sanitize.arguments` is `refuse` or `mask`, with
///   each tenant's own rules;
/// - the result cleaner when `[sanitize]` (or any tenant's) is on: the PII and secret scanner;
/// - the pins of `pinning.file` when `pinning.mode = "file"`;
/// - the Redis rate store when `limits.backend` is a Redis URL (feature `redis`);
/// - the audit file when `audit.path` is set;
/// - the approver program of `approval.command`, when set ([`approver::CommandApprover`]).
pub fn engine_builder(config: Config) -> Result<EngineBuilder, Error> {
    let settings = &config.settings;
    // The roots a client announces are narrowed with the same policy whether or not paths in
    // arguments are checked: a `[filesystem]` that does not compile is an error either way.
    airlock_guard::path::PathPolicy::new(&settings.filesystem)
        .map_err(|e| Error::Guards(format!("filesystem: {e}")))?;
    let guards = airlock_guard::Guards::from_settings(settings).map_err(Error::Guards)?;
    let mode = match settings.sanitize.arguments.as_str() {
        "refuse" => Some(airlock_scan::arguments::ArgumentMode::Refuse),
        "mask" => Some(airlock_scan::arguments::ArgumentMode::Mask),
        _ => None,
    };
    let scanners = Scanners::new(settings, mode.is_some())?;
    let argument_scan = argument_scan(mode, &scanners);
    let cleaner = cleaner(settings, &scanners);
    let pins = pins(&settings.pinning)?;
    // Before anything with an effect (a Redis connection, the audit file created).
    for (key, command) in [
        ("approval.command", &settings.approval.command),
        ("honeypot.hook", &settings.honeypot.hook),
    ] {
        program_exists(key, command)?;
    }
    let stores = shared_stores(&settings.limits)?;
    let audit = match &settings.audit.path {
        Some(path) => Some(Arc::new(FileSink::with(path, &settings.audit)?)),
        None => None,
    };
    let approver = (!settings.approval.command.is_empty()).then(|| {
        approver::CommandApprover::new(
            settings.approval.command.clone(),
            std::time::Duration::from_secs(settings.approval.timeout_secs),
        )
    });
    let mut builder = Engine::builder().config(config).check(Arc::new(guards));
    if let Some(check) = argument_scan {
        builder = builder.check(check);
    }
    if let Some(cleaner) = cleaner {
        builder = builder.cleaner(cleaner);
    }
    if let Some(pins) = pins {
        builder = builder.pins(pins);
    }
    if let Some(stores) = stores {
        builder = builder
            .rate_store(stores.rates)
            .budget_store(stores.budgets)
            .breaker_store(stores.breakers);
    }
    if let Some(sink) = audit {
        builder = builder.audit(sink);
    }
    if let Some(approver) = approver {
        builder = builder.approver(Arc::new(approver));
    }
    Ok(builder)
}

/// A command line's program, when it is a path (not a name looked up in `PATH` when run), is an
/// executable file.
fn program_exists(key: &'static str, command: &[String]) -> Result<(), Error> {
    let Some(program) = command.first().filter(|p| p.contains('/')) else {
        return Ok(());
    };
    if executable(std::path::Path::new(program)) {
        return Ok(());
    }
    Err(Error::Program {
        key,
        program: program.clone(),
    })
}

/// The configuration of a program configured by its environment alone: the file named by
/// `$AIRLOCK_CONFIG` (built-in defaults when unset), then the `AIRLOCK_*` variables on top.
pub fn config_from_env() -> Result<Config, Error> {
    let builder = match std::env::var_os("AIRLOCK_CONFIG") {
        Some(path) => with_file(ConfigBuilder::new(), Path::new(&path))?,
        None => ConfigBuilder::new(),
    };
    Ok(builder.env(std::env::vars()).build()?)
}

/// `builder` with the configuration file at `path` as its first layer.
pub fn with_file(builder: ConfigBuilder, path: &Path) -> Result<ConfigBuilder, Error> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: name.clone(),
        source,
    })?;
    let builder = builder.file(name, text);
    // The file's relative paths name files next to it, wherever the program was started.
    Ok(match path.parent() {
        Some(dir) => builder.relative_to(dir),
        None => builder,
    })
}

/// The PII and secret scanner `settings` describe (`[sanitize]`, or a tenant's merged with it).
pub fn scanner(settings: &SanitizeSettings) -> Result<Scanner, Error> {
    scanner_at(settings, "sanitize")
}

fn scanner_at(settings: &SanitizeSettings, key: &str) -> Result<Scanner, Error> {
    let err = |message: String| Error::Sanitize {
        key: key.to_owned(),
        message,
    };
    let strategy = |name: &str| -> Result<Strategy, Error> {
        Ok(match name {
            "full" => Strategy::Full,
            "partial" => Strategy::Partial,
            "hash" => Strategy::Hash,
            "type_only" => Strategy::TypeOnly,
            other => return Err(err(format!("{other:?} is not a masking strategy"))),
        })
    };
    let mut b = Scanner::builder().default_strategy(strategy(&settings.strategy)?);
    for c in &settings.custom {
        b = b
            .custom(&c.name, &c.pattern)
            .map_err(|e| err(e.to_string()))?;
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
        let value =
            std::env::var(var).map_err(|_| err(format!("hash_key_env: ${var} is not set")))?;
        b = b.hash_key(value.as_bytes());
    }
    b.build().map_err(|e| err(e.to_string()))
}

/// The scanners of `[sanitize]` and of each `[tenants.NAME.sanitize]`, each built once and
/// shared by the argument check and the result cleaner: a build scans a warm-up text (tens of
/// milliseconds) and a built scanner holds a few MB of warmed caches.
struct Scanners {
    /// `[sanitize]`'s, where results or arguments are scanned with it.
    base: Option<Arc<Scanner>>,
    /// Each tenant with rules of its own: its name, whether its results are scanned, and its
    /// scanner, where results or arguments are scanned with it.
    tenants: Vec<(String, bool, Option<Arc<Scanner>>)>,
}

impl Scanners {
    /// The scanners `settings` need; `arguments`: whether call arguments are scanned too.
    fn new(settings: &Settings, arguments: bool) -> Result<Scanners, Error> {
        let base = &settings.sanitize;
        let own = (arguments || base.enabled)
            .then(|| scanner(base))
            .transpose()?;
        let mut tenants = Vec::new();
        for (name, t) in &settings.tenants {
            if t.sanitize.is_empty() {
                continue;
            }
            let merged = base.with(&t.sanitize);
            let scanner = (arguments || merged.enabled)
                .then(|| scanner_at(&merged, &format!("tenants.{name}.sanitize")))
                .transpose()?;
            tenants.push((name.clone(), merged.enabled, scanner.map(Arc::new)));
        }
        Ok(Scanners {
            base: own.map(Arc::new),
            tenants,
        })
    }
}

/// The `argument_scan` check `sanitize.arguments` asks for (`None` when off). A tenant's own
/// rules (allow lists, disabled types, custom detectors) apply to its callers' arguments too,
/// whether or not its results are masked.
fn argument_scan(
    mode: Option<airlock_scan::arguments::ArgumentMode>,
    scanners: &Scanners,
) -> Option<Arc<airlock_scan::arguments::ArgumentScan>> {
    let mut check = airlock_scan::arguments::ArgumentScan::new(scanners.base.clone()?, mode?);
    for (name, _, scanner) in &scanners.tenants {
        if let Some(scanner) = scanner {
            check = check.tenant(name, scanner.clone());
        }
    }
    Some(Arc::new(check))
}

/// The result cleaner `[sanitize]` and `[tenants.NAME.sanitize]` describe (`None`: nobody's
/// results are scanned).
fn cleaner(settings: &Settings, scanners: &Scanners) -> Option<Arc<dyn ResultCleaner>> {
    let base = scanners.base.clone().filter(|_| settings.sanitize.enabled);
    let tenants: HashMap<String, Option<Arc<Scanner>>> = scanners
        .tenants
        .iter()
        .map(|(name, results, scanner)| (name.clone(), scanner.clone().filter(|_| *results)))
        .collect();
    if base.is_none() && tenants.values().all(Option::is_none) {
        return None;
    }
    if tenants.is_empty() {
        return base.map(|s| s as Arc<dyn ResultCleaner>);
    }
    Some(Arc::new(airlock_scan::TenantScanners { base, tenants }))
}

/// The pins file of `pinning.mode = "file"` (`None` otherwise). A file that cannot be read or
/// holds anything but `"tool": "sha256:…"` pairs stops the start: pinning fails closed.
fn pins(pinning: &PinningSettings) -> Result<Option<HashMap<String, String>>, Error> {
    let (PinMode::File, Some(path)) = (pinning.mode, &pinning.file) else {
        return Ok(None);
    };
    let err = |message: String| Error::Pins {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let pins: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
        err(format!(
            "not a JSON object of tool name → \"sha256:…\": {e}"
        ))
    })?;
    if let Some((tool, _)) = pins
        .iter()
        .find(|(_, p)| !(p.len() == 71 && p.starts_with("sha256:")))
    {
        return Err(err(format!(
            "the pin of {tool:?} is not \"sha256:\" and 64 hex digits"
        )));
    }
    Ok(Some(pins))
}

/// The shared stores `[limits]` asks for (rate limits, budgets, breakers, all in one Redis):
/// `None` for the engine's in-memory defaults.
struct SharedStores {
    rates: Arc<dyn airlock_core::limits::RateStore>,
    budgets: Arc<dyn airlock_core::budget::BudgetStore>,
    breakers: Arc<dyn airlock_core::breaker::BreakerStore>,
}

fn shared_stores(limits: &LimitsSettings) -> Result<Option<SharedStores>, Error> {
    if !limits.is_redis() {
        return Ok(None);
    }
    #[cfg(feature = "redis")]
    {
        let (url, prefix, ms, on) = (
            &limits.backend,
            &limits.prefix,
            limits.timeout_ms,
            limits.on_unavailable,
        );
        let e = |e: airlock_redis::OpenError| Error::Limits(e.to_string());
        Ok(Some(SharedStores {
            rates: Arc::new(airlock_redis::RedisRateStore::open(url, prefix, ms, on).map_err(e)?),
            budgets: Arc::new(
                airlock_redis::RedisBudgetStore::open(url, prefix, ms, on).map_err(e)?,
            ),
            breakers: Arc::new(
                airlock_redis::RedisBreakerStore::open(url, prefix, ms, on).map_err(e)?,
            ),
        }))
    }
    #[cfg(not(feature = "redis"))]
    {
        Err(Error::Limits(format!(
            "{} needs Redis support, and this build has none\nhint: build with the `redis` feature (`cargo build -p airlock-cli --features redis`), or set limits.backend = \"memory\"",
            airlock_core::config::redact_url(&limits.backend)
        )))
    }
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// (Unix: elsewhere a file needs no execute bit, so `plain` is one.)
    #[cfg(unix)]
    #[test]
    fn a_configured_program_path_must_be_an_executable_file() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("approve");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let command = |p: &str| vec![p.to_owned(), "--flag".to_owned()];
        assert!(program_exists("approval.command", &command("/bin/sh")).is_ok());
        // A bare name is looked up in PATH when run.
        assert!(program_exists("honeypot.hook", &command("logger")).is_ok());
        assert!(program_exists("approval.command", &[]).is_ok());
        for bad in [
            plain.display().to_string(),
            dir.path().display().to_string(),
            "/nonexistent/approve".to_owned(),
        ] {
            let err = program_exists("approval.command", &command(&bad)).unwrap_err();
            assert!(err.to_string().contains("approval.command"), "{err}");
        }
    }
    use airlock_core::EngineError;
    use serde_json::json;

    fn config(toml: &str) -> Config {
        ConfigBuilder::new().file("t.toml", toml).build().unwrap()
    }

    fn read_file() -> ToolDef {
        ToolDef::new(
            "read_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        )
    }

    /// Review finding: with `sanitize.arguments` on, the argument check and the result cleaner
    /// each built their own scanner of the same settings, and every build scans a warm-up text
    /// and keeps its warmed caches. Each is now built once and shared; a tenant whose results
    /// are not scanned still has its scanner for its arguments.
    #[test]
    fn the_argument_check_and_the_cleaner_share_each_scanner() {
        let settings = config(
            "[sanitize]\narguments = \"mask\"\n\
             [tenants.acme.sanitize]\nallow = [\"*@acme.example\"]\n\
             [tenants.quiet.sanitize]\nenabled = false\n",
        )
        .settings;
        let scanners = Scanners::new(&settings, true).unwrap();
        let check = argument_scan(Some(airlock_scan::arguments::ArgumentMode::Mask), &scanners);
        let results = cleaner(&settings, &scanners);
        assert!(check.is_some() && results.is_some());
        let base = scanners.base.as_ref().unwrap();
        // Held here, by the check and by the cleaner: one scanner.
        assert_eq!(Arc::strong_count(base), 3);
        for (name, results, scanner) in &scanners.tenants {
            let held = if *results { 3 } else { 2 };
            assert_eq!(Arc::strong_count(scanner.as_ref().unwrap()), held, "{name}");
        }
        assert_eq!(scanners.tenants.len(), 2);
        // Nothing scanned: nothing built.
        let off = config("[sanitize]\nenabled = false\n").settings;
        let none = Scanners::new(&off, false).unwrap();
        assert!(none.base.is_none() && cleaner(&off, &none).is_none());
    }

    #[test]
    fn the_complete_engine_guards_paths_and_urls_and_masks_results() {
        let engine = engine_builder(config(
            "[filesystem]\nallowed_roots = [\"/srv/workspace\"]\nsymlinks = \"lexical\"\n",
        ))
        .unwrap()
        .tools([
            read_file(),
            ToolDef::new(
                "fetch_url",
                json!({"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}}),
            ),
        ])
        .build()
        .unwrap();
        let code = |tool: &str, args| {
            engine
                .check(Call::new(tool, args))
                .refusal()
                .map(|r| r.code.as_str())
        };
        assert_eq!(
            code("read_file", json!({"path": "/etc/shadow"})),
            Some("filesystem.outside_roots")
        );
        assert_eq!(
            code("read_file", json!({"path": "/srv/workspace/a.txt"})),
            None
        );
        assert_eq!(
            code(
                "fetch_url",
                json!({"url": "http://169.254.169.254/latest/meta-data/"})
            ),
            Some("network.internal")
        );
        let mut answer =
            json!({"result": {"content": [{"type": "text", "text": "mail ann@example.com"}]}});
        engine
            .clean_result("read_file", &CallerContext::default(), &mut answer)
            .unwrap();
        assert_eq!(answer["result"]["content"][0]["text"], "mail [EMAIL]");
    }

    #[test]
    fn the_core_alone_refuses_a_configuration_it_cannot_serve() {
        // The library door that used to be open: a bare core builder with roots configured.
        let e = Engine::builder()
            .config(config("[filesystem]\nallowed_roots = [\"/srv\"]\n"))
            .build()
            .unwrap_err();
        assert!(matches!(
            e,
            EngineError::Unserved {
                section: "filesystem",
                ..
            }
        ));
        assert!(e.to_string().contains("agent_airlock::engine"), "{e}");
        let e = Engine::builder()
            .config(config(
                "[filesystem]\nenabled = false\n[network]\nenabled = false\n",
            ))
            .build()
            .unwrap_err();
        assert!(matches!(e, EngineError::NoCleaner), "{e}");
        let e = Engine::builder()
            .config(config(
                "[filesystem]\nenabled = false\n[network]\nenabled = false\n[sanitize]\nenabled = false\narguments = \"refuse\"\n",
            ))
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::Unserved {
                    section: "sanitize.arguments",
                    ..
                }
            ),
            "{e}"
        );
        // A tenant that turns the URL check on needs it served too.
        let e = Engine::builder()
            .config(config(
                "[filesystem]\nenabled = false\n[network]\nenabled = false\n[sanitize]\nenabled = false\n[tenants.acme.network]\nenabled = true\n",
            ))
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::Unserved {
                    section: "network",
                    ..
                }
            ),
            "{e}"
        );
        // Turned off explicitly, the core alone builds.
        assert!(
            Engine::builder()
                .config(config(
                    "[filesystem]\nenabled = false\n[network]\nenabled = false\n[sanitize]\nenabled = false\n",
                ))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn every_section_is_served_by_the_complete_engine() {
        let dir = tempfile::tempdir().unwrap();
        let pins = dir.path().join("pins.json");
        std::fs::write(&pins, "{}").unwrap();
        let audit = dir.path().join("audit.jsonl");
        let toml = format!(
            "[sanitize]\narguments = \"refuse\"\n[tenants.acme.network]\nenabled = true\n[pinning]\nmode = \"file\"\nfile = {:?}\n[audit]\npath = {:?}\n",
            pins.display().to_string(),
            audit.display().to_string()
        );
        let engine = engine(config(&toml)).unwrap();
        let names: Vec<&str> = engine.pipeline().phases().map(|(_, n)| n).collect();
        assert!(names.contains(&"argument_guards"), "{names:?}");
        assert!(names.contains(&"argument_scan"), "{names:?}");
        assert!(engine.cleans_results());
        // Pinned from an empty file: every tool is refused as unpinned (fail closed).
        engine.set_tools([read_file()]);
        let d = engine.check(Call::new("read_file", json!({"path": "a"})));
        assert_eq!(
            d.refusal().map(|r| r.code.as_str()),
            Some("tool_integrity.unpinned")
        );
        assert!(
            std::fs::read_to_string(&audit)
                .unwrap()
                .contains("unpinned")
        );
    }

    #[test]
    fn bad_sections_name_their_key() {
        let e = engine(config(
            "[pinning]\nmode = \"file\"\nfile = \"/nonexistent/pins.json\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("pinning.file /nonexistent/pins.json"), "{e}");
        assert!(e.contains("hint: write it with `airlock pin"), "{e}");
        let e = engine(config(
            "[tenants.acme.sanitize]\ndisable = [\"no_such_type\"]\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("tenants.acme.sanitize"), "{e}");
        let e = engine(config("[audit]\npath = \"/nonexistent/dir/a.jsonl\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("audit.path"), "{e}");
        #[cfg(not(feature = "redis"))]
        {
            let e = engine(config(
                "[limits]\nbackend = \"redis://:secret@127.0.0.1:1/0\"\n",
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains("needs Redis support"), "{e}");
            assert!(!e.contains("secret"), "credentials are redacted: {e}");
        }
    }
}
