//! Streaming: scan text that arrives in chunks, with bounded memory.
//!
//! [`StreamScanner::push`] returns the part of the stream that is safe to pass on, masked;
//! the last [`WINDOW`] bytes are held back so that a value straddling two chunks is still
//! found whole. A private key block that has begun but not ended is held back until it ends
//! (up to [`MAX_HELD`] bytes; past that, the held part is masked as a private key: fail
//! closed). [`StreamScanner::finish`] flushes the rest. A character limit applies to the whole
//! stream: once reached, one notice is emitted and the rest is dropped.

use crate::{Finding, Scanner};

/// Bytes held back between chunks (longer than any value but a key block).
pub const WINDOW: usize = 4096;
/// Already-passed bytes kept as context for the next scan.
const BEHIND: usize = 256;
/// Most bytes held back waiting for the end of a private key block.
pub const MAX_HELD: usize = 64 << 10;

/// A scanner fed chunk by chunk.
#[derive(Debug)]
pub struct StreamScanner<'a> {
    scanner: &'a Scanner,
    held: String,
    behind: String,
    emitted_chars: usize,
    total_chars: usize,
    max_chars: Option<usize>,
    cut: bool,
    /// Inside a key block too long to hold: input is dropped until its END line.
    swallowing: bool,
}

impl<'a> StreamScanner<'a> {
    /// A stream through `scanner`, cut after `max_chars` characters in all (if set).
    pub fn new(scanner: &'a Scanner, max_chars: Option<usize>) -> Self {
        StreamScanner {
            scanner,
            held: String::new(),
            behind: String::new(),
            emitted_chars: 0,
            total_chars: 0,
            max_chars,
            cut: false,
            swallowing: false,
        }
    }

    /// Feed a chunk; get what may be passed on now.
    pub fn push(&mut self, chunk: &str) -> String {
        self.total_chars += chunk.chars().count();
        self.held.push_str(chunk);
        if self.swallowing {
            // Drop key material until the block's END line has passed.
            match self
                .held
                .find("-----END ")
                .and_then(|e| self.held[e + 9..].find("-----").map(|t| e + 9 + t + 5))
            {
                Some(end) => {
                    self.held.drain(..end);
                    self.swallowing = false;
                }
                None => {
                    let keep = self.held.len().saturating_sub(64);
                    let mut k = keep;
                    while !self.held.is_char_boundary(k) {
                        k += 1;
                    }
                    self.held.drain(..k);
                    return String::new();
                }
            }
        }
        if self.held.len() <= WINDOW {
            return String::new();
        }
        let mut upto = self.held.len() - WINDOW;
        while !self.held.is_char_boundary(upto) {
            upto -= 1;
        }
        let findings = self.find_after(&self.held);
        // A key block that runs to the end of what has arrived is unfinished: hold it.
        if let Some(f) = findings
            .iter()
            .find(|f| f.kind == "private_key" && f.end == self.held.len() && f.start < upto)
        {
            let b = f.start;
            if self.held.len() - b <= MAX_HELD {
                upto = b;
            } else {
                // Held too long: whatever follows the BEGIN line is masked as a key.
                let head: String = self.held.drain(..b).collect();
                let ready: Vec<Finding> = findings.iter().filter(|f| f.end <= b).cloned().collect();
                let mut out = self.scanner.apply(&head, &ready);
                out.push_str("[PRIVATE_KEY]");
                self.held.clear();
                self.behind.clear();
                self.swallowing = true;
                return self.limit(&out);
            }
        }
        // A finding that reaches into the held-back part waits with it.
        for f in &findings {
            if f.start < upto && f.end > upto {
                upto = f.start;
            }
        }
        // Nothing can be passed on and too much is held: pass it on masked (what was found
        // is masked; memory stays bounded).
        if upto == 0 && self.held.len() > MAX_HELD {
            upto = self.held.len();
        }
        let ready: Vec<Finding> = findings.into_iter().filter(|f| f.end <= upto).collect();
        let out = self.scanner.apply(&self.held[..upto], &ready);
        let passed: String = self.held.drain(..upto).collect();
        self.behind.push_str(&passed);
        if self.behind.len() > BEHIND {
            let mut cut = self.behind.len() - BEHIND;
            while !self.behind.is_char_boundary(cut) {
                cut += 1;
            }
            self.behind.drain(..cut);
        }
        self.limit(&out)
    }

    /// The end of the stream: everything still held, masked, and the notice if it was cut.
    pub fn finish(mut self) -> String {
        let rest = std::mem::take(&mut self.held);
        let rest = if self.swallowing { String::new() } else { rest };
        let findings = self.find_after(&rest);
        self.behind.clear();
        let masked = self.scanner.apply(&rest, &findings);
        let mut out = self.limit(&masked);
        if self.cut {
            out.push_str(&format!(
                "\n[… truncated by airlock: {} of {} characters shown]",
                self.emitted_chars, self.total_chars
            ));
        }
        out
    }

    /// The findings in `text`, scanned with the already-passed context in front (a value's
    /// context — `password=`, `Bearer ` — may have gone out with an earlier chunk), as offsets
    /// into `text`.
    fn find_after(&self, text: &str) -> Vec<Finding> {
        let shift = self.behind.len();
        self.scanner
            .find(&format!("{}{text}", self.behind))
            .into_iter()
            .filter(|f| f.end > shift)
            .map(|mut f| {
                f.start = f.start.max(shift) - shift;
                f.end -= shift;
                f
            })
            .collect()
    }

    /// `out`, or as much of it as the character limit still allows.
    fn limit(&mut self, out: &str) -> String {
        let Some(max) = self.max_chars else {
            self.emitted_chars += out.chars().count();
            return out.to_owned();
        };
        if self.cut {
            return String::new();
        }
        let left = max.saturating_sub(self.emitted_chars);
        let n = out.chars().count();
        if n <= left {
            self.emitted_chars += n;
            return out.to_owned();
        }
        self.cut = true;
        let end = out.char_indices().nth(left).map_or(out.len(), |(i, _)| i);
        self.emitted_chars += left;
        out[..end].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scanner: &Scanner, text: &str, chunk: usize, max: Option<usize>) -> String {
        let mut s = StreamScanner::new(scanner, max);
        let mut out = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut n = chunk.min(rest.len());
            while !rest.is_char_boundary(n) {
                n += 1;
            }
            out.push_str(&s.push(&rest[..n]));
            rest = &rest[n..];
        }
        out.push_str(&s.finish());
        out
    }

    #[test]
    fn chunks_give_the_same_answer_as_the_whole() {
        let scanner = Scanner::builder().build().unwrap();
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!(
                "line {i}: mail ada{i}@example.org card 4111 1111 1111 1111 token ghp_16C7e42F292c6912E7710c838347Ae178B4a ünïcödé\n"
            ));
        }
        text.push_str("-----BEGIN RSA PRIVATE KEY-----\n");
        text.push_str(&"MIIEowIBAAKCAQEA\n".repeat(100));
        text.push_str("-----END RSA PRIVATE KEY-----\ndone\n");
        let whole = scanner.mask(&text).unwrap();
        for chunk in [1, 7, 64, 1000, 5000] {
            assert_eq!(run(&scanner, &text, chunk, None), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn context_that_passed_with_an_earlier_chunk_still_counts() {
        let scanner = Scanner::builder().build().unwrap();
        let text = format!(
            "{} password=hunter2Qx9 and Authorization: Bearer abcdef0123456789ABCDEF\n{}",
            "a".repeat(5000),
            "b".repeat(5000)
        );
        let whole = scanner.mask(&text).unwrap();
        for chunk in [1, 3, 4097] {
            let out = run(&scanner, &text, chunk, None);
            assert!(
                !out.contains("hunter2") && !out.contains("abcdef0123"),
                "chunk {chunk}"
            );
            assert_eq!(out, whole, "chunk {chunk}");
        }
    }

    #[test]
    fn the_limit_is_cumulative_and_an_unfinished_key_is_never_leaked() {
        let scanner = Scanner::builder().build().unwrap();
        let text = "x".repeat(5000);
        let out = run(&scanner, &text, 300, Some(1000));
        assert!(out.starts_with(&"x".repeat(1000)));
        assert!(
            out.ends_with("[… truncated by airlock: 1000 of 5000 characters shown]"),
            "{}",
            &out[out.len() - 80..]
        );
        let mut s = StreamScanner::new(&scanner, None);
        let mut out = s.push("start\n-----BEGIN PRIVATE KEY-----\n");
        for _ in 0..(MAX_HELD / 16 + 10) {
            out.push_str(&s.push("AAAAAAAAAAAAAAA\n"));
        }
        out.push_str(&s.push("-----END PRIVATE KEY-----\nafter\n"));
        out.push_str(&s.finish());
        assert!(!out.contains("AAAAAAAA"), "key material leaked");
        assert!(out.contains("[PRIVATE_KEY]"));
        assert!(
            out.ends_with("\nafter\n"),
            "{}",
            &out[out.len().saturating_sub(40)..]
        );
    }
}
