//! `airlock run [--config F] -- <server command…>` — the stdio proxy in front of an MCP server.
//!
//! Drop-in for any MCP client configuration: replace `"command": "my-server"` with
//! `"command": "airlock", "args": ["run", "--", "my-server", …]`. stdout carries the protocol;
//! everything human goes to stderr.

use std::sync::Arc;

use airlock_core::CallerContext;
use airlock_mcp::stdio::StdioProxy;
use anyhow::Context;

use crate::Outcome;
use crate::load::{self, ConfigArgs};

/// `airlock run` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    airlock run -- npx -y @modelcontextprotocol/server-filesystem /srv/work\n  \
    airlock run --config /etc/airlock/airlock.toml --agent claude -- python -m my_server\n\n\
In an MCP client's configuration: \"command\": \"/usr/local/bin/airlock\", \"args\": [\"run\", \"--\", \"my-server\", …]")]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The caller's agent id.
    #[arg(long, value_name = "ID", env = "AIRLOCK_AGENT")]
    agent: Option<String>,
    /// The caller's roles, comma-separated.
    #[arg(long, value_name = "A,B", value_delimiter = ',', env = "AIRLOCK_ROLES")]
    roles: Vec<String>,
    /// The caller's tenant.
    #[arg(long, value_name = "NAME", env = "AIRLOCK_TENANT")]
    tenant: Option<String>,
    /// The session id (default: one per `airlock run` process).
    #[arg(long, value_name = "ID", env = "AIRLOCK_SESSION")]
    session: Option<String>,
    /// Refuse client messages larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    max_line_bytes: usize,
    /// The `[sandbox.profiles.NAME]` the server runs in (default: `[sandbox] profile`, else
    /// the keys of `[sandbox]`).
    #[arg(long, value_name = "NAME")]
    sandbox_profile: Option<String>,
    /// The MCP server command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    // The server is started here, in this working directory: relative paths resolve there.
    let (shown, config) = load::config_for_started_server(&args.config)?;
    let telemetry_settings = config.settings.telemetry.clone();
    let metrics_interval = config.upstream.metrics_interval;
    let started = crate::cmd::sandbox::wrap(
        &config,
        args.sandbox_profile.as_deref(),
        args.command.iter().map(Into::into).collect(),
    )?;
    let engine = Arc::new(load::engine(config)?);
    tracing::info!(
        config = shown.as_deref().unwrap_or("built-in defaults"),
        checks = %engine.pipeline().names().join(", "),
        server = %args.command.join(" "),
        "airlock run: starting the MCP server behind the checks"
    );
    let caller = CallerContext {
        agent: args.agent,
        session: Some(
            args.session
                .unwrap_or_else(|| format!("stdio-{}", std::process::id())),
        ),
        tenant: args.tenant,
        roles: args.roles.into_iter().filter(|r| !r.is_empty()).collect(),
        metadata: Default::default(),
    };
    let (program, rest) = started
        .split_first()
        .context("no server command after --\nhint: airlock run -- npx -y @modelcontextprotocol/server-everything")?;
    let mut server = tokio::process::Command::new(program);
    server.args(rest);
    // One thread: a relay's work is a few microseconds per line, and cross-thread wake-ups
    // would cost more than they save.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let telemetry = runtime
        .block_on(async {
            airlock_mcp::telemetry::Telemetry::start(
                &telemetry_settings,
                metrics_interval,
                engine.clone(),
            )
        })
        .map_err(|e| anyhow::anyhow!("[telemetry]: {e}"))?;
    let mut proxy = StdioProxy::new(engine, caller).max_line_bytes(args.max_line_bytes);
    if let Some(t) = &telemetry {
        proxy = proxy.telemetry(t.clone());
    }
    let status = runtime.block_on(async move {
        // Pipes (the usual case: an MCP client spawned us) are driven by the reactor
        // directly; tokio's stdin/stdout hop through the blocking pool on every line.
        let (input, output) = client_io();
        proxy.run(server, input, output).await
    });
    if let Some(t) = telemetry {
        // The last batch goes out on the runtime, from the exporters' own threads.
        let flushed = runtime.spawn_blocking(move || t.shutdown());
        let _ = runtime.block_on(flushed);
    }
    let status = status
        .with_context(|| format!("cannot run the MCP server {program:?}\nhint: check that the command exists and is executable"))?;
    match status.code() {
        Some(0) => tracing::info!("the MCP server exited"),
        Some(code) => tracing::warn!("the MCP server exited with status {code}"),
        None => tracing::warn!("the MCP server was ended by a signal"),
    }
    Ok(Outcome::Exit(status.code().unwrap_or(1)))
}

type ClientIn = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
type ClientOut = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// Our stdin and stdout as async streams: non-blocking pipes when they are pipes, tokio's
/// blocking-pool wrappers otherwise (a terminal, a file).
fn client_io() -> (ClientIn, ClientOut) {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    let input: ClientIn = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(pipe::Receiver::from_file)
    {
        Ok(r) => Box::new(r),
        Err(_) => Box::new(tokio::io::stdin()),
    };
    let output: ClientOut = match std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(pipe::Sender::from_file)
    {
        Ok(w) => Box::new(w),
        Err(_) => Box::new(tokio::io::stdout()),
    };
    (input, output)
}
