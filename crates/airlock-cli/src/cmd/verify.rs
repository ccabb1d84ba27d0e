//! `airlock verify` — load and validate a configuration and print what it means.

use std::io::Write;

use airlock_core::Origin;

use crate::Outcome;
use crate::load::{self, ConfigArgs};
use crate::printer::escape;

/// `airlock verify` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    airlock verify --config airlock.toml         # what differs from the defaults, and the checks\n  \
    airlock verify --config airlock.toml --all   # every setting, what it means, the effective TOML")]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Every setting, what it means and where it came from, and the effective TOML; without
    /// it, only the settings that differ from the defaults.
    #[arg(long)]
    all: bool,
    /// Print the whole explanation as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let (file, config) = load::config(&args.config)?;
    if let Some(path) = &config.settings.audit.path {
        load::check_writable(path)?;
    }
    // Build the engine too: it validates the pipeline order. No audit file is opened here.
    let mut probe = config.clone();
    probe.settings.audit.path = None;
    let engine = load::engine(probe)?;
    let explained = config.explain();
    // URLs may carry credentials (`redis://user:secret@…`): shown without them, as in `explained`.
    let shown = config.settings.redacted();
    let mut out = std::io::stdout().lock();
    if args.json {
        let phases: Vec<_> = engine
            .pipeline()
            .phases()
            .map(|(p, n)| serde_json::json!({"phase": p, "check": n}))
            .collect();
        let doc = serde_json::json!({
            "file": file,
            "valid": true,
            "settings": shown,
            "pipeline": phases,
            "explain": explained,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(Outcome::Ok);
    }
    match &file {
        Some(f) => writeln!(out, "Configuration {} is valid.", escape(f))?,
        None => writeln!(
            out,
            "No configuration file: built-in defaults (plus any AIRLOCK_* variables) are valid."
        )?,
    }
    writeln!(out)?;
    writeln!(out, "Checks, in the order they run:")?;
    for (phase, name) in engine.pipeline().phases() {
        writeln!(out, "  {:<10} {name}", phase.as_str())?;
    }
    writeln!(out)?;
    if !args.all {
        // Set somewhere, to a value other than the default's (a file may restate defaults).
        let defaults: std::collections::BTreeMap<String, String> =
            airlock_core::ConfigBuilder::new()
                .build()?
                .explain()
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect();
        let changed: Vec<_> = explained
            .iter()
            .filter(|e| {
                !matches!(e.origin, Origin::Default) && defaults.get(&e.key) != Some(&e.value)
            })
            .collect();
        if changed.is_empty() {
            writeln!(out, "Every setting is the default.")?;
        } else {
            writeln!(out, "Settings that differ from the defaults:")?;
            for e in changed {
                writeln!(
                    out,
                    "  {} = {}   (from {})",
                    e.key,
                    escape(&e.value),
                    escape(&e.origin.to_string())
                )?;
                writeln!(out, "      {}", escape(&e.meaning))?;
            }
        }
        writeln!(out)?;
        writeln!(
            out,
            "`airlock verify --all` shows every setting, what it means, and the effective TOML."
        )?;
        return Ok(Outcome::Ok);
    }
    writeln!(out, "Settings:")?;
    for e in &explained {
        let origin = match &e.origin {
            Origin::Default => "default".to_owned(),
            other => format!("from {other}"),
        };
        writeln!(
            out,
            "  {} = {}   ({})",
            e.key,
            escape(&e.value),
            escape(&origin)
        )?;
        writeln!(out, "      {}", escape(&e.meaning))?;
    }
    writeln!(out)?;
    writeln!(out, "Effective configuration (TOML):")?;
    writeln!(out, "{}", toml::to_string_pretty(&shown)?.trim_end())?;
    Ok(Outcome::Ok)
}
