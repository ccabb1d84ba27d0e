//! The guards as pipeline checks: found at any depth, every offender listed, hints that name
//! what is allowed and never a deny pattern, per-tool policies, and the optional DNS check.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use airlock_core::config::{FilesystemOverrides, FilesystemSettings, NetworkSettings, Symlinks};
use airlock_core::{Call, CallerContext, Decision, Engine, Settings, ToolDef};
use airlock_guard::{Filesystem, Guards, Network};
use serde_json::{Value, json};

/// The engine's own configuration: the guard checks under test are built from their own
/// settings, so the engine's sections they serve (and result masking) are off.
fn core_only() -> airlock_core::Config {
    airlock_testkit::core_only().build().unwrap()
}

fn tool() -> ToolDef {
    ToolDef::new(
        "sync",
        json!({
            "type": "object",
            "properties": {
                "jobs": {"type": "array", "items": {"type": "object", "properties": {
                    "from": {"type": "string", "format": "path"},
                    "notify": {"type": "string"}
                }}},
                "options": {"type": "object"}
            }
        }),
    )
}

fn settings() -> Settings {
    let mut tools = std::collections::BTreeMap::new();
    tools.insert(
        "sync".to_owned(),
        FilesystemOverrides {
            deny: vec!["**/quarterly-secret-*/**".into()],
            ..FilesystemOverrides::default()
        },
    );
    Settings {
        filesystem: FilesystemSettings {
            allowed_roots: vec!["/srv/data".into()],
            // Where the server resolves relative paths (the proxies set it to the server's
            // working directory).
            base: Some("/srv/data".into()),
            symlinks: Symlinks::Lexical,
            tools,
            ..FilesystemSettings::default()
        },
        network: NetworkSettings {
            allow_hosts: vec!["hooks.example.com".into()],
            ..NetworkSettings::default()
        },
        ..Settings::default()
    }
}

fn decide(engine: &Engine, args: Value) -> Decision {
    engine.check(Call::new("sync", args).caller(CallerContext::default()))
}

#[test]
fn every_offender_is_listed_with_its_rule_and_the_hints_name_what_is_allowed() {
    let s = settings();
    let engine = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Guards::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    let ok = json!({"jobs": [{"from": "in/a.csv", "notify": "https://hooks.example.com/x"}]});
    assert!(decide(&engine, ok).is_allowed());

    let bad = json!({
        "jobs": [
            {"from": "/srv/data/quarterly-secret-q3/plan.xlsx"},
            {"from": "/srv/data_evil/x", "notify": "https://hooks.example.com/y"}
        ],
        "options": {"backup_dir": "/etc/ssh", "callback_url": "http://[::ffff:169.254.169.254]/"}
    });
    let Decision::Refused(r) = decide(&engine, bad) else {
        panic!("allowed")
    };
    let text = r.refusal.render_text();
    assert_eq!(r.refusal.code.as_str(), "filesystem.denied", "{text}");
    for field in ["jobs[0].from", "jobs[1].from", "options.backup_dir"] {
        assert!(text.contains(field), "{field} missing: {text}");
    }
    // Why each was taken for a path is in the metadata, not in the model's text.
    assert!(!text.contains("parameter name"), "{text}");
    let rules = r.refusal.details["guarded"].to_string();
    assert!(rules.contains("schema format 'path'"), "{rules}");
    assert!(rules.contains("parameter name 'backup_dir'"), "{rules}");
    assert!(text.contains("/srv/data"), "the roots are named: {text}");
    assert!(
        !text.contains("quarterly-secret-*") && !text.contains("**"),
        "no deny pattern: {text}"
    );

    // Paths fixed: the URL is refused next, with the allowed hosts.
    let bad_url = json!({"options": {"callback_url": "http://[::ffff:169.254.169.254]/"}});
    let Decision::Refused(r) = decide(&engine, bad_url) else {
        panic!("allowed")
    };
    let text = r.refusal.render_text();
    assert_eq!(r.refusal.code.as_str(), "network.host", "{text}");
    assert!(text.contains("hooks.example.com"), "{text}");
}

#[test]
fn the_separate_checks_decide_like_the_combined_one() {
    let s = settings();
    let separate = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Filesystem::from_settings(&s).unwrap()))
        .check(Arc::new(Network::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    let combined = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Guards::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    for args in [
        json!({"jobs": [{"from": "in/a.csv"}]}),
        json!({"jobs": [{"from": "../../etc"}]}),
        json!({"options": {"webhook": "https://hooks.example.com/"}}),
        json!({"options": {"webhook": "https://evil.example.net/"}}),
        json!({"options": {"target": "file:///etc/shadow"}}),
        json!({"options": {"paths": ["/srv/data/a", "/srv/data/../b"]}}),
    ] {
        let code = |d: Decision| match d {
            Decision::Allowed(_) => "allowed".to_owned(),
            Decision::Refused(r) => r.refusal.code.as_str().to_owned(),
        };
        assert_eq!(
            code(decide(&separate, args.clone())),
            code(decide(&combined, args.clone())),
            "{args}"
        );
    }
}

#[test]
fn the_dns_check_resolves_names_and_refuses_what_it_cannot_resolve() {
    let mut s = Settings::default();
    s.network.dns_check = true;
    s.network.dns_timeout_ms = 3000;
    s.network.allow_private = true;
    let engine = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Network::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    // `localhost` resolves (to loopback, allowed here): the lookup ran and passed.
    assert!(decide(&engine, json!({"options": {"url": "http://localhost/"}})).is_allowed());
    // `.invalid` never resolves (RFC 6761): refused, fail closed.
    let Decision::Refused(r) = decide(
        &engine,
        json!({"options": {"url": "https://no-such-host.invalid/"}}),
    ) else {
        panic!("an unresolvable host was allowed")
    };
    assert_eq!(r.refusal.code.as_str(), "network.unresolvable");

    // Without private addresses allowed, a name resolving to loopback is refused after the
    // lookup, whatever it is called (`localhost` is also refused by name before it).
    s.network.allow_private = false;
    let strict = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Network::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    let Decision::Refused(r) = decide(&strict, json!({"options": {"url": "http://localhost/"}}))
    else {
        panic!("loopback allowed")
    };
    assert_eq!(r.refusal.code.as_str(), "network.internal");
}

#[test]
fn a_url_under_a_path_name_is_a_path_too_and_a_tenant_stays_confined() {
    let mut s = settings();
    // A tool pattern widens the roots; the tenant `acme` is confined to its own.
    s.filesystem.tools.insert(
        "sync".to_owned(),
        FilesystemOverrides {
            allowed_roots: Some(vec!["/srv/shared".into()]),
            ..FilesystemOverrides::default()
        },
    );
    s.tenants.insert(
        "acme".to_owned(),
        airlock_core::policy::TenantSettings {
            filesystem: FilesystemOverrides {
                allowed_roots: Some(vec!["/srv/tenants/acme".into()]),
                ..FilesystemOverrides::default()
            },
            ..Default::default()
        },
    );
    let engine = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Guards::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    let code = |args: Value, tenant: Option<&str>| {
        let caller = CallerContext {
            tenant: tenant.map(str::to_owned),
            ..Default::default()
        };
        match engine.check(Call::new("sync", args).caller(caller)) {
            Decision::Allowed(_) => "allowed".to_owned(),
            Decision::Refused(r) => r.refusal.code.as_str().to_owned(),
        }
    };
    // `path` holding a URL that climbs: refused as a path (the host alone would pass).
    assert_eq!(
        code(
            json!({"options": {"path": "http://hooks.example.com/../../../../etc/passwd"}}),
            None
        ),
        "filesystem.outside_roots"
    );
    // A relative reference under `format: uri-reference`-like names is a path as well.
    assert_eq!(
        code(json!({"options": {"link": "../../etc/passwd"}}), None),
        "filesystem.outside_roots"
    );
    // The tool's root for everyone else, the tenant's own root for acme.
    assert_eq!(
        code(json!({"options": {"dir": "/srv/shared/x"}}), None),
        "allowed"
    );
    assert_eq!(
        code(json!({"options": {"dir": "/srv/shared/x"}}), Some("acme")),
        "filesystem.outside_roots"
    );
    assert_eq!(
        code(
            json!({"options": {"dir": "/srv/tenants/acme/x"}}),
            Some("acme")
        ),
        "allowed"
    );
}

#[test]
fn the_dns_check_resolves_each_name_once_and_refuses_too_many() {
    let mut s = Settings::default();
    s.network.dns_check = true;
    s.network.allow_private = true;
    let engine = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Network::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    let many: Vec<String> = (0..40).map(|i| format!("https://h{i}.invalid/")).collect();
    let Decision::Refused(r) = decide(&engine, json!({"options": {"urls": many}})) else {
        panic!("40 lookups allowed")
    };
    assert_eq!(r.refusal.code.as_str(), "network.invalid");
    assert!(
        r.refusal.message.contains("at most 16"),
        "{}",
        r.refusal.message
    );
    // The same name many times is one lookup.
    let same: Vec<&str> = vec!["http://localhost/"; 40];
    assert!(decide(&engine, json!({"options": {"urls": same}})).is_allowed());
}

/// Issue 14: `to` holding an IBAN was checked as a (relative, refused) path by its name alone.
/// The schema's description now outweighs the name, and `not_paths` opts a tool's parameter
/// out where the schema says nothing; a path-shaped value is still a path.
#[test]
fn issue_14_a_name_is_not_a_path_when_the_schema_or_the_config_says_so() {
    let pay = |to: Value| {
        ToolDef::new(
            "pay",
            json!({"type": "object", "properties": {"to": to, "amount": {"type": "integer"}}}),
        )
    };
    let described = pay(json!({"type": "string", "description": "IBAN of the recipient"}));
    let bare_to = pay(json!({"type": "string"}));
    let decide_with = |tool: ToolDef, not_paths: &[&str], to: &str| {
        let mut tools = std::collections::BTreeMap::new();
        tools.insert(
            "pay".to_owned(),
            FilesystemOverrides {
                not_paths: not_paths.iter().map(|s| (*s).to_owned()).collect(),
                ..FilesystemOverrides::default()
            },
        );
        let s = Settings {
            filesystem: FilesystemSettings {
                allowed_roots: vec!["/srv/data".into()],
                symlinks: Symlinks::Lexical,
                tools,
                ..FilesystemSettings::default()
            },
            ..Settings::default()
        };
        let engine = Engine::builder()
            .config(core_only())
            .tools([tool])
            .check(Arc::new(Guards::from_settings(&s).unwrap()))
            .build()
            .unwrap();
        let d = engine.check(Call::new("pay", json!({"to": to, "amount": 5})));
        d.refusal().map(|r| r.code.as_str().to_owned())
    };
    let iban = "DE89370400440532013000";
    // No base, roots set: a relative path is refused, so an IBAN taken for a path is too.
    assert_eq!(
        decide_with(bare_to.clone(), &[], iban).as_deref(),
        Some("filesystem.relative")
    );
    assert_eq!(decide_with(described.clone(), &[], iban), None);
    assert_eq!(decide_with(bare_to.clone(), &["to"], iban), None);
    for tool in [described, bare_to] {
        assert_eq!(
            decide_with(tool, &["to"], "/etc/passwd").as_deref(),
            Some("filesystem.outside_roots")
        );
    }
}
