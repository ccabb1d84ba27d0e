//! The message table (`airlock_mcp::messages`, `docs/messages.md`) against the specification:
//! every method of every vendored schema version is in the table, with exactly the versions that
//! have it, and the generated document is current (`AIRLOCK_BLESS=1` rewrites it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::collections::BTreeSet;
use std::path::Path;

use airlock_mcp::messages::{Kind, RULES, Sender, markdown};
use airlock_testkit::schema::McpSchema;
use serde_json::Value;

/// (method, sender, kind) of every message a version's schema defines.
fn methods(version: &str) -> BTreeSet<(String, &'static str, &'static str)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../airlock-testkit/mcp-schema")
        .join(format!("{version}.json"));
    let root: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let defs = root
        .get("$defs")
        .or_else(|| root.get("definitions"))
        .unwrap();
    let mut out = BTreeSet::new();
    for (union, sender, kind) in [
        ("ClientRequest", "client", "request"),
        ("ClientNotification", "client", "notification"),
        ("ServerRequest", "server", "request"),
        ("ServerNotification", "server", "notification"),
    ] {
        let Some(u) = defs.get(union) else { continue };
        // A union of message definitions, or (2026-07-28's one client notification) the
        // definition itself.
        let members: Vec<&Value> = match u.get("anyOf").or_else(|| u.get("oneOf")) {
            Some(list) => list
                .as_array()
                .unwrap()
                .iter()
                .map(|m| &defs[m["$ref"].as_str().unwrap().rsplit('/').next().unwrap()])
                .collect(),
            None => vec![u],
        };
        for def in members {
            let method = def["properties"]["method"]["const"].as_str().unwrap();
            out.insert((method.to_owned(), sender, kind));
        }
    }
    out
}

fn table(version: &str) -> BTreeSet<(String, &'static str, &'static str)> {
    RULES
        .iter()
        .filter(|r| r.versions.contains(&version))
        .map(|r| {
            (
                r.method.to_owned(),
                match r.sender {
                    Sender::Client => "client",
                    Sender::Server => "server",
                },
                match r.kind {
                    Kind::Request => "request",
                    Kind::Notification => "notification",
                },
            )
        })
        .collect()
}

#[test]
fn every_message_of_every_version_is_in_the_table() {
    for version in McpSchema::VERSIONS {
        let spec = methods(version);
        let ours = table(version);
        assert!(!spec.is_empty(), "{version}: no methods read");
        let missing: Vec<_> = spec.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&spec).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{version}: missing from the table {missing:?}; in the table but not in the schema {extra:?}"
        );
    }
    // One rule per method and sender.
    let mut seen = BTreeSet::new();
    for r in RULES {
        assert!(
            seen.insert((r.method, r.sender as u8)),
            "{} twice",
            r.method
        );
        assert_eq!(r.answer.is_some(), r.kind == Kind::Request, "{}", r.method);
    }
}

#[test]
fn docs_messages_md_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/messages.md");
    let generated = markdown();
    if std::env::var_os("AIRLOCK_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/messages.md is stale: run AIRLOCK_BLESS=1 cargo test -p airlock-mcp --test messages"
    );
}
