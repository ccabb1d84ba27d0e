//! The class engine against the reference (every detector in one automaton over the whole
//! text), both warm, on pieces of 10 KB, 100 KB and 8 MiB of the diverse text and of the
//! worst-case text: `cargo run --release -p airlock-scan --example engines`. Prints the mean
//! time per piece and MB/s (wall time: run it on an idle machine).

use std::time::Instant;

fn main() {
    let (Ok(classes), Ok(one)) = (
        airlock_scan::Scanner::builder().build(),
        airlock_scan::Scanner::builder().one_automaton().build(),
    ) else {
        eprintln!("the scanners do not build");
        std::process::exit(2);
    };
    for (name, text) in [
        ("diverse", airlock_scan::bench_text::diverse(8 << 20, 1)),
        ("worst", airlock_scan::bench_text::worst_case(4 << 20, 1)),
    ] {
        for piece in [10usize << 10, 100 << 10, 8 << 20] {
            let mut pieces = Vec::new();
            let mut at = 0;
            while at < text.len() && pieces.len() < 64 {
                let mut end = (at + piece).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                pieces.push(&text[at..end]);
                at = end;
            }
            for (engine, scanner) in [("classes", &classes), ("one", &one)] {
                for p in &pieces {
                    scanner.find(p);
                }
                let t = Instant::now();
                let mut found = 0;
                for _ in 0..3 {
                    for p in &pieces {
                        found += scanner.find(p).len();
                    }
                }
                let secs = t.elapsed().as_secs_f64() / 3.0 / pieces.len() as f64;
                println!(
                    "{name:8} {:>8} B  {engine:8} {:10.1} µs {:7.1} MB/s  ({} findings)",
                    pieces[0].len(),
                    secs * 1e6,
                    pieces[0].len() as f64 / secs / 1e6,
                    found / 3
                );
            }
        }
    }
}
