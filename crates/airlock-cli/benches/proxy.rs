//! Round trips through `airlock run` against straight to the same server, in one run.
//!
//! The server is the testkit's MCP server (an `echo` tool). Each mode sends `N` sequential
//! `tools/call` requests over real pipes and waits for each answer; the figures are the median
//! and p99 round trip and the calls per second, and the ratio of proxied to direct.
//!
//! Run: `cargo build --release -p airlock-cli --example airlock-test-server && cargo bench -p airlock-cli --bench proxy`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up stops loudly

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 5_000;
const WARM_UP: usize = 500;

fn measure(mut cmd: Command) -> (Vec<Duration>, Duration) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut round_trip = |id: usize| {
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello airlock"}}}}}}"#
        );
        let t0 = Instant::now();
        input.write_all(call.as_bytes()).unwrap();
        input.write_all(b"\n").unwrap();
        input.flush().unwrap();
        line.clear();
        output.read_line(&mut line).unwrap();
        assert!(line.contains("hello airlock"), "{line}");
        t0.elapsed()
    };
    for i in 0..WARM_UP {
        round_trip(i);
    }
    let started = Instant::now();
    let mut lat: Vec<Duration> = (0..N).map(|i| round_trip(WARM_UP + i)).collect();
    let total = started.elapsed();
    drop(input);
    let _ = child.wait();
    lat.sort_unstable();
    (lat, total)
}

/// Throughput with every request in flight at once: a writer thread sends `N` calls while
/// this thread reads the `N` answers. Calls per second.
fn pipelined(mut cmd: Command) -> f64 {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::new();
        for id in 0..N {
            buf.extend_from_slice(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello airlock"}}}}}}"#
            ).as_bytes());
            buf.push(b'\n');
            if buf.len() > 64 * 1024 {
                input.write_all(&buf).unwrap();
                buf.clear();
            }
        }
        input.write_all(&buf).unwrap();
        input.flush().unwrap();
        input
    });
    let mut line = String::new();
    for _ in 0..N {
        line.clear();
        output.read_line(&mut line).unwrap();
        assert!(line.contains("hello airlock"), "{line}");
    }
    let rate = N as f64 / started.elapsed().as_secs_f64();
    drop(writer.join().unwrap());
    let _ = child.wait();
    rate
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let server = airlock_testkit::test_server();
    let direct = Command::new(&server);
    let mut proxied = Command::new(env!("CARGO_BIN_EXE_airlock"));
    proxied.arg("run").arg("--").arg(&server);
    let pct = |l: &[Duration], p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    let (d, dt) = measure(direct);
    let (p, pt) = measure(proxied);
    let d_rate = N as f64 / dt.as_secs_f64();
    let p_rate = N as f64 / pt.as_secs_f64();
    println!("mode       calls/s      p50      p99");
    println!(
        "direct  {d_rate:>10.0} {:>8.1?} {:>8.1?}",
        pct(&d, 0.5),
        pct(&d, 0.99)
    );
    println!(
        "proxied {p_rate:>10.0} {:>8.1?} {:>8.1?}",
        pct(&p, 0.5),
        pct(&p, 0.99)
    );
    println!(
        "sequential: throughput ratio {:.3}, added median latency {:.1?}",
        p_rate / d_rate,
        pct(&p, 0.5).saturating_sub(pct(&d, 0.5))
    );
    let mut proxied = Command::new(env!("CARGO_BIN_EXE_airlock"));
    proxied.arg("run").arg("--").arg(&server);
    let d_pipe = pipelined(Command::new(&server));
    let p_pipe = pipelined(proxied);
    println!(
        "pipelined ({N} in flight): direct {d_pipe:.0} calls/s, proxied {p_pipe:.0} calls/s, ratio {:.3}",
        p_pipe / d_pipe
    );
}
