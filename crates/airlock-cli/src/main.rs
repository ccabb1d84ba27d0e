//! `airlock` — the agent-airlock command. Glue only: each subcommand is one file under `cmd/`,
//! every decision is made by `airlock-core`. `main` maps one result to an exit code:
//! 0 success (or allowed), 1 refused, 2 usage or configuration error.

mod cmd;
mod load;
mod printer;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The security airlock between AI agents and the tools they call over MCP.
#[derive(Parser, Debug)]
#[command(name = "airlock", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Dry-run one tool call through the checks and print the decision as JSON.
    Check(cmd::check::Args),
    /// Run a scripted agent session against built-in tools and report every decision.
    Demo(cmd::demo::Args),
    /// Load and validate a configuration, and print what it means.
    Verify(cmd::verify::Args),
    /// Run an MCP server behind the airlock, over stdio: `airlock run -- <server command…>`.
    Run(cmd::run::Args),
    /// Guard an MCP server over Streamable HTTP, for many authenticated callers.
    Serve(cmd::serve::Args),
    /// Print an MCP server's tools (all pages of tools/list), for `check --tools` and `pin`.
    Tools(cmd::tools::Args),
    /// Mask PII and secrets in text (stdin or files), or print what was found.
    Scan(cmd::scan::Args),
    /// Write the pins of a server's tools, for `pinning.mode = "file"`.
    Pin(cmd::pin::Args),
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
    let cli = Cli::parse();
    printer::init_logs();
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
