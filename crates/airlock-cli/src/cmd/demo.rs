//! `airlock demo` — a whole guarded MCP session, no set-up.
//!
//! The built-in demo MCP server (`airlock_mcp::demo`: files, money, URLs, a customer table full
//! of personal data; nothing real behind any of it) runs as a child process behind the stdio
//! proxy, exactly as `airlock run` would run it. An MCP client (rmcp) plays a scripted agent
//! making the mistakes models really make, and the report shows what the airlock allowed,
//! stripped and refused (with the fix hints the model reads), read back from its audit trail,
//! and what the server answered.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use airlock_core::audit::{AuditError, AuditEvent, AuditSink, MemorySink, Recorded};
use airlock_core::{CallerContext, ConfigBuilder, Engine, UnknownArgs};
use airlock_mcp::stdio::StdioProxy;
use anyhow::Context;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::Outcome;
use crate::printer::{escape, paint, use_color};
use agent_airlock::FileSink;

/// `airlock demo` options.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  airlock demo                 # the report\n  airlock demo --audit d.jsonl  # and every decision's audit record"
)]
pub struct Args {
    /// Also append the audit record of every decision to this file.
    #[arg(long, value_name = "FILE")]
    audit: Option<String>,
    /// Be the demo MCP server (on stdio) instead: what the demo runs behind the proxy.
    #[arg(long, hide = true)]
    server: bool,
}

struct Step {
    title: &'static str,
    tool: &'static str,
    args: Value,
    /// Run in a second session, with `ghost_args.mode = "strip_and_log"`.
    strip: bool,
}

fn script() -> Vec<Step> {
    let step = |title, tool, args: Value| Step {
        title,
        tool,
        args,
        strip: false,
    };
    vec![
        step(
            "The agent reads a report, correctly",
            "read_file",
            json!({"path": "reports/q3.txt"}),
        ),
        step(
            "It climbs out of the workspace",
            "read_file",
            json!({"path": "../finance/payroll.xlsx"}),
        ),
        step(
            "It invents an argument the tool does not have",
            "list_directory",
            json!({"path": "reports", "recurse": true}),
        ),
        Step {
            strip: true,
            ..step(
                "Same call, in a session with ghost_args.mode = \"strip_and_log\"",
                "list_directory",
                json!({"path": "reports", "recurse": true}),
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
            "It points the fetcher at the cloud metadata service",
            "fetch_url",
            json!({"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"}),
        ),
        step(
            "It misspells a field inside a nested filter",
            "query_customers",
            json!({"columns": ["name", "email"], "where": {"country": "DE", "sinse": "2024-01-01"}, "limit": 10}),
        ),
        step(
            "It queries the customer table, correctly",
            "query_customers",
            json!({"columns": ["name", "email"], "where": {"country": "DE"}, "limit": 10}),
        ),
        step(
            "It calls a destructive tool the policy denies (and hid from its list)",
            "delete_records",
            json!({"ids": ["c-1001"]}),
        ),
        step(
            "It calls a tool that does not exist",
            "delete_all_files",
            json!({"confirm": true}),
        ),
    ]
}

/// Audit records to the demo's report and, with `--audit`, to a file.
struct Tee(Arc<MemorySink>, Option<Arc<FileSink>>);

impl AuditSink for Tee {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        if let Some(f) = &self.1 {
            f.record(event)?;
        }
        self.0.record(event)
    }

    fn definition(&self, def: &airlock_core::ToolDef) -> Result<(), AuditError> {
        match &self.1 {
            Some(f) => f.definition(def),
            None => Ok(()),
        }
    }

    fn note(&self, note: &airlock_core::audit::AuditNote) -> Result<(), AuditError> {
        if let Some(f) = &self.1 {
            f.note(note)?;
        }
        self.0.note(note)
    }
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;
type ProxyTask = tokio::task::JoinHandle<std::io::Result<std::process::ExitStatus>>;

/// The demo server behind the stdio proxy, with an MCP client on the proxy's client side.
async fn session(
    engine: Arc<Engine>,
    caller: CallerContext,
) -> anyhow::Result<(Client, ProxyTask)> {
    let exe = std::env::current_exe().context("cannot find the airlock executable")?;
    let mut server = tokio::process::Command::new(exe);
    server.args(["demo", "--server"]);
    let (client_side, proxy_side) = tokio::io::duplex(1 << 16);
    let (from_client, to_client) = tokio::io::split(proxy_side);
    let proxy = tokio::spawn(StdioProxy::new(engine, caller).run(server, from_client, to_client));
    let client = ()
        .serve(tokio::io::split(client_side))
        .await
        .context("the MCP session with the demo server did not start")?;
    Ok((client, proxy))
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.server {
        return runtime.block_on(async {
            let server = airlock_mcp::demo::DemoServer::new()
                .serve(rmcp::transport::stdio())
                .await?;
            server.waiting().await?;
            Ok(Outcome::Ok)
        });
    }
    runtime.block_on(report(args))
}

async fn report(args: Args) -> anyhow::Result<Outcome> {
    let memory = Arc::new(MemorySink::new());
    let file = match &args.audit {
        Some(path) => Some(Arc::new(FileSink::open(path, false)?)),
        None => None,
    };
    let sink = Arc::new(Tee(memory.clone(), file));
    let engine_for = |mode: UnknownArgs| -> anyhow::Result<Arc<Engine>> {
        let config = ConfigBuilder::new()
            .file(
                "demo policy",
                "[policy]\ndeny = [\"delete_*\"]\n\n[filesystem]\nallowed_roots = [\"/srv/workspace\"]\nbase = \"/srv/workspace\"\nsymlinks = \"lexical\"\n",
            )
            .unknown_args(mode)
            .build()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The complete engine the demo policy describes, recording into the demo's sink.
        let engine = agent_airlock::engine_builder(config)?
            .audit(sink.clone())
            .build()?;
        Ok(Arc::new(engine))
    };
    let caller = CallerContext::default()
        .agent("demo-agent")
        .session("demo-session");
    let (client, proxy) = session(engine_for(UnknownArgs::Block)?, caller.clone()).await?;
    let (strip_client, strip_proxy) =
        session(engine_for(UnknownArgs::StripAndLog)?, caller.clone()).await?;

    let color = use_color(std::io::stdout().is_terminal());
    let c = |text: &str, style: &str| paint(color, text, style);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        c("agent-airlock demo — a guarded MCP session", "1")
    )?;
    writeln!(
        out,
        "The demo MCP server runs behind the airlock's stdio proxy; an MCP client plays the agent."
    )?;
    writeln!(
        out,
        "Policy: deny delete_*, files only under /srv/workspace. Checks: tool access, ghost arguments (block), strict JSON-Schema validation, path and URL guards; results: PII and secret masking."
    )?;
    let tools = client.list_all_tools().await?;
    writeln!(out)?;
    writeln!(
        out,
        " 0. {}\n    ← {} tools: {} (delete_records is hidden: the policy denies it)",
        c("The agent lists the tools", "1"),
        tools.len(),
        tools
            .iter()
            .map(|t| t.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    )?;

    let (mut allowed, mut changed, mut refused, mut masked) = (0, 0, 0, 0);
    for (i, step) in script().into_iter().enumerate() {
        writeln!(out)?;
        writeln!(out, "{:>2}. {}", i + 1, c(step.title, "1"))?;
        writeln!(
            out,
            "    → {} {}",
            step.tool,
            escape(&step.args.to_string())
        )?;
        let before = memory.events().len();
        let who = if step.strip { &strip_client } else { &client };
        let mut params = CallToolRequestParams::new(step.tool);
        if let Value::Object(a) = step.args {
            params = params.with_arguments(a);
        }
        let result = who.call_tool(params).await?;
        let result_json = serde_json::to_value(&result)?;
        let event = memory.events().into_iter().nth(before);
        if let Some(refusal) = result_json.pointer("/_meta/airlock~1refusal") {
            refused += 1;
            writeln!(
                out,
                "    {}  {} · {}",
                c("✘ REFUSED", "1;31"),
                refusal["block_reason"].as_str().unwrap_or(""),
                refusal["metadata"]["code"].as_str().unwrap_or("")
            )?;
            writeln!(
                out,
                "      {}",
                escape(refusal["error"].as_str().unwrap_or(""))
            )?;
            for hint in refusal["fix_hints"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "      {} {}",
                    c("fix:", "36"),
                    escape(hint.as_str().unwrap_or(""))
                )?;
            }
            continue;
        }
        match event {
            Some(e) if e.decision == Recorded::AllowedWithChanges => {
                changed += 1;
                let stripped: Vec<String> = e.stripped.iter().map(|p| format!("'{p}'")).collect();
                writeln!(
                    out,
                    "    {}  stripped {}",
                    c("✔ ALLOWED WITH CHANGES", "1;33"),
                    stripped.join(", ")
                )?;
            }
            _ => {
                allowed += 1;
                writeln!(out, "    {}", c("✔ ALLOWED", "1;32"))?;
            }
        }
        let answer = result_json["content"][0]["text"].as_str().unwrap_or("");
        for line in answer.lines() {
            writeln!(out, "    ← {}", escape(line))?;
        }
        masked += answer
            .split('[')
            .skip(1)
            .filter(|rest| {
                rest.split_once(']').is_some_and(|(label, _)| {
                    !label.is_empty() && label.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                })
            })
            .count();
    }
    client.cancel().await?;
    strip_client.cancel().await?;
    for p in [proxy, strip_proxy] {
        p.await
            .context("the proxy task failed")?
            .context("the demo server did not run")?;
    }

    let total = allowed + changed + refused;
    writeln!(out)?;
    writeln!(
        out,
        "{} {total} calls: {allowed} allowed, {changed} allowed with changes, {refused} refused — each refusal tells the model what to fix, and the server never saw the refused calls.",
        c("Summary:", "1"),
    )?;
    writeln!(
        out,
        "{} {masked} values in the results (e-mails, phone numbers, card numbers) before the agent saw them.",
        c("Masked:", "1"),
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
