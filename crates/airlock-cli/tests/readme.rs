//! The README's "Use with Claude Desktop" configuration, run as such a client runs it: the
//! `command` and `args` of the JSON block as written (only the example's paths replaced by this
//! machine's), started in a working directory nobody chose, with the environment the README
//! suggests, stderr to a log file as Claude Desktop keeps it. The guarded server-filesystem
//! reads inside its root, refuses outside it, and the log says what started.
//!
//! A stand-in for the walk-through of issue 14 (no Claude Desktop here): if the README's block
//! changes shape, this test fails and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{Value, json};

/// The first ```json block after the "Use with Claude Desktop" paragraph.
fn readme_config() -> Value {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let at = readme
        .find("**Use with Claude Desktop")
        .expect("the README has its Claude Desktop paragraph");
    let rest = &readme[at..];
    let start = rest.find("```json\n").expect("a JSON block follows") + "```json\n".len();
    let end = start + rest[start..].find("```").unwrap();
    serde_json::from_str(&rest[start..end]).expect("the README's JSON block is valid JSON")
}

#[test]
fn the_readme_claude_desktop_configuration_works_as_written() {
    let config = readme_config();
    let server = &config["mcpServers"]["filesystem"];
    let command = server["command"].as_str().unwrap();
    let args: Vec<&str> = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(command.ends_with("/.cargo/bin/airlock"), "{command}");
    let dashes = args
        .iter()
        .position(|a| *a == "--")
        .expect("`--` before the server");
    assert_eq!(&args[..2], ["run", "--config"], "{args:?}");
    assert_eq!(
        &args[dashes + 1..dashes + 4],
        ["npx", "-y", "@modelcontextprotocol/server-filesystem"],
        "{args:?}"
    );
    // This machine's paths for the example's: the built airlock, a configuration file with a
    // relative audit path, the npm server installed by scripts/test.sh, a work directory.
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("notes.txt"), "hello from the root").unwrap();
    let conf_dir = dir.path().join("airlock");
    std::fs::create_dir(&conf_dir).unwrap();
    let conf = conf_dir.join("airlock.toml");
    std::fs::write(
        &conf,
        format!(
            "[filesystem]\nallowed_roots = [{:?}]\n[audit]\npath = \"audit.jsonl\"\n",
            work.display().to_string()
        ),
    )
    .unwrap();
    let airlock = Command::cargo_bin("airlock").unwrap();
    let filesystem = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/npm/node_modules/.bin/mcp-server-filesystem");
    assert!(
        filesystem.exists(),
        "run scripts/test.sh: it installs @modelcontextprotocol/server-filesystem"
    );
    let mut argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    argv[2] = conf.display().to_string();
    argv.splice(dashes + 1..dashes + 4, [filesystem.display().to_string()]);
    let last = argv.len() - 1;
    argv[last] = work.display().to_string();

    // Started as a client starts it: another working directory, the README's AIRLOCK_LOG,
    // stderr to a log file.
    let log = dir.path().join("mcp-server-filesystem.log");
    let mut child = Command::new(airlock.get_program())
        .args(&argv)
        .current_dir("/")
        .env("AIRLOCK_LOG", "info")
        .env_remove("AIRLOCK_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |id: i64, method: &str, params: Value| -> Value {
        writeln!(
            stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        )
        .unwrap();
        stdin.flush().unwrap();
        loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the proxy ended");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id && v.get("method").is_none() {
                return v;
            }
        }
    };
    let init = ask(
        0,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "claude-desktop-stand-in", "version": "1"}}),
    );
    assert!(init.get("result").is_some(), "{init}");
    let inside = ask(
        1,
        "tools/call",
        json!({"name": "read_text_file", "arguments": {"path": work.join("notes.txt")}}),
    );
    assert!(
        inside.to_string().contains("hello from the root"),
        "{inside}"
    );
    let outside = ask(
        2,
        "tools/call",
        json!({"name": "read_text_file", "arguments": {"path": "/etc/hostname"}}),
    );
    assert_eq!(
        outside.pointer("/result/_meta/airlock~1refusal/metadata/code"),
        Some(&json!("filesystem.outside_roots")),
        "{outside}"
    );
    drop(stdin);
    let _ = child.wait();
    // The log a client keeps: the start-up, with the configuration file and the checks.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("starting"), "{text}");
    assert!(text.contains(&conf.display().to_string()), "{text}");
    // The audit path in the file resolved against the file's directory, not the client's.
    let audit = std::fs::read_to_string(conf_dir.join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 2, "{audit}");
}
