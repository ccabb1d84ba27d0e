//! Narrowing `roots/list` answers to the configured filesystem roots.
//!
//! Guards against a client widening a server's reach: servers such as
//! `@modelcontextprotocol/server-filesystem` replace their allowed directories with whatever
//! roots the client announces, so a client root of `file:///` would open the whole disk. Each
//! announced root is compared with `filesystem.allowed_roots` by whole path components: a root
//! that contains an allowed root is replaced by that allowed root, a root inside an allowed
//! root is kept, anything else (and every non-`file:` root) is dropped. Every root passed on
//! must then pass the path policy itself — a root inside an allowed one that is a symlink out
//! of it, or a denied directory (`~/.ssh`), is dropped too.

use std::path::{Path, PathBuf};

use airlock_core::config::normalize_absolute;
use airlock_core::field_path::percent_decode;
use airlock_guard::path::PathPolicy;
use serde_json::{Value, json};

/// The path of a `file://` URI (`file:///a%20b` → `/a b`), if it is one.
pub fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let decoded = percent_decode(rest);
    normalize_absolute(&decoded)
}

fn file_uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The roots to pass on, given what the client announced and the path policy.
pub fn narrow(announced: &[Value], policy: &PathPolicy) -> Vec<Value> {
    let allowed = policy.roots();
    let mut out: Vec<Value> = Vec::new();
    let mut push = |v: Value, path: &Path| {
        if !out.contains(&v) && policy.check(&path.to_string_lossy()).is_ok() {
            out.push(v);
        }
    };
    for root in announced {
        let Some(path) = root
            .get("uri")
            .and_then(Value::as_str)
            .and_then(file_uri_path)
        else {
            continue;
        };
        for a in &allowed {
            if a.starts_with(&path) {
                // The client's root contains an allowed root: offer only the allowed one.
                let mut r = json!({"uri": file_uri(a)});
                if let Some(name) = root.get("name") {
                    r["name"] = name.clone();
                }
                push(r, a);
            } else if path.starts_with(a) {
                let mut r = root.clone();
                r["uri"] = Value::String(file_uri(&path));
                push(r, &path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::config::FilesystemSettings;

    #[test]
    fn narrows_widens_never() {
        let policy = PathPolicy::new(&FilesystemSettings {
            allowed_roots: vec!["/srv/data".into(), "/home/ann/work".into()],
            ..FilesystemSettings::default()
        })
        .unwrap();
        let cases = [
            (
                json!([{"uri": "file:///", "name": "all"}]),
                json!([{"uri": "file:///srv/data", "name": "all"}, {"uri": "file:///home/ann/work", "name": "all"}]),
            ),
            (
                json!([{"uri": "file:///srv/data/reports"}]),
                json!([{"uri": "file:///srv/data/reports"}]),
            ),
            (json!([{"uri": "file:///srv/data/../../etc"}]), json!([])),
            (json!([{"uri": "file:///srv/database"}]), json!([])),
            (
                json!([{"uri": "https://example.com/"}, {"uri": "file:///etc"}]),
                json!([]),
            ),
            (
                json!([{"uri": "file://localhost/home/ann"}]),
                json!([{"uri": "file:///home/ann/work"}]),
            ),
            (
                json!([{"uri": "file:///home/ann/work/a%20b"}]),
                json!([{"uri": "file:///home/ann/work/a%20b"}]),
            ),
            // Inside a root, but off limits.
            (json!([{"uri": "file:///home/ann/work/.ssh"}]), json!([])),
        ];
        for (announced, want) in cases {
            let got = narrow(announced.as_array().unwrap(), &policy);
            assert_eq!(Value::Array(got), want, "{announced}");
        }
    }

    #[test]
    fn a_root_that_is_a_symlink_out_of_the_allowed_one_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let t = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(t.join("work/docs")).unwrap();
        std::fs::create_dir_all(t.join("private")).unwrap();
        std::os::unix::fs::symlink(t.join("private"), t.join("work/escape")).unwrap();
        let policy = PathPolicy::new(&FilesystemSettings {
            allowed_roots: vec![t.join("work").display().to_string()],
            ..FilesystemSettings::default()
        })
        .unwrap();
        let uri = |p: &str| format!("file://{}", t.join(p).display());
        let got = narrow(
            &[
                json!({"uri": uri("work/docs")}),
                json!({"uri": uri("work/escape")}),
            ],
            &policy,
        );
        assert_eq!(got, vec![json!({"uri": uri("work/docs")})]);
    }
}
