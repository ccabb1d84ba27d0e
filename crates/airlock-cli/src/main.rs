//! `airlock` — the agent-airlock command. Glue only: each subcommand is one file under `cmd/`,
//! every decision is made by `airlock-core`. `main` maps one result to an exit code:
//! 0 success (or allowed), 1 refused, 2 usage or configuration error.

mod cmd;
mod load;
mod printer;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The security airlock between AI agents and the tools they call over MCP: every tool call
/// checked before it runs, every result cleaned before the model sees it.
#[derive(Parser, Debug)]
#[command(
    name = "airlock",
    version,
    max_term_width = 100,
    after_help = "Examples:\n  \
        airlock demo                                       # see it work, nothing to set up\n  \
        airlock run -- npx -y @modelcontextprotocol/server-filesystem /srv/work\n  \
        airlock serve --config airlock.toml -- python -m my_server\n  \
        airlock tools -- npx -y @modelcontextprotocol/server-everything > tools.json\n\n\
        `airlock <command> --help` shows each command's options and an example."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log lines on stderr: -v start-up and server exit, -vv every decision, -vvv all.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Fewer log lines: -q errors only, -qq none.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    quiet: u8,
    /// Log lines: auto (text on a terminal, JSON lines otherwise), text or json.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "auto",
        hide_possible_values = true,
        global = true,
        env = "AIRLOCK_LOG_FORMAT"
    )]
    log_format: printer::LogFormat,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an MCP server behind the airlock, over stdio: `airlock run -- <server command…>`.
    Run(cmd::run::Args),
    /// Guard an MCP server over Streamable HTTP, for many authenticated callers.
    Serve(cmd::serve::Args),
    /// Print an MCP server's tools (all pages of tools/list), for `check --tools` and `pin`.
    Tools(cmd::tools::Args),
    /// Dry-run one tool call through the checks and print the decision as JSON.
    Check(cmd::check::Args),
    /// Load and validate a configuration, and print what it means.
    Verify(cmd::verify::Args),
    /// Mask PII and secrets in text (stdin or files), or print what was found.
    Scan(cmd::scan::Args),
    /// Write the pins of a server's tools, for `pinning.mode = "file"`.
    Pin(cmd::pin::Args),
    /// What works on this machine and with this configuration: one line per item, ✓ or ✗.
    Doctor(cmd::doctor::Args),
    /// Run a scripted agent session against built-in tools and report every decision.
    Demo(cmd::demo::Args),
    /// Read audit logs: verify their hash chain, or summarise them.
    Audit(cmd::audit::Args),
    /// What a new configuration would have done to recorded calls: every change, call by call.
    Replay(cmd::replay::Args),
    /// (Internal) run a server in the sandbox: what `run` and `serve` start when `[sandbox]`
    /// is set.
    #[command(hide = true)]
    SandboxExec(cmd::sandbox::Args),
    /// (Internal) inside the sandbox: the loopback relay of `network = "loopback"`.
    #[command(hide = true)]
    SandboxLoopback(cmd::sandbox::LoopbackArgs),
}

/// A command line clap refused: its message, and for a server command written without `--`
/// (`airlock run node server.js`), how to write it.
fn usage_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if !e.use_stderr() {
        // `--help` and `--version` are not errors.
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().collect();
    let sub = args.get(1).map(String::as_str);
    if e.kind() == clap::error::ErrorKind::UnknownArgument
        && matches!(sub, Some("run" | "serve" | "tools"))
        && !args.iter().any(|a| a == "--")
    {
        let sub = sub.unwrap_or("run");
        eprintln!(
            "\ntip: put the server's command after `--`, so its own options are not taken for airlock's: airlock {sub} -- node server.js --port 3000"
        );
    }
    ExitCode::from(2)
}

/// How a subcommand ended, when it did not fail.
pub enum Outcome {
    /// Success, or the call was allowed.
    Ok,
    /// The call was refused.
    Refused,
    /// Exit with this code (the proxied server's).
    Exit(i32),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    printer::init_logs(cli.verbose, cli.quiet, cli.log_format);
    let printer = printer::Printer::stderr();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Tools(args) => cmd::tools::run(args),
        Command::Scan(args) => cmd::scan::run(args),
        Command::Pin(args) => cmd::pin::run(args),
        Command::Doctor(args) => cmd::doctor::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Replay(args) => cmd::replay::run(args),
        Command::SandboxExec(args) => cmd::sandbox::run(args),
        Command::SandboxLoopback(args) => cmd::sandbox::loopback(args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Refused) => ExitCode::from(1),
        Ok(Outcome::Exit(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            if printer::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            printer.error(&e);
            ExitCode::from(2)
        }
    }
}
