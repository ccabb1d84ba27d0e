//! The sandbox of the MCP servers the airlock starts (`airlock run`, `airlock serve -- CMD`).
//!
//! The airlock checks the arguments; the sandbox makes sure that even a call it wrongly allows,
//! or a server with a bug or a backdoor, cannot reach beyond what the operator granted. No
//! daemon, no image, no root: the server runs in new Linux user, mount, pid, IPC, UTS and
//! cgroup namespaces (and a network namespace of its own unless the profile lets it out), with
//!
//! * **a filesystem of its own**: the system's program and library directories, a few files
//!   of `/etc` programs need (not `/etc/hostname`, not `/etc/shadow`), the server's own install
//!   directory, all read-only; a fresh `/tmp`, `/dev` and `/proc`; and the paths the profile
//!   grants. Landlock enforces the same grants a second time;
//! * **a seccomp filter** refusing what a tool server never needs (ptrace, mount, new user
//!   namespaces, kernel keyrings, BPF, module loading, io_uring, …);
//! * **limits**: processes (`RLIMIT_NPROC`, and a pids cgroup where one can be made), address
//!   space, CPU time, open files, a wall clock, no new privileges;
//! * **only the environment variables listed** (API keys in the airlock's environment stay
//!   there).
//!
//! How: the door starts `airlock sandbox-exec --parent PID --profile JSON -- CMD…` instead of
//! `CMD…` ([`wrap`]); that process builds the sandbox with [`hakoniwa`] and runs the server in
//! it with the same stdin and stdout, so the door's pipes reach the server directly. When it
//! dies — the airlock exited, was killed, or stopped the session — the server, pid 1 of its
//! namespace, dies with it, and the kernel kills everything else in the namespace.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use airlock_core::config::SandboxSettings;
use serde::{Deserialize, Serialize};

/// What the server may reach, resolved from `[sandbox]` and a profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Refuse to start when a layer is missing.
    pub required: bool,
    /// How the profile is enforced.
    #[serde(default)]
    pub backend: Backend,
    /// Network.
    pub network: Network,
    /// Paths granted read-only (absolute).
    pub read_only: Vec<PathBuf>,
    /// Paths granted read-write (absolute).
    pub read_write: Vec<PathBuf>,
    /// `RLIMIT_NPROC`, and `pids.max` of a cgroup where one can be made.
    pub processes: u64,
    /// `RLIMIT_AS`, bytes.
    pub memory: u64,
    /// `RLIMIT_CPU`, seconds; 0: none.
    pub cpu_seconds: u64,
    /// `RLIMIT_NOFILE`.
    pub open_files: u64,
    /// Whole seconds the server may run; `None`: for ever.
    pub wall_seconds: Option<u64>,
    /// Environment variables passed.
    pub env: Vec<String>,
}

/// How a profile is enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Linux namespaces, Landlock, seccomp and rlimits, set up by the airlock itself.
    #[default]
    Namespaces,
    /// A Podman container with no image: an empty root with only the granted paths mounted.
    Podman,
}

/// The network a sandboxed server has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// A network namespace of its own with nothing in it: no connection anywhere, loopback
    /// included.
    None,
    /// A network namespace of its own with its loopback up, where these ports of the host's
    /// loopback are reachable (each relayed through a socket file the airlock answers): no
    /// other host, no other port.
    Loopback(Vec<u16>),
    /// The host's network, but TCP connections only to these ports (Landlock), and no UDP, raw
    /// or packet sockets (seccomp). Landlock filters ports, not addresses: a port listed is
    /// reachable on any host the machine can reach.
    Ports(Vec<u16>),
    /// The host's network, unrestricted.
    Any,
}

impl Profile {
    /// The profile `name` (`None`: `[sandbox] profile`, else the keys of `[sandbox]`) of
    /// `settings`; `allowed_roots` is `filesystem.allowed_roots`, granted read-write when the
    /// profile says so. Relative paths resolve against the working directory.
    pub fn resolve(
        settings: &SandboxSettings,
        name: Option<&str>,
        allowed_roots: &[String],
    ) -> Result<Profile, String> {
        let backend = match settings.backend.as_str() {
            "namespaces" => Backend::Namespaces,
            "podman" => Backend::Podman,
            other => {
                return Err(format!(
                    "sandbox.backend = {other:?}: write \"namespaces\" or \"podman\""
                ));
            }
        };
        let name = name.or(settings.profile.as_deref());
        let p = match name {
            Some(n) => Some(settings.profiles.get(n).ok_or_else(|| {
                let known: Vec<&str> = settings.profiles.keys().map(String::as_str).collect();
                format!(
                    "sandbox profile {n:?} is not configured (known: {})",
                    if known.is_empty() {
                        "none; add [sandbox.profiles.NAME]".to_owned()
                    } else {
                        known.join(", ")
                    }
                )
            })?),
            None => None,
        };
        let network = p
            .and_then(|p| p.network.clone())
            .unwrap_or_else(|| settings.network.clone());
        let ports = p
            .and_then(|p| p.ports.clone())
            .unwrap_or_else(|| settings.ports.clone());
        let network = match network.as_str() {
            "none" => Network::None,
            "loopback" => Network::Loopback(ports),
            "any" => Network::Any,
            "ports" if ports.is_empty() => {
                return Err(
                    "sandbox.network = \"ports\" needs sandbox.ports, the TCP ports the server may connect to".into(),
                );
            }
            "ports" => Network::Ports(ports),
            other => {
                return Err(format!(
                    "sandbox.network = {other:?}: write \"none\", \"loopback\" or \"ports\" (with ports = [...]), or \"any\""
                ));
            }
        };
        let absolute = |paths: &[String]| -> Result<Vec<PathBuf>, String> {
            paths
                .iter()
                .map(|s| {
                    std::path::absolute(s)
                        .map_err(|e| format!("sandbox path {s:?}: {e}"))
                        .and_then(|p| {
                            p.canonicalize()
                                .map_err(|e| format!("sandbox path {}: {e}", p.display()))
                        })
                })
                .collect()
        };
        let read_only = absolute(
            p.and_then(|p| p.read_only.as_deref())
                .unwrap_or(&settings.read_only),
        )?;
        let mut read_write = absolute(
            p.and_then(|p| p.read_write.as_deref())
                .unwrap_or(&settings.read_write),
        )?;
        if p.and_then(|p| p.allowed_roots)
            .unwrap_or(settings.allowed_roots)
        {
            read_write.extend(absolute(allowed_roots)?);
        }
        let memory = p
            .and_then(|p| p.memory.clone())
            .unwrap_or_else(|| settings.memory.clone());
        let wall = p
            .and_then(|p| p.wall_time.clone())
            .unwrap_or_else(|| settings.wall_time.clone());
        let wall = airlock_core::policy::parse_duration(&wall)
            .map_err(|e| format!("sandbox.wall_time: {e}"))?;
        if backend == Backend::Podman && matches!(network, Network::Ports(_) | Network::Loopback(_))
        {
            return Err("sandbox.network = \"ports\" and \"loopback\" need the namespaces backend (Landlock TCP rules, the loopback relay); with backend = \"podman\" write \"none\" or \"any\"".into());
        }
        Ok(Profile {
            required: settings.required,
            backend,
            network,
            read_only,
            read_write,
            processes: p.and_then(|p| p.processes).unwrap_or(settings.processes),
            memory: parse_size(&memory).map_err(|e| format!("sandbox.memory: {e}"))?,
            cpu_seconds: p
                .and_then(|p| p.cpu_seconds)
                .unwrap_or(settings.cpu_seconds),
            open_files: p.and_then(|p| p.open_files).unwrap_or(settings.open_files),
            wall_seconds: (!wall.is_zero()).then(|| wall.as_secs().max(1)),
            env: p
                .and_then(|p| p.env.clone())
                .unwrap_or_else(|| settings.env.clone()),
        })
    }
}

/// `"4GiB"`, `"512MiB"`, `"100KiB"`, `"1G"`, `"65536"` as bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as \"512MiB\" or \"4GiB\""))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KB" | "KiB" => 10,
        "M" | "MB" | "MiB" => 20,
        "G" | "GB" | "GiB" => 30,
        "T" | "TB" | "TiB" => 40,
        other => return Err(format!("{text:?}: unknown unit {other:?} (KiB, MiB, GiB)")),
    };
    n.checked_shl(shift)
        .filter(|v| v >> shift == n)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// The command a door starts instead of `server`:
/// `exe sandbox-exec --parent PID --profile JSON -- server…` (`exe`: the airlock binary; `PID`:
/// this process, which must start it, for [`die_with_parent`]).
pub fn wrap(profile: &Profile, exe: &Path, server: &[OsString]) -> Vec<OsString> {
    let mut cmd: Vec<OsString> = vec![
        exe.into(),
        "sandbox-exec".into(),
        "--parent".into(),
        std::process::id().to_string().into(),
        "--profile".into(),
        serde_json::to_string(profile).unwrap_or_default().into(),
        "--".into(),
    ];
    cmd.extend(server.iter().cloned());
    cmd
}

/// One layer of the sandbox and whether this machine has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Its name: `namespaces`, `landlock`, `landlock_tcp`, `seccomp`, `pids_cgroup` (the
    /// namespaces backend), `podman` (the podman backend).
    pub name: &'static str,
    /// `Ok(what works)`, or `Err(why not)`.
    pub status: Result<String, String>,
}

/// Whether each layer of both backends works here (without starting anything but a short
/// probe), for `airlock doctor`.
pub fn probe() -> Vec<Layer> {
    imp::probe()
}

/// Whether each layer `backend` uses works here.
pub fn probe_for(backend: Backend) -> Vec<Layer> {
    imp::probe_for(backend)
}

/// The layers a profile needs that this machine lacks, as `layer: why`. A `pids_cgroup` is
/// needed only when this process runs as root: `RLIMIT_NPROC` limits everyone else's processes
/// without one, but root is exempt from it.
pub fn missing(profile: &Profile, layers: &[Layer]) -> Vec<String> {
    let root = imp::runs_as_root();
    layers
        .iter()
        .filter(|l| (l.name == "podman") == (profile.backend == Backend::Podman))
        .filter(|l| l.name != "pids_cgroup" || root)
        .filter(|l| l.name != "landlock_tcp" || matches!(profile.network, Network::Ports(_)))
        .filter(|l| l.name != "loopback" || matches!(profile.network, Network::Loopback(_)))
        .filter_map(|l| l.status.as_ref().err().map(|e| format!("{}: {e}", l.name)))
        .collect()
}

/// Inside the sandbox, with `network = "loopback"`: bring the loopback up, start the relay of
/// `ports` (`airlock_exe sandbox-loopback --forward`), wait until it listens, then become the
/// server. Returns only on failure.
pub fn loopback_inside(airlock_exe: &Path, dir: &Path, ports: &[u16], server: &[String]) -> String {
    imp::loopback_inside(airlock_exe, dir, ports, server)
}

/// Inside the sandbox: listen on `127.0.0.1:PORT` for each port and relay every connection to
/// the socket file `DIR/PORT.sock`, which the airlock outside relays to the host's port. Says
/// `ready` on stdout once listening; runs until the sandbox ends.
pub fn loopback_forward(dir: &Path, ports: &[u16]) -> String {
    imp::loopback_forward(dir, ports)
}

/// Ask the kernel to kill this process when its parent, the airlock whose pid is `airlock`
/// (`--parent`, set by [`wrap`]), dies. `Err`: it cannot, or the parent is no longer that
/// airlock — it died before, and this process was left to init or a subreaper, so no signal
/// would ever come: do not start the server.
pub fn die_with_parent(airlock: u32) -> Result<(), String> {
    imp::die_with_parent(airlock)
}

/// Run `server` (program and arguments) in the sandbox `profile` describes, with this
/// process's stdin, stdout and stderr, and wait for it: its exit code (128 + the signal when a
/// signal ended it). `Err`: the sandbox could not be built.
pub fn exec(profile: &Profile, server: &[String]) -> Result<i32, String> {
    imp::exec(profile, server)
}

#[cfg(target_os = "linux")]
mod imp;

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Layer, Profile};

    pub fn probe_for(_: super::Backend) -> Vec<Layer> {
        probe()
    }

    pub fn probe() -> Vec<Layer> {
        vec![Layer {
            name: "namespaces",
            status: Err("the sandbox needs Linux".into()),
        }]
    }

    pub fn die_with_parent(_: u32) -> Result<(), String> {
        Err("the sandbox needs Linux".into())
    }

    pub fn runs_as_root() -> bool {
        false
    }

    pub fn loopback_inside(
        _: &std::path::Path,
        _: &std::path::Path,
        _: &[u16],
        _: &[String],
    ) -> String {
        "the sandbox needs Linux".into()
    }

    pub fn loopback_forward(_: &std::path::Path, _: &[u16]) -> String {
        "the sandbox needs Linux".into()
    }

    pub fn exec(_: &Profile, _: &[String]) -> Result<i32, String> {
        Err("the sandbox needs Linux (namespaces, Landlock, seccomp)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn a_profile_overrides_the_base_keys() {
        let mut s = SandboxSettings::default();
        s.profiles.insert(
            "fetch".into(),
            airlock_core::config::SandboxProfile {
                network: Some("ports".into()),
                ports: Some(vec![443]),
                memory: Some("256MiB".into()),
                ..Default::default()
            },
        );
        let base = Profile::resolve(&s, None, &[]).unwrap();
        assert_eq!(base.network, Network::None);
        assert_eq!(base.memory, 4 << 30);
        let fetch = Profile::resolve(&s, Some("fetch"), &[]).unwrap();
        assert_eq!(fetch.network, Network::Ports(vec![443]));
        assert_eq!(fetch.memory, 256 << 20);
        assert_eq!(fetch.processes, base.processes);
        let e = Profile::resolve(&s, Some("nope"), &[]).unwrap_err();
        assert!(e.contains("fetch"), "{e}");
        s.network = "ports".into();
        assert!(Profile::resolve(&s, None, &[]).is_err());
        s.network = "lan".into();
        assert!(Profile::resolve(&s, None, &[]).is_err());
        s.network = "loopback".into();
        assert_eq!(
            Profile::resolve(&s, None, &[]).unwrap().network,
            Network::Loopback(Vec::new())
        );
        s.network = "none".into();
        s.backend = "podman".into();
        assert_eq!(
            Profile::resolve(&s, None, &[]).unwrap().backend,
            Backend::Podman
        );
        let e = Profile::resolve(&s, Some("fetch"), &[]).unwrap_err();
        assert!(e.contains("namespaces backend"), "{e}");
        s.backend = "docker".into();
        assert!(Profile::resolve(&s, None, &[]).is_err());
    }

    /// Issue 17: a missing pids cgroup was never a missing layer, but root is exempt from
    /// `RLIMIT_NPROC`: for root the cgroup is the only process limit, and needed.
    #[test]
    fn issue_17_root_needs_the_pids_cgroup() {
        let profile = Profile::resolve(&SandboxSettings::default(), None, &[]).unwrap();
        let layers = [Layer {
            name: "pids_cgroup",
            status: Err("no writable pids cgroup".into()),
        }];
        let missing = missing(&profile, &layers);
        assert_eq!(
            missing.iter().any(|m| m.starts_with("pids_cgroup")),
            imp::runs_as_root(),
            "{missing:?}"
        );
    }
}
