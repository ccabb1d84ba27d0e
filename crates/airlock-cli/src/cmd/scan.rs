//! `airlock scan` — mask PII and secrets in text from stdin or files, or list what was found.
//!
//! * default: the masked text on stdout;
//! * `--findings`: one JSON line per input with its findings (UTF-8 byte offsets);
//! * `--jsonl`: input lines `{"id", "text"}` → output lines `{"id", "findings": [{"start", "end", "type"}]}`;
//! * `--list`: the detector types.
//!
//! The masking is `[sanitize]`'s (configuration file, flags, environment).

use std::io::{BufRead, Read, Write};

use anyhow::Context;
use serde_json::json;

use crate::Outcome;
use crate::load::{self, FileArgs};

/// `airlock scan` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    airlock scan < tool-output.txt                 # the masked text\n  \
    airlock scan --findings report.log             # what was found, as JSON\n  \
    airlock scan --list                            # the types, and what each leaves unmasked")]
pub struct Args {
    #[command(flatten)]
    config: FileArgs,
    /// Print the findings (JSON, UTF-8 byte offsets) instead of the masked text.
    #[arg(long, conflicts_with = "jsonl")]
    findings: bool,
    /// Read JSON lines `{"id", "text"}` and write `{"id", "findings": [...]}` lines.
    #[arg(long)]
    jsonl: bool,
    /// List the detector types and exit.
    #[arg(long)]
    list: bool,
    /// Scan as this tenant would be ([tenants.NAME.sanitize] applies).
    #[arg(long, value_name = "NAME")]
    tenant: Option<String>,
    /// Files to scan (default: stdin).
    #[arg(value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let (_, config) = load::config(&(&args.config).into())?;
    let settings = match &args.tenant {
        Some(t) => match config.settings.tenants.get(t) {
            Some(tenant) => config.settings.sanitize.with(&tenant.sanitize),
            None => anyhow::bail!(
                "no tenant {t:?} in the configuration\nhint: configured tenants: {}",
                config
                    .settings
                    .tenants
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        None => config.settings.sanitize.clone(),
    };
    let scanner = load::scanner(&settings)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.list {
        let name = |c: airlock_scan::Category| match c {
            airlock_scan::Category::Pii => "pii",
            airlock_scan::Category::Secret => "secret",
            airlock_scan::Category::Custom => "custom",
        };
        // One line per type; a type several detectors find (`phone`) lists their details.
        let mut listed: Vec<&str> = Vec::new();
        for d in scanner.detectors() {
            if listed.contains(&d.kind) {
                continue;
            }
            listed.push(d.kind);
            let details: Vec<&str> = scanner
                .detectors()
                .iter()
                .filter(|o| o.kind == d.kind && !o.detail.is_empty())
                .map(|o| o.detail)
                .collect();
            let kind = if details.is_empty() {
                d.kind.to_owned()
            } else {
                format!("{} ({}, …)", d.kind, details.join(", "))
            };
            match airlock_scan::detectors::not_masked(d.kind) {
                Some(n) => writeln!(out, "{kind:<28} {:<7} not masked: {n}", name(d.category))?,
                None => writeln!(out, "{kind:<28} {}", name(d.category))?,
            }
        }
        for d in airlock_scan::DETECTORS {
            if !listed.contains(&d.kind) {
                listed.push(d.kind);
                writeln!(out, "{:<28} {}  (disabled)", d.kind, name(d.category))?;
            }
        }
        out.flush()?;
        return Ok(Outcome::Ok);
    }
    if args.jsonl {
        let stdin = std::io::stdin();
        let reader: Box<dyn BufRead> = match args.files.first() {
            Some(f) => Box::new(std::io::BufReader::new(
                std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?,
            )),
            None => Box::new(stdin.lock()),
        };
        for (n, line) in reader.lines().enumerate() {
            let line = line.context("cannot read the input")?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line).with_context(|| {
                format!(
                    "line {}: not JSON\nhint: each line must be {{\"id\": …, \"text\": \"…\"}}",
                    n + 1
                )
            })?;
            let text = v["text"].as_str().with_context(|| {
                format!("line {}: no \"text\" string\nhint: each line must be {{\"id\": …, \"text\": \"…\"}}", n + 1)
            })?;
            let findings = scanner.find(text);
            writeln!(out, "{}", json!({"id": v["id"], "findings": findings}))?;
        }
        out.flush()?;
        return Ok(Outcome::Ok);
    }
    let limit = match (settings.max_output_chars, settings.max_output_tokens) {
        (Some(c), Some(t)) => Some(c.min(t.saturating_mul(4))),
        (c, t) => c.or(t.map(|t| t.saturating_mul(4))),
    };
    let sources: Vec<Option<&std::path::PathBuf>> = if args.files.is_empty() {
        vec![None]
    } else {
        args.files.iter().map(Some).collect()
    };
    for source in sources {
        let name = source.map_or("-".to_owned(), |p| p.display().to_string());
        let mut input: Box<dyn Read> = match source {
            Some(p) => {
                Box::new(std::fs::File::open(p).with_context(|| format!("cannot read {name}"))?)
            }
            None => Box::new(std::io::stdin()),
        };
        if args.findings {
            let mut text = String::new();
            input
                .read_to_string(&mut text)
                .with_context(|| format!("cannot read {name} (is it UTF-8 text?)"))?;
            writeln!(
                out,
                "{}",
                json!({"source": name, "findings": scanner.find(&text)})
            )?;
            continue;
        }
        // Masked text is streamed: memory stays bounded whatever the input's size.
        let mut stream = airlock_scan::stream::StreamScanner::new(&scanner, limit);
        let total = source
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len());
        let mut progress = Progress::new(&name, total);
        let mut buf = vec![0u8; 64 << 10];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = input
                .read(&mut buf)
                .with_context(|| format!("cannot read {name}"))?;
            if n == 0 {
                break;
            }
            progress.advance(n);
            pending.extend_from_slice(&buf[..n]);
            // Whole characters only; an incomplete one waits for the next read.
            let valid = match std::str::from_utf8(&pending) {
                Ok(_) => pending.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => anyhow::bail!("{name} is not UTF-8 text"),
            };
            let text = std::str::from_utf8(&pending[..valid])
                .unwrap_or_default()
                .to_owned();
            pending.drain(..valid);
            out.write_all(stream.push(&text).as_bytes())?;
        }
        if !pending.is_empty() {
            anyhow::bail!("{name} ends in the middle of a UTF-8 character");
        }
        out.write_all(stream.finish().as_bytes())?;
        progress.done();
    }
    out.flush()?;
    Ok(Outcome::Ok)
}

/// A progress line on stderr for large inputs, when stderr is a terminal.
struct Progress {
    name: String,
    total: Option<u64>,
    seen: u64,
    shown_at: u64,
    on: bool,
}

impl Progress {
    const STEP: u64 = 4 << 20;

    fn new(name: &str, total: Option<u64>) -> Self {
        use std::io::IsTerminal;
        Progress {
            name: name.to_owned(),
            total,
            seen: 0,
            shown_at: 0,
            on: std::io::stderr().is_terminal() && total.is_none_or(|t| t > Self::STEP),
        }
    }

    fn advance(&mut self, n: usize) {
        self.seen += n as u64;
        if !self.on || self.seen - self.shown_at < Self::STEP {
            return;
        }
        self.shown_at = self.seen;
        let mib = self.seen as f64 / f64::from(1 << 20);
        match self.total {
            Some(t) => eprint!(
                "\rscanning {}: {mib:.0} MiB ({:.0}%)",
                self.name,
                100.0 * self.seen as f64 / t.max(1) as f64
            ),
            None => eprint!("\rscanning {}: {mib:.0} MiB", self.name),
        }
    }

    fn done(&self) {
        if self.on && self.shown_at > 0 {
            eprintln!("\rscanning {}: done{:20}", self.name, "");
        }
    }
}
