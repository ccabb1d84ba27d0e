//! The cost of a decision: the full check of a valid 3-argument call with every default check
//! on, the ghost-argument and type-error refusals with their fix hints, and, measured in the
//! same run as the baseline, bare `jsonschema` validation of the same arguments.
//!
//! Run: `cargo bench -p airlock-core --bench pipeline`. Figures go in the README.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::sync::Arc;

use airlock_core::{Arguments, Call, CallerContext, Engine, JsonlSink, ToolDef};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn transfer() -> ToolDef {
    ToolDef::new(
        "transfer",
        json!({
            "type": "object",
            "properties": {
                "to": {"type": "string", "minLength": 15, "maxLength": 34},
                "amount": {"type": "integer", "minimum": 1, "maximum": 1000000},
                "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]}
            },
            "required": ["to", "amount", "currency"]
        }),
    )
}

/// A draft-07 tool with a `$ref`'d closed filter and an array of enums: the full ghost walk.
fn query() -> ToolDef {
    ToolDef::new(
        "query",
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "definitions": {"filter": {"type": "object", "properties": {
                "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "since": {"type": "string", "format": "date"}
            }, "additionalProperties": false}},
            "properties": {
                "where": {"$ref": "#/definitions/filter"},
                "columns": {"type": "array", "items": {"enum": ["id", "name", "email", "country"]}, "uniqueItems": true},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100}
            },
            "required": ["columns"]
        }),
    )
}

fn valid() -> Value {
    json!({"to": "DE89370400440532013000", "amount": 500, "currency": "EUR"})
}

/// Seals each record as the audit file does, into a buffer that is cleared (no disk).
#[derive(Default)]
struct ChainedSink(std::sync::Mutex<(airlock_core::audit_chain::Chain, Vec<u8>)>);

impl airlock_core::AuditSink for ChainedSink {
    fn record(
        &self,
        event: &airlock_core::AuditEvent,
    ) -> Result<(), airlock_core::audit::AuditError> {
        let body = serde_json::to_vec(event)?;
        let mut g = self.0.lock().unwrap();
        let (chain, out) = &mut *g;
        out.clear();
        out.extend(airlock_core::audit_chain::seal(chain, &body));
        Ok(())
    }

    fn note(
        &self,
        _note: &airlock_core::audit::AuditNote,
    ) -> Result<(), airlock_core::audit::AuditError> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let def = Arc::new(transfer());
    let caller = CallerContext::default().agent("bench").session("s1");
    // The core's own checks (the guards and the scanner have benchmarks of their own).
    let core_only = || {
        airlock_core::ConfigBuilder::new()
            .set("filesystem.enabled", false, "bench")
            .set("network.enabled", false, "bench")
            .set("sanitize.enabled", false, "bench")
            .build()
            .unwrap()
    };
    let engine = Engine::builder()
        .config(core_only())
        .tools([transfer(), query()])
        .build()
        .unwrap();
    let nested = json!({"where": {"country": "DE", "since": "2024-01-01"}, "columns": ["id", "email"], "limit": 10});
    assert!(
        engine
            .check(Call::new("query", nested.clone()))
            .is_allowed()
    );
    let audited = Engine::builder()
        .config(core_only())
        .tools([transfer()])
        .audit(Arc::new(JsonlSink::new(std::io::sink())))
        .build()
        .unwrap();
    // The same records sealed into a hash chain (what the audit file writes): encoding plus one
    // SHA-256 per record.
    let chained = Engine::builder()
        .config(core_only())
        .tools([transfer()])
        .audit(Arc::new(ChainedSink::default()))
        .build()
        .unwrap();
    let validator = jsonschema::validator_for(&def.input_schema).unwrap();
    let args = valid();
    let ghost =
        json!({"to": "DE89370400440532013000", "amount": 500, "currency": "EUR", "recurse": true});
    let wrong_type = json!({"to": "DE89370400440532013000", "amount": "5", "currency": "EUR"});
    let raw = args.to_string();

    // Sanity: the benchmarked calls decide what they should.
    assert!(
        engine
            .check(Call::new("transfer", args.clone()))
            .is_allowed()
    );
    assert!(
        !engine
            .check(Call::new("transfer", ghost.clone()))
            .is_allowed()
    );
    assert!(
        !engine
            .check(Call::new("transfer", wrong_type.clone()))
            .is_allowed()
    );

    let mut g = c.benchmark_group("decision");
    g.bench_function("baseline_jsonschema_is_valid", |b| {
        b.iter(|| validator.is_valid(black_box(&args)))
    });
    g.bench_function("baseline_jsonschema_validate", |b| {
        b.iter(|| validator.validate(black_box(&args)).is_ok())
    });
    g.bench_function("valid_call", |b| {
        b.iter(|| {
            let call = Call::new("transfer", black_box(&args).clone()).caller(caller.clone());
            engine.check(call)
        })
    });
    g.bench_function("valid_call_with_definition", |b| {
        b.iter(|| {
            let call = Call::new("transfer", black_box(&args).clone())
                .definition(def.clone())
                .caller(caller.clone());
            engine.check(call)
        })
    });
    g.bench_function("valid_call_raw_json", |b| {
        b.iter(|| {
            let call = Call::new("transfer", Arguments::Raw(black_box(&raw).clone()))
                .caller(caller.clone());
            engine.check(call)
        })
    });
    let query_validator = jsonschema::validator_for(&query().input_schema).unwrap();
    g.bench_function("baseline_nested_jsonschema_is_valid", |b| {
        b.iter(|| query_validator.is_valid(black_box(&nested)))
    });
    g.bench_function("valid_nested_call", |b| {
        b.iter(|| {
            let call = Call::new("query", black_box(&nested).clone()).caller(caller.clone());
            engine.check(call)
        })
    });
    g.bench_function("valid_call_audited", |b| {
        b.iter(|| {
            let call = Call::new("transfer", black_box(&args).clone()).caller(caller.clone());
            audited.check(call)
        })
    });
    g.bench_function("valid_call_audited_chained", |b| {
        b.iter(|| {
            let call = Call::new("transfer", black_box(&args).clone()).caller(caller.clone());
            chained.check(call)
        })
    });
    g.bench_function("ghost_refusal_with_hints", |b| {
        b.iter(|| {
            let call = Call::new("transfer", black_box(&ghost).clone()).caller(caller.clone());
            engine.check(call)
        })
    });
    g.bench_function("type_refusal_with_hints", |b| {
        b.iter(|| {
            let call = Call::new("transfer", black_box(&wrong_type).clone()).caller(caller.clone());
            engine.check(call)
        })
    });
    g.bench_function("type_refusal_rendered", |b| {
        b.iter(|| {
            let call = Call::new("transfer", black_box(&wrong_type).clone()).caller(caller.clone());
            let d = engine.check(call);
            let r = d.refusal().map(|r| (r.render_text(), r.to_json()));
            black_box(r)
        })
    });
    g.finish();
}

/// A policy with 50 `[tools]` rules (exact names and globs, roles, windows, capabilities) and a
/// local rate limit, decided by the admit-phase checks and `rate_limit` directly.
fn policy(c: &mut Criterion) {
    use airlock_core::checks::{Capabilities, RateLimit, TimeWindow, ToolAccess};
    use airlock_core::limits::MemoryRateStore;
    use airlock_core::{CallState, Check, ConfigBuilder};

    let mut toml = String::from(
        "[policy]\ntimezone = \"Europe/Berlin\"\ndeny = [\"delete_*\", \"drop_*\"]\nallow = [\"read_*\", \"write_*\", \"list_*\", \"send_*\"]\n",
    );
    for i in 0..46 {
        toml.push_str(&format!(
            "[tools.\"write_{i}_*\"]\nroles = [\"editor\"]\nhours = \"08:00-18:00\"\ncapabilities = [\"fs_write\"]\n"
        ));
    }
    toml.push_str("[tools.\"send_*\"]\nroles = [\"mailer\"]\n");
    toml.push_str(
        "[tools.\"send_mail\"]\nhours = \"00:00-24:00\"\ncapabilities = [\"net_https\"]\n",
    );
    toml.push_str("[tools.\"send_m*\"]\nrate_limit = \"1000000/second\"\n");
    toml.push_str("[tools.\"list_*\"]\ncapabilities = [\"fs_read\"]\n");
    let config = ConfigBuilder::new()
        .file("bench.toml", toml)
        .build()
        .unwrap();
    let policy = config.policies.base.clone();
    let tool = ToolDef::new("send_mail", json!({"type": "object"}));
    let caller = CallerContext::default().agent("bench").roles(["mailer"]);
    let checks: Vec<Box<dyn Check>> = vec![
        Box::new(ToolAccess),
        Box::new(TimeWindow),
        Box::new(Capabilities),
        Box::new(RateLimit::new(Arc::new(MemoryRateStore::new()))),
    ];
    let at: jiff::Timestamp = "2026-05-04T08:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("policy");
    // Each call one microsecond after the last: exactly the 1 000 000/second the rule allows,
    // so every iteration takes the admitting GCRA path.
    let mut tick = 0i64;
    g.bench_function("50_rules_and_rate_limit", |b| {
        b.iter(|| {
            tick += 1;
            let mut state = CallState {
                tool: &tool,
                caller: &caller,
                policy: &policy,
                at: at
                    .checked_add(jiff::SignedDuration::from_micros(tick))
                    .unwrap(),
                arguments: serde_json::Map::new(),
                approval: &airlock_core::checks::ApprovalPath::Approver,
            };
            for check in &checks {
                let out = check.check(&mut state).unwrap();
                assert!(
                    matches!(out, airlock_core::Outcome::Pass),
                    "{} refused: {out:?}",
                    check.name()
                );
            }
        })
    });
    g.finish();
}

/// Issue 15: what timeouts, breakers, budgets and honeypots add to an allowed call, against
/// the same call with none of them configured, in the same run. A deadline costs nothing here
/// (the doors run the timer); the outcome and the result's charge are measured as the doors
/// make them after the call.
fn resilience(c: &mut Criterion) {
    use airlock_core::breaker::CallOutcome;
    let core_only = |toml: &str| {
        airlock_core::ConfigBuilder::new()
            .set("filesystem.enabled", false, "bench")
            .set("network.enabled", false, "bench")
            .set("sanitize.enabled", false, "bench")
            .file("bench.toml", toml)
            .build()
            .unwrap()
    };
    let engine = |toml: &str| {
        Engine::builder()
            .config(core_only(toml))
            .tools([transfer()])
            .build()
            .unwrap()
    };
    let baseline = engine("");
    let all = engine(
        r#"
[upstream]
timeout = "30s"
[upstream.breaker]
failures = 5
[tools.transfer]
timeout = "2s"
breaker = { failures = 2, open_for = "30s" }
price_per_call = 0.01
[tools.get_env]
honeypot = true
[honeypot]
codes = ["filesystem.denied"]
[[budgets]]
per = "session"
calls = 1000000000
[[budgets]]
per = "tenant"
window = "day"
cost = 1000000000.0
"#,
    );
    let tokens =
        engine("[[budgets]]\nper = \"agent\"\nwindow = \"hour\"\ntokens = 1000000000000\n");
    let caller = CallerContext::default().agent("bench").session("s1");
    let call = || Call::new("transfer", valid()).caller(caller.clone());
    for e in [&baseline, &all, &tokens] {
        assert!(e.check(call()).is_allowed());
    }
    let result = json!({"result": {"content": [{"type": "text", "text": "Sent 500 EUR to DE89370400440532013000; reference 2026-12-06-000017."}]}});
    let mut g = c.benchmark_group("resilience");
    g.bench_function("baseline_valid_call", |b| {
        b.iter(|| black_box(baseline.check(call())))
    });
    g.bench_function("valid_call_breakers_budgets_honeypots", |b| {
        b.iter(|| black_box(all.check(call())))
    });
    g.bench_function("valid_call_token_budget", |b| {
        b.iter(|| black_box(tokens.check(call())))
    });
    g.bench_function("baseline_outcome", |b| {
        b.iter(|| baseline.record_outcome(&caller, "transfer", CallOutcome::Succeeded))
    });
    g.bench_function("outcome_two_breakers", |b| {
        b.iter(|| all.record_outcome(&caller, "transfer", CallOutcome::Succeeded))
    });
    g.bench_function("charge_result_token_budget", |b| {
        b.iter(|| tokens.charge_result(&caller, "transfer", black_box(&result)))
    });
    g.finish();
}

criterion_group!(benches, bench, policy, resilience);
criterion_main!(benches);
