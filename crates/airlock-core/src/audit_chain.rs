//! The hash chain of the audit log: each record carries its sequence number, the hash of the
//! record before it and its own, so that an edited, deleted, reordered or cut-off record is
//! found afterwards ([`verify`]).
//!
//! A record is one JSON object on one line. Sealing appends `"seq":N,"prev":"<hex>"` to the
//! object, hashes those exact bytes (SHA-256), and appends `"hash":"<hex>"` as the last member:
//!
//! ```text
//! {"ts":…,"tool":"read_file",…,"seq":7,"prev":"9f2c…","hash":"41d0…"}
//!  └──────────────── hashed: everything before ,"hash" and the closing brace ────┘
//! ```
//!
//! Verifying needs no canonical form: strip the `,"hash":"…"` suffix, hash the rest, compare.
//! The first record of a chain has `seq` 1 and `prev` 64 zeros; a rotated file's first record
//! continues from the last of the file before it.
//!
//! A rewrite of the whole file from some record on, with the hashes recomputed, is itself a
//! valid chain. Signed checkpoints catch it: every N records the writer seals a `checkpoint`
//! record signing the chain's head with an Ed25519 key ([`checkpoint`]); verified against the
//! public key given to the verifier (never the one in the file), a rewrite needs that key.
//! Records after the last checkpoint are covered by the chain only.

use sha2::{Digest, Sha256};

/// The `prev` of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a chain stands: the last record's sequence number and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The last record's `seq` (0 before the first).
    pub seq: u64,
    /// The last record's `hash` (hex), [`GENESIS`] before the first.
    pub last: String,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            seq: 0,
            last: GENESIS.to_owned(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Seal one record (`body`: a JSON object, no newline) as the chain's next: the line to write,
/// newline included. The chain moves on.
pub fn seal(chain: &mut Chain, body: &[u8]) -> Vec<u8> {
    let seq = chain.seq + 1;
    // `{}` gets no comma before the chain's members.
    let open = body.strip_suffix(b"}").unwrap_or(body);
    let sep: &[u8] = if open.ends_with(b"{") { b"" } else { b"," };
    let mut line = Vec::with_capacity(body.len() + 180);
    line.extend_from_slice(open);
    line.extend_from_slice(sep);
    line.extend_from_slice(b"\"seq\":");
    line.extend_from_slice(seq.to_string().as_bytes());
    line.extend_from_slice(b",\"prev\":\"");
    line.extend_from_slice(chain.last.as_bytes());
    line.push(b'"');
    let hash = hex(&Sha256::new()
        .chain_update(&line)
        .chain_update(b"}")
        .finalize());
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    chain.seq = seq;
    chain.last = hash;
    line
}

/// Where the chain of an existing file stands: its last complete record's `seq` and `hash`.
/// `None` when the file holds no sealed record (empty, or written before chaining).
pub fn resume(file: &[u8]) -> Option<Chain> {
    let last = file
        .split(|b| *b == b'\n')
        .rev()
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))?;
    let v: serde_json::Value = serde_json::from_slice(last).ok()?;
    Some(Chain {
        seq: v.get("seq")?.as_u64()?,
        last: v.get("hash")?.as_str()?.to_owned(),
    })
}

/// What a checkpoint signs: the chain's head at record `upto`.
fn checkpoint_message(upto: u64, head: &str) -> Vec<u8> {
    format!("airlock-audit-checkpoint\n{upto}\n{head}").into_bytes()
}

/// A checkpoint record's body (to [`seal`] as the next record): the chain's head so far,
/// signed with `key`.
pub fn checkpoint(chain: &Chain, key: &ed25519_dalek::SigningKey, ts: jiff::Timestamp) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let sig = key.sign(&checkpoint_message(chain.seq, &chain.last));
    serde_json::to_vec(&serde_json::json!({
        "ts": ts,
        "event": "checkpoint",
        "upto": chain.seq,
        "head": chain.last,
        "key": hex(key.verifying_key().as_bytes()),
        "sig": hex(&sig.to_bytes()),
    }))
    .unwrap_or_default()
}

/// A 32-byte key in hex (a signing key's seed, or a public key).
pub fn key_bytes(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The public key of a signing key, in hex (what `airlock audit verify --public-key` takes).
pub fn public_hex(key: &ed25519_dalek::SigningKey) -> String {
    hex(key.verifying_key().as_bytes())
}

fn sig_bytes(text: &str) -> Option<[u8; 64]> {
    let t = text.trim();
    if t.len() != 128 {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The first place a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The file (as given to [`Verifier::file`]).
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The record's `seq`, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong, in words.
    pub why: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (record {seq})")?;
        }
        write!(f, ": {}", self.why)
    }
}

/// Checks files of one chain, in order.
#[derive(Debug, Default)]
pub struct Verifier {
    chain: Option<Chain>,
    /// Records checked so far.
    pub records: u64,
    /// Accept a first record that continues a chain from a file not given (a rotated log's
    /// later files on their own).
    pub partial: bool,
    /// The public key checkpoints must be signed with; `None`: checkpoints are not checked.
    pub key: Option<ed25519_dalek::VerifyingKey>,
    /// The last record a checkpoint signed by `key` covers.
    pub signed_upto: Option<u64>,
    /// Checkpoints seen.
    pub checkpoints: u64,
}

impl Verifier {
    /// A verifier that wants the chain's first record first.
    pub fn new() -> Self {
        Verifier::default()
    }

    /// Where the chain stands after the records checked so far.
    pub fn chain(&self) -> Option<&Chain> {
        self.chain.as_ref()
    }

    /// Check one file's records, continuing the chain of the files checked before.
    pub fn file(&mut self, name: &str, bytes: &[u8]) -> Result<(), Broken> {
        let broken = |line: usize, seq: Option<u64>, why: String| Broken {
            file: name.to_owned(),
            line,
            seq,
            why,
        };
        let ends_whole = bytes.is_empty() || bytes.ends_with(b"\n");
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let count = lines.len();
        for (i, raw) in lines.into_iter().enumerate() {
            let n = i + 1;
            let last_piece = i + 1 == count;
            if last_piece && raw.is_empty() {
                break;
            }
            if last_piece && !ends_whole {
                return Err(broken(
                    n,
                    None,
                    "the file is cut off: its last record has no end".to_owned(),
                ));
            }
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(raw) else {
                return Err(broken(
                    n,
                    None,
                    "not a JSON record: edited or damaged".to_owned(),
                ));
            };
            let seq = v.get("seq").and_then(serde_json::Value::as_u64);
            let (Some(seq), Some(prev), Some(hash)) = (
                seq,
                v.get("prev").and_then(serde_json::Value::as_str),
                v.get("hash").and_then(serde_json::Value::as_str),
            ) else {
                return Err(broken(
                    n,
                    seq,
                    "the record is not sealed (no seq, prev or hash)".to_owned(),
                ));
            };
            // The sealed bytes: everything before the last member, `,"hash":"<64 hex>"}`.
            let suffix = format!(",\"hash\":\"{hash}\"}}");
            let body = raw
                .strip_suffix(suffix.as_bytes())
                .map(|b| [b, b"}"].concat());
            let Some(body) = body else {
                return Err(broken(
                    n,
                    Some(seq),
                    "edited: the hash is not the record's last member".to_owned(),
                ));
            };
            if hex(&Sha256::digest(&body)) != hash {
                return Err(broken(
                    n,
                    Some(seq),
                    "edited: the record does not match its hash".to_owned(),
                ));
            }
            match &self.chain {
                None if seq == 1 && prev == GENESIS => {}
                None if self.partial => {}
                None => {
                    return Err(broken(
                        n,
                        Some(seq),
                        format!(
                            "the chain does not start here (record {seq}): records before it were deleted, or an earlier file is missing (give every file, oldest first, or --partial)"
                        ),
                    ));
                }
                Some(c) if seq > c.seq + 1 => {
                    return Err(broken(
                        n,
                        Some(seq),
                        format!(
                            "{} record(s) deleted before it (record {} follows record {})",
                            seq - c.seq - 1,
                            seq,
                            c.seq
                        ),
                    ));
                }
                Some(c) if seq <= c.seq => {
                    return Err(broken(
                        n,
                        Some(seq),
                        format!("out of order: record {seq} follows record {}", c.seq),
                    ));
                }
                Some(c) if prev != c.last => {
                    return Err(broken(
                        n,
                        Some(seq),
                        "the record before it was replaced: the chain's link does not match"
                            .to_owned(),
                    ));
                }
                Some(_) => {}
            }
            if v.get("event").and_then(serde_json::Value::as_str) == Some("checkpoint") {
                self.checkpoint(&v, seq)
                    .map_err(|why| broken(n, Some(seq), why))?;
            }
            self.chain = Some(Chain {
                seq,
                last: hash.to_owned(),
            });
            self.records += 1;
        }
        Ok(())
    }
}

impl Verifier {
    /// A checkpoint record (`seq`): it must name the record before it and its hash, and with a
    /// key given, carry that key's signature over them.
    fn checkpoint(&mut self, v: &serde_json::Value, seq: u64) -> Result<(), String> {
        self.checkpoints += 1;
        let upto = v.get("upto").and_then(serde_json::Value::as_u64);
        let head = v.get("head").and_then(serde_json::Value::as_str);
        let (Some(upto), Some(head)) = (upto, head) else {
            return Err("a checkpoint without upto or head".to_owned());
        };
        if let Some(c) = &self.chain
            && (upto != c.seq || head != c.last || upto + 1 != seq)
        {
            return Err("a checkpoint that does not sign the record before it".to_owned());
        }
        let Some(key) = &self.key else {
            return Ok(());
        };
        let signed_by = v
            .get("key")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        if signed_by != hex(key.as_bytes()) {
            return Err(
                "a checkpoint signed with another key: the log was rewritten, or the key is not this log's"
                    .to_owned(),
            );
        }
        let sig = v
            .get("sig")
            .and_then(serde_json::Value::as_str)
            .and_then(sig_bytes)
            .ok_or("a checkpoint without a readable signature")?;
        key.verify_strict(
            &checkpoint_message(upto, head),
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .map_err(|_| {
            "a checkpoint whose signature does not verify: the log was rewritten".to_owned()
        })?;
        self.signed_upto = Some(upto);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: usize) -> Vec<u8> {
        let mut chain = Chain::default();
        let mut out = Vec::new();
        for i in 0..n {
            out.extend(seal(
                &mut chain,
                format!("{{\"tool\":\"t{i}\",\"x\":{i}}}").as_bytes(),
            ));
        }
        out
    }

    fn check(bytes: &[u8]) -> Result<u64, Broken> {
        let mut v = Verifier::new();
        v.file("audit.jsonl", bytes)?;
        Ok(v.records)
    }

    #[test]
    fn an_intact_chain_verifies_and_resumes() {
        let bytes = log(5);
        assert_eq!(check(&bytes), Ok(5));
        let c = resume(&bytes).unwrap();
        assert_eq!(c.seq, 5);
        // Appending after a restart continues the chain.
        let mut c2 = c.clone();
        let mut more = bytes.clone();
        more.extend(seal(&mut c2, b"{}"));
        assert_eq!(check(&more), Ok(6));
        assert!(String::from_utf8(more).unwrap().ends_with("\"}\n"));
    }

    #[test]
    fn every_kind_of_tampering_names_its_record() {
        let bytes = log(5);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        // One byte edited in record 3.
        let mut edited = bytes.clone();
        let at = lines[0].len() + lines[1].len() + 10;
        edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
        let e = check(&edited).unwrap_err();
        assert_eq!(
            (
                e.line,
                e.why.starts_with("edited") || e.why.starts_with("not a JSON")
            ),
            (3, true),
            "{e}"
        );
        // Record 2 deleted.
        let deleted: Vec<u8> = [lines[0], lines[2], lines[3], lines[4]].concat();
        let e = check(&deleted).unwrap_err();
        assert_eq!((e.line, e.seq), (2, Some(3)), "{e}");
        assert!(e.why.contains("deleted"), "{e}");
        // Records 3 and 4 swapped.
        let swapped: Vec<u8> = [lines[0], lines[1], lines[3], lines[2], lines[4]].concat();
        let e = check(&swapped).unwrap_err();
        assert!(
            e.why.contains("deleted") || e.why.contains("out of order"),
            "{e}"
        );
        assert_eq!(e.line, 3);
        // The file cut off in the middle of its last record.
        let cut = &bytes[..bytes.len() - 20];
        let e = check(cut).unwrap_err();
        assert_eq!(e.line, 5);
        assert!(e.why.contains("cut off"), "{e}");
        // The first record deleted.
        let headless: Vec<u8> = lines[1..].concat();
        let e = check(&headless).unwrap_err();
        assert!(e.why.contains("does not start here"), "{e}");
        let mut partial = Verifier::new();
        partial.partial = true;
        assert!(partial.file("a", &headless).is_ok());
        // A record replaced by another validly sealed one with its own chain.
        let mut other = Chain::default();
        let forged = seal(&mut other, b"{\"tool\":\"forged\"}");
        let replaced: Vec<u8> = [lines[0], &forged, lines[2]].concat();
        let e = check(&replaced).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}
