//! The cost of the argument guards on a call with three path arguments and one URL (no DNS):
//! `argument_guards` (both in one walk) and the `filesystem` and `network` checks run one
//! after the other, lexical (no disk access) and with symlink
//! resolution (one `lstat` per component, on a real directory tree); and the whole engine
//! decision with and without the guards, measured in the same run as the baseline.
//!
//! Run: `cargo bench -p airlock-guard --bench guard`. Figures go in the README.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::sync::Arc;

use airlock_core::config::{FilesystemSettings, NetworkSettings, Symlinks};
use airlock_core::pipeline::{CallState, Check};
use airlock_core::policy::Policy;
use airlock_core::{Call, CallerContext, Engine, Settings, ToolDef};
use airlock_guard::{Filesystem, Guards, Network};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

fn tool() -> ToolDef {
    ToolDef::new(
        "sync_report",
        json!({
            "type": "object",
            "properties": {
                "source": {"type": "string"},
                "destination": {"type": "string"},
                "log_file": {"type": "string"},
                "webhook": {"type": "string", "format": "uri"},
                "overwrite": {"type": "boolean"}
            },
            "required": ["source", "destination", "webhook"]
        }),
    )
}

fn settings(root: &str, symlinks: Symlinks) -> Settings {
    Settings {
        filesystem: FilesystemSettings {
            allowed_roots: vec![root.to_owned()],
            symlinks,
            ..FilesystemSettings::default()
        },
        network: NetworkSettings {
            allow_hosts: vec!["*.example.com".into()],
            ..NetworkSettings::default()
        },
        ..Settings::default()
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    for d in ["in/2026/11", "out/2026/11", "logs"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("in/2026/11/sales.csv"), b"x").unwrap();
    let root_s = root.display().to_string();
    let args: Map<String, Value> = json!({
        "source": format!("{root_s}/in/2026/11/sales.csv"),
        "destination": format!("{root_s}/out/2026/11/sales-summary.csv"),
        "log_file": "logs/sync.log",
        "webhook": "https://hooks.example.com/notify/reports?channel=finance",
        "overwrite": false
    })
    .as_object()
    .unwrap()
    .clone();
    let def = tool();
    let caller = CallerContext::default();
    let policy = Policy::permissive();
    let at = jiff::Timestamp::now();

    let mut g = c.benchmark_group("guard");
    for (name, mode) in [
        ("lexical, no disk access", Symlinks::Lexical),
        ("symlinks resolved on disk", Symlinks::Resolve),
    ] {
        let s = settings(&root_s, mode);
        let fs = Filesystem::from_settings(&s).unwrap();
        let net = Network::from_settings(&s).unwrap();
        let both = Guards::from_settings(&s).unwrap();
        g.bench_function(
            format!("argument_guards (one walk), 3 paths + 1 URL, {name}"),
            |b| {
                b.iter(|| {
                    let mut state = CallState {
                        tool: &def,
                        caller: &caller,
                        policy: &policy,
                        at,
                        arguments: args.clone(),
                        approval: &airlock_core::checks::ApprovalPath::Approver,
                    };
                    black_box(both.check(&mut state).unwrap())
                })
            },
        );
        g.bench_function(
            format!("filesystem + network checks, 3 paths + 1 URL, {name}"),
            |b| {
                b.iter(|| {
                    let mut state = CallState {
                        tool: &def,
                        caller: &caller,
                        policy: &policy,
                        at,
                        arguments: args.clone(),
                        approval: &airlock_core::checks::ApprovalPath::Approver,
                    };
                    let a = fs.check(&mut state).unwrap();
                    let n = net.check(&mut state).unwrap();
                    black_box((a, n))
                })
            },
        );
    }
    // Baseline in the same run: cloning the arguments (what every iteration above pays too).
    g.bench_function("baseline: cloning the arguments", |b| {
        b.iter(|| black_box(args.clone()))
    });

    // The whole decision, with and without the guards.
    let s = settings(&root_s, Symlinks::Lexical);
    // The engine's own sections are off: the guards under test are built from `s`.
    let core_only = || airlock_testkit::core_only().build().unwrap();
    let with = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .check(Arc::new(Guards::from_settings(&s).unwrap()))
        .build()
        .unwrap();
    let without = Engine::builder()
        .config(core_only())
        .tools([tool()])
        .build()
        .unwrap();
    let call = Value::Object(args.clone());
    for (name, engine) in [
        ("with guards (lexical)", &with),
        ("without guards", &without),
    ] {
        g.bench_function(format!("engine decision, {name}"), |b| {
            b.iter(|| {
                let d = engine.check(Call::new("sync_report", call.clone()).caller(caller.clone()));
                assert!(d.is_allowed());
                black_box(d)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
