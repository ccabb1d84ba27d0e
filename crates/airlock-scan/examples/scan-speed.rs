//! Throughput of `Scanner::find` on benchmark text: `cargo run --release -p airlock-scan
//! --example scan-speed -- [diverse|worst] [MiB] [passes] [cold]`. Prints MB/s (10^6 bytes per second)
//! of the fastest of the passes (three by default; more for `perf record`; the fastest pass is
//! the one least disturbed by other load on the machine), and the peak resident memory before
//! and after scanning. Each pass is followed by one of the baseline the benchmark uses too (a
//! lazy DFA of one pattern that never matches, over the same text), so the ratio of the two
//! compares runs made while the VM's speed moved. The first pass is also printed on its own:
//! the scanner as built has its caches warmed on [`airlock_scan::WARM_UP`] bytes of other
//! generated text; with a fourth argument `cold` it is built with no warm-up, its lazy DFAs
//! empty at the start (a process of its own each, so neither finds the other's memory mapped).
//! (The kernel's per-thread CPU time here moves in 4 ms steps, too coarse for a pass of 50 ms.)
//!
//! `-- slices [MiB] [cold] [FILE]` masks 100 KB slices of diverse text the scanner has never
//! seen, each once, after one pass over other diverse text of that size (as a long-running
//! proxy meets each tool result), and prints the median, the 90th percentile and the slowest;
//! then the same slices again, now seen, as the criterion benchmark's repeated slice is. Before
//! all that, it masks the first slice with the scanner fresh from its build, as a new proxy
//! process meets its first tool result: as built, or with `cold` built with no warm-up (run
//! each in a process of its own). With a `FILE`, the slices are cut from its text instead
//! (read as UTF-8, invalid bytes replaced): text that is not from the generator the warm-up
//! uses.

use std::time::Instant;

use regex_automata::{Input, hybrid::dfa::DFA};

/// The process's peak resident memory so far, in MB (Linux `VmHWM`).
fn peak_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e3)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map_or("diverse", String::as_str);
    let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let passes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    if kind == "slices" {
        let cold = args.get(2).is_some_and(|a| a == "cold");
        slices(
            mib,
            cold,
            args.get(2 + usize::from(cold)).map(String::as_str),
        );
        return;
    }
    let text = match kind {
        "worst" => airlock_scan::bench_text::worst_case(mib << 20, 1),
        _ => airlock_scan::bench_text::diverse(mib << 20, 1),
    };
    // `cold`: a scanner built with no warm-up.
    let cold = args.get(3).is_some_and(|a| a == "cold");
    let scanner = build(cold.then_some(0));
    let baseline = match DFA::new(r"[a-z]zqzq[0-9]+") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut cache = baseline.create_cache();
    let before = peak_mb();
    let (mut best, mut best_baseline) = (f64::MAX, f64::MAX);
    let mut found = 0;
    let mut first = None;
    for _ in 0..passes.max(1) {
        let t = Instant::now();
        found = scanner.find(&text).len();
        let took = t.elapsed().as_secs_f64();
        best = best.min(took);
        first.get_or_insert(took);
        let t = Instant::now();
        let none = baseline.try_search_fwd(&mut cache, &Input::new(text.as_bytes()));
        best_baseline = best_baseline.min(t.elapsed().as_secs_f64());
        if !matches!(none, Ok(None)) {
            eprintln!("the baseline pattern matched or failed: {none:?}");
            std::process::exit(2);
        }
    }
    let mb = |secs: f64| text.len() as f64 / secs / 1e6;
    println!(
        "{kind}: {:.1} MB/s ({} bytes, {found} findings, fastest of {passes} passes: {:.4} s); baseline (a one-pattern lazy DFA) {:.0} MB/s, the scan at {:.1} % of it",
        mb(best),
        text.len(),
        best,
        mb(best_baseline),
        100.0 * best_baseline / best
    );
    if let (Some(a), Some(b)) = (before, peak_mb()) {
        println!(
            "peak resident memory: {a:.0} MB with the text and the scanner built, {b:.0} MB after scanning ({:+.0} MB)",
            b - a
        );
    }
    if let Some(first) = first {
        let how = match cold {
            true => "with no warm-up (the lazy DFAs empty at its start)".to_string(),
            false => format!(
                "as built (warmed on {} KiB of other generated text)",
                airlock_scan::WARM_UP >> 10
            ),
        };
        println!("first pass: {:.1} MB/s, {how}", mb(first));
    }
}

/// A scanner built with `warm_up` bytes of warm-up (the default: `None`).
fn build(warm_up: Option<usize>) -> airlock_scan::Scanner {
    let builder = airlock_scan::Scanner::builder();
    let builder = match warm_up {
        Some(bytes) => builder.warm_up(bytes),
        None => builder,
    };
    match builder.build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

/// Masking 100 KB slices never seen, then the same again (see the module's doc).
fn slices(mib: usize, cold: bool, file: Option<&str>) {
    let fresh = match file {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        },
        None => airlock_scan::bench_text::diverse(mib << 20, 3),
    };
    let t = Instant::now();
    let scanner = build(cold.then_some(0));
    let built = t.elapsed().as_secs_f64() * 1e3;
    let mut end = (100 << 10).min(fresh.len());
    while !fresh.is_char_boundary(end) {
        end -= 1;
    }
    let t = Instant::now();
    std::hint::black_box(scanner.mask(&fresh[..end]));
    let first = t.elapsed().as_secs_f64() * 1e3;
    let how = match cold {
        true => "with no warm-up".to_string(),
        false => format!("as built ({} KiB of warm-up)", airlock_scan::WARM_UP >> 10),
    };
    println!("first 100 KB after the build: {first:.3} ms, {how}; {built:.1} ms to build");
    scanner.find(&airlock_scan::bench_text::diverse(mib << 20, 1));
    let mut cuts = vec![0];
    while let Some(&at) = cuts.last()
        && at + (100 << 10) <= fresh.len()
    {
        let mut end = at + (100 << 10);
        while !fresh.is_char_boundary(end) {
            end -= 1;
        }
        cuts.push(end);
    }
    let round = || {
        let mut ms: Vec<f64> = cuts
            .windows(2)
            .map(|w| {
                let t = Instant::now();
                std::hint::black_box(scanner.mask(&fresh[w[0]..w[1]]));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let (new, seen) = (round(), round());
    let at = |ms: &[f64], q: f64| ms[((ms.len() - 1) as f64 * q) as usize];
    println!(
        "{} slices of 100 KB, never seen: median {:.3} ms, 90th percentile {:.3} ms, slowest {:.3} ms; seen before: median {:.3} ms, slowest {:.3} ms",
        new.len(),
        at(&new, 0.5),
        at(&new, 0.9),
        at(&new, 1.0),
        at(&seen, 0.5),
        at(&seen, 1.0)
    );
}
