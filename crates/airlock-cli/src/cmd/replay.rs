//! `airlock replay AUDIT… --config NEW` — what a new configuration would have done to recorded
//! traffic: every call in the audit files is decided again under NEW, against the tool
//! definition it was checked against (kept by its pin in `airlock-defs/` next to the log), as
//! the same caller, at the time it was made, in order. Prints each call whose decision would
//! change; exit 0 when none would, 1 when some would, 2 on errors.
//!
//! The replay runs in memory: no audit file is written and a shared Redis is not touched
//! (rate limits, budgets and breakers start empty and see only the replayed calls). Arguments
//! are what the log kept: values redacted or cut there are replayed as such, and such calls are
//! marked as possibly deciding differently for that reason.

use std::path::{Path, PathBuf};

use airlock_core::{Arguments, Call, CallerContext, Decision, ToolDef};
use anyhow::Context;
use serde_json::{Value, json};

use crate::Outcome;
use crate::load::{self, ConfigArgs, FileArgs};

/// `airlock replay` options.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  airlock replay airlock-audit.jsonl --config new-airlock.toml\n  airlock replay audit.jsonl.20261205T000000Z audit.jsonl --config new.toml --json"
)]
pub struct Args {
    /// Audit files, oldest first.
    #[arg(required = true, value_name = "AUDIT")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    config: FileArgs,
    /// Print the changes as one JSON array.
    #[arg(long)]
    json: bool,
}

/// What a decision came to, comparably: `allowed`, `allowed (stripped a, b)`,
/// `refused (code)`, `honeypot (code)`.
fn outcome_of_record(r: &Value) -> String {
    let decision = r.get("decision").and_then(Value::as_str).unwrap_or("?");
    let code = r.get("code").and_then(Value::as_str);
    let stripped: Vec<&str> = r
        .get("stripped")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    describe(decision, code, &stripped)
}

fn describe(decision: &str, code: Option<&str>, stripped: &[&str]) -> String {
    match (decision, code) {
        ("allowed" | "allowed_with_changes", _) if !stripped.is_empty() => {
            format!("allowed (stripped {})", stripped.join(", "))
        }
        ("allowed" | "allowed_with_changes", _) => "allowed".to_owned(),
        (d, Some(c)) => format!("{d} ({c})"),
        (d, None) => d.to_owned(),
    }
}

fn outcome_of_decision(d: &Decision) -> String {
    match d {
        Decision::Allowed(a) => {
            let stripped: Vec<&str> = a
                .changes
                .iter()
                .filter_map(|c| match c {
                    airlock_core::Change::StrippedArgument { path, logged: true } => {
                        Some(path.as_str())
                    }
                    _ => None,
                })
                .collect();
            describe("allowed", None, &stripped)
        }
        Decision::Refused(r) => describe(
            if r.honeypot.is_some() {
                "honeypot"
            } else {
                "refused"
            },
            Some(r.refusal.code.as_str()),
            &[],
        ),
    }
}

/// Whether the log kept less than the call sent: a redacted or cut value.
fn lossy(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("[REDACTED") || s.contains("…"),
        Value::Array(a) => a.iter().any(lossy),
        Value::Object(o) => o.values().any(lossy),
        _ => false,
    }
}

fn definition(store: &Path, pin: &str) -> Option<ToolDef> {
    let text =
        std::fs::read_to_string(agent_airlock::audit_file::definition_file(store, pin)).ok()?;
    let def: ToolDef = serde_json::from_str(&text).ok()?;
    // The store is content-addressed: a file that does not hash to its name is not trusted.
    (def.pin() == pin).then_some(def)
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let (_, mut config) = load::config(&ConfigArgs::from(&args.config))?;
    // In memory: no audit file written, no shared store touched.
    config.settings.audit.path = None;
    config.settings.limits.backend = "memory".to_owned();
    let engine = load::engine(config)?;
    let mut changes = Vec::new();
    let (mut replayed, mut skipped) = (0u64, 0u64);
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let store = agent_airlock::audit_file::definitions_dir(file);
        for (i, line) in text.lines().enumerate() {
            let Ok(r) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if r.get("event").is_some() || r.get("decision").is_none() {
                continue;
            }
            let tool = r.get("tool").and_then(Value::as_str).unwrap_or_default();
            let at = r
                .get("ts")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let caller: CallerContext = r
                .get("caller")
                .cloned()
                .and_then(|c| serde_json::from_value(c).ok())
                .unwrap_or_default();
            let arguments = r.get("arguments").cloned().unwrap_or(Value::Null);
            let def = r
                .get("pin")
                .and_then(Value::as_str)
                .and_then(|p| definition(&store, p));
            let Some(def) = def else {
                // Refused before a definition was known (an unknown tool, bad JSON), or recorded
                // without a definition store: nothing to decide against.
                skipped += 1;
                continue;
            };
            let mut call = Call::new(tool, Arguments::Json(arguments.clone()))
                .caller(caller)
                .definition(std::sync::Arc::new(def));
            if let Some(at) = at {
                call = call.at(at);
            }
            let before = outcome_of_record(&r);
            let after = outcome_of_decision(&engine.check(call));
            replayed += 1;
            if before != after {
                changes.push(json!({
                    "file": file.display().to_string(),
                    "line": i + 1,
                    "tool": tool,
                    "before": before,
                    "after": after,
                    "arguments_incomplete": lossy(&arguments),
                }));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&changes)?);
    } else {
        for c in &changes {
            println!(
                "{}:{}  {}  {} → {}{}",
                c["file"].as_str().unwrap_or_default(),
                c["line"],
                c["tool"].as_str().unwrap_or_default(),
                c["before"].as_str().unwrap_or_default(),
                c["after"].as_str().unwrap_or_default(),
                if c["arguments_incomplete"] == true {
                    "  (the log kept redacted or cut arguments: may differ for that reason)"
                } else {
                    ""
                }
            );
        }
        println!(
            "{replayed} call(s) replayed, {} would change{}",
            changes.len(),
            if skipped > 0 {
                format!("; {skipped} skipped (no definition to decide against)")
            } else {
                String::new()
            }
        );
    }
    Ok(if changes.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Refused
    })
}
