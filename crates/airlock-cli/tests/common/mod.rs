//! What several test binaries of the CLI share: the `airlock` binary and `airlock serve` as a
//! real process on a free loopback port.

#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The `airlock` binary under test.
pub fn airlock() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airlock"))
}

/// `airlock` with no `AIRLOCK_*` variable of the test's environment.
pub fn airlock_command() -> Command {
    let mut cmd = Command::new(airlock());
    for (k, _) in std::env::vars() {
        if k.starts_with("AIRLOCK_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A process stopped when dropped: SIGTERM first (the gateway stops its sessions' servers on
/// the way out), then SIGKILL.
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until something listens on the loopback port.
pub fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// `airlock serve --allow-anonymous --listen 127.0.0.1:PORT ARGS…` with these variables set,
/// and its `/mcp` URL.
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> (Stopped, String) {
    let port = airlock_testkit::free_port();
    let child = airlock_command()
        .envs(env.iter().copied())
        .args(["serve", "--allow-anonymous", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("airlock serve starts");
    let stopped = Stopped(child);
    wait_for_port(port);
    (stopped, format!("http://127.0.0.1:{port}/mcp"))
}

/// `airlock serve --config CONFIG -- airlock demo --server`: the gateway in front of the demo
/// server (one per session), and its `/mcp` URL.
pub fn serve_demo(config: &std::path::Path) -> (Stopped, String) {
    let airlock = airlock();
    serve(
        &[
            "--config",
            config.to_str().expect("a UTF-8 path"),
            "--",
            airlock.to_str().expect("a UTF-8 path"),
            "demo",
            "--server",
        ],
        &[],
    )
}

/// Processes whose environment holds `marker` (`NAME=value`: they inherited it from the process
/// under test).
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(env) = std::fs::read(entry.path().join("environ"))
            && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

/// The processes holding `marker` still running after waiting up to `within` for them to end.
pub fn left_running(marker: &str, within: std::time::Duration) -> Vec<u32> {
    let until = std::time::Instant::now() + within;
    loop {
        let left = processes_with(marker);
        if left.is_empty() || std::time::Instant::now() >= until {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
