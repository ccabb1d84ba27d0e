//! `airlock audit verify` and `stats` on audit files the airlock wrote (the demo's calls):
//! intact, then with one byte edited, a line deleted, lines swapped and the file cut off; a
//! rotated log verified across its files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

fn airlock() -> Command {
    let mut c = Command::cargo_bin("airlock").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("AIRLOCK_") {
            c.env_remove(k);
        }
    }
    c
}

fn verify(files: &[&Path]) -> (i32, String) {
    let out = airlock()
        .args(["audit", "verify"])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// An audit file written by `airlock demo`: 14 sealed records.
fn demo_log(dir: &Path) -> std::path::PathBuf {
    let audit = dir.join("audit.jsonl");
    let out = airlock()
        .args(["demo", "--audit", audit.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    audit
}

#[test]
fn verify_names_the_first_broken_record() {
    let dir = tempfile::tempdir().unwrap();
    let audit = demo_log(dir.path());
    let (code, out) = verify(&[&audit]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("✓ 14 record(s)"), "{out}");
    let bytes = std::fs::read(&audit).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let tampered = dir.path().join("tampered.jsonl");
    let check = |bytes: Vec<u8>, line: usize, words: &str| {
        std::fs::write(&tampered, bytes).unwrap();
        let (code, out) = verify(&[&tampered]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains(&format!("tampered.jsonl:{line} "))
                || out.contains(&format!("tampered.jsonl:{line}:")),
            "line {line}: {out}"
        );
        assert!(out.contains(words), "{words}: {out}");
    };
    // One byte of record 5 edited (a digit of its duration).
    let mut edited = bytes.clone();
    let start: usize = lines[..4].iter().map(|l| l.len()).sum();
    let at = start
        + lines[4]
            .windows(14)
            .position(|w| w == b"\"duration_us\":")
            .unwrap()
        + 14;
    edited[at] = if edited[at] == b'9' { b'8' } else { b'9' };
    check(edited, 5, "edited");
    // Record 3 deleted.
    let deleted: Vec<u8> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .flat_map(|(_, l)| l.to_vec())
        .collect();
    check(deleted, 3, "deleted");
    // Records 6 and 7 swapped.
    let mut swapped: Vec<&[u8]> = lines.clone();
    swapped.swap(5, 6);
    check(swapped.concat(), 6, "deleted");
    // Cut off in the middle of the last record.
    check(bytes[..bytes.len() - 30].to_vec(), 14, "cut off");
}

#[test]
fn a_rotated_log_verifies_across_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("airlock.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\npath = {:?}\nrotate_bytes = 2000\n",
            audit.display().to_string()
        ),
    )
    .unwrap();
    // Calls through `airlock check`, each appending to the log.
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tools.json");
    for i in 0..12 {
        let out = airlock()
            .args(["check", "--config", config.to_str().unwrap(), "--tools"])
            .arg(&tools)
            .args(["--tool", "read_file", "--args"])
            .arg(format!("{{\"path\": \"notes-{i}.txt\"}}"))
            .output()
            .unwrap();
        assert!(out.status.code().is_some(), "{out:?}");
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.jsonl.")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the log rotated");
    files.push(audit.clone());
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (code, out) = verify(&refs);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("✓ 12 record(s)"), "{out}");
    // The current file alone continues a chain: refused, unless --partial.
    let (code, out) = verify(&[&audit]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not start here"), "{out}");
    let out = airlock()
        .args(["audit", "verify", "--partial"])
        .arg(&audit)
        .output()
        .unwrap();
    assert!(out.status.success());
    // And stats counts every call.
    let out = airlock()
        .args(["audit", "stats"])
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("calls: 12\n"), "{text}");
    assert!(text.contains("read_file: 12"), "{text}");
}

/// Signed checkpoints: with the public key, a rewrite of the whole chain (every hash
/// recomputed, which the chain alone cannot tell) is caught.
#[test]
fn signed_checkpoints_catch_a_rewritten_chain() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let out = airlock()
        .args(["audit", "keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(public.len(), 64, "{public}");
    // A second keygen never overwrites a key.
    let again = airlock()
        .args(["audit", "keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("airlock.toml");
    std::fs::write(
        &config,
        "[audit]\npath = \"audit.jsonl\"\ncheckpoint_every = 3\nsigning_key_file = \"audit.key\"\n",
    )
    .unwrap();
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tools.json");
    for i in 0..7 {
        let out = airlock()
            .args(["check", "--config", config.to_str().unwrap(), "--tools"])
            .arg(&tools)
            .args(["--tool", "read_file", "--args"])
            .arg(format!("{{\"path\": \"notes-{i}.txt\"}}"))
            .output()
            .unwrap();
        assert!(out.status.code().is_some(), "{out:?}");
    }
    let signed = |file: &Path| {
        let out = airlock()
            .args(["audit", "verify", "--public-key", &public])
            .arg(file)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    let (code, text) = signed(&audit);
    assert_eq!(code, 0, "{text}");
    // 7 calls and a checkpoint whenever the chain reaches a multiple of 3 (checkpoints count):
    // records 4, 7 and 10 are checkpoints, the last signing record 9.
    assert!(text.starts_with("✓ 10 record(s)"), "{text}");
    assert!(text.contains("signed up to record 9"), "{text}");
    // Rewrite everything: record 2 changed, checkpoints dropped, the chain sealed anew.
    let bytes = std::fs::read_to_string(&audit).unwrap();
    let mut chain = airlock_core::audit_chain::Chain::default();
    let mut forged = Vec::new();
    for line in bytes.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["event"] == "checkpoint" {
            continue;
        }
        let o = v.as_object_mut().unwrap();
        for k in ["seq", "prev", "hash"] {
            o.remove(k);
        }
        if o["arguments"]["path"] == "notes-1.txt" {
            o.insert("decision".into(), "refused".into());
        }
        forged.extend(airlock_core::audit_chain::seal(
            &mut chain,
            &serde_json::to_vec(&v).unwrap(),
        ));
    }
    std::fs::write(&audit, forged).unwrap();
    // The chain alone cannot tell; the key can.
    assert_eq!(verify(&[&audit]).0, 0);
    let (code, text) = signed(&audit);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("no checkpoint is signed by this key"),
        "{text}"
    );
}

/// `audit tail`: the last records as summary lines; `--follow` prints records written later.
#[test]
fn tail_prints_the_last_records_and_follows() {
    let dir = tempfile::tempdir().unwrap();
    let audit = demo_log(dir.path());
    let out = airlock()
        .args(["audit", "tail", "-n", "3"])
        .arg(&audit)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.lines().all(|l| l.contains("agent=demo-agent")),
        "{text}"
    );
    // Follow: a record appended later shows up. Records are appended until the follower prints
    // one (it may start after the first), and it is killed in any case: the test cannot hang.
    let mut follower = airlock()
        .args(["audit", "tail", "-n", "0", "--follow", "--json"])
        .arg(&audit)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tools.json");
    let mut line = None;
    for _ in 0..20 {
        let out = airlock()
            .args(["check", "--audit", audit.to_str().unwrap(), "--tools"])
            .arg(&tools)
            .args([
                "--tool",
                "read_file",
                "--args",
                "{\"path\": \"followed.txt\"}",
            ])
            .output()
            .unwrap();
        assert!(out.status.code().is_some());
        if let Ok(l) = rx.recv_timeout(std::time::Duration::from_secs(1)) {
            line = Some(l);
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let line = line.expect("the follower printed an appended record");
    assert!(line.contains("followed.txt"), "{line}");
}
