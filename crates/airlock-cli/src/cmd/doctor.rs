//! `airlock doctor [--config F] [-- <server command…>]` — what works on this machine and with
//! this configuration: one line per item, `✓` or `✗` with the fix. Exit code 0 when everything
//! configured works, 1 otherwise. Items that nothing configured needs yet (the sandbox's kernel
//! features) are reported with `·` and never fail.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::Outcome;
use crate::load::{self, ConfigArgs};

/// `airlock doctor` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    airlock doctor --config airlock.toml\n  \
    airlock doctor --config airlock.toml -- npx -y @modelcontextprotocol/server-filesystem /srv/work")]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The MCP server command `airlock run` would start, after `--`: is it found?
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// One item's result.
enum Status {
    Ok(String),
    /// What is wrong, and the fix.
    Fail(String, String),
    /// Information that fails nothing.
    Info(String),
}

/// Check everything and print one line per item.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut items: Vec<(&str, Status)> = Vec::new();
    let config = match load::config(&args.config) {
        Ok((shown, config)) => {
            let name = shown.unwrap_or_else(|| "built-in defaults".into());
            items.push(("configuration", Status::Ok(format!("{name} is valid"))));
            Some(config)
        }
        Err(e) => {
            let text = format!("{e:#}");
            let (what, fix) = match text.split_once("\nhint: ") {
                Some((what, hint)) => (what.to_owned(), hint.to_owned()),
                None => (
                    text,
                    "fix the key the error names (`airlock verify --config FILE` explains the file)"
                        .into(),
                ),
            };
            items.push(("configuration", Status::Fail(what, fix)));
            None
        }
    };
    if let Some(config) = &config {
        items.push(("audit log", audit(config.settings.audit.path.as_deref())));
        if config.settings.limits.is_redis() {
            items.push(("redis", redis(&config.settings.limits.backend)));
        }
        items.push(("time zone", time_zone(&config.settings.policy.timezone)));
        items.push((
            "checks",
            match load::engine(config.clone()) {
                Ok(_) => Status::Ok("every configured check starts".into()),
                Err(e) => Status::Fail(
                    format!("{e:#}"),
                    "the error names the setting; `airlock verify` shows what each one means"
                        .into(),
                ),
            },
        ));
    }
    if let Some(program) = args.command.first() {
        items.push(("server command", command(program)));
    }
    items.push(("clock", clock()));
    sandbox(config.as_ref(), &mut items);

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for (name, status) in &items {
        match status {
            Status::Ok(what) => writeln!(out, "✓ {name}: {what}")?,
            Status::Info(what) => writeln!(out, "· {name}: {what}")?,
            Status::Fail(what, fix) => {
                failed = true;
                writeln!(out, "✗ {name}: {what}\n    fix: {fix}")?;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        Outcome::Refused
    } else {
        Outcome::Ok
    })
}

/// The audit file can be appended to (no new file is left behind).
fn audit(path: Option<&str>) -> Status {
    let Some(path) = path else {
        return Status::Info("off (set [audit] path to keep a record of every decision)".into());
    };
    match load::check_writable(path) {
        Ok(()) => Status::Ok(format!("{path} is writable")),
        Err(e) => Status::Fail(
            format!("{e:#}"),
            "create its directory, or point audit.path at a writable place".into(),
        ),
    }
}

/// The Redis server answers `PING` (a server that wants a password answers too: it is there).
fn redis(url: &str) -> Status {
    let shown = airlock_core::config::redact_url(url);
    let fail = |what: String| {
        Status::Fail(
            format!("{shown}: {what}"),
            "start redis-server there, or set limits.backend = \"memory\"".into(),
        )
    };
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    if url.starts_with("unix://") || url.starts_with("redis+unix://") {
        let path = rest.split('?').next().unwrap_or(rest);
        return match std::os::unix::net::UnixStream::connect(path) {
            Ok(s) => ping(s, &shown).unwrap_or_else(fail),
            Err(e) => fail(format!("cannot connect: {e}")),
        };
    }
    // `user:password@host:port/db`.
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port.split(['/', '?']).next().unwrap_or(host_port);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    let addrs = match host_port.to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return fail(format!("cannot resolve {host_port}: {e}")),
    };
    let Some(stream) = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, Duration::from_secs(2)).ok())
    else {
        return fail(format!("nothing answers at {host_port}"));
    };
    if url.starts_with("rediss://") {
        // TLS: reaching the port is what can be checked without a handshake.
        return Status::Ok(format!("{shown}: the port answers (TLS)"));
    }
    ping(stream, &shown).unwrap_or_else(fail)
}

fn ping<S: Read + Write>(mut s: S, shown: &str) -> Result<Status, String> {
    s.write_all(b"PING\r\n")
        .map_err(|e| format!("cannot send PING: {e}"))?;
    let mut answer = [0u8; 64];
    let n = s
        .read(&mut answer)
        .map_err(|e| format!("no answer to PING: {e}"))?;
    let answer = String::from_utf8_lossy(&answer[..n]);
    if answer.starts_with("+PONG") || answer.starts_with("-NOAUTH") {
        Ok(Status::Ok(format!("{shown} answers")))
    } else {
        Err(format!("answered {:?}, not as Redis does", answer.trim()))
    }
}

/// The policy's time zone is in the time zone database the airlock carries.
fn time_zone(name: &str) -> Status {
    match jiff::tz::TimeZone::get(name) {
        Ok(_) => Status::Ok(format!("{name} (time windows are read in it)")),
        Err(e) => Status::Fail(
            format!("{name}: {e}"),
            "set policy.timezone to an IANA name such as \"Europe/Berlin\" or \"UTC\"".into(),
        ),
    }
}

/// The server's program is found the way `airlock run` will start it.
fn command(program: &str) -> Status {
    match airlock_core::program::which(program) {
        Some(path) => Status::Ok(format!("{program} is {}", path.display())),
        None => Status::Fail(
            format!("{program} is not found on PATH"),
            "install it, or give its absolute path (MCP clients start servers without your shell's PATH)".into(),
        ),
    }
}

/// The system clock is not before this build's year (time windows and tokens depend on it).
fn clock() -> Status {
    let now = jiff::Timestamp::now();
    // 2026-01-01T00:00:00Z.
    let floor = jiff::Timestamp::from_second(1_767_225_600).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    if now < floor {
        Status::Fail(
            format!("the system clock says {now}, before this airlock was built"),
            "set the clock (NTP): time windows, rate limits and token expiry read it".into(),
        )
    } else {
        Status::Ok(format!("{now} (UTC)"))
    }
}

#[cfg(not(feature = "sandbox"))]
fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The sandbox's layers on this machine: with `[sandbox]` set, each one it needs is ✓, or ✗
/// when missing and required (`·` degraded otherwise); without, `·` lines saying what is there.
#[cfg(feature = "sandbox")]
fn sandbox(config: Option<&airlock_core::Config>, items: &mut Vec<(&str, Status)>) {
    // Resolved as `airlock run` resolves it: with the roots `allowed_roots = true` grants.
    let profile = config.and_then(|c| {
        let settings = c.settings.sandbox.as_ref()?;
        Some(airlock_sandbox::Profile::resolve(
            settings,
            None,
            &c.settings.filesystem.allowed_roots,
        ))
    });
    if let Some(Err(e)) = &profile {
        items.push((
            "sandbox",
            Status::Fail(
                e.clone(),
                "fix [sandbox] (docs/config.md lists its keys)".into(),
            ),
        ));
    }
    for layer in airlock_sandbox::probe() {
        let name = match layer.name {
            "namespaces" => "sandbox: namespaces",
            "landlock" => "sandbox: landlock",
            "landlock_tcp" => "sandbox: landlock tcp",
            "seccomp" => "sandbox: seccomp",
            "podman" => "sandbox: podman",
            "loopback" => "sandbox: loopback relay",
            _ => "sandbox: pids cgroup",
        };
        let needed = match &profile {
            Some(Ok(p)) => airlock_sandbox::missing(p, std::slice::from_ref(&layer))
                .first()
                .map(|_| p.required),
            _ => None,
        };
        let status = match (&layer.status, needed) {
            (Ok(what), _) if profile.is_some() => Status::Ok(what.clone()),
            (Ok(what), _) => Status::Info(format!("{what} (used once [sandbox] is set)")),
            (Err(why), Some(true)) => Status::Fail(
                why.clone(),
                "run where this layer exists, or set sandbox.required = false to run degraded"
                    .into(),
            ),
            (Err(why), Some(false)) => Status::Info(format!("degraded: {why}")),
            (Err(why), None) => Status::Info(why.clone()),
        };
        items.push((name, status));
    }
}

/// Without the `sandbox` feature: what the kernel offers, and a failure when `[sandbox]` is set.
#[cfg(not(feature = "sandbox"))]
fn sandbox(config: Option<&airlock_core::Config>, items: &mut Vec<(&str, Status)>) {
    if config.is_some_and(|c| c.settings.sandbox.is_some()) {
        items.push((
            "sandbox",
            Status::Fail(
                "[sandbox] is set, but this airlock was built without the sandbox".into(),
                "build with `cargo install --path crates/airlock-cli --features sandbox` (needs libseccomp-dev)".into(),
            ),
        ));
    }
    items.push(("user namespaces", user_namespaces()));
    items.push(("landlock", landlock()));
    items.push(("seccomp", seccomp()));
}

/// Unprivileged user namespaces, which the sandbox of servers will use.
#[cfg(not(feature = "sandbox"))]
fn user_namespaces() -> Status {
    let max = read("/proc/sys/user/max_user_namespaces").and_then(|s| s.parse::<u64>().ok());
    let allowed = read("/proc/sys/kernel/unprivileged_userns_clone").is_none_or(|v| v == "1");
    match max {
        Some(n) if n > 0 && allowed => Status::Info(format!("available (up to {n})")),
        Some(_) | None => Status::Info(
            "not available to unprivileged users (the server sandbox will need them)".into(),
        ),
    }
}

/// The Landlock security module, which the sandbox of servers will use.
#[cfg(not(feature = "sandbox"))]
fn landlock() -> Status {
    match read("/sys/kernel/security/lsm") {
        Some(lsm) if lsm.split(',').any(|m| m == "landlock") => {
            Status::Info("enabled in the kernel".into())
        }
        Some(_) => Status::Info("not among the kernel's security modules".into()),
        None => Status::Info("unknown (/sys/kernel/security/lsm is not readable)".into()),
    }
}

/// Seccomp filters, which the sandbox of servers will use.
#[cfg(not(feature = "sandbox"))]
fn seccomp() -> Status {
    let status = read("/proc/self/status").unwrap_or_default();
    if status.lines().any(|l| l.starts_with("Seccomp:")) {
        let actions = read("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
        Status::Info(format!("available ({actions})"))
    } else {
        Status::Info("not available in this kernel".into())
    }
}
