//! `airlock audit` — read audit logs: `verify` checks their hash chain and names the first
//! broken link (an edited, deleted, reordered or cut-off record); `stats` summarises them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use airlock_core::audit_chain::Verifier;
use anyhow::Context;
use serde_json::Value;

use crate::Outcome;

/// `airlock audit` subcommands.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  airlock audit verify airlock-audit.jsonl.20261205T000000Z airlock-audit.jsonl\n  airlock audit keygen --out /etc/airlock/audit.key   # then [audit] signing_key_file, checkpoint_every\n  airlock audit verify --public-key 3f1c…e9 airlock-audit.jsonl\n  airlock audit stats airlock-audit.jsonl"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Check the hash chain of audit files, oldest first; exit 1 at the first broken link.
    Verify(Verify),
    /// Summarise audit files: calls, decisions, refusals by code, top tools and callers.
    Stats(Stats),
    /// Make an Ed25519 key for signed checkpoints: the key to a file, its public half to stdout.
    Keygen(Keygen),
    /// Print an audit log's last records, one line each, and with --follow the new ones as
    /// they are written (across rotation).
    Tail(Tail),
}

#[derive(clap::Args, Debug)]
struct Tail {
    /// The audit file (`audit.path`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// How many of the last records to print first.
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    lines: usize,
    /// Keep printing records as they are written, until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// Print the records as they are (JSON) instead of one summary line each.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct Keygen {
    /// Where to write the signing key (hex; created readable by its owner only).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct Verify {
    /// The files of one chain, oldest first (a rotated log's renamed files, then the current).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The first file continues a chain whose earlier files are not given.
    #[arg(long)]
    partial: bool,
    /// Check the signed checkpoints against this public key (hex, or a file holding it): a
    /// rewrite of the whole chain is then caught too.
    #[arg(long, value_name = "HEX|FILE")]
    public_key: Option<String>,
}

#[derive(clap::Args, Debug)]
struct Stats {
    /// Audit files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// How many tools and callers to list.
    #[arg(long, default_value_t = 5, value_name = "N")]
    top: usize,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Verify(v) => verify(v),
        Command::Stats(s) => stats(s),
        Command::Keygen(k) => keygen(k),
        Command::Tail(t) => tail(t),
    }
}

/// One record as a line a person scans: time, decision or event, tool, code, caller.
fn summary(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return format!("(unreadable) {line}");
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let what = match v.get("event").and_then(Value::as_str) {
        Some(e) => e.to_owned(),
        None => s("decision").to_owned(),
    };
    let who = v
        .pointer("/caller/agent")
        .or_else(|| v.pointer("/caller/session"))
        .and_then(Value::as_str)
        .unwrap_or("-");
    let detail = match what.as_str() {
        "breaker" => format!("{} {} -> {}", s("breaker"), s("from"), s("to")),
        "checkpoint" => format!("signs up to record {}", v["upto"]),
        _ => s("code").to_owned(),
    };
    let mut out = format!("{} {what:<20} {:<24} {detail}", s("ts"), s("tool"));
    if what != "breaker" && what != "checkpoint" {
        out.push_str(&format!("  agent={who}"));
    }
    out.trim_end().to_owned()
}

fn tail(args: Tail) -> anyhow::Result<Outcome> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let show = |line: &str| {
        let text = if args.json {
            line.to_owned()
        } else {
            summary(line)
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|()| out.flush())
    };
    let bytes = read(&args.file)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in &lines[lines.len().saturating_sub(args.lines)..] {
        show(line)?;
    }
    if !args.follow {
        return Ok(Outcome::Ok);
    }
    // Follow: read what is appended; when the file is replaced (rotation), start at the new one.
    let mut pos = bytes.len() as u64;
    let mut ino = inode(&args.file);
    let mut pending = String::new();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = inode(&args.file);
        if now != ino {
            ino = now;
            pos = 0;
            pending.clear();
        }
        let Ok(mut f) = std::fs::File::open(&args.file) else {
            continue;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < pos {
            // Truncated: start over.
            pos = 0;
        }
        if len == pos {
            continue;
        }
        f.seek(SeekFrom::Start(pos))?;
        let mut chunk = String::new();
        f.read_to_string(&mut chunk)?;
        pos += chunk.len() as u64;
        pending.push_str(&chunk);
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if !line.trim().is_empty() {
                show(line.trim_end())?;
            }
        }
    }
}

/// The file's identity (inode on Unix), to notice it was replaced.
fn inode(path: &PathBuf) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| m.ino())
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|m| m.len())
    }
}

fn keygen(args: Keygen) -> anyhow::Result<Outcome> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options
        .open(&args.out)
        .and_then(|mut f| f.write_all(format!("{hex}\n").as_bytes()))
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist yet)",
                args.out.display()
            )
        })?;
    println!("{}", airlock_core::audit_chain::public_hex(&key));
    Ok(Outcome::Ok)
}

/// A public key given as hex, or as a file holding it.
fn public_key(text: &str) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    let hex = match airlock_core::audit_chain::key_bytes(text) {
        Some(_) => text.to_owned(),
        None => std::fs::read_to_string(text).with_context(|| {
            format!("--public-key {text}: neither 64 hex digits nor a readable file")
        })?,
    };
    let bytes = airlock_core::audit_chain::key_bytes(&hex).ok_or_else(|| {
        anyhow::anyhow!("--public-key: not an Ed25519 public key (64 hex digits)")
    })?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("--public-key: not an Ed25519 public key ({e})"))
}

fn read(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

fn verify(args: Verify) -> anyhow::Result<Outcome> {
    let mut v = Verifier::new();
    v.partial = args.partial;
    v.key = args.public_key.as_deref().map(public_key).transpose()?;
    for file in &args.files {
        let bytes = read(file)?;
        if let Err(broken) = v.file(&file.display().to_string(), &bytes) {
            println!("✗ {broken}");
            println!("  {} record(s) before it are intact.", v.records);
            return Ok(Outcome::Refused);
        }
    }
    let Some(c) = v.chain() else {
        println!("✓ no records");
        return Ok(Outcome::Ok);
    };
    let files = args.files.len();
    if v.key.is_some() {
        let Some(upto) = v.signed_upto else {
            println!(
                "✗ {} record(s) in {files} file(s) chain together, but no checkpoint is signed by this key: the log may have been rewritten whole",
                v.records
            );
            return Ok(Outcome::Refused);
        };
        println!(
            "✓ {} record(s) in {files} file(s), chain intact up to record {} (hash {}), signed up to record {upto}{}",
            v.records,
            c.seq,
            &c.last[..16],
            match c.seq - upto {
                0 | 1 => String::new(),
                n => format!(
                    "; the last {} record(s) are covered by the chain only",
                    n - 1
                ),
            }
        );
        return Ok(Outcome::Ok);
    }
    println!(
        "✓ {} record(s) in {files} file(s), chain intact up to record {} (hash {}){}",
        v.records,
        c.seq,
        &c.last[..16],
        if v.checkpoints > 0 {
            format!(
                "; {} signed checkpoint(s) not checked (give --public-key)",
                v.checkpoints
            )
        } else {
            String::new()
        }
    );
    Ok(Outcome::Ok)
}

fn stats(args: Stats) -> anyhow::Result<Outcome> {
    let mut decisions: BTreeMap<String, u64> = BTreeMap::new();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut tools: BTreeMap<String, u64> = BTreeMap::new();
    let mut callers: BTreeMap<String, u64> = BTreeMap::new();
    let mut events: BTreeMap<String, u64> = BTreeMap::new();
    let (mut calls, mut unreadable) = (0u64, 0u64);
    for file in &args.files {
        for line in read(file)?.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                unreadable += 1;
                continue;
            };
            if let Some(e) = v.get("event").and_then(Value::as_str) {
                *events.entry(e.to_owned()).or_default() += 1;
                continue;
            }
            calls += 1;
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
            *decisions.entry(s("decision")).or_default() += 1;
            if let Some(c) = v.get("code").and_then(Value::as_str) {
                *codes.entry(c.to_owned()).or_default() += 1;
            }
            *tools.entry(s("tool")).or_default() += 1;
            let who = v
                .pointer("/caller/agent")
                .or_else(|| v.pointer("/caller/session"))
                .and_then(Value::as_str)
                .unwrap_or("(anonymous)");
            *callers.entry(who.to_owned()).or_default() += 1;
        }
    }
    let top = |m: &BTreeMap<String, u64>, n: usize| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = m.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    };
    println!("calls: {calls}");
    for (d, n) in top(&decisions, usize::MAX) {
        println!("  {d}: {n}");
    }
    if !codes.is_empty() {
        println!("refusals by code:");
        for (c, n) in top(&codes, usize::MAX) {
            println!("  {c}: {n}");
        }
    }
    println!("top tools:");
    for (t, n) in top(&tools, args.top) {
        println!("  {t}: {n}");
    }
    println!("top callers:");
    for (c, n) in top(&callers, args.top) {
        println!("  {c}: {n}");
    }
    if !events.is_empty() {
        println!("other records:");
        for (e, n) in top(&events, usize::MAX) {
            println!("  {e}: {n}");
        }
    }
    if unreadable > 0 {
        println!("unreadable lines: {unreadable}");
    }
    Ok(Outcome::Ok)
}
