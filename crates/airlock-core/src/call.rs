//! The call model: a tool definition as an MCP server lists it, the caller's context, and one
//! call of a tool by a caller.
//!
//! A [`ToolDef`] is parsed from the MCP `Tool` object (`name`, `inputSchema`, …); fields this
//! crate does not know are kept in [`ToolDef::extra`] so a proxy can pass them on unchanged.
//! Each definition compiles its input schema once, on first use, and keeps the result
//! ([`ToolDef::compiled`]): validators are cached per tool definition.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::schema::CompiledSchema;

/// A tool as listed by an MCP server (`tools/list` result entry).
#[derive(Debug, Deserialize, Serialize)]
pub struct ToolDef {
    /// The tool's name, unique on its server.
    pub name: String,
    /// The human-readable title, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of the arguments (draft 2020-12 unless `$schema` says otherwise).
    #[serde(rename = "inputSchema", default = "empty_object_schema")]
    pub input_schema: Value,
    /// The JSON Schema of `structuredContent` in results, if the tool declares one.
    #[serde(
        rename = "outputSchema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub output_schema: Option<Value>,
    /// Behaviour hints (`readOnlyHint`, `destructiveHint`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// Every other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    #[serde(skip)]
    compiled: OnceLock<CompiledSchema>,
    #[serde(skip)]
    pin: OnceLock<String>,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object"})
}

impl Clone for ToolDef {
    fn clone(&self) -> Self {
        ToolDef {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            input_schema: self.input_schema.clone(),
            output_schema: self.output_schema.clone(),
            annotations: self.annotations.clone(),
            extra: self.extra.clone(),
            compiled: OnceLock::new(),
            pin: OnceLock::new(),
        }
    }
}

impl PartialEq for ToolDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.title == other.title
            && self.description == other.description
            && self.input_schema == other.input_schema
            && self.output_schema == other.output_schema
            && self.annotations == other.annotations
            && self.extra == other.extra
    }
}

impl ToolDef {
    /// A definition with a name and an input schema.
    pub fn new(name: impl Into<String>, input_schema: Value) -> Self {
        ToolDef {
            name: name.into(),
            title: None,
            description: None,
            input_schema,
            output_schema: None,
            annotations: None,
            extra: Map::new(),
            compiled: OnceLock::new(),
            pin: OnceLock::new(),
        }
    }

    /// Set the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The compiled input schema: built on first use, then cached for the life of the definition.
    ///
    /// A schema that does not compile is cached as such; calls to the tool are refused.
    pub(crate) fn compiled(&self) -> &CompiledSchema {
        self.compiled
            .get_or_init(|| CompiledSchema::compile(&self.input_schema))
    }

    /// The definition's pin (`sha256:…`, see [`crate::pins`]): computed on first use, then
    /// cached like the compiled schema (change a definition by building a new one).
    pub fn pin(&self) -> &str {
        self.pin.get_or_init(|| crate::pins::compute_pin(self))
    }

    /// The pin, if it has been computed already.
    pub(crate) fn known_pin(&self) -> Option<&str> {
        self.pin.get().map(String::as_str)
    }

    /// Parse tool definitions from JSON: a `tools/list` result (`{"tools": [...]}`), a JSON-RPC
    /// response holding one (`{"result": {"tools": [...]}}`), or a bare array of tools.
    pub fn parse_list(value: Value) -> Result<Vec<ToolDef>, serde_json::Error> {
        let list = match value {
            Value::Object(mut obj) => {
                if let Some(Value::Object(mut result)) = obj.remove("result") {
                    result.remove("tools").unwrap_or(Value::Null)
                } else {
                    obj.remove("tools").unwrap_or(Value::Null)
                }
            }
            other => other,
        };
        let list = if list.is_null() {
            return Err(serde::de::Error::custom(
                "expected a tools/list result ({\"tools\": [...]}), a JSON-RPC response holding one, or an array of tools",
            ));
        } else {
            list
        };
        serde_json::from_value(list)
    }
}

/// Who is calling: identity and free metadata. Filled by the transport (stdio config, HTTP
/// authentication) or by the library user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct CallerContext {
    /// The agent's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The tenant or workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The roles the caller holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Free metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl CallerContext {
    /// An anonymous caller.
    pub fn anonymous() -> Self {
        CallerContext::default()
    }

    /// Set the agent id.
    #[must_use]
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Set the session id.
    #[must_use]
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Set the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Add roles.
    #[must_use]
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }
}

/// The arguments as they arrived: parsed JSON, or raw text not yet parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum Arguments {
    /// Already parsed (the usual case: a JSON-RPC `params.arguments` value).
    Json(Value),
    /// Raw text; the engine parses it (and refuses it if it is not JSON).
    Raw(String),
}

impl From<Value> for Arguments {
    fn from(v: Value) -> Self {
        Arguments::Json(v)
    }
}

/// One call of a tool by a caller: what the pipeline decides on.
#[derive(Clone, Debug)]
pub struct Call {
    /// The tool's name as the caller sent it.
    pub tool: String,
    /// The arguments as sent.
    pub arguments: Arguments,
    /// The tool's definition; `None` means the engine looks it up in its catalog.
    pub definition: Option<Arc<ToolDef>>,
    /// Who is calling.
    pub caller: CallerContext,
    /// The time to evaluate the call at (time windows); `None` means the engine's clock.
    pub at: Option<Timestamp>,
    /// Who can approve the call if its tool needs a person's yes (the door knows: see
    /// [`crate::checks::ApprovalPath`]).
    pub approval: crate::checks::ApprovalPath,
}

impl Call {
    /// A call of `tool` with `arguments`, by an anonymous caller, definition from the catalog.
    pub fn new(tool: impl Into<String>, arguments: impl Into<Arguments>) -> Self {
        Call {
            tool: tool.into(),
            arguments: arguments.into(),
            definition: None,
            caller: CallerContext::default(),
            at: None,
            approval: crate::checks::ApprovalPath::default(),
        }
    }

    /// Use this definition instead of the catalog's.
    #[must_use]
    pub fn definition(mut self, def: Arc<ToolDef>) -> Self {
        self.definition = Some(def);
        self
    }

    /// Set the caller.
    #[must_use]
    pub fn caller(mut self, caller: CallerContext) -> Self {
        self.caller = caller;
        self
    }

    /// Say who can approve the call (default: the configured approver).
    #[must_use]
    pub fn approval(mut self, path: crate::checks::ApprovalPath) -> Self {
        self.approval = path;
        self
    }

    /// Evaluate at this time instead of now.
    #[must_use]
    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = Some(at);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_tools_list_shape() {
        let tool = json!({"name": "echo", "inputSchema": {"type": "object"}, "x-vendor": 1});
        for v in [
            json!({"tools": [tool.clone()]}),
            json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [tool.clone()]}}),
            json!([tool.clone()]),
        ] {
            let tools = ToolDef::parse_list(v).unwrap();
            assert_eq!(tools.len(), 1);
            assert_eq!(tools[0].name, "echo");
            assert_eq!(tools[0].extra["x-vendor"], 1);
        }
        assert!(ToolDef::parse_list(json!({"nope": 1})).is_err());
    }

    #[test]
    fn missing_input_schema_means_any_object() {
        let tools = ToolDef::parse_list(json!([{"name": "ping"}])).unwrap();
        assert_eq!(tools[0].input_schema, json!({"type": "object"}));
    }
}
