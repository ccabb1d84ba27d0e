//! The Linux sandbox, on hakoniwa (namespaces, mounts, rlimits, Landlock, seccomp through
//! libseccomp), plus a pids cgroup made by hand where the cgroup tree is writable.

use std::path::{Path, PathBuf};

use airlock_core::program::which;
use hakoniwa::landlock::{CompatMode, FsAccess, Resource, Ruleset};
use hakoniwa::seccomp::{Action, ArgCmp, ArgCmpOp, Filter};
use hakoniwa::{Container, Namespace, Rlimit, Stdio};

use super::{Backend, Layer, Network, Profile};

mod podman;

const EPERM: i32 = 1;
const EACCES: i32 = 13;
const ENOSYS: i32 = 38;
const CLONE_NEWUSER: u64 = 0x1000_0000;

/// Directories of programs and libraries, read-only (those that exist; symlinks kept).
const SYSTEM: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32"];

/// What of `/etc` programs need to run, resolve names and check certificates. Not
/// `/etc/hostname`, `/etc/shadow`, `/etc/ssh`, …
const ETC: &[&str] = &[
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/protocols",
    "/etc/services",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
    "/etc/passwd",
    "/etc/group",
    "/etc/python3",
    "/etc/python3.11",
    "/etc/node",
];

pub fn probe() -> Vec<Layer> {
    let mut layers = probe_for(Backend::Namespaces);
    layers.extend(probe_for(Backend::Podman));
    layers
}

pub fn probe_for(backend: Backend) -> Vec<Layer> {
    match backend {
        Backend::Namespaces => {
            let mut layers = kernel_layers();
            layers.insert(0, namespaces());
            layers.push(pids_layer(pids_cgroup_base()));
            layers
        }
        Backend::Podman => vec![podman::probe()],
    }
}

/// The [`SYSTEM`] directories of this machine, those that exist: each with its target when it
/// is a symlink (`/lib64` → `usr/lib64` where `/usr` is merged), `None` when it is a directory.
fn system_dirs() -> Vec<(&'static str, Option<PathBuf>)> {
    SYSTEM
        .iter()
        .filter_map(|&dir| {
            let p = Path::new(dir);
            if p.is_symlink() {
                std::fs::read_link(p).ok().map(|target| (dir, Some(target)))
            } else {
                p.is_dir().then_some((dir, None))
            }
        })
        .collect()
}

/// The [`SYSTEM`] directories in `c`, read-only at the same paths (symlinks as symlinks): the
/// directories mounted.
fn mount_system(c: &mut Container) -> Vec<PathBuf> {
    let mut mounted = Vec::new();
    for (dir, link) in system_dirs() {
        match link {
            Some(target) => {
                c.symlink(&target.to_string_lossy(), dir);
            }
            None => {
                c.bindmount_ro(dir, dir);
                mounted.push(PathBuf::from(dir));
            }
        }
    }
    mounted
}

/// Whether a process can be started in new namespaces: one is (`/bin/true`, ~5 ms).
fn namespaces() -> Layer {
    let mut probe = Container::new();
    mount_system(&mut probe);
    let namespaces = probe
        .command("/bin/true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot make user, mount and pid namespaces: {e}"))
        .and_then(|s| {
            if s.success() {
                Ok("user, mount, pid, network, IPC namespaces".to_owned())
            } else {
                Err(format!("a probe in new namespaces failed: {}", s.reason))
            }
        });
    Layer {
        name: "namespaces",
        status: namespaces,
    }
}

/// The layers the kernel reports without starting anything or making a cgroup.
fn kernel_layers() -> Vec<Layer> {
    let landlock = |net: bool| {
        use landlock::{ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, RulesetAttr};
        let r = landlock::Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
        let r = if net {
            r.handle_access(AccessNet::ConnectTcp)
        } else {
            r.handle_access(AccessFs::from_all(ABI::V1))
        };
        r.and_then(|r| r.create())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let seccomp = if status.lines().any(|l| l.starts_with("Seccomp:")) {
        Ok("a filter of refused system calls".to_owned())
    } else {
        Err("this kernel has no seccomp filters".to_owned())
    };
    vec![
        Layer {
            name: "landlock",
            status: landlock(false)
                .map(|()| "filesystem rules".to_owned())
                .map_err(|e| format!("no Landlock filesystem rules: {e}")),
        },
        Layer {
            name: "landlock_tcp",
            status: landlock(true)
                .map(|()| "TCP port rules (network = \"ports\")".to_owned())
                .map_err(|e| format!("no Landlock TCP rules (kernel 6.7 or later): {e}")),
        },
        Layer {
            name: "seccomp",
            status: seccomp,
        },
        Layer {
            name: "loopback",
            status: ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .map(|p| format!("{p} brings a sandbox's loopback up (network = \"loopback\")"))
                .ok_or_else(|| "no `ip` command (iproute2): network = \"loopback\" cannot bring the loopback up".to_owned()),
        },
    ]
}

/// The `pids_cgroup` layer: whether a pids cgroup can be made, or was (under `parent`).
fn pids_layer(parent: Result<PathBuf, String>) -> Layer {
    Layer {
        name: "pids_cgroup",
        status: parent.map(|dir| format!("a pids cgroup under {}", dir.display())),
    }
}

pub fn die_with_parent(airlock: u32) -> Result<(), String> {
    use rustix::process::{Pid, Signal, getppid, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(|e| {
        format!("cannot tie the sandbox to the airlock's life (a parent-death signal): {e}")
    })?;
    // From now on the airlock's death sends the signal. Had it died before, this process was
    // left to init or a subreaper, which is the parent now: the signal would never come.
    let parent = Pid::as_raw(getppid());
    if u32::try_from(parent).ok() != Some(airlock) {
        return Err(format!(
            "the airlock that started this sandbox (pid {airlock}) is not its parent (pid {parent}): it has already exited"
        ));
    }
    Ok(())
}

/// Whether this process runs as root, whom `RLIMIT_NPROC` does not limit: the pids cgroup is its
/// only process limit. The kernel counts processes against the *real* user and exempts real
/// root (setrlimit(2)), and the sandboxed server keeps the airlock's real user: a root that
/// set only its effective user aside (`seteuid`) is still exempt. So real root counts, and
/// effective root too (a setuid airlock), the side on which a process limit is kept.
pub fn runs_as_root() -> bool {
    rustix::process::getuid().is_root() || rustix::process::geteuid().is_root()
}

/// Whether process `pid` is running (in this pid namespace).
fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid of a name `PREFIX-PID` or `PREFIX-PID-…`, written as a pid is (no sign, no leading
/// zero), and what follows it (empty, or from the `-` on).
fn named_pid<'a>(name: &'a str, prefix: &str) -> Option<(u32, &'a str)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (digits, tail) = rest.split_at(rest.find('-').unwrap_or(rest.len()));
    let pid = digits.parse::<u32>().ok()?;
    (pid.to_string() == digits).then_some((pid, tail))
}

/// Whether the sandbox of process `pid` is gone: `pid` is not running, or it is this process —
/// which has made none yet, so what bears its pid was left by an earlier process with it.
fn gone(pid: u32) -> bool {
    pid == std::process::id() || !pid_alive(pid)
}

/// Whether `name` (`PREFIX-PID` and a tail `tail` takes) was left by a sandbox that is
/// [`gone`]. Another name (another prefix, no pid) is not.
fn left_by(name: &str, prefix: &str, tail: impl Fn(&str) -> bool) -> bool {
    named_pid(name, prefix).is_some_and(|(pid, rest)| tail(rest) && gone(pid))
}

/// [`left_by`] with any tail (`PREFIX-PID`, or `PREFIX-PID-…`).
#[cfg(test)]
fn stale(name: &str, prefix: &str) -> bool {
    left_by(name, prefix, |_| true)
}

/// Whether `name` is exactly `PREFIX-PID` and was left by a sandbox that is [`gone`]: the pids
/// cgroups and podman containers the airlock names so. `airlock-sandbox-123-db`, a user's
/// container, is not, whether 123 runs or not.
pub(crate) fn stale_exact(name: &str, prefix: &str) -> bool {
    left_by(name, prefix, str::is_empty)
}

/// Whether `name` is a temporary directory a sandbox made and left: [`left_by`], with
/// tempfile's random part (six letters or digits) for its whole tail, so
/// `airlock-loopback-123-mydata` is not.
fn swept(name: &str, prefix: &str) -> bool {
    left_by(name, prefix, |tail| {
        tail.strip_prefix('-')
            .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
}

/// Remove what sandboxes that were killed left in the temporary directory: [`swept`]
/// directories this user owns (a root airlock leaves other users' alone).
pub(crate) fn sweep(prefix: &str) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    for e in entries.flatten() {
        let ours = std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if ours && swept(&e.file_name().to_string_lossy(), prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

pub fn exec(profile: &Profile, server: &[String]) -> Result<i32, String> {
    if profile.backend == Backend::Podman {
        let podman = podman::probe();
        if let Err(e) = podman.status {
            return Err(format!("the podman backend cannot run: {e}"));
        }
        return podman::exec(profile, server);
    }
    let (first, args) = server.split_first().ok_or("no server command to sandbox")?;
    // Processes: RLIMIT_NPROC counts the server's user (root is exempt), so a pids cgroup too
    // where one can be made; this process moves into it, and the server's processes are made
    // inside it. Made once, here: whether it could be is the `pids_cgroup` layer (for root the
    // only process limit, so required when the sandbox is). Namespaces are not probed (the
    // airlock did before starting this): building the sandbox fails with the reason when they
    // are missing.
    let cgroup = PidsCgroup::enter(profile.processes);
    let mut layers = kernel_layers();
    layers.push(pids_layer(
        cgroup
            .as_ref()
            .map(|c| c.parent.clone())
            .map_err(Clone::clone),
    ));
    let cgroup = cgroup.ok();
    let missing = super::missing(profile, &layers);
    let has = |name: &str| layers.iter().any(|l| l.name == name && l.status.is_ok());
    if !missing.is_empty() {
        if profile.required {
            return Err(format!(
                "the sandbox is required (sandbox.required = true) but this machine lacks: {}",
                missing.join("; ")
            ));
        }
        eprintln!(
            "airlock: the server runs in a degraded sandbox: {}",
            missing.join("; ")
        );
    }
    let program = resolve(first)?;
    let mut c = Container::new();
    c.unshare(Namespace::Ipc)
        .unshare(Namespace::Uts)
        .unshare(Namespace::Cgroup);
    let mut readable = mount_system(&mut c);
    for file in ETC {
        let p = Path::new(file);
        if p.exists() {
            let real = p.canonicalize().unwrap_or_else(|_| p.to_owned());
            c.bindmount_ro(&real.to_string_lossy(), file);
            readable.push(p.to_owned());
        }
    }
    for dir in install_dirs(first, &program, Places::here()) {
        if !readable.iter().any(|r| dir.starts_with(r)) {
            c.bindmount_ro(&dir.to_string_lossy(), &dir.to_string_lossy());
            readable.push(dir);
        }
    }
    for p in &profile.read_only {
        c.bindmount_ro(&p.to_string_lossy(), &p.to_string_lossy());
        readable.push(p.clone());
    }
    for p in &profile.read_write {
        c.bindmount_rw(&p.to_string_lossy(), &p.to_string_lossy());
    }
    c.tmpfsmount("/tmp").devfsmount("/dev");
    // `loopback`: a network namespace of its own, and for each port a socket file (in a
    // directory mounted at the same path inside) that this process relays to the host's port.
    let mut relay = None;
    let mut inside: Option<(PathBuf, PathBuf, Vec<u16>)> = None;
    match &profile.network {
        Network::None => {
            c.unshare(Namespace::Network);
        }
        Network::Loopback(ports) => {
            c.unshare(Namespace::Network);
            let exe = std::env::current_exe()
                .and_then(|e| e.canonicalize())
                .map_err(|e| {
                    format!("cannot find the airlock binary for the loopback relay: {e}")
                })?;
            let r = LoopbackRelay::start(ports)?;
            let relay_dir = r.dir.path().to_string_lossy();
            c.bindmount_rw(&relay_dir, &relay_dir);
            // The airlock's install directory, or only the binary where that directory holds
            // other things (an airlock in `~`).
            let grant = Places::here().grant_for(&exe);
            if !readable.iter().any(|p| grant.starts_with(p)) {
                c.bindmount_ro(&grant.to_string_lossy(), &grant.to_string_lossy());
                readable.push(grant);
            }
            inside = Some((exe, r.dir.path().to_owned(), ports.clone()));
            relay = Some(r);
        }
        Network::Ports(_) | Network::Any => {}
    }
    c.setrlimit(Rlimit::Nproc, profile.processes, profile.processes);
    c.setrlimit(Rlimit::As, profile.memory, profile.memory);
    c.setrlimit(Rlimit::Nofile, profile.open_files, profile.open_files);
    if profile.cpu_seconds > 0 {
        // Soft = hard: the server is pid 1 of its namespace and would ignore SIGXCPU.
        c.setrlimit(Rlimit::Cpu, profile.cpu_seconds, profile.cpu_seconds);
    }
    c.setrlimit(Rlimit::Core, 0, 0);
    if has("landlock") {
        let mut rs = Ruleset::default();
        rs.restrict(Resource::FS, CompatMode::Enforce);
        for p in &readable {
            rs.allow_path(&p.to_string_lossy(), FsAccess::R | FsAccess::X);
        }
        for p in &profile.read_write {
            rs.allow_path(
                &p.to_string_lossy(),
                FsAccess::R | FsAccess::W | FsAccess::X,
            );
        }
        if let Some(r) = &relay {
            rs.allow_path(&r.dir.path().to_string_lossy(), FsAccess::R | FsAccess::W);
        }
        for p in ["/tmp", "/dev", "/proc"] {
            rs.allow_path(p, FsAccess::R | FsAccess::W);
        }
        // Reading and listing are bounded by the mount namespace (only what is granted exists
        // in it): a server may list `/` and read what it finds. Landlock enforces writing and
        // executing a second time.
        rs.allow_path("/", FsAccess::R);
        if let Network::Ports(ports) = &profile.network
            && has("landlock_tcp")
        {
            rs.restrict(Resource::NET_TCP_CONNECT, CompatMode::Enforce);
            rs.restrict(Resource::NET_TCP_BIND, CompatMode::Enforce);
            for p in ports {
                rs.allow_tcp_connect(*p);
            }
        }
        c.landlock_ruleset(rs);
    }
    if has("seccomp") {
        c.seccomp_filter(filter(&profile.network));
    }
    let mut cmd = match &inside {
        // The airlock's own binary starts first inside: loopback up, the relay listening, then
        // it becomes the server.
        Some((exe, dir, ports)) => {
            let mut cmd = c.command(&exe.to_string_lossy());
            cmd.arg("sandbox-loopback")
                .arg("--dir")
                .arg(&dir.to_string_lossy());
            // No ports (`ports = []`): no `--ports` (an empty value does not parse).
            if !ports.is_empty() {
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                cmd.arg("--ports").arg(&ports.join(","));
            }
            cmd.arg("--").arg(&program.to_string_lossy());
            cmd
        }
        None => c.command(&program.to_string_lossy()),
    };
    cmd.args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    for var in &profile.env {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, &v);
        }
    }
    let cwd = std::env::current_dir().ok().filter(|d| {
        profile.read_write.iter().any(|p| d.starts_with(p))
            || readable.iter().any(|p| d.starts_with(p))
    });
    cmd.current_dir(cwd.unwrap_or_else(|| PathBuf::from("/tmp")));
    if let Some(s) = profile.wall_seconds {
        cmd.wait_timeout(s);
    }
    let status = cmd.status();
    drop(relay);
    drop(cgroup);
    let status = status.map_err(|e| format!("the sandbox could not start the server: {e}"))?;
    if status.exit_code.is_none() {
        eprintln!(
            "airlock: the sandboxed server was stopped: {}",
            status.reason
        );
    }
    Ok(status.code)
}

/// The host's side of `network = "loopback"`: a directory of socket files, `PORT.sock` for
/// each port, each relayed to `127.0.0.1:PORT` of the host. The directory is this process's own
/// (a name no one can guess, made here), removed when dropped.
struct LoopbackRelay {
    dir: tempfile::TempDir,
}

impl LoopbackRelay {
    fn start(ports: &[u16]) -> Result<LoopbackRelay, String> {
        sweep("airlock-loopback");
        let dir = tempfile::Builder::new()
            .prefix(&format!("airlock-loopback-{}-", std::process::id()))
            .tempdir()
            .map_err(|e| {
                format!(
                    "cannot make the loopback relay's directory in {}: {e}",
                    std::env::temp_dir().display()
                )
            })?;
        for &port in ports {
            let path = dir.path().join(format!("{port}.sock"));
            let listener = std::os::unix::net::UnixListener::bind(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            // A thread in this process's pids cgroup: it counts against `processes`.
            std::thread::Builder::new()
                .spawn(move || {
                    for conn in listener.incoming() {
                        let Ok(inner) = conn else { break };
                        std::thread::spawn(move || {
                            if let Ok(outer) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                                splice(inner, outer);
                            }
                        });
                    }
                })
                .map_err(|e| format!("the loopback relay of port {port} cannot start: {e}"))?;
        }
        Ok(LoopbackRelay { dir })
    }
}

/// Copy both ways between a socket file's connection and a TCP connection until either ends.
fn splice(unix: std::os::unix::net::UnixStream, tcp: std::net::TcpStream) {
    let (Ok(mut unix_in), Ok(mut tcp_in)) = (unix.try_clone(), tcp.try_clone()) else {
        return;
    };
    let (mut unix_out, mut tcp_out) = (unix, tcp);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut unix_in, &mut tcp_out);
        let _ = tcp_out.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut tcp_in, &mut unix_out);
    let _ = unix_out.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

pub fn loopback_inside(airlock_exe: &Path, dir: &Path, ports: &[u16], server: &[String]) -> String {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(ip) = ip else {
        return "network = \"loopback\" needs the `ip` command (iproute2) to bring the loopback up"
            .into();
    };
    match std::process::Command::new(ip)
        .args(["link", "set", "lo", "up"])
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => return format!("`ip link set lo up` failed in the sandbox ({s})"),
        Err(e) => return format!("`ip link set lo up` could not run in the sandbox: {e}"),
    }
    if !ports.is_empty() {
        let ports_arg = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let child = std::process::Command::new(airlock_exe)
            .args(["sandbox-loopback", "--forward", "--dir"])
            .arg(dir)
            .args(["--ports", &ports_arg])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return format!("the loopback relay could not start: {e}"),
        };
        let mut line = String::new();
        let ready = child
            .stdout
            .take()
            .map(std::io::BufReader::new)
            .and_then(|mut r| r.read_line(&mut line).ok())
            .is_some_and(|_| line.trim() == "ready");
        if !ready {
            return format!("the loopback relay did not start: {}", line.trim());
        }
    }
    let Some((program, args)) = server.split_first() else {
        return "no server command".into();
    };
    let e = std::process::Command::new(program).args(args).exec();
    format!("the server could not start: {e}")
}

pub fn loopback_forward(dir: &Path, ports: &[u16]) -> String {
    use std::io::Write;
    let mut listeners = Vec::new();
    for &port in ports {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => listeners.push((port, l)),
            Err(e) => return format!("cannot listen on 127.0.0.1:{port} in the sandbox: {e}"),
        }
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut threads = Vec::new();
    for (port, listener) in listeners {
        let path = dir.join(format!("{port}.sock"));
        threads.push(std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { break };
                let path = path.clone();
                std::thread::spawn(move || {
                    if let Ok(unix) = std::os::unix::net::UnixStream::connect(&path) {
                        splice(unix, tcp);
                    }
                });
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    "the loopback relay stopped".into()
}

/// `program` as the host finds it (hakoniwa does not search `PATH`), canonical.
fn resolve(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        return std::fs::canonicalize(program).map_err(|e| format!("{program}: {e}"));
    }
    which(program)
        .and_then(|p| std::fs::canonicalize(p).ok())
        .ok_or_else(|| format!("{program}: not found in PATH"))
}

/// The server's own install directory: where its program is, as named and as resolved, and the
/// same for a script's interpreter — each as [`Places::grant_for`] grants it.
fn install_dirs(named: &str, program: &Path, places: &Places) -> Vec<PathBuf> {
    let named = which(named).and_then(|p| std::path::absolute(p).ok());
    let interpreter = interpreter(program);
    let mut granted = Vec::new();
    for p in named
        .iter()
        .map(PathBuf::as_path)
        .chain([program])
        .chain(interpreter.iter().map(PathBuf::as_path))
    {
        if let Ok(g) = places.grant_for(p).canonicalize()
            && !granted.contains(&g)
        {
            granted.push(g);
        }
    }
    granted
}

/// Where a program's directory may hold what is not the program's: the temporary directory and
/// the home directories, read once ([`Places::here`]). What is never granted whole is decided
/// against them ([`Places::too_broad`]), whoever runs the airlock and whatever `$HOME` says.
struct Places {
    /// `/tmp` and the temporary directory (`$TMPDIR`), canonical.
    tmp: Vec<PathBuf>,
    /// Home directories, canonical (`/` left out: the home of users who have none).
    homes: Vec<PathBuf>,
    /// Whether `/etc/passwd` was read: without it the homes of users outside `/home` (root's,
    /// a service's in `/var/lib/x`) are unknown, and only directories in `/usr` are granted
    /// whole.
    passwd_read: bool,
}

impl Places {
    /// This machine's: the homes of `/etc/passwd`, `$HOME`, every entry of `/home` (a user of
    /// LDAP or sssd is not in `/etc/passwd`, and not the one running the airlock; each can only
    /// add to what is refused) and the runtime directories in `/run/user` (agent and keyring
    /// sockets), read on first use.
    fn here() -> &'static Places {
        static PLACES: std::sync::OnceLock<Places> = std::sync::OnceLock::new();
        PLACES.get_or_init(|| {
            // Bytes: a field outside UTF-8 (a Latin-1 name) makes the file no less readable.
            let passwd = std::fs::read("/etc/passwd");
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let mut places = Places::new(
                &std::env::temp_dir(),
                passwd_homes(passwd.as_deref().unwrap_or_default())
                    .chain(home)
                    .chain(entries(Path::new("/home")))
                    .chain(entries(Path::new("/run/user"))),
            );
            places.passwd_read = passwd.is_ok();
            places
        })
    }

    fn new(tmp: &Path, homes: impl IntoIterator<Item = PathBuf>) -> Places {
        let canonical = |p: PathBuf| p.canonicalize().unwrap_or(p);
        let mut places = Places {
            tmp: vec![PathBuf::from("/tmp")],
            homes: Vec::new(),
            passwd_read: true,
        };
        let tmp = canonical(tmp.to_owned());
        if !places.tmp.contains(&tmp) {
            places.tmp.push(tmp);
        }
        for home in homes.into_iter().filter(|h| h.is_absolute()).map(canonical) {
            if home != Path::new("/") && !places.homes.contains(&home) {
                places.homes.push(home);
            }
        }
        places
    }

    /// What to grant for `path` (a program): the first of its install prefix (the parent of
    /// the `bin` or `node_modules/.bin` it sits in, when [`is_install_prefix`]), its directory,
    /// that is not [`Places::too_broad`]; else only the file itself.
    fn grant_for(&self, path: &Path) -> PathBuf {
        let dir = path.parent();
        let prefix = dir
            .filter(|d| matches!(d.file_name().and_then(|n| n.to_str()), Some("bin" | ".bin")))
            .and_then(Path::parent)
            .filter(|p| is_install_prefix(p));
        [prefix, dir]
            .into_iter()
            .flatten()
            .find(|d| !self.too_broad(d))
            .unwrap_or(path)
            .to_owned()
    }

    /// Whether `dir` holds, or may hold, what is not a program's own, and is never granted whole.
    /// A directory that cannot be resolved counts as one. See [`Places::too_broad_canonical`].
    fn too_broad(&self, dir: &Path) -> bool {
        dir.canonicalize()
            .map_or(true, |dir| self.too_broad_canonical(&dir))
    }

    /// [`Places::too_broad`] of a canonical `dir`: one that is `/tmp` or the temporary
    /// directory; one that is or contains a home (`/home`, `/home/alice`, `/`); one at depth 2
    /// or less outside `/usr` (`/var/lib`, `/run/user`, `/srv/x`, `/opt/x`), unless it holds
    /// only what was installed into it ([`installed_only`]: `/opt/venv`, `/app/node_modules`);
    /// and one in a home reached through a dot-directory (`~/.ssh`, `~/.local`,
    /// `~/.local/share/app`), unless it is a virtualenv or `node_modules`, an install prefix
    /// below the home's own dot-directory (`~/.nvm/versions/node/v22`: not `~/.local` for its
    /// `lib`), or the `bin` of an install prefix (`~/.local/bin`: programs only).
    fn too_broad_canonical(&self, dir: &Path) -> bool {
        if self.tmp.iter().any(|t| t == dir) || self.homes.iter().any(|h| h.starts_with(dir)) {
            return true;
        }
        // Homes unknown: any directory outside `/usr` may be one (fail closed).
        if !self.passwd_read && !dir.starts_with("/usr") {
            return true;
        }
        if installed_only(dir) {
            return false;
        }
        let depth = dir
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count();
        if depth <= 2 && !dir.starts_with("/usr") {
            return true;
        }
        let bin_of_prefix = || {
            dir.file_name().is_some_and(|n| n == "bin")
                && dir.parent().is_some_and(is_install_prefix)
        };
        self.homes
            .iter()
            .filter_map(|h| dir.strip_prefix(h).ok())
            .any(|within| {
                let dotted = within
                    .components()
                    .any(|c| c.as_os_str().as_encoded_bytes().starts_with(b"."));
                let nested_prefix = within.components().count() >= 2 && is_install_prefix(dir);
                dotted && !nested_prefix && !bin_of_prefix()
            })
    }
}

/// The entries of directory `dir` (none when it cannot be read), each taken as a home by
/// [`Places::here`]: `/home/bob` of a user known only to LDAP, `/run/user/1000`.
fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
}

/// The home directories (the sixth field) of a `/etc/passwd`.
fn passwd_homes(passwd: &[u8]) -> impl Iterator<Item = PathBuf> + '_ {
    use std::os::unix::ffi::OsStrExt;
    passwd
        .split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b':').nth(5))
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(std::ffi::OsStr::from_bytes(home)))
}

/// Whether `dir` holds only what was installed into it: a virtualenv (`pyvenv.cfg`) or a
/// `node_modules`.
fn installed_only(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "node_modules") || dir.join("pyvenv.cfg").is_file()
}

/// Whether `prefix`, the parent of a `bin` or `.bin` directory, is a program's install prefix:
/// [`installed_only`], or a Python or Node installation (`lib`, `node_modules`). Whether it is
/// granted is [`Places::too_broad`]'s to say (`~/.local` has a `lib`, and is not).
fn is_install_prefix(prefix: &Path) -> bool {
    installed_only(prefix) || prefix.join("lib").is_dir() || prefix.join("node_modules").is_dir()
}

/// The interpreter of a script (`#!/path/python`, `#!/usr/bin/env node`), canonical: a
/// virtualenv's `python` leads to the Python it was made from.
fn interpreter(script: &Path) -> Option<PathBuf> {
    let mut head = [0u8; 256];
    let n = std::io::Read::read(&mut std::fs::File::open(script).ok()?, &mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = std::str::from_utf8(line.split(|b| *b == b'\n').next()?).ok()?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let program = if first.ends_with("/env") {
        which(words.find(|w| !w.starts_with('-'))?)?
    } else {
        PathBuf::from(first)
    };
    program.canonicalize().ok()
}

/// System calls a tool server never needs, refused with EPERM: tracing other processes,
/// mounting, new user namespaces, kernel keyrings, BPF, modules, io_uring (which opens files
/// and sockets past the filter), clocks, reboot. With `network = "ports"`, UDP, raw and packet
/// sockets too (Landlock rules cover TCP only).
fn filter(network: &Network) -> Filter {
    let mut f = Filter::new(Action::Allow);
    for call in [
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "kexec_load",
        "kexec_file_load",
        "bpf",
        "keyctl",
        "add_key",
        "request_key",
        "perf_event_open",
        "unshare",
        "setns",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "swapon",
        "swapoff",
        "acct",
        "userfaultfd",
        "open_by_handle_at",
        "name_to_handle_at",
        "iopl",
        "ioperm",
        "syslog",
        "quotactl",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "fanotify_init",
        "lookup_dcookie",
        "vhangup",
        "personality",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
    ] {
        f.add_rule(Action::Errno(EPERM), call);
    }
    f.add_rule_conditional(
        Action::Errno(EPERM),
        "clone",
        &[ArgCmp::new(
            0,
            ArgCmpOp::MaskedEq,
            CLONE_NEWUSER,
            CLONE_NEWUSER,
        )],
    );
    // clone3's flags are in memory, out of the filter's sight: "not implemented" makes the C
    // library fall back to clone, which the rule above sees.
    f.add_rule(Action::Errno(ENOSYS), "clone3");
    if matches!(network, Network::Ports(_)) {
        // AF_INET / AF_INET6 datagram, raw and packet-ish types; AF_PACKET.
        for (domain, kind) in [(2u64, 2u64), (2, 3), (2, 5), (10, 2), (10, 3), (10, 5)] {
            f.add_rule_conditional(
                Action::Errno(EACCES),
                "socket",
                &[
                    ArgCmp::new(0, ArgCmpOp::Eq, domain, 0),
                    ArgCmp::new(1, ArgCmpOp::MaskedEq, 0xf, kind),
                ],
            );
        }
        f.add_rule_conditional(
            Action::Errno(EACCES),
            "socket",
            &[ArgCmp::new(0, ArgCmpOp::Eq, 17, 0)],
        );
    }
    f
}

/// Where a pids cgroup can be made: the directory of this process's own cgroup in a writable
/// pids hierarchy (cgroup v1 `pids`, or v2 with the `pids` controller).
fn pids_cgroup_base() -> Result<PathBuf, String> {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        let path = path.trim_start_matches('/');
        let dir = if controllers.split(',').any(|c| c == "pids") {
            Path::new("/sys/fs/cgroup/pids").join(path)
        } else if controllers.is_empty() {
            let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
                .into_iter()
                .map(Path::new)
                .find(|r| {
                    std::fs::read_to_string(r.join("cgroup.controllers"))
                        .is_ok_and(|c| c.split_whitespace().any(|c| c == "pids"))
                });
            match root {
                Some(r) => r.join(path),
                None => continue,
            }
        } else {
            continue;
        };
        let probe = dir.join(format!("airlock-probe-{}", std::process::id()));
        if std::fs::create_dir(&probe).is_ok() {
            let usable = probe.join("pids.max").exists();
            let _ = std::fs::remove_dir(&probe);
            if usable {
                return Ok(dir);
            }
        }
    }
    Err("no writable pids cgroup (RLIMIT_NPROC limits processes, except for root)".into())
}

/// A pids cgroup this process moved into; it moves back and removes it when dropped.
struct PidsCgroup {
    dir: PathBuf,
    parent: PathBuf,
}

impl PidsCgroup {
    fn enter(limit: u64) -> Result<PidsCgroup, String> {
        let parent = pids_cgroup_base()?;
        remove_stale_groups(&parent);
        let dir = parent.join(format!("airlock-sandbox-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let entered = std::fs::write(dir.join("pids.max"), limit.to_string()).and_then(|()| {
            std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
        });
        if let Err(e) = entered {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("{}: {e}", dir.display()));
        }
        Ok(PidsCgroup { dir, parent })
    }
}

/// Remove the groups under `parent` left by sandboxes that were killed: [`stale_exact`]
/// `airlock-sandbox-PID`, once empty (rmdir fails otherwise). Another sandbox's group stays, even
/// while still empty, and so does another's group of a longer name.
fn remove_stale_groups(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        if stale_exact(&e.file_name().to_string_lossy(), "airlock-sandbox") {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(
            self.parent.join("cgroup.procs"),
            std::process::id().to_string(),
        );
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The pid of a process that has ended (and been waited for).
    fn dead_pid() -> u32 {
        let mut ended = std::process::Command::new("true").spawn().unwrap();
        ended.wait().unwrap();
        ended.id()
    }

    /// An executable file at `path` (no `#!`: no interpreter to follow).
    fn program(path: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"\x7fELF").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.canonicalize().unwrap()
    }

    /// The places of a machine whose only home is `home`.
    fn places(home: &Path) -> Places {
        Places::new(&std::env::temp_dir(), [home.to_owned()])
    }

    fn granted(path: &Path, home: &Path) -> Vec<PathBuf> {
        install_dirs(path.to_str().unwrap(), path, &places(home))
    }

    /// Issue 17: `airlock run -- ~/my-server` mounted all of `$HOME` (`~/.ssh`, `~/.aws`) into
    /// the sandbox. A program in the home directory, a dot-directory in it, `/tmp` or `/`
    /// grants only its own file; a program's own directory is still granted whole.
    #[test]
    fn issue_17_a_program_in_home_grants_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap();
        for only_itself in ["my-server", ".local/my-server", ".bin/my-server"] {
            let p = program(&home.join(only_itself));
            assert_eq!(granted(&p, &home), [p], "{only_itself}");
        }
        let p = program(&home.join("bin/my-server"));
        assert_eq!(granted(&p, &home), [home.join("bin")]);
        let p = program(&home.join("project/server"));
        assert_eq!(granted(&p, &home), [home.join("project")]);
        std::fs::create_dir_all(home.join(".local/lib")).unwrap();
        let p = program(&home.join(".local/bin/server"));
        assert_eq!(granted(&p, &home), [home.join(".local/bin")]);
        let p = program(&home.join("venv/bin/server"));
        std::fs::write(home.join("venv/pyvenv.cfg"), "").unwrap();
        assert_eq!(granted(&p, &home), [home.join("venv")]);
        let p = program(&home.join("project/node_modules/.bin/server"));
        assert_eq!(granted(&p, &home), [home.join("project/node_modules")]);

        let in_tmp = tempfile::Builder::new()
            .prefix("airlock-issue-17-")
            .tempfile_in(std::env::temp_dir())
            .unwrap();
        let p = program(in_tmp.path());
        assert_eq!(granted(&p, &home), [p]);

        let places = places(&home);
        assert!(places.too_broad(Path::new("/")));
        assert!(places.too_broad(Path::new("/tmp")));
        for system in ["/etc", "/root", "/var", "/home"] {
            assert!(places.too_broad(Path::new(system)), "{system}");
        }
        assert!(!places.too_broad(Path::new("/usr/local")));
        assert!(places.too_broad(&home));
        assert!(places.too_broad(home.parent().unwrap()));
        assert!(places.too_broad(&home.join(".local")));
        assert!(!places.too_broad(&home.join("project")));
        assert!(!places.too_broad(Path::new("/usr/lib")));
    }

    /// `airlock run -- /home/alice/srv/server` with `$HOME` unset or another user's (root's):
    /// only `$HOME` was known as a home, so a program right in `/home/alice/`, or in its `bin`
    /// beside a `lib`, granted `/home/alice` whole, `.ssh` included. The homes of `/etc/passwd`
    /// are known, whatever `$HOME` says (these places are built without it).
    #[test]
    fn a_home_of_passwd_is_not_granted_without_home() {
        let dir = tempfile::tempdir().unwrap();
        let alice = dir.path().canonicalize().unwrap().join("home/alice");
        std::fs::create_dir_all(alice.join("lib")).unwrap();
        let passwd = format!(
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\n\
             alice:x:1000:1000::{}:/bin/sh\n",
            alice.display()
        );
        let places = Places::new(&std::env::temp_dir(), passwd_homes(passwd.as_bytes()));
        let granted = |p: &Path| install_dirs(p.to_str().unwrap(), p, &places);
        let p = program(&alice.join("x/server"));
        assert_eq!(granted(&p), [alice.join("x")]);
        let p = program(&alice.join("server"));
        assert_eq!(granted(&p), [p]);
        let p = program(&alice.join("bin/server"));
        assert_eq!(granted(&p), [alice.join("bin")]);
        let p = program(&alice.join(".ssh/server"));
        assert_eq!(granted(&p), [p]);
        // The same rule at the real paths (which need not exist on this machine).
        let places = Places::new(
            Path::new("/tmp"),
            passwd_homes(
                passwd
                    .replace(alice.to_str().unwrap(), "/home/alice")
                    .as_bytes(),
            ),
        );
        for (dir, broad) in [
            ("/", true),
            ("/home", true),
            ("/home/alice", true),
            ("/home/alice/x", false),
            ("/home/alice/.ssh", true),
            ("/home/alice/.config/app", true),
        ] {
            assert_eq!(places.too_broad_canonical(Path::new(dir)), broad, "{dir}");
        }
    }

    /// `airlock run -- /home/bob/.local/bin/server` for a user of LDAP or sssd (not in
    /// `/etc/passwd`) with `$HOME` another's: `/home/bob` was no known home, so `~/.local`, an
    /// install prefix beside its `lib`, was granted whole. Every entry of `/home` is a home.
    #[test]
    fn a_home_of_ldap_in_home_dir_is_not_granted() {
        let dir = tempfile::tempdir().unwrap();
        let homes = dir.path().canonicalize().unwrap();
        let bob = homes.join("bob");
        std::fs::create_dir_all(bob.join(".local/lib")).unwrap();
        let p = program(&bob.join(".local/bin/server"));
        let unknown = Places::new(&std::env::temp_dir(), []);
        assert_eq!(
            unknown.grant_for(&p),
            bob.join(".local"),
            "the fail-open case"
        );
        let places = Places::new(&std::env::temp_dir(), entries(&homes));
        assert_eq!(places.grant_for(&p), bob.join(".local/bin"));
        assert_eq!(
            install_dirs(p.to_str().unwrap(), &p, &places),
            [bob.join(".local/bin")]
        );
        assert!(places.too_broad(&bob));
        assert!(places.too_broad(&bob.join(".local")));
        assert!(places.too_broad(&bob.join(".ssh")));
        let p = program(&bob.join("server"));
        assert_eq!(places.grant_for(&p), p);
        let p = program(&bob.join("project/server"));
        assert_eq!(places.grant_for(&p), bob.join("project"));
        assert_eq!(entries(&homes.join("missing")).count(), 0);
        // This machine's places know its `/home`, whatever `/etc/passwd` and `$HOME` say.
        for home in entries(Path::new("/home")) {
            assert!(Places::here().too_broad(&home), "{}", home.display());
        }
    }

    /// Without `/etc/passwd` the homes outside `/home` are unknown (root's, a service's in
    /// `/var/lib/x`): only what lies in `/usr` is granted whole.
    #[test]
    fn without_passwd_only_usr_is_granted_whole() {
        let mut places = Places::new(&std::env::temp_dir(), []);
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("srv/app/venv");
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::write(prefix.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        let program = prefix.join("bin/python");
        assert!(!places.too_broad_canonical(Path::new("/usr/lib/node_modules")));
        places.passwd_read = false;
        assert!(places.too_broad(&prefix.canonicalize().unwrap()));
        assert_eq!(places.grant_for(&program), program);
        assert!(!places.too_broad_canonical(Path::new("/usr/lib/node_modules")));
    }

    /// A program right in `~/.local/share/` granted all of it (keyrings, every other program's
    /// data), and one in `~/.local/share/app/` that directory. A directory reached through a
    /// dot-directory of a home is granted only when it is an installation.
    #[test]
    fn a_program_in_local_share_grants_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap();
        for only_itself in [
            ".local/share/app/server",
            ".local/share/server",
            ".cargo/bin/server",
        ] {
            let p = program(&home.join(only_itself));
            assert_eq!(granted(&p, &home), [p], "{only_itself}");
        }
        // Installations there: a virtualenv of uv or pipx, a Node of nvm, a virtualenv in `~`.
        let tool = home.join(".local/share/uv/tools/pkg");
        let p = program(&tool.join("bin/server"));
        std::fs::write(tool.join("pyvenv.cfg"), "").unwrap();
        assert_eq!(granted(&p, &home), [tool]);
        let node = home.join(".nvm/versions/node/v22");
        let p = program(&node.join("bin/node"));
        std::fs::create_dir_all(node.join("lib")).unwrap();
        assert_eq!(granted(&p, &home), [node]);
        let venv = home.join(".venv");
        let p = program(&venv.join("bin/server"));
        std::fs::write(venv.join("pyvenv.cfg"), "").unwrap();
        assert_eq!(granted(&p, &home), [venv]);
    }

    /// A program right in `/var/lib/` or `/run/user/1000/` granted all of it: other services'
    /// data, agent and keyring sockets. A directory at depth 2 or less outside `/usr`, or a
    /// user's runtime directory, never is; `/var/lib/app` is.
    #[test]
    fn var_lib_is_not_granted_and_var_lib_app_is() {
        let places = Places::new(
            Path::new("/tmp"),
            passwd_homes(b"alice:x:1000:1000::/home/alice:/bin/sh\n")
                .chain([PathBuf::from("/run/user/1000")]),
        );
        for (dir, broad) in [
            ("/var/lib", true),
            ("/var/lib/app", false),
            ("/run/user", true),
            ("/run/user/1000", true),
            ("/srv/server", true),
            ("/srv/server/app", false),
            ("/opt/app", true),
            ("/opt/app/bin", false),
            ("/app/node_modules", false),
            ("/usr/lib", false),
            ("/usr/local/lib/app", false),
        ] {
            assert_eq!(places.too_broad_canonical(Path::new(dir)), broad, "{dir}");
        }
        assert!(Places::here().too_broad(Path::new("/var/lib")));
    }

    /// The three sweeps (temporary directories, pids cgroups, podman containers) share one
    /// reading of the pid (the cgroups and containers also want no tail: [`stale_exact`]): the
    /// podman one also removed containers of names it could not read (the filter matches
    /// anywhere in a name), and kept one left by an earlier process with this pid.
    #[test]
    fn stale_names_are_those_of_dead_sandboxes_and_this_process() {
        let dead = dead_pid();
        let own = std::process::id();
        for (name, is_stale) in [
            (format!("airlock-loopback-{dead}-x1y2"), true),
            (format!("airlock-loopback-{own}-x1y2"), true),
            ("airlock-loopback-1-x1y2".to_owned(), false),
            (format!("airlock-sandbox-{dead}"), true),
            (format!("airlock-sandbox-{own}"), true),
            ("airlock-sandbox-1".to_owned(), false),
            ("airlock-sandbox-notapid".to_owned(), false),
            (format!("my-airlock-sandbox-{dead}"), false),
            (format!("airlock-sandboxes-{dead}"), false),
        ] {
            let prefix = if name.contains("loopback") {
                "airlock-loopback"
            } else {
                "airlock-sandbox"
            };
            assert_eq!(stale(&name, prefix), is_stale, "{name}");
        }
    }

    /// The pids cgroups and podman containers are named exactly `airlock-sandbox-PID`, but the
    /// sweeps used the temporary directories' rule (`PREFIX-PID-…`): a user's container
    /// `airlock-sandbox-123-db` was force-removed once pid 123 was gone.
    #[test]
    fn a_cgroup_or_container_name_with_a_tail_is_not_stale() {
        let dead = dead_pid();
        let own = std::process::id();
        for (name, is_stale) in [
            (format!("airlock-sandbox-{dead}"), true),
            (format!("airlock-sandbox-{own}"), true),
            ("airlock-sandbox-1".to_owned(), false),
            (format!("airlock-sandbox-{dead}-db"), false),
            (format!("airlock-sandbox-{own}-db"), false),
            (format!("airlock-sandbox-{dead}-"), false),
            (format!("airlock-sandbox-0{dead}"), false),
            (format!("airlock-sandbox-+{dead}"), false),
            ("airlock-sandbox-".to_owned(), false),
            ("airlock-sandbox-notapid".to_owned(), false),
            (format!("my-airlock-sandbox-{dead}"), false),
            (format!("airlock-sandboxes-{dead}"), false),
        ] {
            assert_eq!(stale_exact(&name, "airlock-sandbox"), is_stale, "{name}");
        }
        // The temporary directories' rule still takes a tail (tempfile's random part).
        assert!(stale(
            &format!("airlock-sandbox-{dead}-db"),
            "airlock-sandbox"
        ));
        assert!(stale(
            &format!("airlock-rootfs-{own}-x1y2"),
            "airlock-rootfs"
        ));
        assert!(!stale(
            &format!("airlock-rootfs-0{dead}-x1y2"),
            "airlock-rootfs"
        ));
    }

    /// Review finding: the temporary directories' sweep took any tail, so a user's
    /// `/tmp/airlock-loopback-123-my-data` was removed once pid 123 was gone. Only names of
    /// tempfile's shape are (and `sweep` removes only the directories of its own user).
    #[test]
    fn only_temporary_directories_of_the_sandbox_are_swept() {
        let dead = dead_pid();
        for (name, is_swept) in [
            (format!("airlock-loopback-{dead}-x1Y2z3"), true),
            (format!("airlock-loopback-{dead}-my-data"), false),
            (format!("airlock-loopback-{dead}-mydatabase"), false),
            (format!("airlock-loopback-{dead}-x1y2"), false),
            (format!("airlock-loopback-{dead}-x1y2z3-a"), false),
            (format!("airlock-loopback-{dead}"), false),
            ("airlock-loopback-1-x1y2z3".to_owned(), false),
        ] {
            assert_eq!(swept(&name, "airlock-loopback"), is_swept, "{name}");
        }
    }

    /// Issue 17: every empty `airlock-sandbox-*` group was removed at start-up, including the
    /// one another sandbox had just made and not yet entered. Only those of processes that are
    /// gone are.
    #[test]
    fn issue_17_only_the_groups_of_dead_sandboxes_are_removed() {
        /// A running process, killed when dropped: also when an assertion fails.
        struct Running(std::process::Child);
        impl Drop for Running {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let parent = tempfile::tempdir().unwrap();
        let running = Running(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap(),
        );
        let ended = dead_pid();
        let group = |name: String| {
            let dir = parent.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            dir
        };
        let other = group(format!("airlock-sandbox-{}", running.0.id()));
        let dead = group(format!("airlock-sandbox-{ended}"));
        let own = group(format!("airlock-sandbox-{}", std::process::id()));
        let unrelated = group("airlock-sandbox-notapid".into());
        let longer = group(format!("airlock-sandbox-{ended}-db"));
        remove_stale_groups(parent.path());
        drop(running);
        assert!(other.exists(), "a running sandbox's group was removed");
        assert!(!dead.exists() && !own.exists());
        assert!(unrelated.exists());
        assert!(longer.exists(), "a group of a longer name was removed");
    }
}
