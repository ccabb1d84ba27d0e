//! The class engine (detectors grouped by how their places are found, each automaton run only
//! over its anchors or regions) against the reference: every detector in one automaton over
//! the whole text. On any text, every byte the reference masks must be masked by the class
//! engine too; on the diverse benchmark text the findings must be the same.
//!
//! Where classes overlap on hostile text, the class engine may merge neighbouring findings
//! into a larger span: that masks more, never less.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use airlock_scan::{Finding, Scanner, bench_text};
use proptest::prelude::*;

fn engines() -> (Scanner, Scanner) {
    (
        Scanner::builder().build().unwrap(),
        Scanner::builder().one_automaton().build().unwrap(),
    )
}

fn covered(text: &str, findings: &[Finding]) -> Vec<bool> {
    let mut bytes = vec![false; text.len()];
    for f in findings {
        bytes[f.start..f.end].iter_mut().for_each(|b| *b = true);
    }
    bytes
}

/// The first byte the reference masks and the class engine does not, with its context.
fn missed(classes: &Scanner, reference: &Scanner, text: &str) -> Option<String> {
    let ours = covered(text, &classes.find(text));
    let theirs = reference.find(text);
    for f in &theirs {
        if let Some(at) = (f.start..f.end).find(|&i| !ours[i]) {
            let lo = (0..=f.start.saturating_sub(40))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            let hi = ((f.end + 40).min(text.len())..=text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            return Some(format!(
                "{} at {at} ({}..{}) is not masked by the class engine: {:?}",
                f.kind,
                f.start,
                f.end,
                &text[lo..hi]
            ));
        }
    }
    None
}

#[test]
fn same_findings_on_diverse_text() {
    let (classes, reference) = engines();
    for seed in 1..=3 {
        let text = bench_text::diverse(96 << 10, seed);
        let ours: Vec<_> = classes
            .find(&text)
            .iter()
            .map(|f| (f.start, f.end, f.kind))
            .collect();
        let theirs: Vec<_> = reference
            .find(&text)
            .iter()
            .map(|f| (f.start, f.end, f.kind))
            .collect();
        assert!(ours.len() > 100, "seed {seed}: too few findings to compare");
        assert_eq!(ours, theirs, "seed {seed}");
    }
}

#[test]
fn masks_at_least_the_reference_on_worst_case_text() {
    let (classes, reference) = engines();
    for seed in 1..=2 {
        let text = bench_text::worst_case(64 << 10, seed);
        if let Some(m) = missed(&classes, &reference, &text) {
            panic!("seed {seed}: {m}");
        }
    }
}

/// Pieces that start and end detectors of every class, glued at random.
const PIECES: &[&str] = &[
    "password=",
    "--token ",
    "Bearer ",
    "Authorization: Basic ",
    "aws_secret_access_key = ",
    "postgres://",
    "user:",
    "@",
    "example.com",
    "ada.lovelace",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "078-05-1120",
    "+1 415 555 0134",
    "+44 20 7946 0958",
    "192.168.",
    "10.0.0.1",
    "2001:db8::1",
    "::",
    "DE89 3704 0044 0532 0130 00",
    "ABCDE1234F",
    "SBIN0001234",
    "ghp_",
    "AKIA",
    "sk-",
    "eyJhbGciOiJIUzI1NiJ9",
    "xoxb-",
    "SK",
    "-----BEGIN RSA PRIVATE KEY-----",
    "secret_key: ",
    "passport ",
    "X1234567",
    "0123456789",
    "abcdefABCDEF0123",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "\n",
    " ",
    "\"",
    "=",
    ":",
    ".",
    "-",
    "/",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn masks_at_least_the_reference_on_glued_pieces(
        picks in prop::collection::vec((0..PIECES.len(), "[a-zA-Z0-9]{0,6}"), 1..40)
    ) {
        let (classes, reference) = engines();
        let text: String = picks.iter().map(|(i, s)| format!("{}{s}", PIECES[*i])).collect();
        if let Some(m) = missed(&classes, &reference, &text) {
            prop_assert!(false, "{}", m);
        }
    }
}

/// The shortest numbers a detector can find — 8 digits with a `+` (the phone validator's floor),
/// an IPv4 address of 4 digits — lie in the digit regions the class engine searches: both
/// engines find them.
#[test]
fn the_shortest_numbers_are_in_the_digit_regions() {
    let (classes, reference) = engines();
    for text in [
        "call +49 30 1234 today",
        "call +33 1234 5678 today",
        "from 1.2.3.4 on",
    ] {
        assert_eq!(missed(&classes, &reference, text), None, "{text}");
        let found = classes.find(text);
        assert!(
            found.iter().any(|f| f.kind == "phone" || f.kind == "ipv4"),
            "{text}: {found:?}"
        );
    }
}

/// The warm-up (a scan of generated text while building, whose caches every thread then starts
/// from) changes speed only: a scanner with none, one with the default and one with more give
/// the same findings, on the thread that built it and on other threads, each of which starts
/// from its own copy of the warmed caches.
#[test]
fn warm_up_changes_no_finding() {
    let as_built = Scanner::builder().build().unwrap();
    let cold = Scanner::builder().warm_up(0).build().unwrap();
    let more = Scanner::builder().warm_up(200 << 10).build().unwrap();
    let mut text = bench_text::diverse(48 << 10, 5);
    text.push_str(&bench_text::worst_case(16 << 10, 5));
    let spans = |s: &Scanner| -> Vec<_> {
        s.find(&text)
            .iter()
            .map(|f| (f.start, f.end, f.kind))
            .collect()
    };
    let want = spans(&cold);
    assert!(
        want.len() > 100,
        "too few findings to compare: {}",
        want.len()
    );
    assert_eq!(spans(&as_built), want);
    assert_eq!(spans(&more), want);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| (spans(&as_built), spans(&more))))
            .collect();
        for t in threads {
            let (a, m) = t.join().unwrap();
            assert_eq!(a, want);
            assert_eq!(m, want);
        }
    });
}
