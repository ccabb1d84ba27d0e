//! The `[filesystem]` path policy: a table of attacks and legitimate look-alikes against a real
//! directory tree with symlinks, and a property test with the kernel as the oracle.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use airlock_core::config::{FilesystemSettings, Symlinks};
use airlock_guard::path::{PathError, PathPolicy};
use proptest::prelude::*;

/// The tree every case runs against (`T` is a fresh temporary directory):
///
/// ```text
/// T/root/            allowed: a.txt sub/b.txt .env keys/id_rsa README.md …
/// T/root/link_in   → T/root/sub           T/root/sub/up → ..
/// T/root/link_out  → T/outside            T/root/dotdot_link → ../outside
/// T/root/link_file_out → T/outside/secret.txt
/// T/root/link_abs_etc → /etc              T/root/loop1 ↔ loop2
/// T/outside/secret.txt                    T/root_evil/x
/// T/symroot → T/realroot (allowed root)   T/realroot/f.txt
/// ```
struct Tree {
    _dir: tempfile::TempDir,
    t: PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    // Resolve the temporary directory itself (it may sit behind a symlink, e.g. on macOS).
    let t = std::fs::canonicalize(dir.path()).unwrap();
    let mk = |p: &str| std::fs::create_dir_all(t.join(p)).unwrap();
    let file = |p: &str| std::fs::write(t.join(p), b"x").unwrap();
    for d in ["root/sub", "root/keys", "outside", "root_evil", "realroot"] {
        mk(d);
    }
    for f in [
        "root/a.txt",
        "root/sub/b.txt",
        "root/.env",
        "root/keys/id_rsa",
        "root/README.md",
        "outside/secret.txt",
        "root_evil/x",
        "realroot/f.txt",
    ] {
        file(f);
    }
    symlink(t.join("root/sub"), t.join("root/link_in")).unwrap();
    symlink("..", t.join("root/sub/up")).unwrap();
    symlink(t.join("outside"), t.join("root/link_out")).unwrap();
    symlink("../outside", t.join("root/dotdot_link")).unwrap();
    symlink(t.join("outside/secret.txt"), t.join("root/link_file_out")).unwrap();
    symlink("/etc", t.join("root/link_abs_etc")).unwrap();
    symlink(t.join("root/loop2"), t.join("root/loop1")).unwrap();
    symlink(t.join("root/loop1"), t.join("root/loop2")).unwrap();
    symlink(t.join("realroot"), t.join("symroot")).unwrap();
    Tree { _dir: dir, t }
}

fn policy(t: &Path, name: &str) -> PathPolicy {
    let s = |p: &str| t.join(p).display().to_string();
    let rooted = FilesystemSettings {
        allowed_roots: vec![s("root"), s("symroot")],
        home: Some(s("root")),
        // Where the server resolves relative paths (the proxies: its working directory).
        base: Some(s("root")),
        ..FilesystemSettings::default()
    };
    let settings = match name {
        "rooted" => rooted,
        // Roots, but where the server resolves relative paths is unknown.
        "unbased" => FilesystemSettings {
            base: None,
            ..rooted
        },
        "deny_links" => FilesystemSettings {
            symlinks: Symlinks::Deny,
            ..rooted
        },
        "lexical" => FilesystemSettings {
            symlinks: Symlinks::Lexical,
            ..rooted
        },
        "ci" => FilesystemSettings {
            case_insensitive: true,
            ..rooted
        },
        "open" => FilesystemSettings {
            home: Some("/home/u".into()),
            ..FilesystemSettings::default()
        },
        other => panic!("no policy {other}"),
    };
    PathPolicy::new(&settings).unwrap()
}

/// `T` at the start of a path (after a `file://` prefix) is the temporary directory.
fn expand(p: &str, t: &str) -> String {
    if p == "T" {
        return t.to_owned();
    }
    for prefix in ["file://localhost/", "FILE://", "file://", ""] {
        if let Some(rest) = p.strip_prefix(prefix)
            && rest.starts_with("T/")
        {
            return format!("{prefix}{t}{}", &rest[1..]);
        }
    }
    p.to_owned()
}

fn outcome(r: &Result<airlock_guard::path::CheckedPath, PathError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(PathError::Invalid { .. }) => "invalid",
        Err(PathError::OutsideRoots { .. }) => "outside_roots",
        Err(PathError::Denied { .. }) => "denied",
        Err(PathError::Symlink { .. }) => "symlink",
        Err(PathError::Unresolvable { .. }) => "unresolvable",
        Err(PathError::Relative { .. }) => "relative",
    }
}

#[test]
fn path_table() {
    let tr = tree();
    let t = tr.t.display().to_string();
    let deep = format!("{t}/root/{}", vec!["d"; 70].join("/"));
    // `T` in a case is the temporary directory.
    let cases: Vec<(&str, String, &str)> = [
        // ── inside the roots ────────────────────────────────────────────────────────────
        ("rooted", "T/root/a.txt", "ok"),
        ("rooted", "T/root/sub/b.txt", "ok"),
        ("rooted", "T/root", "ok"),
        ("rooted", "a.txt", "ok"),
        ("rooted", "sub/../a.txt", "ok"),
        // Issue 12: a server resolving `a.txt` against its own working directory, not the
        // first root: with roots and no base, relative paths are refused.
        ("unbased", "a.txt", "relative"),
        ("unbased", "sub/../a.txt", "relative"),
        ("unbased", "../outside/secret.txt", "relative"),
        ("unbased", "outside/secret.txt", "relative"),
        ("unbased", ".", "relative"),
        ("unbased", "T/root/a.txt", "ok"),
        ("unbased", "T/outside/secret.txt", "outside_roots"),
        ("rooted", "T/root/sub/./b.txt", "ok"),
        ("rooted", "T/root//sub///b.txt", "ok"),
        ("rooted", "T/root/sub/", "ok"),
        ("rooted", "T/root/sub/..", "ok"),
        ("rooted", "T/root/link_in/b.txt", "ok"),
        ("rooted", "T/root/sub/up/a.txt", "ok"),
        ("rooted", "T/symroot/f.txt", "ok"),
        ("rooted", "T/realroot/f.txt", "ok"),
        ("rooted", "T/root/new/dir/file.txt", "ok"),
        ("rooted", "T/root/sub/b.txt/../../a.txt", "ok"),
        ("rooted", "file://T/root/a.txt", "ok"),
        ("rooted", "file://localhost/T/root/a.txt", "ok"),
        ("rooted", "FILE://T/root/a.txt", "ok"),
        ("rooted", "T/root/a%20b.txt", "ok"),
        ("rooted", "~/a.txt", "ok"),
        ("rooted", "~", "ok"),
        ("rooted", "T/root/README.md", "ok"),
        ("rooted", "T/root/data_evil", "ok"),
        ("rooted", "T/root/notes.env", "ok"),
        ("rooted", "T/root/environment.txt", "ok"),
        ("rooted", "T/root/ssh/config", "ok"),
        ("rooted", "T/root/my.pem.txt", "ok"),
        ("rooted", "T/root/keys/public.txt", "ok"),
        ("rooted", "T/root/.github/workflows/ci.yml", "ok"),
        ("rooted", "T/root/.envoy/config", "ok"),
        ("rooted", "T/root/résumé.pdf", "ok"),
        ("rooted", "T/root/100%.txt", "ok"),
        // ── traversal and prefix bypass ─────────────────────────────────────────────────
        ("rooted", "../outside/secret.txt", "outside_roots"),
        ("rooted", "T/root/../outside/secret.txt", "outside_roots"),
        ("rooted", "T/root_evil/x", "outside_roots"),
        ("rooted", "T/root_evil", "outside_roots"),
        ("rooted", "T/root/sub/../..", "outside_roots"),
        ("rooted", "T/root/../root_evil/x", "outside_roots"),
        ("rooted", "T/ROOT/a.txt", "outside_roots"),
        ("rooted", "T", "outside_roots"),
        ("rooted", "/", "outside_roots"),
        ("rooted", "/tmp", "outside_roots"),
        ("rooted", "/usr/share/doc", "outside_roots"),
        ("rooted", "~/../outside/secret.txt", "outside_roots"),
        ("rooted", "sub/../../outside", "outside_roots"),
        // ── encodings and separators ────────────────────────────────────────────────────
        (
            "rooted",
            "file://T/root/../outside/secret.txt",
            "outside_roots",
        ),
        ("rooted", "file://T/root/%2e%2e/outside", "outside_roots"),
        (
            "rooted",
            "T/root/%2e%2e/outside/secret.txt",
            "outside_roots",
        ),
        (
            "rooted",
            "T/root/%2E%2E/outside/secret.txt",
            "outside_roots",
        ),
        (
            "rooted",
            "T/root/%252e%252e/outside/secret.txt",
            "outside_roots",
        ),
        ("rooted", "T/root/..%2f..%2fetc%2fhosts", "outside_roots"),
        ("rooted", "T/root/..\\outside\\secret.txt", "outside_roots"),
        ("rooted", "..\\..\\etc\\hosts", "outside_roots"),
        ("rooted", "T/root\\..\\outside", "outside_roots"),
        ("rooted", "file://evil.example/T/root/a.txt", "invalid"),
        ("rooted", "file://", "invalid"),
        ("rooted", "T/root/%ff.txt", "invalid"),
        // ── symlinks ────────────────────────────────────────────────────────────────────
        ("rooted", "T/root/link_out/secret.txt", "outside_roots"),
        ("rooted", "T/root/link_out", "outside_roots"),
        ("rooted", "T/root/link_file_out", "outside_roots"),
        ("rooted", "T/root/dotdot_link/secret.txt", "outside_roots"),
        ("rooted", "T/root/link_abs_etc/hostname", "outside_roots"),
        ("rooted", "T/root/link_out/new_file.txt", "outside_roots"),
        ("rooted", "T/root/link_in/../../outside", "outside_roots"),
        ("rooted", "T/root/loop1", "unresolvable"),
        ("rooted", "T/root/loop1/x", "unresolvable"),
        // ── deny lists ──────────────────────────────────────────────────────────────────
        ("rooted", "T/root/.env", "denied"),
        ("rooted", "T/root/.env.production", "denied"),
        ("rooted", "T/root/keys/id_rsa", "denied"),
        ("rooted", "T/root/id_rsa.pub", "denied"),
        ("rooted", "T/root/sub/server.PEM", "denied"),
        ("rooted", "T/root/.SSH/config", "denied"),
        ("rooted", "T/root/credentials.json", "denied"),
        ("rooted", "T/root/docs/terraform.tfstate", "denied"),
        ("rooted", "T/root/a.keystore", "denied"),
        ("rooted", "T/root/%2eenv", "denied"),
        // Outside the roots every path gets the same answer (no probing of the deny list).
        ("rooted", "/etc/passwd", "outside_roots"),
        ("rooted", "/etc/shadow", "outside_roots"),
        ("rooted", "/proc/self/environ", "outside_roots"),
        ("rooted", "/sys/kernel", "outside_roots"),
        // ── readings a server may take (review findings) ────────────────────────────────
        // A backslash is a character to a POSIX server: `a\b\c` is one directory.
        (
            "rooted",
            "T/root/a\\b\\c/../../../etc/passwd",
            "outside_roots",
        ),
        // A server that tidies `..` before opening goes through the link the kernel skips.
        (
            "rooted",
            "T/root/nope/../link_out/secret.txt",
            "outside_roots",
        ),
        (
            "rooted",
            "T/root/a.txt/../link_out/secret.txt",
            "outside_roots",
        ),
        ("deny_links", "T/root/nope/../link_in/b.txt", "symlink"),
        // `file:` URIs as a WHATWG parser reads them.
        ("rooted", "file:etc/passwd", "outside_roots"),
        ("open", "file:etc/shadow", "denied"),
        ("open", "file:\\\\localhost\\etc\\shadow", "denied"),
        ("rooted", "file://T/root/x#/../../../etc/passwd", "invalid"),
        ("rooted", "file://T/root/a.txt?x=1", "invalid"),
        // Relative paths with no base, read from `/`.
        ("open", "etc/shadow", "denied"),
        ("open", "proc/self/environ", "denied"),
        ("open", "a/..\\..", "invalid"),
        // Letters a case-insensitive disk folds to ASCII.
        ("rooted", "T/root/.\u{17F}\u{17F}h/config", "invalid"),
        ("open", "/home/u/.aw\u{17F}/credentials", "invalid"),
        // ── spelling ────────────────────────────────────────────────────────────────────
        ("rooted", "", "invalid"),
        ("rooted", "T/root/a.txt\0", "invalid"),
        ("rooted", "T/root/a%00.txt", "invalid"),
        ("rooted", "T/root/a\nb", "invalid"),
        ("rooted", "T/root/\u{2025}/outside", "invalid"),
        ("rooted", "T/root/a\u{200B}.txt", "invalid"),
        ("rooted", "T/root/\u{FF0F}etc", "invalid"),
        ("rooted", "T/root/\u{FF0E}\u{FF0E}/outside", "invalid"),
        ("rooted", "T/root/.../x", "invalid"),
        ("rooted", "T/root/.. /x", "invalid"),
        ("rooted", "C:\\Windows\\System32", "invalid"),
        ("rooted", "c:/windows", "invalid"),
        ("rooted", "~root/.ssh", "invalid"),
        ("rooted", "DEEP", "invalid"),
        // ── case-insensitive roots ──────────────────────────────────────────────────────
        ("ci", "T/ROOT/a.txt", "ok"),
        ("ci", "T/Root/Sub/b.txt", "ok"),
        ("ci", "T/Root_evil/x", "outside_roots"),
        // ── symlinks refused ────────────────────────────────────────────────────────────
        ("deny_links", "T/root/a.txt", "ok"),
        ("deny_links", "T/symroot/f.txt", "ok"),
        ("deny_links", "T/root/new/file.txt", "ok"),
        ("deny_links", "T/root/link_in/b.txt", "symlink"),
        ("deny_links", "T/root/sub/up/a.txt", "symlink"),
        ("deny_links", "T/root/link_out/secret.txt", "symlink"),
        // ── lexical only (the disk is not read) ─────────────────────────────────────────
        ("lexical", "T/root/link_out/secret.txt", "ok"),
        ("lexical", "T/root/../outside", "outside_roots"),
        ("lexical", "T/root/.ssh/id", "denied"),
        // ── no roots: deny lists and traversal only ─────────────────────────────────────
        ("open", "/home/u/project/a.txt", "ok"),
        ("open", "src/main.rs", "ok"),
        ("open", "a/../b", "ok"),
        ("open", "/etc/hosts", "ok"),
        ("open", "/home/u/project/.git/config", "ok"),
        ("open", "/home/u/.config/other/x", "ok"),
        ("open", "/home/u/.ssh/id_ed25519", "denied"),
        ("open", "~/.aws/credentials", "denied"),
        ("open", "/etc/ssh/sshd_config", "denied"),
        ("open", "/var/run/docker.sock", "denied"),
        ("open", "/root/.bashrc", "denied"),
        ("open", "file:///etc/shadow", "denied"),
        ("open", "/home/u/.config/gcloud/credentials.db", "denied"),
        ("open", "/home/u/.kube/config", "denied"),
        ("open", "/home/u/.docker/config.json", "denied"),
        ("open", "%2fetc%2fshadow", "denied"),
        ("open", "/ETC/SHADOW", "denied"),
        ("open", "/etc/./shadow", "denied"),
        ("open", "/etc//shadow", "denied"),
        ("open", "/tmp/../etc/shadow", "denied"),
        (".env", ".env", "denied"),
        ("open", "config/.ENV.local", "denied"),
        ("open", "../../etc/passwd", "invalid"),
        ("open", "a/../../b", "invalid"),
        ("open", "/home/u/\u{202E}fdp.exe", "invalid"),
        ("open", "/home/u/a\tb", "invalid"),
    ]
    .into_iter()
    .map(|(p, path, want)| {
        let p = if p == ".env" { "open" } else { p };
        let path = if path == "DEEP" {
            deep.clone()
        } else {
            expand(path, &t)
        };
        (p, path, want)
    })
    .collect();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (p, path, want) in &cases {
        let got = policy(&tr.t, p).check(path);
        if outcome(&got) != *want {
            failures.push(format!("{p}: {path:?}: want {want}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn messages_name_the_roots_and_never_a_deny_pattern() {
    let tr = tree();
    let p = PathPolicy::new(&FilesystemSettings {
        allowed_roots: vec![tr.t.join("root").display().to_string()],
        deny: vec!["**/internal-*-plans/**".into()],
        ..FilesystemSettings::default()
    })
    .unwrap();
    let out = p.check("/srv/elsewhere").unwrap_err().to_string();
    assert!(
        out.contains(&tr.t.join("root").display().to_string()),
        "{out}"
    );
    let denied = p
        .check(&tr.t.join("root/internal-q3-plans/x").display().to_string())
        .unwrap_err();
    assert_eq!(
        denied.code(),
        airlock_core::refusal::DenyCode::FilesystemDenied
    );
    let text = denied.to_string();
    assert!(
        !text.contains("internal-*") && !text.contains("**"),
        "{text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the combination of names, links, `.`, `..` and encodings: a path the policy
    /// allows never resolves (by the kernel's own `realpath`) outside the roots.
    #[test]
    fn nothing_allowed_resolves_outside_the_roots(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                ".", "..", "sub", "up", "link_in", "link_out", "dotdot_link", "link_file_out",
                "link_abs_etc", "a.txt", "outside", "secret.txt", "root", "f.txt", "%2e%2e",
                "symroot", "realroot", "",
            ]),
            1..8,
        ),
        absolute in any::<bool>(),
        backslash in any::<bool>(),
    ) {
        thread_local! { static TREE: Tree = tree(); }
        TREE.with(|tr| {
            let sep = if backslash { "\\" } else { "/" };
            let rel = parts.join(sep);
            let raw = if absolute {
                format!("{}/root/{rel}", tr.t.display())
            } else {
                rel.clone()
            };
            let p = policy(&tr.t, "rooted");
            if p.check(&raw).is_ok() {
                // The kernel's view, with the encodings and separators undone.
                let plain = rel.replace("%2e", ".").replace('\\', "/");
                // (Joined as text: `Path::join` would restart at a leading `/`.)
                let full = PathBuf::from(format!("{}/root/{plain}", tr.t.display()));
                if let Ok(real) = std::fs::canonicalize(&full) {
                    let roots = [
                        std::fs::canonicalize(tr.t.join("root")).unwrap(),
                        std::fs::canonicalize(tr.t.join("realroot")).unwrap(),
                    ];
                    prop_assert!(
                        roots.iter().any(|r| real.starts_with(r)),
                        "{raw:?} allowed but resolves to {}",
                        real.display()
                    );
                }
            }
            Ok(())
        })?;
    }
}
