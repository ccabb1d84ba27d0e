//! The podman backend (`[sandbox] backend = "podman"`), for machines without unprivileged user
//! namespaces: the same profile, enforced by Podman (no daemon) with no image — an empty root
//! directory of the airlock's own, into which only what the profile grants is mounted.
//!
//! How each part maps: the filesystem as in the namespaces backend (`--read-only`, `-v …:ro`,
//! `--tmpfs /tmp`); `network = "none"` is `--network none`, `"any"` `--network host`
//! (`"ports"` needs Landlock and is refused); processes `--pids-limit` and `--ulimit nproc`;
//! memory `--memory` (a cgroup limit on resident memory, where the namespaces backend limits
//! address space); CPU and open files `--ulimit`; the wall clock `--timeout` (kept by conmon even
//! when the airlock is gone); `--cap-drop all`, `no-new-privileges` and Podman's default seccomp
//! profile; only the listed variables (`-e NAME`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ETC, Places, install_dirs, resolve, stale_exact, system_dirs, which};
use crate::{Layer, Network, Profile};

pub fn probe() -> Layer {
    // `--memory` and `--pids-limit` need the cgroup controllers: without them podman only
    // warns and runs the server unlimited, so their absence is a missing layer.
    let status = match Command::new("podman")
        .args([
            "info",
            "--format",
            "{{.Version.Version}} {{.Host.CgroupsVersion}} {{.Host.CgroupControllers}}",
        ])
        .output()
    {
        Ok(out) if out.status.success() => {
            let info = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let has = |c: &str| info.split([' ', '[', ']']).any(|w| w == c);
            if has("memory") && has("pids") {
                Ok(format!("podman {info} (no daemon, no image)"))
            } else {
                Err(format!(
                    "podman cannot limit memory and processes here (version, cgroups, controllers: {info})"
                ))
            }
        }
        Ok(out) => Err(format!(
            "podman info failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("podman is not installed ({e})")),
    };
    Layer {
        name: "podman",
        status,
    }
}

pub fn exec(profile: &Profile, server: &[String]) -> Result<i32, String> {
    let (first, args) = server.split_first().ok_or("no server command to sandbox")?;
    let program = resolve(first)?;
    super::sweep("airlock-rootfs");
    remove_stale_containers();
    // A directory of this process's own (a name no one can guess, made here: never one that
    // already existed), removed when the run is over.
    let rootfs = tempfile::Builder::new()
        .prefix(&format!("airlock-rootfs-{}-", std::process::id()))
        .tempdir()
        .map_err(|e| {
            format!(
                "cannot make the container's root directory in {}: {e}",
                std::env::temp_dir().display()
            )
        })?;
    let root = rootfs.path();
    let mut cmd = Command::new("podman");
    // crun cannot run under hybrid cgroups (v1 with a v2 mount beside it); runc can.
    let pure_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if !pure_v2 && which("runc").is_some() {
        cmd.arg("--runtime=runc");
    }
    // Named after this process, so that the next start removes it if this process was killed
    // and the server ignored the end of its input.
    cmd.args(["run", "--rm", "-i", "--read-only", "--cap-drop=all"])
        .arg(format!("--name=airlock-sandbox-{}", std::process::id()))
        .arg("--security-opt=no-new-privileges")
        .arg(match profile.network {
            Network::None => "--network=none",
            Network::Any => "--network=host",
            Network::Ports(_) | Network::Loopback(_) => {
                return Err(
                    "network = \"ports\" and \"loopback\" need the namespaces backend".into(),
                );
            }
        })
        .arg(format!("--pids-limit={}", profile.processes))
        .arg(format!("--ulimit=nproc={0}:{0}", profile.processes))
        .arg(format!("--ulimit=nofile={0}:{0}", profile.open_files))
        .arg(format!("--memory={}", profile.memory))
        .arg("--tmpfs=/tmp");
    if profile.cpu_seconds > 0 {
        cmd.arg(format!("--ulimit=cpu={0}:{0}", profile.cpu_seconds));
    }
    if let Some(s) = profile.wall_seconds {
        cmd.arg(format!("--timeout={s}"));
    }
    let mut readable: Vec<PathBuf> = Vec::new();
    let mount = |cmd: &mut Command, host: &Path, at: &Path, mode: &str| {
        cmd.arg("-v")
            .arg(format!("{}:{}:{mode}", host.display(), at.display()));
    };
    for (dir, link) in system_dirs() {
        let p = Path::new(dir);
        match link {
            Some(target) => {
                let link = root.join(dir.trim_start_matches('/'));
                std::os::unix::fs::symlink(&target, &link)
                    .map_err(|e| format!("{}: {e}", link.display()))?;
            }
            None => {
                mount(&mut cmd, p, p, "ro");
                readable.push(p.to_owned());
            }
        }
    }
    for file in ETC {
        let p = Path::new(file);
        if p.exists() {
            let real = p.canonicalize().unwrap_or_else(|_| p.to_owned());
            mount(&mut cmd, &real, p, "ro");
        }
    }
    for dir in install_dirs(first, &program, Places::here()) {
        if !readable.iter().any(|r| dir.starts_with(r)) {
            mount(&mut cmd, &dir, &dir, "ro");
            readable.push(dir);
        }
    }
    for p in &profile.read_only {
        mount(&mut cmd, p, p, "ro");
        readable.push(p.clone());
    }
    for p in &profile.read_write {
        mount(&mut cmd, p, p, "rw");
    }
    for var in &profile.env {
        if std::env::var_os(var).is_some() {
            cmd.arg("-e").arg(var);
        }
    }
    let cwd = std::env::current_dir().ok().filter(|d| {
        profile.read_write.iter().any(|p| d.starts_with(p))
            || readable.iter().any(|p| d.starts_with(p))
    });
    cmd.arg("-w")
        .arg(cwd.unwrap_or_else(|| PathBuf::from("/tmp")));
    cmd.arg("--rootfs").arg(root).arg(&program).args(args);
    // conmon writes an `oom` file into its working directory when the server is OOM-killed:
    // the root directory, removed afterwards, not wherever the airlock runs.
    cmd.current_dir(root);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start podman: {e}"))?;
    Ok(status.code().unwrap_or(137))
}

/// Remove the containers of sandboxes that were killed before they could stop them:
/// [`stale_exact`] `airlock-sandbox-PID` (a user's `airlock-sandbox-PID-db` stays).
fn remove_stale_containers() {
    let Ok(out) = Command::new("podman")
        .args([
            "ps",
            "-a",
            "--filter",
            "name=airlock-sandbox-",
            "--format",
            "{{.Names}}",
        ])
        .output()
    else {
        return;
    };
    // The filter matches anywhere in a name: only ours, exactly, and stale, are removed.
    for name in String::from_utf8_lossy(&out.stdout).lines() {
        if stale_exact(name, "airlock-sandbox") {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", name])
                .output();
        }
    }
}
