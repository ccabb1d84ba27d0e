//! Loading the configuration for a subcommand: the file (`--config` or `AIRLOCK_CONFIG`),
//! then flags, then `AIRLOCK_*` environment variables — each wins over the one before.

use std::path::PathBuf;

use airlock_core::{Config, ConfigBuilder, Engine};
use anyhow::Context;

/// Options every engine-running subcommand shares.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Default: built-in defaults.
    #[arg(long, value_name = "FILE", env = "AIRLOCK_CONFIG")]
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

/// The configuration file alone, for subcommands that run no checks (`scan`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FileArgs {
    /// Configuration file (TOML). Default: built-in defaults.
    #[arg(long, value_name = "FILE", env = "AIRLOCK_CONFIG")]
    pub config: Option<PathBuf>,
}

impl From<&FileArgs> for ConfigArgs {
    fn from(args: &FileArgs) -> ConfigArgs {
        ConfigArgs {
            config: args.config.clone(),
            ..ConfigArgs::default()
        }
    }
}

/// The file's path as shown in messages, and the configuration; its warnings are printed.
pub fn config(args: &ConfigArgs) -> anyhow::Result<(Option<String>, Config)> {
    let (shown, config) = build(args)?;
    warn(&config);
    Ok((shown, config))
}

fn warn(config: &Config) {
    let printer = crate::printer::Printer::stderr();
    for w in &config.warnings {
        printer.warn(w);
    }
}

fn build(args: &ConfigArgs) -> anyhow::Result<(Option<String>, Config)> {
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
        if let Some(dir) = path.parent() {
            builder = builder.relative_to(dir);
        }
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
    Ok((shown, config))
}

/// The configuration for a door that starts the MCP server itself: `filesystem.base`, unless
/// set, is the working directory the server is started in (this process's), since that is where
/// the server resolves relative paths.
pub fn config_for_started_server(args: &ConfigArgs) -> anyhow::Result<(Option<String>, Config)> {
    let (shown, first) = build(args)?;
    if first.settings.filesystem.base.is_some() {
        warn(&first);
        return Ok((shown, first));
    }
    let cwd = std::env::current_dir()
        .context("cannot read the working directory the MCP server is started in")?;
    let mut args = args.clone();
    args.overrides.push((
        "filesystem.base".into(),
        toml::Value::String(cwd.display().to_string()),
        "the MCP server's working directory".into(),
    ));
    config(&args)
}

/// The complete engine this configuration describes (`agent_airlock::engine`): every check,
/// the result scanner, pins, the rate store, the audit file.
pub fn engine(config: Config) -> anyhow::Result<Engine> {
    Ok(agent_airlock::engine(config)?)
}

/// The PII and secret scanner `[sanitize]` describes.
pub fn scanner(
    settings: &airlock_core::config::SanitizeSettings,
) -> anyhow::Result<airlock_scan::Scanner> {
    Ok(agent_airlock::scanner(settings)?)
}

/// Whether the audit file can be appended to, without leaving a new file behind.
pub fn check_writable(path: &str) -> anyhow::Result<()> {
    let existed = std::path::Path::new(path).exists();
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    match opened {
        Ok(_) => {
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "invalid configuration: audit.path {path:?} cannot be opened for appending: {e}\nhint: create the directory or choose a writable path"
        )),
    }
}

/// `value` as pretty JSON and a newline, to the file `path` names (`what` it holds, for the
/// error) or to stdout (`tools --output`, `pin --out`).
pub fn write_json(
    path: Option<&std::path::Path>,
    value: &impl serde::Serialize,
    what: &str,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    match path {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the {what} file {}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            Ok(stdout.flush()?)
        }
    }
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
