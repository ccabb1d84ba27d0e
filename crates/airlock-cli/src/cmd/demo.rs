//! `airlock demo` — a scripted agent session against built-in tools, with a readable report of
//! every decision: allowed, stripped, refused (with the fix hints the model would read).
//!
//! No set-up: the tools are `examples/tools.json`, compiled in. The calls are the mistakes
//! models really make: invented arguments, `"5"` for an integer, a missing field, a near-miss
//! enum value, a URL without a scheme, a tool that does not exist.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use airlock_core::{
    Arguments, Call, CallerContext, ConfigBuilder, Decision, Engine, ToolDef, UnknownArgs,
};
use anyhow::Context;
use serde_json::{Value, json};

use crate::Outcome;
use crate::audit_file::FileSink;
use crate::printer::{escape, paint, use_color};

/// The demo's tools (the same file the README's `airlock check` examples use).
pub const TOOLS_JSON: &str = include_str!("../../../../examples/tools.json");

/// `airlock demo` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also append the audit record of every decision to this file.
    #[arg(long, value_name = "FILE")]
    audit: Option<String>,
}

struct Step {
    title: &'static str,
    tool: &'static str,
    args: Arguments,
    /// Run with `strip_and_log` instead of the default `block`.
    strip: bool,
}

fn script() -> Vec<Step> {
    let step = |title, tool, args: Value| Step {
        title,
        tool,
        args: Arguments::Json(args),
        strip: false,
    };
    vec![
        step(
            "The agent reads a report, correctly",
            "read_file",
            json!({"path": "reports/q3.txt"}),
        ),
        step(
            "It invents an argument the tool does not have",
            "list_directory",
            json!({"path": "/srv/data", "recurse": true}),
        ),
        Step {
            strip: true,
            ..step(
                "Same call, with ghost_args.mode = \"strip_and_log\"",
                "list_directory",
                json!({"path": "/srv/data", "recurse": true}),
            )
        },
        step(
            "It sends the amount as a string",
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": "5", "currency": "EUR"}),
        ),
        step(
            "It forgets a required field",
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 500}),
        ),
        step(
            "It guesses an enum value",
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 500, "currency": "EURO"}),
        ),
        step(
            "It retries with every fix applied",
            "transfer_money",
            json!({"to": "DE89370400440532013000", "amount": 500, "currency": "EUR"}),
        ),
        step(
            "It passes a URL without a scheme",
            "fetch_url",
            json!({"url": "example.com/pricing", "timeout_s": 10}),
        ),
        step(
            "It misspells a field inside a nested filter",
            "query_customers",
            json!({"columns": ["name", "email"], "where": {"country": "DE", "sinse": "2024-01-01"}, "limit": 10}),
        ),
        step(
            "It calls a tool that does not exist",
            "delete_all_files",
            json!({"confirm": true}),
        ),
        Step {
            args: Arguments::Raw("\"reports/q3.txt\"".into()),
            ..step(
                "It sends a bare string as the arguments",
                "read_file",
                Value::Null,
            )
        },
    ]
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let tools = ToolDef::parse_list(serde_json::from_str(TOOLS_JSON)?)
        .context("the built-in demo tools do not parse")?;
    let sink = match &args.audit {
        Some(path) => Some(Arc::new(FileSink::open(path, false)?)),
        None => None,
    };
    let engine_for = |mode: UnknownArgs| -> anyhow::Result<Engine> {
        let config = ConfigBuilder::new()
            .unknown_args(mode)
            .build()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut b = Engine::builder().config(config).tools(tools.clone());
        if let Some(s) = &sink {
            b = b.audit(s.clone());
        }
        Ok(b.build()?)
    };
    let block = engine_for(UnknownArgs::Block)?;
    let strip = engine_for(UnknownArgs::StripAndLog)?;
    let caller = CallerContext::default()
        .agent("demo-agent")
        .session("demo-session");

    let color = use_color(std::io::stdout().is_terminal());
    let c = |text: &str, style: &str| paint(color, text, style);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        c("agent-airlock demo — a scripted agent session", "1")
    )?;
    writeln!(
        out,
        "{} built-in tools: {}",
        tools.len(),
        tools
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "Checks: ghost arguments (block), strict JSON-Schema validation, argument size and depth limits."
    )?;
    let (mut allowed, mut changed, mut refused) = (0, 0, 0);
    for (i, step) in script().into_iter().enumerate() {
        writeln!(out)?;
        writeln!(out, "{:>2}. {}", i + 1, c(step.title, "1"))?;
        let shown = match &step.args {
            Arguments::Json(v) => v.to_string(),
            Arguments::Raw(s) => s.clone(),
        };
        writeln!(out, "    → {} {}", step.tool, escape(&shown))?;
        let engine = if step.strip { &strip } else { &block };
        let call = Call::new(step.tool, step.args).caller(caller.clone());
        match engine.check(call) {
            Decision::Allowed(a) if a.changes.is_empty() => {
                allowed += 1;
                writeln!(out, "    {}", c("✔ ALLOWED", "1;32"))?;
            }
            Decision::Allowed(a) => {
                changed += 1;
                let stripped: Vec<String> = a
                    .changes
                    .iter()
                    .map(|ch| match ch {
                        airlock_core::Change::StrippedArgument { path, .. } => format!("'{path}'"),
                        airlock_core::Change::Degraded { check, reason } => {
                            format!("({check} degraded: {reason})")
                        }
                    })
                    .collect();
                writeln!(
                    out,
                    "    {}  stripped {}; forwarded {}",
                    c("✔ ALLOWED WITH CHANGES", "1;33"),
                    stripped.join(", "),
                    Value::Object(a.arguments)
                )?;
            }
            Decision::Refused(r) => {
                refused += 1;
                let refusal = &r.refusal;
                writeln!(
                    out,
                    "    {}  {} · {}",
                    c("✘ REFUSED", "1;31"),
                    refusal.block_reason(),
                    refusal.code
                )?;
                writeln!(out, "      {}", escape(&refusal.error_text()))?;
                for hint in &refusal.fix_hints {
                    writeln!(out, "      {} {}", c("fix:", "36"), escape(hint))?;
                }
            }
        }
    }
    let total = allowed + changed + refused;
    writeln!(out)?;
    writeln!(
        out,
        "{} {total} calls: {allowed} allowed, {changed} allowed with changes, {refused} refused — each refusal tells the model what to fix.",
        c("Summary:", "1"),
    )?;
    if let Some(path) = &args.audit {
        writeln!(out, "Audit records appended to {}.", escape(path))?;
    }
    writeln!(
        out,
        "Try one yourself: airlock check --tools examples/tools.json --tool transfer_money --args '{{\"to\": \"DE89370400440532013000\", \"amount\": \"5\", \"currency\": \"EUR\"}}'"
    )?;
    out.flush()?;
    Ok(Outcome::Ok)
}
