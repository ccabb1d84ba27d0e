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
    after_help = "Example:\n  airlock audit verify airlock-audit.jsonl.20261205T000000Z airlock-audit.jsonl\n  airlock audit stats airlock-audit.jsonl"
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
}

#[derive(clap::Args, Debug)]
struct Verify {
    /// The files of one chain, oldest first (a rotated log's renamed files, then the current).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The first file continues a chain whose earlier files are not given.
    #[arg(long)]
    partial: bool,
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
    }
}

fn read(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

fn verify(args: Verify) -> anyhow::Result<Outcome> {
    let mut v = Verifier::new();
    v.partial = args.partial;
    for file in &args.files {
        let bytes = read(file)?;
        if let Err(broken) = v.file(&file.display().to_string(), &bytes) {
            println!("✗ {broken}");
            println!("  {} record(s) before it are intact.", v.records);
            return Ok(Outcome::Refused);
        }
    }
    match v.chain() {
        Some(c) => println!(
            "✓ {} record(s) in {} file(s), chain intact up to record {} (hash {})",
            v.records,
            args.files.len(),
            c.seq,
            &c.last[..16]
        ),
        None => println!("✓ no records"),
    }
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
