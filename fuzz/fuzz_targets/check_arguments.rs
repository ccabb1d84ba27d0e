//! Arbitrary argument text against fixed tools, in every ghost-argument mode.
//! Properties: never panics; every refusal carries fix hints; in `block` mode an allowed call
//! holds no undeclared argument; in strip modes the forwarded arguments hold no undeclared
//! argument and keep every declared top-level argument that was sent.
#![no_main]

use airlock_core::checks::ghost_args::find_ghosts;
use airlock_core::{Arguments, Call, ConfigBuilder, Decision, Engine, ToolDef, UnknownArgs};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef::new(
            "t",
            json!({
                "type": "object",
                "$defs": {"p": {"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": false}},
                "properties": {
                    "a": {"type": "string", "maxLength": 8},
                    "b": {"type": "array", "items": {"$ref": "#/$defs/p"}},
                    "c": {"anyOf": [{"$ref": "#/$defs/p"}, {"type": "object", "properties": {"y": {}}}]},
                    "d": {"type": "object", "patternProperties": {"^k": {"type": "boolean"}}}
                }
            }),
        ),
        ToolDef::new("plain", json!({"type": "object", "properties": {"a": {}, "b": {}}})),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for mode in [UnknownArgs::Block, UnknownArgs::StripAndLog, UnknownArgs::StripSilent] {
        // The core's own checks: the sections other crates serve are off.
        let config = ConfigBuilder::new()
            .unknown_args(mode)
            .set("filesystem.enabled", false, "fuzz")
            .set("network.enabled", false, "fuzz")
            .set("sanitize.enabled", false, "fuzz")
            .build()
            .unwrap();
        let engine = Engine::builder().config(config).tools(tools()).build().unwrap();
        for tool in ["t", "plain"] {
            let decision = engine.check(Call::new(tool, Arguments::Raw(text.to_owned())));
            let def = engine.catalog().get(tool).unwrap().clone();
            match decision {
                Decision::Refused(r) => assert!(!r.refusal.fix_hints.is_empty()),
                Decision::Allowed(a) => {
                    assert!(find_ghosts(&def, &a.arguments).is_empty(), "ghost let through in {mode:?}");
                    if mode != UnknownArgs::Block
                        && let Ok(Value::Object(sent)) = serde_json::from_str::<Value>(text)
                    {
                        let declared = def.input_schema["properties"].as_object().unwrap();
                        for (k, v) in &sent {
                            if declared.contains_key(k) && !v.is_object() && !v.is_array() {
                                assert_eq!(a.arguments.get(k), Some(v), "declared {k} lost");
                            }
                        }
                    }
                }
            }
        }
    }
});
