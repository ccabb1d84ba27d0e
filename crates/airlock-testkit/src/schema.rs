//! The MCP specification's own JSON schema of each protocol version (`mcp-schema/`, vendored),
//! to check that a message is valid under the version in force.

use std::path::Path;

use serde_json::Value;

/// One protocol version's `schema.json`.
pub struct McpSchema {
    /// The version (`2025-06-18`).
    pub version: &'static str,
    root: Value,
    defs: &'static str,
}

impl McpSchema {
    /// Every protocol version there is a schema of, oldest first.
    pub const VERSIONS: [&'static str; 5] = [
        "2024-11-05",
        "2025-03-26",
        "2025-06-18",
        "2025-11-25",
        "2026-07-28",
    ];

    /// The schema of `version`.
    pub fn load(version: &'static str) -> McpSchema {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mcp-schema")
            .join(format!("{version}.json"));
        let text = std::fs::read_to_string(&path).expect("a vendored MCP schema");
        let root: Value = serde_json::from_str(&text).expect("the MCP schema is JSON");
        let defs = if root.get("$defs").is_some() {
            "$defs"
        } else {
            "definitions"
        };
        McpSchema {
            version,
            root,
            defs,
        }
    }

    /// Whether the schema defines `name`.
    pub fn has(&self, name: &str) -> bool {
        self.root[self.defs].get(name).is_some()
    }

    /// Check `value` against the definition `name` (`CallToolResult`, `JSONRPCMessage`, …).
    pub fn check(&self, name: &str, value: &Value) -> Result<(), String> {
        assert!(self.has(name), "{}: no definition {name}", self.version);
        let mut schema = self.root.clone();
        schema["$ref"] = Value::String(format!("#/{}/{name}", self.defs));
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("{}: the schema does not compile: {e}", self.version))?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "not a valid {name} under {}: {}\n{value}",
                self.version,
                errors.join("; ")
            ))
        }
    }

    /// The definition of a successful JSON-RPC answer (`JSONRPCResponse` before 2025-11-25,
    /// `JSONRPCResultResponse` after).
    pub fn result_response(&self) -> &'static str {
        if self.has("JSONRPCResultResponse") {
            "JSONRPCResultResponse"
        } else {
            "JSONRPCResponse"
        }
    }

    /// The definition of a JSON-RPC error answer (`JSONRPCError` before 2025-11-25,
    /// `JSONRPCErrorResponse` after).
    pub fn error_response(&self) -> &'static str {
        if self.has("JSONRPCErrorResponse") {
            "JSONRPCErrorResponse"
        } else {
            "JSONRPCError"
        }
    }
}
