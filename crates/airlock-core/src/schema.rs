//! Compiling a tool's input schema once, and walking JSON values without recursion.
//!
//! [`CompiledSchema`] holds what the checks need from a tool's `inputSchema`: the strict
//! validator (draft 2020-12 or draft-07, formats asserted, no remote `$ref`, linear-time limits
//! on patterns) and the compiled `patternProperties` patterns the ghost-argument check uses.
//! A schema that is too large, too deep or does not compile is kept as a [`SchemaError`]: the
//! tool's calls are then refused (fail closed), never let through unchecked.
//!
//! [`measure`] sizes and depths any JSON value with an explicit stack, so hostile input cannot
//! overflow the stack.

use std::collections::HashMap;
use std::fmt;

use regex::Regex;
use serde_json::Value;

/// Largest input schema accepted, in bytes of its JSON text (approximately).
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;
/// Deepest input schema accepted.
pub const MAX_SCHEMA_DEPTH: usize = 128;
/// Largest compiled `patternProperties` regex, in bytes of its program.
const MAX_PATTERN_SIZE: usize = 1 << 20;

/// Why a tool's schema cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// What is wrong, for operators and models.
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A tool's input schema, compiled once.
pub struct CompiledSchema {
    validator: Result<jsonschema::Validator, SchemaError>,
    patterns: HashMap<String, Pattern>,
    plain_root: Option<Box<[String]>>,
    /// `$anchor` / `$dynamicAnchor` name → JSON pointer of the schema that declares it.
    anchors: HashMap<String, String>,
    /// `$id` (as written) → JSON pointer of the schema that declares it.
    ids: HashMap<String, String>,
}

/// A compiled `patternProperties` pattern: the linear engine when it can, else `fancy-regex`
/// (lookaround, backreferences) with a backtracking limit.
#[derive(Debug)]
pub enum Pattern {
    /// Linear-time `regex`.
    Linear(Regex),
    /// Backtracking `fancy-regex`, bounded.
    Fancy(Box<fancy_regex::Regex>),
}

impl Pattern {
    /// Whether `key` matches; `None` when the backtracking limit was hit (undecidable).
    pub fn is_match(&self, key: &str) -> Option<bool> {
        match self {
            Pattern::Linear(re) => Some(re.is_match(key)),
            Pattern::Fancy(re) => re.is_match(key).ok(),
        }
    }
}

impl fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("ok", &self.validator.is_ok())
            .field("patterns", &self.patterns.len())
            .finish()
    }
}

impl CompiledSchema {
    /// Compile `schema`. Never fails: a broken schema is kept as an error and refuses calls.
    pub fn compile(schema: &Value) -> Self {
        let broken = |message: String| CompiledSchema {
            validator: Err(SchemaError { message }),
            patterns: HashMap::new(),
            plain_root: None,
            anchors: HashMap::new(),
            ids: HashMap::new(),
        };
        let stats = measure(schema, MAX_SCHEMA_DEPTH, MAX_SCHEMA_BYTES);
        if stats.depth > MAX_SCHEMA_DEPTH {
            return broken(format!(
                "the input schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
            ));
        }
        if stats.bytes > MAX_SCHEMA_BYTES {
            return broken(format!(
                "the input schema is larger than {MAX_SCHEMA_BYTES} bytes"
            ));
        }
        if !schema.is_object() && !schema.is_boolean() {
            return broken("the input schema is not a JSON object".to_owned());
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .with_pattern_options(
                jsonschema::PatternOptions::fancy_regex()
                    .backtrack_limit(100_000)
                    .size_limit(MAX_PATTERN_SIZE)
                    .dfa_size_limit(MAX_PATTERN_SIZE),
            )
            .build(schema);
        let validator = match validator {
            Ok(v) => v,
            Err(e) => return broken(format!("the input schema does not compile: {e}")),
        };
        let mut patterns = HashMap::new();
        for pattern in pattern_property_keys(schema) {
            let linear = regex::RegexBuilder::new(pattern)
                .size_limit(MAX_PATTERN_SIZE)
                .dfa_size_limit(MAX_PATTERN_SIZE)
                .build();
            let compiled = match linear {
                Ok(re) => Pattern::Linear(re),
                Err(_) => match fancy_regex::RegexBuilder::new(pattern)
                    .backtrack_limit(100_000)
                    .delegate_size_limit(MAX_PATTERN_SIZE)
                    .build()
                {
                    Ok(re) => Pattern::Fancy(Box::new(re)),
                    Err(e) => {
                        return broken(format!(
                            "the patternProperties pattern {pattern:?} does not compile: {e}"
                        ));
                    }
                },
            };
            patterns.insert(pattern.to_owned(), compiled);
        }
        let (anchors, ids) = anchors_and_ids(schema);
        CompiledSchema {
            validator: Ok(validator),
            patterns,
            plain_root: plain_root(schema),
            anchors,
            ids,
        }
    }

    /// The validator, or why there is none.
    pub fn validator(&self) -> Result<&jsonschema::Validator, &SchemaError> {
        self.validator.as_ref()
    }

    /// The compiled `patternProperties` pattern.
    pub fn pattern(&self, pattern: &str) -> Option<&Pattern> {
        self.patterns.get(pattern)
    }

    /// The JSON pointer of the schema declaring `$anchor` (or `$dynamicAnchor`) `name`.
    pub fn anchor(&self, name: &str) -> Option<&str> {
        self.anchors.get(name).map(String::as_str)
    }

    /// The JSON pointer of the schema declaring `$id` `id` (as written).
    pub fn id(&self, id: &str) -> Option<&str> {
        self.ids.get(id).map(String::as_str)
    }

    /// For a plain root schema — `properties` with nothing that pulls in other subschemas or
    /// opens the object — its declared names, sorted. The ghost-argument check uses it to
    /// decide a call whose values are all scalars without walking the schema.
    pub fn plain_root(&self) -> Option<&[String]> {
        self.plain_root.as_deref()
    }
}

/// Every `$anchor`/`$dynamicAnchor` and `$id` in `schema`, with the JSON pointer of its schema.
fn anchors_and_ids(schema: &Value) -> (HashMap<String, String>, HashMap<String, String>) {
    let mut anchors = HashMap::new();
    let mut ids = HashMap::new();
    let mut stack: Vec<(&Value, String)> = vec![(schema, String::new())];
    while let Some((v, ptr)) = stack.pop() {
        match v {
            Value::Object(map) => {
                for kw in ["$anchor", "$dynamicAnchor"] {
                    if let Some(Value::String(a)) = map.get(kw) {
                        anchors.entry(a.clone()).or_insert_with(|| ptr.clone());
                    }
                }
                if let Some(Value::String(id)) = map.get("$id") {
                    ids.entry(id.clone()).or_insert_with(|| ptr.clone());
                    // Draft-07 plain-name fragments: `"$id": "#foo"`.
                    if let Some(name) = id.strip_prefix('#') {
                        anchors
                            .entry(name.to_owned())
                            .or_insert_with(|| ptr.clone());
                    }
                }
                for (k, child) in map {
                    stack.push((child, format!("{ptr}/{}", escape_pointer(k))));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    stack.push((child, format!("{ptr}/{i}")));
                }
            }
            _ => {}
        }
    }
    (anchors, ids)
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Keywords that make a root schema more than a plain list of properties.
const NOT_PLAIN: &[&str] = &[
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependencies",
    "patternProperties",
    "propertyNames",
    "unevaluatedProperties",
];

fn plain_root(schema: &Value) -> Option<Box<[String]>> {
    let map = schema.as_object()?;
    if NOT_PLAIN.iter().any(|k| map.contains_key(*k)) {
        return None;
    }
    match map.get("additionalProperties") {
        None | Some(Value::Bool(false)) => {}
        Some(_) => return None,
    }
    let props = map.get("properties")?.as_object()?;
    let mut names: Vec<String> = props.keys().cloned().collect();
    // Names the schema requires count as declared (refusing them would contradict `required`).
    if let Some(Value::Array(required)) = map.get("required") {
        names.extend(required.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if let Some(Value::Object(dep)) = map.get("dependentRequired") {
        names.extend(dep.keys().cloned());
        for v in dep.values() {
            if let Value::Array(list) = v {
                names.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    Some(names.into_boxed_slice())
}

/// Every `patternProperties` key anywhere in `schema` (iteratively).
fn pattern_property_keys(schema: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(pp)) = map.get("patternProperties") {
                    out.extend(pp.keys().map(String::as_str));
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    out
}

/// Size and depth of a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Nesting depth: a scalar is 0, `{}` and `[]` are 1, `{"a": []}` is 2.
    pub depth: usize,
    /// Approximate length of the value's compact JSON text, in bytes.
    pub bytes: usize,
    /// Whether an integer beyond ±2^53 was seen (a JavaScript peer rounds it).
    pub unsafe_integer: bool,
}

/// Measure `value` with an explicit stack. Stops early (returning the exceeded figure) once
/// `max_depth` or `max_bytes` is passed, so the cost is bounded by the limits, not the input.
pub fn measure(value: &Value, max_depth: usize, max_bytes: usize) -> Stats {
    let mut stats = Stats {
        depth: 0,
        bytes: 0,
        unsafe_integer: false,
    };
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Null => stats.bytes += 4,
            Value::Bool(b) => stats.bytes += if *b { 4 } else { 5 },
            Value::Number(n) => {
                stats.bytes += number_len(n);
                stats.unsafe_integer |= match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => i.unsigned_abs() > 1 << 53,
                    (None, Some(u)) => u > 1 << 53,
                    _ => false,
                };
            }
            Value::String(s) => stats.bytes += s.len() + 2,
            Value::Array(items) => {
                stats.depth = stats.depth.max(depth + 1);
                stats.bytes += 2 + items.len().saturating_sub(1);
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Value::Object(map) => {
                stats.depth = stats.depth.max(depth + 1);
                stats.bytes += 2 + map.len().saturating_sub(1);
                for (k, v) in map {
                    stats.bytes += k.len() + 3;
                    stack.push((v, depth + 1));
                }
            }
        }
        if stats.depth > max_depth || stats.bytes > max_bytes {
            break;
        }
    }
    stats
}

fn number_len(n: &serde_json::Number) -> usize {
    // Exact for integers, close enough for floats; only used against a limit.
    if let Some(i) = n.as_i64() {
        let mut len = usize::from(i < 0);
        let mut u = i.unsigned_abs();
        loop {
            len += 1;
            u /= 10;
            if u == 0 {
                break len;
            }
        }
    } else if let Some(u) = n.as_u64() {
        u.to_string().len()
    } else {
        24
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn measure_matches_compact_json_for_simple_values() {
        for v in [
            json!({"a": 1, "b": [true, null, "x"], "c": {"d": -12}}),
            json!([]),
            json!("hello"),
            json!({"k": {"k": {"k": 123456789}}}),
        ] {
            let stats = measure(&v, usize::MAX, usize::MAX);
            assert_eq!(stats.bytes, serde_json::to_string(&v).unwrap().len(), "{v}");
        }
        assert_eq!(measure(&json!(1), 10, 100).depth, 0);
        assert_eq!(measure(&json!({"a": []}), 10, 100).depth, 2);
    }

    #[test]
    fn deep_values_are_measured_without_recursion() {
        let mut v = json!(1);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        let stats = measure(&v, 64, usize::MAX);
        assert!(stats.depth > 64);
        // Dropping a deep value recurses in serde_json; unwind it by hand.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn broken_schemas_are_kept_as_errors() {
        for schema in [
            json!({"type": "no-such-type"}),
            json!({"$ref": "https://example.com/remote.json"}),
            json!({"type": "object", "properties": {"a": {"pattern": "(unclosed"}}}),
            json!("a string"),
        ] {
            let c = CompiledSchema::compile(&schema);
            assert!(c.validator().is_err(), "{schema} should not compile");
        }
        assert!(
            CompiledSchema::compile(&json!({"type": "object"}))
                .validator()
                .is_ok()
        );
    }
}
