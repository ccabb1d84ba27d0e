//! `airlock serve --listen ADDR (--upstream URL | -- <server command…>)` — the Streamable-HTTP
//! gateway. Callers authenticate with the API keys or JWTs of `[gateway]`; each session gets
//! its own server process (`-- <cmd…>`) or upstream session (`--upstream`).

use std::sync::Arc;

use airlock_mcp::http::{Gateway, Upstream};
use anyhow::Context;

use crate::Outcome;
use crate::load::{self, ConfigArgs};

/// `airlock serve` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    airlock serve --config airlock.toml -- npx -y @modelcontextprotocol/server-everything\n  \
    airlock serve --listen 127.0.0.1:8787 --upstream http://127.0.0.1:9000/mcp")]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on. Loopback by default; anything else is reachable by others.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    listen: String,
    /// Serve Prometheus metrics (`GET /metrics`) on this address of their own, e.g.
    /// 127.0.0.1:9464. Off by default.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// A Streamable-HTTP MCP server to guard (instead of a command).
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    upstream: Option<String>,
    /// Serve callers without credentials, as agent "anonymous" (sets gateway.allow_anonymous).
    #[arg(long)]
    allow_anonymous: bool,
    /// The `[sandbox.profiles.NAME]` the servers run in (default: `[sandbox] profile`, else
    /// the keys of `[sandbox]`).
    #[arg(long, value_name = "NAME")]
    sandbox_profile: Option<String>,
    /// The stdio MCP server command, after `--`: one process per session.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(mut args: Args) -> anyhow::Result<Outcome> {
    if args.allow_anonymous {
        args.config.overrides.push((
            "gateway.allow_anonymous".into(),
            toml::Value::Boolean(true),
            "--allow-anonymous".into(),
        ));
    }
    // A server command is started here, in this working directory: relative paths resolve
    // there. Behind an HTTP upstream, where they resolve is not known.
    let (config_shown, config) = if args.command.is_empty() {
        load::config(&args.config)?
    } else {
        load::config_for_started_server(&args.config)?
    };
    let settings = config.settings.gateway.clone();
    let telemetry_settings = config.settings.telemetry.clone();
    let metrics_interval = config.upstream.metrics_interval;
    let started = if args.command.is_empty() {
        anyhow::ensure!(
            args.sandbox_profile.is_none(),
            "--sandbox-profile applies to a server command after --, not to --upstream"
        );
        if let Some(url) = &args.upstream {
            crate::cmd::sandbox::upstream(&config, url)?;
        }
        Vec::new()
    } else {
        crate::cmd::sandbox::wrap(
            &config,
            args.sandbox_profile.as_deref(),
            args.command.iter().map(Into::into).collect(),
        )?
    };
    let engine = Arc::new(load::engine(config)?);
    tracing::info!(
        config = config_shown.as_deref().unwrap_or("built-in defaults"),
        checks = %engine.pipeline().names().join(", "),
        "airlock serve: configuration loaded"
    );
    let upstream = match (args.upstream, args.command.is_empty()) {
        (Some(url), true) => Upstream::Http(url),
        (None, false) => Upstream::Command(started),
        _ => anyhow::bail!(
            "name the MCP server to guard: --upstream URL, or a command after --\nhint: airlock serve --listen 127.0.0.1:8787 -- npx -y @modelcontextprotocol/server-everything"
        ),
    };
    let shown = match &upstream {
        Upstream::Http(u) => u.clone(),
        Upstream::Command(_) => format!("{} (one process per session)", args.command.join(" ")),
    };
    let mut gateway =
        Gateway::new(engine.clone(), settings, upstream).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let telemetry = runtime
        .block_on(async {
            airlock_mcp::telemetry::Telemetry::start(&telemetry_settings, metrics_interval, engine)
        })
        .map_err(|e| anyhow::anyhow!("[telemetry]: {e}"))?;
    if let Some(t) = &telemetry {
        gateway = gateway.telemetry(t.clone());
    }
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}\nhint: is the port in use? pick another with --listen",
                    args.listen
                )
            })?;
        let addr = listener.local_addr()?;
        if let Some(at) = &args.metrics {
            let metrics = tokio::net::TcpListener::bind(at).await.with_context(|| {
                format!("cannot listen on {at} for --metrics\nhint: is the port in use?")
            })?;
            let addr = metrics.local_addr()?;
            let served = gateway.clone();
            tokio::spawn(async move {
                if let Err(e) = served.serve_metrics(metrics).await {
                    tracing::error!("the metrics listener stopped: {e}");
                }
            });
            eprintln!("airlock: Prometheus metrics on http://{addr}/metrics");
        }
        eprintln!("airlock: serving MCP on http://{addr}/mcp, guarding {shown}");
        gateway
            .serve(listener, airlock_mcp::stop_signal())
            .await
            .context("the gateway stopped")
    });
    if let Some(t) = telemetry {
        // The last batch goes out on the runtime, from the exporters' own threads.
        let flushed = runtime.spawn_blocking(move || t.shutdown());
        let _ = runtime.block_on(flushed);
    }
    served?;
    Ok(Outcome::Ok)
}
