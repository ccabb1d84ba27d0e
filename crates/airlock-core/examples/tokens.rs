//! How budgets count tokens, next to another real tokenizer and a rule of thumb:
//! `cargo run --release -p airlock-core --example tokens -- FILE…` prints the totals of
//! `o200k_base` (what budgets count), `cl100k_base` (GPT-4 and GPT-3.5) and characters / 4,
//! and how fast `o200k_base` counts them (MB/s, best of three passes over all the files).

fn main() {
    let (mut o200k, mut cl100k, mut chars, mut files) = (0usize, 0usize, 0usize, 0usize);
    let mut texts = Vec::new();
    for path in std::env::args().skip(1) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped {path}: not readable as UTF-8 text");
            continue;
        };
        files += 1;
        o200k += bpe_openai::o200k_base().count(text.as_str());
        cl100k += bpe_openai::cl100k_base().count(text.as_str());
        chars += text.chars().count();
        texts.push(text);
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let best = (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            for text in &texts {
                std::hint::black_box(bpe_openai::o200k_base().count(text.as_str()));
            }
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    if o200k == 0 {
        eprintln!("no text given");
        std::process::exit(2);
    }
    println!(
        "{files} files, {chars} characters: o200k_base {o200k} tokens, cl100k_base {cl100k} ({:+.1} %), characters/4 {} ({:+.1} %)",
        (cl100k as f64 / o200k as f64 - 1.0) * 100.0,
        chars / 4,
        ((chars / 4) as f64 / o200k as f64 - 1.0) * 100.0
    );
    println!(
        "o200k_base counted {bytes} bytes at {:.1} MB/s (best of 3)",
        bytes as f64 / best / 1e6
    );
}
