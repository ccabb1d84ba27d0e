//! Arbitrary input schemas (the first line) with arbitrary arguments (the rest).
//! Properties: compiling and checking never panics or hangs; an allowed call in `block` mode
//! holds no undeclared argument.
#![no_main]

use airlock_core::checks::ghost_args::find_ghosts;
use airlock_core::{Arguments, Call, Decision, Engine, ToolDef};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (schema, args) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(schema) = serde_json::from_str::<Value>(schema) else { return };
    // The core's own checks: the sections other crates serve are off.
    let config = airlock_core::ConfigBuilder::new()
        .set("filesystem.enabled", false, "fuzz")
        .set("network.enabled", false, "fuzz")
        .set("sanitize.enabled", false, "fuzz")
        .build()
        .unwrap();
    let engine = Engine::builder()
        .config(config)
        .tools([ToolDef::new("t", schema)])
        .build()
        .unwrap();
    let decision = engine.check(Call::new("t", Arguments::Raw(args.to_owned())));
    if let Decision::Allowed(a) = decision {
        let def = engine.catalog().get("t").unwrap().clone();
        assert!(find_ghosts(&def, &a.arguments).is_empty());
    }
});
