//! Scanner throughput on generated, diverse, non-repeating tool output (`bench_text::diverse`:
//! 32 kinds of documents with random values, 20 MiB), on text built to make the automaton build
//! as many states as it can (`bench_text::worst_case`), masking a 100 KB slice of the diverse
//! text, and — as labelled best cases, since one block repeated keeps the lazy DFA warm — the
//! older sparse and dense texts of one repeated block and masking a 10 KB tool result with 6
//! findings. Baselines in the same run: a plain loop looking for one
//! byte over the same text (the floor any scanner pays to look at every byte), and a lazy DFA
//! of one pattern that never matches and has no literal a prefilter could skip to (the ceiling
//! of any scanner that runs a DFA over every byte: one dependent table load per byte).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use airlock_scan::Scanner;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use regex_automata::Input;
use regex_automata::hybrid::dfa::DFA;

/// A realistic tool result: JSON API rows, log lines, an env file, a stack trace.
fn sparse_block() -> String {
    let mut s = String::new();
    for i in 0..40 {
        s.push_str(&format!(
            "{{\"id\": {i}, \"status\": \"shipped\", \"sku\": \"SKU-{i:05}\", \"updated\": \"2024-05-01T12:{:02}:00Z\", \"note\": \"Customer asked about delivery window; follow up next week.\"}}\n",
            i % 60
        ));
        s.push_str(&format!(
            "2024-05-01 12:00:{:02} INFO  worker-{i} processed batch {} in 35ms (queue depth 4, version 1.4.2)\n",
            i % 60,
            1000 + i
        ));
    }
    s.push_str("at com.example.app.Service.handle(Service.java:142)\nat com.example.app.Main.main(Main.java:17)\n");
    s
}

fn text_with_findings(kb: usize, findings_per_10kb: usize) -> String {
    let block = sparse_block();
    let secrets = [
        "contact ada.lovelace@example.org",
        "card 4111 1111 1111 1111",
        "DB_PASSWORD=hunter2Qx9",
        "token ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "call +1 202-555-0147",
        "host 192.168.10.20",
    ];
    let mut out = String::new();
    let mut n = 0;
    while out.len() < kb * 1024 {
        out.push_str(&block);
        let want = out.len() * findings_per_10kb / (10 * 1024);
        while n < want {
            out.push_str(secrets[n % secrets.len()]);
            out.push('\n');
            n += 1;
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::builder().build().unwrap();
    // The previous engine: every detector in one automaton over the whole text.
    let reference = Scanner::builder().one_automaton().build().unwrap();
    // `[a-z]`-led, so no prefilter applies: every byte is a DFA transition.
    let dfa = DFA::new(r"[a-z]zqzq[0-9]+").unwrap();
    let mut cache = dfa.create_cache();
    let mut g = c.benchmark_group("scan");
    // Some inputs take seconds a pass (the worst case): ten samples each.
    g.sample_size(10);
    for (name, text) in [
        (
            "diverse 20 MiB (32 kinds of tool output, nothing repeats)",
            airlock_scan::bench_text::diverse(20 << 20, 1),
        ),
        (
            "worst case 4 MiB (built to multiply automaton states)",
            airlock_scan::bench_text::worst_case(4 << 20, 1),
        ),
        (
            "best case: sparse 1 MiB, one block repeated (3 findings / 10 KB)",
            text_with_findings(1024, 3),
        ),
        (
            "best case: dense 1 MiB, one block repeated (60 findings / 10 KB)",
            text_with_findings(1024, 60),
        ),
    ] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("find, {name}"), |b| {
            b.iter(|| black_box(scanner.find(black_box(&text))))
        });
        if !name.starts_with("best") {
            g.bench_function(format!("reference: one automaton, {name}"), |b| {
                b.iter(|| black_box(reference.find(black_box(&text))))
            });
        }
        g.bench_function(format!("baseline: a loop for one byte, {name}"), |b| {
            b.iter(|| black_box(text.as_bytes().iter().position(|&c| c == 0xff)))
        });
        g.bench_function(format!("baseline: a one-pattern lazy DFA, {name}"), |b| {
            b.iter(|| {
                black_box(
                    dfa.try_search_fwd(&mut cache, &Input::new(black_box(text.as_bytes())))
                        .unwrap(),
                )
            })
        });
    }
    // A 10 KB tool result with 6 findings spread through it.
    let block = sparse_block();
    let lines: Vec<&str> = block.lines().collect();
    let secrets = [
        "contact ada.lovelace@example.org",
        "card 4111 1111 1111 1111",
        "DB_PASSWORD=hunter2Qx9",
        "token ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "call +1 202-555-0147",
        "host 192.168.10.20",
    ];
    let mut result = String::new();
    for (i, line) in lines.iter().enumerate() {
        if result.len() >= 10 * 1024 - 200 {
            break;
        }
        result.push_str(line);
        result.push('\n');
        if i % 12 == 5 && i / 12 < secrets.len() {
            result.push_str(secrets[i / 12]);
            result.push('\n');
        }
    }
    let result = result.as_str();
    // 100 KB of the diverse text, from a seed the throughput runs did not use.
    let diverse = airlock_scan::bench_text::diverse(100 << 10, 2);
    let mut cut = 100 << 10;
    while !diverse.is_char_boundary(cut) {
        cut -= 1;
    }
    let slice = &diverse[..cut];
    let slice_findings = scanner.find(slice).len();
    g.throughput(Throughput::Bytes(slice.len() as u64));
    g.bench_function(
        format!(
            "mask a 100 KB slice of the diverse text ({slice_findings} findings; the same slice each time)"
        ),
        |b| b.iter(|| black_box(scanner.mask(black_box(slice)))),
    );
    let findings = scanner.find(result).len();
    g.throughput(Throughput::Bytes(result.len() as u64));
    g.bench_function(
        format!("mask a 10 KB tool result ({findings} findings)"),
        |b| b.iter(|| black_box(scanner.mask(black_box(result)))),
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
