//! The sandbox of the servers `airlock run` and `airlock serve -- CMD` start (`[sandbox]`):
//! the command the doors start instead of the server's ([`wrap`]), and the hidden
//! `airlock sandbox-exec --parent PID --profile JSON -- CMD…` that builds the sandbox and runs
//! the server in it (with the `sandbox` feature; see `airlock-sandbox`); and the refusal to
//! guard an `--upstream` URL, a server the airlock did not start, when the sandbox is required
//! ([`upstream`]).

use std::ffi::OsString;

use airlock_core::Config;

use crate::Outcome;

/// `airlock sandbox-exec` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pid of the airlock that starts this process: its parent, whose death ends the
    /// sandbox. It does not start when its parent is another process.
    #[arg(long, value_name = "PID")]
    parent: u32,
    /// The resolved profile, as JSON.
    #[arg(long, value_name = "JSON")]
    profile: String,
    /// The server command, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// `airlock sandbox-loopback` options (inside the sandbox, `network = "loopback"`).
#[derive(clap::Args, Debug)]
pub struct LoopbackArgs {
    /// The directory of the relay's socket files (`PORT.sock`).
    #[arg(long, value_name = "DIR")]
    dir: std::path::PathBuf,
    /// The host loopback ports relayed.
    #[arg(long, value_name = "P,Q", value_delimiter = ',')]
    ports: Vec<u16>,
    /// Be the relay itself (started by the first stage), rather than start it and become the
    /// server.
    #[arg(long)]
    forward: bool,
    /// The server command, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// `airlock sandbox-loopback`: inside the sandbox, bring the loopback up, start the relay of the
/// granted ports, then become the server (or, with `--forward`, be the relay).
#[cfg(feature = "sandbox")]
pub fn loopback(args: LoopbackArgs) -> anyhow::Result<Outcome> {
    let why = if args.forward {
        airlock_sandbox::loopback_forward(&args.dir, &args.ports)
    } else {
        let exe = std::env::current_exe()?;
        airlock_sandbox::loopback_inside(&exe, &args.dir, &args.ports, &args.command)
    };
    eprintln!("airlock: {why}");
    Ok(Outcome::Exit(SANDBOX_FAILED))
}

#[cfg(not(feature = "sandbox"))]
pub fn loopback(args: LoopbackArgs) -> anyhow::Result<Outcome> {
    let _ = (args.dir, args.ports, args.forward, args.command);
    anyhow::bail!("{}", NOT_BUILT)
}

/// Exit code of `sandbox-exec` when the sandbox could not be built.
const SANDBOX_FAILED: i32 = 125;

#[cfg(feature = "sandbox")]
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    // When the airlock dies (even by SIGKILL), so does this process, and with it the server:
    // pid 1 of its namespace, whose death ends everything in it. Without that tie (or with the
    // airlock already gone) the server could outlive it: it does not start.
    if let Err(e) = airlock_sandbox::die_with_parent(args.parent) {
        eprintln!("airlock: {e}");
        return Ok(Outcome::Exit(SANDBOX_FAILED));
    }
    let profile: airlock_sandbox::Profile = serde_json::from_str(&args.profile)
        .map_err(|e| anyhow::anyhow!("--profile is not a sandbox profile: {e}"))?;
    match airlock_sandbox::exec(&profile, &args.command) {
        Ok(code) => Ok(Outcome::Exit(code)),
        Err(e) => {
            eprintln!("airlock: {e}");
            Ok(Outcome::Exit(SANDBOX_FAILED))
        }
    }
}

#[cfg(not(feature = "sandbox"))]
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let _ = (args.parent, args.profile, args.command, SANDBOX_FAILED);
    anyhow::bail!("{}", NOT_BUILT)
}

#[cfg(not(feature = "sandbox"))]
const NOT_BUILT: &str = "[sandbox] is configured, but this airlock was built without the sandbox: build it with `--features sandbox` (needs libseccomp-dev), or remove [sandbox]";

/// `airlock serve --upstream URL`: `[sandbox]` bounds only the servers the airlock starts, not
/// one it reaches over HTTP. With `sandbox.required = true` that is an error (the operator asked
/// for a sandbox and would not get one); otherwise a warning.
pub fn upstream(config: &Config, url: &str) -> anyhow::Result<()> {
    let Some(settings) = &config.settings.sandbox else {
        return Ok(());
    };
    let url = airlock_core::config::redact_url(url);
    anyhow::ensure!(
        !settings.required,
        "the sandbox is required (sandbox.required = true), but [sandbox] applies to the servers the airlock starts (`airlock run -- CMD`, `airlock serve -- CMD`), not to --upstream {url}: that server runs wherever it was started, unsandboxed\nhint: let the airlock start the server (`airlock serve -- CMD`), or set sandbox.required = false to guard {url} without a sandbox"
    );
    tracing::warn!(
        upstream = %url,
        "[sandbox] does not apply to --upstream: the airlock did not start that server, so it runs unsandboxed"
    );
    Ok(())
}

/// The command to start for `server`: itself when `[sandbox]` is not set; otherwise this
/// binary's `sandbox-exec` with the profile (`profile`: `--sandbox-profile`, else
/// `[sandbox] profile`). Fails — before anything starts — when the profile does not resolve,
/// or a layer is missing and `sandbox.required` is true; a missing layer is otherwise logged.
#[cfg(feature = "sandbox")]
pub fn wrap(
    config: &Config,
    profile: Option<&str>,
    server: Vec<OsString>,
) -> anyhow::Result<Vec<OsString>> {
    let Some(settings) = &config.settings.sandbox else {
        anyhow::ensure!(
            profile.is_none(),
            "--sandbox-profile needs a [sandbox] section in the configuration"
        );
        return Ok(server);
    };
    let profile = airlock_sandbox::Profile::resolve(
        settings,
        profile,
        &config.settings.filesystem.allowed_roots,
    )
    .map_err(|e| anyhow::anyhow!("[sandbox]: {e}"))?;
    let layers = airlock_sandbox::probe_for(profile.backend);
    let missing = airlock_sandbox::missing(&profile, &layers);
    if !missing.is_empty() {
        anyhow::ensure!(
            !profile.required,
            "the sandbox is required (sandbox.required = true), but this machine lacks: {}\nhint: `airlock doctor` shows each layer; set sandbox.required = false to run degraded",
            missing.join("; ")
        );
        for m in &missing {
            tracing::warn!("sandbox degraded: {m}");
        }
    }
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the airlock binary to start the sandbox: {e}"))?;
    tracing::info!(network = ?profile.network, "the server runs in the sandbox");
    Ok(airlock_sandbox::wrap(&profile, &exe, &server))
}

#[cfg(not(feature = "sandbox"))]
pub fn wrap(
    config: &Config,
    profile: Option<&str>,
    server: Vec<OsString>,
) -> anyhow::Result<Vec<OsString>> {
    anyhow::ensure!(config.settings.sandbox.is_none(), "{}", NOT_BUILT);
    anyhow::ensure!(
        profile.is_none(),
        "--sandbox-profile needs a [sandbox] section and an airlock built with `--features sandbox`"
    );
    Ok(server)
}
