//! The findings in a file, one per line, with their type and value:
//! `cargo run -p airlock-scan --example findings -- FILE`.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: findings FILE");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let scanner = match airlock_scan::Scanner::builder().build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    for f in scanner.find(&text) {
        println!("{:22} {:?}", f.kind, &text[f.start..f.end]);
    }
}
