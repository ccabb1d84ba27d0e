//! Intake, before any check: find the tool's definition (on the call, or in the engine's
//! catalog; refused when unknown, with the closest known name, or when `[pinning]` or
//! `[tool_integrity]` refuses it — a definition on the call is scanned here, against the
//! catalog's names) and check the arguments as a whole — valid JSON, an object (absent or `null` counts as
//! `{}`), no larger than `arguments.max_bytes`, no deeper than `arguments.max_depth`. What a
//! refused call records is decided here too: never unparsed text, never an oversized value.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Engine, Refused};
use crate::call::{Arguments, ToolDef};
use crate::checks::validation::clip;
use crate::refusal::{DenyCode, Refusal};
use crate::schema::measure;
use crate::suggest::closest;

impl Engine {
    /// The definition and the arguments as an object, or the refusal and what to record.
    #[allow(clippy::type_complexity)]
    pub(super) fn intake(
        &self,
        tool: &str,
        definition: Option<Arc<ToolDef>>,
        arguments: Arguments,
    ) -> Result<(Arc<ToolDef>, Map<String, Value>), Box<(Refused, Value)>> {
        let refuse = |code: DenyCode, message: String, recorded: Value| {
            Box::new((
                Refused {
                    refusal: Refusal::new(code, tool, message),
                    check: None,
                    internal: None,
                    honeypot: None,
                    ask: None,
                },
                recorded,
            ))
        };
        let args = self.arguments(tool, arguments);
        let catalog = self.catalog();
        let (def, pin_problem, poisoned) = match definition {
            // A definition handed in with the call is checked against the pins and scanned
            // for poisoning (`[tool_integrity]`) here.
            Some(d) => {
                let problem = self
                    .pins
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe(&d);
                let poisoned = self.scan_given(&catalog, &d);
                (Some(d), problem, poisoned)
            }
            None => (
                catalog.get(tool).cloned(),
                catalog.pin_problem(tool),
                catalog.poisoned(tool).map(<[_]>::to_vec),
            ),
        };
        if let Some(problem) = pin_problem {
            let recorded = match &args {
                Ok(map) => self.config.redactor.redact(map),
                Err(bad) => bad.recorded.clone(),
            };
            let (code, message) = match problem {
                crate::pins::PinProblem::Changed => (
                    DenyCode::ToolIntegrityChanged,
                    format!(
                        "Tool '{}' was not called: the server changed its definition after it was pinned.",
                        clip(tool, 80)
                    ),
                ),
                crate::pins::PinProblem::Unpinned => (
                    DenyCode::ToolIntegrityUnpinned,
                    format!(
                        "Tool '{}' was not called: it has no pin, and only pinned tools may be called.",
                        clip(tool, 80)
                    ),
                ),
            };
            return Err(refuse(code, message, recorded));
        }
        if let Some(found) = poisoned
            && let Some(first) = found.first()
        {
            let recorded = match &args {
                Ok(map) => self.config.redactor.redact(map),
                Err(bad) => bad.recorded.clone(),
            };
            // The field is a structural place (`inputSchema.properties[3]`), never the
            // definition's text: the model must not read the poisoned words again.
            let message = format!(
                "Tool '{}' was not called: the server's definition of it carries {} in its {} ({}).",
                clip(tool, 80),
                first.kind.carries(),
                clip(&first.field, 80),
                first.kind.as_str()
            );
            return Err(refuse(DenyCode::ToolIntegrityPoisoned, message, recorded));
        }
        let def = match def {
            Some(d) => d,
            None => {
                let recorded = match &args {
                    Ok(map) => self.config.redactor.redact(map),
                    Err(bad) => bad.recorded.clone(),
                };
                let mut r = refuse(
                    DenyCode::UnknownTool,
                    format!(
                        "Tool '{}' is not one of this server's tools.",
                        clip(tool, 80)
                    ),
                    recorded,
                );
                if let Some(near) = closest(tool, self.catalog().names()) {
                    r.0.refusal = r.0.refusal.clone().with_hints(vec![format!(
                        "Did you mean '{near}'? Call only tools from the server's tool list."
                    )]);
                }
                return Err(r);
            }
        };
        match args {
            Ok(map) => Ok((def, map)),
            Err(bad) => {
                let bad = *bad;
                let mut r = refuse(bad.code, bad.message, bad.recorded);
                for (k, v) in bad.details {
                    r.0.refusal.details.insert(k.to_owned(), v);
                }
                Err(r)
            }
        }
    }

    /// Parse and bound the arguments: a JSON object within `arguments.max_bytes` and
    /// `arguments.max_depth` (absent or `null` counts as `{}`).
    fn arguments(
        &self,
        tool: &str,
        arguments: Arguments,
    ) -> Result<Map<String, Value>, Box<BadArguments>> {
        let limits = &self.config.settings.arguments;
        let too_large = |got: usize| {
            Box::new(BadArguments {
                code: DenyCode::ArgumentsTooLarge,
                message: format!(
                    "Tool '{tool}' was called with arguments of {got} bytes or more; the limit is {} bytes.",
                    limits.max_bytes
                ),
                recorded: Value::String(format!("(not recorded: {got}+ bytes)")),
                details: vec![("max_bytes", Value::from(limits.max_bytes))],
            })
        };
        let value = match arguments {
            Arguments::Json(v) => v,
            Arguments::Raw(text) => {
                if text.len() > limits.max_bytes {
                    return Err(too_large(text.len()));
                }
                match serde_json::from_str::<Value>(&text) {
                    Ok(v) => v,
                    Err(e) => {
                        // Never record the text: it may hold secrets the redactor cannot find
                        // in unparsed JSON.
                        return Err(Box::new(BadArguments {
                            code: DenyCode::ArgumentsNotJson,
                            message: format!(
                                "Tool '{tool}' was called with arguments that are not valid JSON: {}.",
                                crate::json_error::explain(&e)
                            ),
                            recorded: Value::String(format!(
                                "(not recorded: {} bytes of invalid JSON)",
                                text.len()
                            )),
                            details: Vec::new(),
                        }));
                    }
                }
            }
        };
        let stats = measure(&value, limits.max_depth, limits.max_bytes);
        if stats.depth > limits.max_depth {
            drop_iteratively(value);
            return Err(Box::new(BadArguments {
                code: DenyCode::ArgumentsTooDeep,
                message: format!(
                    "Tool '{tool}' was called with arguments nested deeper than {} levels.",
                    limits.max_depth
                ),
                recorded: Value::String("(not recorded: too deep)".into()),
                details: vec![("max_depth", Value::from(limits.max_depth))],
            }));
        }
        if stats.bytes > limits.max_bytes {
            // `measure` stopped at the size limit, so the depth of the rest is unknown: never
            // let serde_json's recursive drop loose on it.
            drop_iteratively(value);
            return Err(too_large(stats.bytes));
        }
        if stats.unsafe_integer
            && self.config.settings.arguments.large_integers == crate::config::LargeIntegers::Refuse
            && let Some((path, n)) = unsafe_integer(&value)
        {
            let read = n.as_f64().map_or_else(String::new, |f| format!("{f:.0}"));
            return Err(Box::new(BadArguments {
                code: DenyCode::ArgumentsUnsafeInteger,
                message: format!(
                    "Tool '{tool}' was called with the integer {n} at '{path}', beyond ±2^53: a JavaScript server would read it as {read}, another number than the one checked."
                ),
                recorded: self.config.redactor.redact_value(&value),
                details: vec![
                    ("field", Value::String(path)),
                    ("value", Value::String(n.to_string())),
                ],
            }));
        }
        match value {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            other => {
                let got = crate::checks::validation::article(crate::checks::validation::json_type(
                    &other,
                ));
                Err(Box::new(BadArguments {
                    code: DenyCode::ArgumentsNotObject,
                    message: format!(
                        "Tool '{tool}' was called with arguments that are {got}, not an object."
                    ),
                    recorded: self.config.redactor.redact_value(&other),
                    details: Vec::new(),
                }))
            }
        }
    }
}

/// The first integer beyond ±2^53 in `value` (a JavaScript peer rounds it), with its path.
fn unsafe_integer(value: &Value) -> Option<(String, serde_json::Number)> {
    const SAFE: u64 = 1 << 53;
    let mut stack: Vec<(&Value, String)> = vec![(value, String::new())];
    while let Some((v, path)) = stack.pop() {
        match v {
            Value::Number(n) => {
                let unsafe_ = match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => i.unsigned_abs() > SAFE,
                    (None, Some(u)) => u > SAFE,
                    // Floats are read as floats by every peer.
                    _ => false,
                };
                if unsafe_ {
                    return Some((path, n.clone()));
                }
            }
            Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(i, v)| (v, format!("{path}[{i}]"))),
                );
            }
            Value::Object(map) => {
                for (k, v) in map.iter().rev() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    stack.push((v, p));
                }
            }
            _ => {}
        }
    }
    None
}

/// Arguments refused at intake: the code, the message, what to record.
struct BadArguments {
    code: DenyCode,
    message: String,
    recorded: Value,
    details: Vec<(&'static str, Value)>,
}

/// Drop a value of any depth without recursion (serde_json's own drop recurses).
fn drop_iteratively(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::engine;
    use super::*;
    use crate::audit::MemorySink;
    use crate::call::Call;
    use crate::checks::UnknownArgs;
    use serde_json::json;

    #[test]
    fn intake_refuses_bad_arguments() {
        let sink = Arc::new(MemorySink::new());
        let e = engine(UnknownArgs::Block, sink.clone());
        let code = |call: Call| e.check(call).refusal().map(|r| r.code);
        assert_eq!(
            code(Call::new("read_file", Arguments::Raw("{not json".into()))),
            Some(DenyCode::ArgumentsNotJson)
        );
        assert_eq!(
            code(Call::new("read_file", json!([1, 2]))),
            Some(DenyCode::ArgumentsNotObject)
        );
        assert_eq!(
            code(Call::new("read_file", json!("path")).clone()),
            Some(DenyCode::ArgumentsNotObject)
        );
        let big = json!({"path": "x".repeat(2 << 20)});
        assert_eq!(
            code(Call::new("read_file", big)),
            Some(DenyCode::ArgumentsTooLarge)
        );
        let raw_big = Arguments::Raw(format!("{{\"path\": \"{}\"}}", "x".repeat(2 << 20)));
        assert_eq!(
            code(Call::new("read_file", raw_big)),
            Some(DenyCode::ArgumentsTooLarge)
        );
        let mut deep = json!("x");
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(
            code(Call::new("read_file", json!({"path": "a"})).clone()),
            None
        );
        let deep_args = Value::Object(Map::from_iter([("path".to_owned(), deep)]));
        assert_eq!(
            code(Call::new("read_file", deep_args)),
            Some(DenyCode::ArgumentsTooDeep)
        );
        let raw_deep = Arguments::Raw(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
        assert_eq!(
            code(Call::new("read_file", raw_deep)),
            Some(DenyCode::ArgumentsNotJson)
        );
        // Absent arguments are an empty object: here refused for the missing path.
        assert_eq!(
            code(Call::new("read_file", Value::Null)),
            Some(DenyCode::ValidationRequired)
        );
        assert_eq!(sink.events().len(), 9);
    }

    /// Issue 14: bad JSON got serde_json's `expected ident at line 1 column 2`.
    #[test]
    fn issue_14_not_json_is_explained_in_plain_words() {
        let e = engine(UnknownArgs::Block, Arc::new(MemorySink::new()));
        let d = e.check(Call::new("read_file", Arguments::Raw("nope".into())));
        let r = d.refusal().unwrap();
        assert_eq!(r.code, DenyCode::ArgumentsNotJson);
        assert_eq!(
            r.message,
            "Tool 'read_file' was called with arguments that are not valid JSON: at line 1, column 2, expected a value such as a string in double quotes, a number, true, false, null, an object or an array."
        );
    }

    #[test]
    fn unknown_tool_is_refused_with_suggestion() {
        let e = engine(UnknownArgs::Block, Arc::new(MemorySink::new()));
        let d = e.check(Call::new("read_files", json!({})));
        let r = d.refusal().unwrap();
        assert_eq!(r.code, DenyCode::UnknownTool);
        assert_eq!(
            r.fix_hints[0],
            "Did you mean 'read_file'? Call only tools from the server's tool list."
        );
    }

    #[test]
    fn too_large_value_of_unmeasured_depth_does_not_overflow() {
        // Regression (review finding 1): `measure` stops at the size limit before it reaches the
        // deep part, so the refused value must be dropped without recursion.
        let mut deep = json!(1);
        for _ in 0..200_000 {
            deep = Value::Array(vec![deep]);
        }
        // `measure` walks with a stack, so the last key is measured first.
        let mut args = Map::new();
        args.insert("deep".into(), deep);
        args.insert("big".into(), json!("x".repeat(2 << 20)));
        let e = engine(UnknownArgs::Block, Arc::new(MemorySink::new()));
        let d = e.check(Call::new("read_file", Value::Object(args)));
        assert_eq!(
            d.refusal().map(|r| r.code),
            Some(DenyCode::ArgumentsTooLarge)
        );
    }
}
