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
    let mut builder = Engine::builder().config(config);
    if let Some(sink) = audit {
        builder = builder.audit(sink);
    }
    builder.build().map_err(|e| {
        anyhow::anyhow!("invalid configuration: {e}\nhint: list only check names that exist, e.g. ghost_args, validation")
    })
}
