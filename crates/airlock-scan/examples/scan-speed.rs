//! Throughput of `Scanner::find` on benchmark text: `cargo run --release -p airlock-scan
//! --example scan-speed -- [diverse|worst] [MiB]`. Prints MB/s (10^6 bytes per second) of the
//! best of three passes.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map_or("diverse", String::as_str);
    let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let text = match kind {
        "worst" => airlock_scan::bench_text::worst_case(mib << 20, 1),
        _ => airlock_scan::bench_text::diverse(mib << 20, 1),
    };
    let scanner = match airlock_scan::Scanner::builder().build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut best = f64::MAX;
    let mut found = 0;
    for _ in 0..3 {
        let t = Instant::now();
        found = scanner.find(&text).len();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{kind}: {:.1} MB/s ({} bytes, {found} findings, best of 3: {:.3} s)",
        text.len() as f64 / best / 1e6,
        text.len(),
        best
    );
}
