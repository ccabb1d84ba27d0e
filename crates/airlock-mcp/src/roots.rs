//! Narrowing `roots/list` answers to the configured filesystem roots.
//!
//! Guards against a client widening a server's reach: servers such as
//! `@modelcontextprotocol/server-filesystem` replace their allowed directories with whatever
//! roots the client announces, so a client root of `file:///` would open the whole disk. Each
//! announced root is compared with `filesystem.allowed_roots` (lexically; symlinks are the
//! path guard's business): a root that contains an allowed root is replaced by that allowed
//! root, a root inside an allowed root is kept, anything else (and every non-`file:` root) is
//! dropped.

use std::path::{Path, PathBuf};

use airlock_core::config::normalize_absolute;
use airlock_core::field_path::percent_decode;
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

/// The roots to pass on, given what the client announced and what is allowed.
pub fn narrow(announced: &[Value], allowed: &[PathBuf]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut push = |v: Value| {
        if !out.contains(&v) {
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
        for a in allowed {
            if a.starts_with(&path) {
                // The client's root contains an allowed root: offer only the allowed one.
                let mut r = json!({"uri": file_uri(a)});
                if let Some(name) = root.get("name") {
                    r["name"] = name.clone();
                }
                push(r);
            } else if path.starts_with(a) {
                let mut r = root.clone();
                r["uri"] = Value::String(file_uri(&path));
                push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrows_widens_never() {
        let allowed = vec![PathBuf::from("/srv/data"), PathBuf::from("/home/ann/work")];
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
        ];
        for (announced, want) in cases {
            let got = narrow(announced.as_array().unwrap(), &allowed);
            assert_eq!(Value::Array(got), want, "{announced}");
        }
    }
}
