//! `airlock serve` against straight to the same Streamable-HTTP server, in one run; and the
//! resident memory of the proxies.
//!
//! The upstream is an rmcp Streamable-HTTP server with an `echo` tool, in this process. The
//! gateway is the release `airlock` binary with `--upstream`. Each mode opens sessions
//! (`initialize`), then sends `tools/call`s and waits for each answer: one session sequentially
//! (median and p99 round trip, calls/s), then 16 sessions at once (calls/s). Memory: VmRSS of
//! the `airlock` process idle, after 16 HTTP sessions, and of `airlock run` idle.
//!
//! Run: `cargo build --release -p airlock-cli --bin airlock --example airlock-test-server &&
//! cargo bench -p airlock-cli --bench gateway`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up stops loudly

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

const SEQUENTIAL: usize = 3_000;
const SESSIONS: usize = 16;
const PER_SESSION: usize = 500;
const WARM_UP: usize = 300;

fn release_bin(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/release")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: cargo build --release -p airlock-cli --bin airlock --example airlock-test-server",
        p.display()
    );
    p
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn gateway(args: &[&str]) -> (Killed, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(release_bin("airlock"))
        .args(["serve", "--allow-anonymous", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (Killed(child), format!("http://127.0.0.1:{port}/mcp"))
}

struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
    /// The `arguments` of the echo tool, and the text expected back.
    echo: (&'static str, &'static str),
}

const OUR_ECHO: (&str, &str) = (r#"{"text":"hello airlock"}"#, "hello airlock");
const EVERYTHING_ECHO: (&str, &str) = (r#"{"message":"hello airlock"}"#, "Echo: hello airlock");

fn last_message(text: &str) -> Value {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).unwrap();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .rfind(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .unwrap()
}

impl Session {
    async fn open(
        http: &reqwest::Client,
        url: &str,
        echo: (&'static str, &'static str),
    ) -> Session {
        let resp = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#)
            .send()
            .await
            .unwrap();
        let id = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let _ = resp.text().await.unwrap();
        let s = Session {
            http: http.clone(),
            url: url.to_owned(),
            id,
            echo,
        };
        s.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into())
            .await;
        s
    }

    async fn post(&self, body: String) -> String {
        self.http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-06-18")
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn call(&self, i: usize) -> Duration {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"echo","arguments":{}}}}}"#,
            self.echo.0
        );
        let t0 = Instant::now();
        let text = self.post(body).await;
        let elapsed = t0.elapsed();
        let m = last_message(&text);
        assert_eq!(m["result"]["content"][0]["text"], self.echo.1, "{text}");
        elapsed
    }
}

async fn sequential(
    url: &str,
    echo: (&'static str, &'static str),
    n: usize,
) -> (Vec<Duration>, Duration) {
    let http = reqwest::Client::new();
    let s = Session::open(&http, url, echo).await;
    for i in 0..WARM_UP {
        s.call(i + 1).await;
    }
    let t0 = Instant::now();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        lat.push(s.call(WARM_UP + i + 1).await);
    }
    let total = t0.elapsed();
    lat.sort_unstable();
    (lat, total)
}

async fn concurrent(url: &str) -> f64 {
    let http = reqwest::Client::new();
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        sessions.push(Arc::new(Session::open(&http, url, OUR_ECHO).await));
    }
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for s in &sessions {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_SESSION {
                s.call(i + 1).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (SESSIONS * PER_SESSION) as f64 / t0.elapsed().as_secs_f64()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (up, _) = airlock_testkit::echo_http().await;
        let (gw, gw_url) = gateway(&["--upstream", &up]);
        let idle = rss_kib(gw.0.id());

        let (d_lat, d_total) = sequential(&up, OUR_ECHO, SEQUENTIAL).await;
        let (g_lat, g_total) = sequential(&gw_url, OUR_ECHO, SEQUENTIAL).await;
        let d_rate = concurrent(&up).await;
        let g_rate = concurrent(&gw_url).await;
        let after16 = rss_kib(gw.0.id());
        drop(gw);

        // The gateway with a child process per session: its own memory with 16 sessions open.
        let (gw_child, child_url) = gateway(&["--", release_bin("examples/airlock-test-server").to_str().unwrap()]);
        let child_idle = rss_kib(gw_child.0.id());
        let http = reqwest::Client::new();
        let mut open = Vec::new();
        for _ in 0..SESSIONS {
            open.push(Session::open(&http, &child_url, OUR_ECHO).await);
        }
        let child16 = rss_kib(gw_child.0.id());
        drop(open);
        drop(gw_child);

        // A real-world upstream: the reference server-everything over Streamable HTTP (if
        // scripts/test.sh installed it), direct and through the gateway.
        let everything = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/npm/node_modules/.bin/mcp-server-everything");
        let real = if everything.exists() {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let _node = Killed(
                Command::new(&everything)
                    .arg("streamableHttp")
                    .env("PORT", port.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            for _ in 0..300 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let direct = format!("http://127.0.0.1:{port}/mcp");
            let (gw, via) = gateway(&["--upstream", &direct]);
            let d = sequential(&direct, EVERYTHING_ECHO, 1000).await;
            let g = sequential(&via, EVERYTHING_ECHO, 1000).await;
            drop(gw);
            Some((d, g))
        } else {
            None
        };

        // `airlock run`, idle after the handshake.
        let mut run = Command::new(release_bin("airlock"))
            .args(["run", "--"])
            .arg(release_bin("examples/airlock-test-server"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::{BufRead, BufReader, Write};
            let mut input = run.stdin.take().unwrap();
            let mut output = BufReader::new(run.stdout.take().unwrap());
            writeln!(input, r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"bench","version":"1"}}}}}}"#).unwrap();
            let mut line = String::new();
            output.read_line(&mut line).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let run_idle = rss_kib(run.id());
            drop(input);
            let _ = run.wait();

            let pct = |v: &[Duration], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
            println!("gateway bench: {SEQUENTIAL} sequential calls on one session, then {SESSIONS} sessions × {PER_SESSION} calls at once");
            println!("| mode | calls/s | p50 | p99 |");
            println!("|---|---:|---:|---:|");
            for (name, lat, total) in [("sequential, direct", &d_lat, d_total), ("sequential, through airlock serve", &g_lat, g_total)] {
                println!(
                    "| {name} | {:.0} | {:.1} µs | {:.1} µs |",
                    SEQUENTIAL as f64 / total.as_secs_f64(),
                    us(pct(lat, 0.5)),
                    us(pct(lat, 0.99))
                );
            }
            println!("| {SESSIONS} sessions at once, direct | {d_rate:.0} | | |");
            println!("| {SESSIONS} sessions at once, through airlock serve | {g_rate:.0} | | |");
            println!(
                "added median latency: {:.1} µs; throughput ratio: sequential {:.2}×, concurrent {:.2}×",
                us(pct(&g_lat, 0.5)) - us(pct(&d_lat, 0.5)),
                d_total.as_secs_f64() / g_total.as_secs_f64(),
                g_rate / d_rate
            );
            if let Some(((d_lat, d_total), (g_lat, g_total))) = &real {
                println!(
                    "server-everything (node) over HTTP, 1000 sequential calls: direct {:.0} calls/s p50 {:.1} µs; through airlock serve {:.0} calls/s p50 {:.1} µs; ratio {:.2}×, added median {:.1} µs",
                    1000.0 / d_total.as_secs_f64(),
                    us(pct(d_lat, 0.5)),
                    1000.0 / g_total.as_secs_f64(),
                    us(pct(g_lat, 0.5)),
                    d_total.as_secs_f64() / g_total.as_secs_f64(),
                    us(pct(g_lat, 0.5)) - us(pct(d_lat, 0.5)),
                );
            } else {
                println!("(server-everything not installed: run scripts/test.sh for the real-world comparison)");
            }
            println!("resident memory (VmRSS):");
            println!("  airlock serve --upstream, idle: {:.1} MiB", idle as f64 / 1024.0);
            println!("  airlock serve --upstream, after {SESSIONS} sessions: {:.1} MiB", after16 as f64 / 1024.0);
            println!("  airlock serve -- <cmd>, idle: {:.1} MiB", child_idle as f64 / 1024.0);
            println!("  airlock serve -- <cmd>, {SESSIONS} sessions open (servers not counted): {:.1} MiB", child16 as f64 / 1024.0);
            println!("  airlock run, idle: {:.1} MiB", run_idle as f64 / 1024.0);
        }
    });
}
