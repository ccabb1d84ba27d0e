//! Write the benchmark text to stdout: `cargo run -p airlock-scan --example bench-text --
//! [diverse|worst] [MiB] [seed]` (default: diverse, 20 MiB, seed 1).

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map_or("diverse", String::as_str);
    let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let text = match kind {
        "worst" => airlock_scan::bench_text::worst_case(mib << 20, seed),
        _ => airlock_scan::bench_text::diverse(mib << 20, seed),
    };
    std::io::stdout().lock().write_all(text.as_bytes())
}
