//! `ghost_args` — arguments the tool never declared. Phase: normalise.
//!
//! Models invent parameters (`recurse` for `recursive`, `force: true`, `dry_run`) that a server
//! may silently ignore or, worse, interpret. An object in the arguments is *closed* when a
//! schema that applies to it declares `properties` or `patternProperties`, or says
//! `additionalProperties: false` (or `unevaluatedProperties: false`), and no applying schema
//! explicitly opens it (`additionalProperties: true` or a schema). Every key of a closed object
//! that no applying schema declares is a ghost argument, at any depth: nested objects and the
//! items of arrays are followed through `properties`, `patternProperties`, `items`,
//! `prefixItems`, local `$ref`s, `allOf`/`anyOf`/`oneOf` and `if`/`then`/`else`.
//!
//! Modes ([`UnknownArgs`]): `block` refuses the call and names the ghosts (sorted) with the
//! declared names and the closest match; `strip_and_log` removes them and records the change in
//! the audit log; `strip_silent` removes them without a record.
//!
//! Not covered: schemas that open an object (`additionalProperties: {}`) are trusted as written;
//! a `patternProperties` pattern the linear regex engine rejects (lookaround) leaves its object
//! open here (the validator still enforces the pattern); a schema so tangled that more than
//! [`MAX_APPLICABLE`] subschemas apply to one value leaves that value open here, never refused.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::call::ToolDef;
use crate::field_path::{FieldPath, Segment};
use crate::pipeline::{CallState, Change, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, FieldError, Refusal};
use crate::schema::CompiledSchema;
use crate::suggest::closest;

/// Most subschemas considered for one value; beyond this the value is left open.
pub const MAX_APPLICABLE: usize = 64;
/// Most `$ref` hops followed in a chain.
const MAX_REF_HOPS: usize = 32;
/// Most declared names listed in a hint.
const MAX_LISTED: usize = 30;

/// What to do with undeclared arguments.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UnknownArgs {
    /// Refuse the call, naming the undeclared arguments (the default: a model can fix it).
    #[default]
    Block,
    /// Remove them, let the call through, and record what was removed in the audit log.
    StripAndLog,
    /// Remove them and let the call through without a record.
    StripSilent,
}

impl UnknownArgs {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownArgs::Block => "block",
            UnknownArgs::StripAndLog => "strip_and_log",
            UnknownArgs::StripSilent => "strip_silent",
        }
    }
}

/// The ghost-argument check.
#[derive(Clone, Debug)]
pub struct GhostArgs {
    mode: UnknownArgs,
}

impl GhostArgs {
    /// A check in `mode`.
    pub fn new(mode: UnknownArgs) -> Self {
        GhostArgs { mode }
    }
}

/// One undeclared argument and what was declared beside it.
#[derive(Debug, PartialEq, Eq)]
pub struct Ghost {
    /// Where it is.
    pub path: FieldPath,
    /// The names declared in the object that holds it, sorted.
    pub declared: Vec<String>,
}

impl Check for GhostArgs {
    fn name(&self) -> &'static str {
        "ghost_args"
    }

    fn phase(&self) -> Phase {
        Phase::Normalise
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let ghosts = find_ghosts(call.tool, &call.arguments);
        if ghosts.is_empty() {
            return Ok(Outcome::Pass);
        }
        match self.mode {
            UnknownArgs::Block => Ok(Outcome::Refuse(refusal(&call.tool.name, &ghosts))),
            UnknownArgs::StripAndLog | UnknownArgs::StripSilent => {
                let logged = self.mode == UnknownArgs::StripAndLog;
                let mut changes = Vec::with_capacity(ghosts.len());
                for g in &ghosts {
                    if !remove_at(&mut call.arguments, &g.path.0) {
                        return Err(CheckError::new(format!(
                            "ghost argument {} vanished before it could be stripped",
                            g.path
                        )));
                    }
                    changes.push(Change::StrippedArgument {
                        path: g.path.to_string(),
                        logged,
                    });
                }
                Ok(Outcome::Changed(changes))
            }
        }
    }
}

fn refusal(tool: &str, ghosts: &[Ghost]) -> Refusal {
    let names: Vec<String> = ghosts.iter().map(|g| g.path.to_string()).collect();
    let plural = if names.len() == 1 {
        "argument"
    } else {
        "arguments"
    };
    let message = format!(
        "Tool '{tool}' does not accept the {plural} {}.",
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut hints = Vec::new();
    for g in ghosts {
        let leaf = match g.path.0.last() {
            Some(Segment::Key(k)) => k.as_str(),
            _ => "",
        };
        let mut hint = format!("Remove '{}'", g.path);
        if let Some(near) = closest(leaf, g.declared.iter().map(String::as_str)) {
            hint.push_str(&format!(" (did you mean '{near}'?)"));
        }
        hint.push('.');
        hints.push(hint);
    }
    // One "declared" line per distinct parent object.
    let mut parents: Vec<(String, &Vec<String>)> = Vec::new();
    for g in ghosts {
        let parent = FieldPath(g.path.0[..g.path.0.len().saturating_sub(1)].to_vec());
        let shown = if parent.is_root() {
            String::new()
        } else {
            parent.to_string()
        };
        if !parents.iter().any(|(p, _)| *p == shown) {
            parents.push((shown, &g.declared));
        }
    }
    for (parent, declared) in parents {
        let mut list: Vec<String> = declared
            .iter()
            .take(MAX_LISTED)
            .map(|d| format!("'{d}'"))
            .collect();
        if declared.len() > MAX_LISTED {
            list.push(format!("and {} more", declared.len() - MAX_LISTED));
        }
        let list = if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(", ")
        };
        if parent.is_empty() {
            hints.push(format!("The tool accepts only: {list}."));
        } else {
            hints.push(format!("'{parent}' accepts only: {list}."));
        }
    }
    let errors = ghosts
        .iter()
        .map(|g| FieldError {
            field: g.path.to_string(),
            kind: "unknown",
            expected: None,
            got: None,
        })
        .collect();
    Refusal::new(DenyCode::GhostArgsUnknown, tool, message)
        .with_hints(hints)
        .with_errors(errors)
        .with_detail("unknown", names)
}

/// Remove the key at `path` from `args`. Returns whether it was there.
fn remove_at(args: &mut Map<String, Value>, path: &[Segment]) -> bool {
    let Some((Segment::Key(last), parents)) = path.split_last() else {
        return false;
    };
    let Some((first, rest)) = parents.split_first() else {
        return args.shift_remove(last).is_some();
    };
    let Segment::Key(first) = first else {
        return false;
    };
    let Some(mut cur) = args.get_mut(first) else {
        return false;
    };
    for seg in rest {
        let next = match (cur, seg) {
            (Value::Object(m), Segment::Key(k)) => m.get_mut(k),
            (Value::Array(a), Segment::Index(i)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return false,
        }
    }
    match cur {
        Value::Object(m) => m.shift_remove(last).is_some(),
        _ => false,
    }
}

/// Every undeclared argument in `args` under `tool`'s schema, sorted by path.
pub fn find_ghosts(tool: &ToolDef, args: &Map<String, Value>) -> Vec<Ghost> {
    let root = &tool.input_schema;
    let compiled = tool.compiled();
    let mut ghosts = Vec::new();
    // Fast path: a plain root schema and only scalar values — every key declared means no
    // ghosts. Anything else (a ghost, a nested value) takes the full walk below.
    if let Some(declared) = compiled.plain_root()
        && args
            .iter()
            .all(|(k, v)| !v.is_object() && !v.is_array() && declared.binary_search(k).is_ok())
    {
        return ghosts;
    }
    let Some(applicable) = expand(root, root) else {
        return ghosts;
    };
    // Explicit stack: (value, its path, schemas applying to it).
    let mut stack: Vec<(ObjOrArr<'_>, FieldPath, Vec<&Value>)> =
        vec![(ObjOrArr::Obj(args), FieldPath::root(), applicable)];
    while let Some((value, path, schemas)) = stack.pop() {
        match value {
            ObjOrArr::Obj(map) => visit_object(
                root,
                compiled,
                map,
                &path,
                &schemas,
                &mut stack,
                &mut ghosts,
            ),
            ObjOrArr::Arr(items) => {
                for (i, item) in items.iter().enumerate() {
                    let Some(child) = as_container(item) else {
                        continue;
                    };
                    let mut child_schemas = Vec::new();
                    for s in &schemas {
                        for sub in item_schemas(s, i) {
                            if !push_expanded(root, sub, &mut child_schemas) {
                                child_schemas.clear();
                                break;
                            }
                        }
                    }
                    if !child_schemas.is_empty() {
                        stack.push((child, path.index(i), child_schemas));
                    }
                }
            }
        }
    }
    ghosts.sort_by(|a, b| a.path.cmp(&b.path));
    ghosts
}

enum ObjOrArr<'a> {
    Obj(&'a Map<String, Value>),
    Arr(&'a [Value]),
}

fn as_container(v: &Value) -> Option<ObjOrArr<'_>> {
    match v {
        Value::Object(m) => Some(ObjOrArr::Obj(m)),
        Value::Array(a) => Some(ObjOrArr::Arr(a)),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn visit_object<'v, 's>(
    root: &'s Value,
    compiled: &'s CompiledSchema,
    map: &'v Map<String, Value>,
    path: &FieldPath,
    schemas: &[&'s Value],
    stack: &mut Vec<(ObjOrArr<'v>, FieldPath, Vec<&'s Value>)>,
    ghosts: &mut Vec<Ghost>,
) {
    let mut declares = false;
    let mut open = false;
    for s in schemas {
        let props = s.get("properties").is_some_and(Value::is_object);
        let pattern_props = s.get("patternProperties").and_then(Value::as_object);
        if let Some(pp) = pattern_props {
            // A pattern we could not compile: we cannot tell what it declares.
            if pp.keys().any(|p| compiled.pattern(p).is_none()) {
                open = true;
            }
        }
        declares |= props || pattern_props.is_some();
        for kw in ["additionalProperties", "unevaluatedProperties"] {
            match s.get(kw) {
                Some(Value::Bool(false)) => declares = true,
                Some(Value::Bool(true)) => open = true,
                Some(Value::Object(_)) => open = true,
                _ => {}
            }
        }
    }
    let closed = declares && !open;
    let mut unknown_here = Vec::new();
    for (key, value) in map {
        // Scalars need no schemas of their own: only look up whether the key is declared.
        let child = as_container(value);
        let mut known = false;
        let mut child_schemas = Vec::new();
        let mut too_complex = false;
        for s in schemas {
            let mut matched = false;
            if let Some(sub) = s.get("properties").and_then(|p| p.get(key)) {
                matched = true;
                if child.is_some() {
                    too_complex |= !push_expanded(root, sub, &mut child_schemas);
                }
            }
            if let Some(pp) = s.get("patternProperties").and_then(Value::as_object) {
                for (pattern, sub) in pp {
                    if compiled.pattern(pattern).is_some_and(|re| re.is_match(key)) {
                        matched = true;
                        if child.is_some() {
                            too_complex |= !push_expanded(root, sub, &mut child_schemas);
                        }
                    }
                }
            }
            if !matched
                && child.is_some()
                && let Some(ap @ Value::Object(_)) = s.get("additionalProperties")
            {
                too_complex |= !push_expanded(root, ap, &mut child_schemas);
            }
            known |= matched;
        }
        if closed && !known {
            unknown_here.push(key.as_str());
            continue;
        }
        if too_complex || child_schemas.is_empty() {
            continue;
        }
        if let Some(child) = child {
            stack.push((child, path.key(key), child_schemas));
        }
    }
    if unknown_here.is_empty() {
        return;
    }
    let mut declared: Vec<String> = Vec::new();
    for s in schemas {
        if let Some(Value::Object(p)) = s.get("properties") {
            declared.extend(p.keys().cloned());
        }
    }
    declared.sort();
    declared.dedup();
    for key in unknown_here {
        ghosts.push(Ghost {
            path: path.key(key),
            declared: declared.clone(),
        });
    }
}

/// The subschemas that apply to item `i` of an array under schema `s`.
fn item_schemas(s: &Value, i: usize) -> Vec<&Value> {
    let mut out = Vec::new();
    let prefix_len = match s.get("prefixItems") {
        Some(Value::Array(prefix)) => {
            if let Some(sub) = prefix.get(i) {
                out.push(sub);
            }
            prefix.len()
        }
        _ => 0,
    };
    match s.get("items") {
        // Draft-07 tuple form.
        Some(Value::Array(tuple)) => {
            if let Some(sub) = tuple.get(i) {
                out.push(sub);
            } else if let Some(extra) = s.get("additionalItems") {
                out.push(extra);
            }
        }
        Some(items) if i >= prefix_len => out.push(items),
        _ => {}
    }
    out
}

/// Expand `schema` into `out` (itself plus everything it pulls in). Returns false when the
/// set grows past [`MAX_APPLICABLE`].
fn push_expanded<'s>(root: &'s Value, schema: &'s Value, out: &mut Vec<&'s Value>) -> bool {
    match expand(root, schema) {
        Some(mut v) if out.len() + v.len() <= MAX_APPLICABLE => {
            out.append(&mut v);
            true
        }
        _ => false,
    }
}

/// `schema` and every subschema that applies to the same value: local `$ref` targets,
/// `allOf`/`anyOf`/`oneOf` branches, `then`/`else`, `dependentSchemas`. `None` when too many.
fn expand<'s>(root: &'s Value, schema: &'s Value) -> Option<Vec<&'s Value>> {
    let mut out: Vec<&'s Value> = Vec::new();
    let mut stack = vec![(schema, 0usize)];
    while let Some((s, hops)) = stack.pop() {
        let Value::Object(m) = s else { continue };
        if out.len() >= MAX_APPLICABLE {
            return None;
        }
        if out.iter().any(|seen| std::ptr::eq(*seen, s)) {
            continue;
        }
        out.push(s);
        if let Some(Value::String(r)) = m.get("$ref")
            && hops < MAX_REF_HOPS
            && let Some(target) = resolve_local_ref(root, r)
        {
            stack.push((target, hops + 1));
        }
        for kw in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = m.get(kw) {
                stack.extend(branches.iter().map(|b| (b, hops)));
            }
        }
        for kw in ["then", "else"] {
            if let Some(sub) = m.get(kw) {
                stack.push((sub, hops));
            }
        }
        if let Some(Value::Object(deps)) = m.get("dependentSchemas") {
            stack.extend(deps.values().map(|d| (d, hops)));
        }
    }
    Some(out)
}

/// Resolve `#`, `#/json/pointer`, or `#anchor` within `root`.
fn resolve_local_ref<'s>(root: &'s Value, reference: &str) -> Option<&'s Value> {
    let fragment = reference.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(root);
    }
    if fragment.starts_with('/') {
        let decoded = percent_decode(fragment);
        return root.pointer(&decoded);
    }
    // A plain-name anchor: search for `$anchor` (iteratively).
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if m.get("$anchor").and_then(Value::as_str) == Some(fragment) {
                    return Some(v);
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    None
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallerContext;
    use jiff::Timestamp;
    use serde_json::json;

    fn run(mode: UnknownArgs, schema: Value, args: Value) -> (Outcome, Value) {
        let tool = ToolDef::new("t", schema);
        let caller = CallerContext::default();
        let Value::Object(arguments) = args else {
            panic!("args must be an object")
        };
        let mut state = CallState {
            tool: &tool,
            caller: &caller,
            at: Timestamp::UNIX_EPOCH,
            arguments,
        };
        let out = GhostArgs::new(mode).check(&mut state).unwrap();
        (out, Value::Object(state.arguments))
    }

    fn ghosts(schema: Value, args: Value) -> Vec<String> {
        let tool = ToolDef::new("t", schema);
        let Value::Object(args) = args else { panic!() };
        find_ghosts(&tool, &args)
            .into_iter()
            .map(|g| g.path.to_string())
            .collect()
    }

    #[test]
    fn table() {
        let list_dir = json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "recursive": {"type": "boolean"},
                "options": {
                    "type": "object",
                    "properties": {"depth": {"type": "integer"}},
                    "additionalProperties": false
                },
                "filters": {"type": "array", "items": {"type": "object", "properties": {"glob": {"type": "string"}}}},
                "meta": {"type": "object"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "required": ["path"]
        });
        let cases: &[(Value, &[&str])] = &[
            (json!({"path": "/x"}), &[]),
            (json!({"path": "/x", "recurse": true}), &["recurse"]),
            (
                json!({"path": "/x", "options": {"depth": 1, "force": true}}),
                &["options.force"],
            ),
            (
                json!({"filters": [{"glob": "*"}, {"glob": "*", "regex": "."}]}),
                &["filters[1].regex"],
            ),
            // Free-form objects are open.
            (json!({"meta": {"anything": 1}}), &[]),
            (json!({"labels": {"a": "b"}}), &[]),
            // Sorted, several levels.
            (
                json!({"zz": 1, "aa": 2, "options": {"x": 1}}),
                &["aa", "options.x", "zz"],
            ),
        ];
        for (args, want) in cases {
            assert_eq!(ghosts(list_dir.clone(), args.clone()), *want, "{args}");
        }
    }

    #[test]
    fn follows_refs_combinators_and_tuples() {
        let schema = json!({
            "$defs": {"point": {"type": "object", "properties": {"x": {}, "y": {}}, "additionalProperties": false}},
            "type": "object",
            "allOf": [{"properties": {"a": {}}}, {"properties": {"b": {"$ref": "#/$defs/point"}}}],
            "properties": {"pair": {"type": "array", "items": [{"$ref": "#/$defs/point"}, {"type": "object"}]}}
        });
        assert_eq!(
            ghosts(schema.clone(), json!({"a": 1, "b": {"x": 1}})),
            Vec::<String>::new()
        );
        assert_eq!(
            ghosts(schema.clone(), json!({"c": 1, "b": {"z": 1}})),
            ["b.z", "c"]
        );
        assert_eq!(
            ghosts(schema, json!({"pair": [{"x": 1, "q": 2}, {"free": 1}]})),
            ["pair[0].q"]
        );
    }

    #[test]
    fn recursive_schemas_terminate() {
        let schema = json!({
            "$defs": {"node": {"type": "object", "properties": {"name": {}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
            "$ref": "#/$defs/node"
        });
        let args = json!({"name": "a", "children": [{"name": "b", "children": [{"name": "c", "bogus": 1}]}]});
        assert_eq!(ghosts(schema, args), ["children[0].children[0].bogus"]);
        let self_ref = json!({"$ref": "#", "properties": {"a": {}}});
        assert_eq!(ghosts(self_ref, json!({"b": 1})), ["b"]);
    }

    #[test]
    fn pattern_properties_declare_keys() {
        let schema =
            json!({"type": "object", "patternProperties": {"^x-": {}}, "properties": {"a": {}}});
        assert_eq!(ghosts(schema, json!({"x-trace": 1, "a": 1, "b": 1})), ["b"]);
        let open = json!({"type": "object", "properties": {"a": {}}, "additionalProperties": true});
        assert!(ghosts(open, json!({"b": 1})).is_empty());
    }

    #[test]
    fn block_refuses_with_sorted_names_and_suggestion() {
        let schema = json!({"type": "object", "properties": {"path": {}, "recursive": {}}});
        let (out, _) = run(
            UnknownArgs::Block,
            schema,
            json!({"path": "/", "recurse": true, "extra": 1}),
        );
        let Outcome::Refuse(r) = out else {
            panic!("expected a refusal")
        };
        assert_eq!(r.code, DenyCode::GhostArgsUnknown);
        assert_eq!(
            r.message,
            "Tool 't' does not accept the arguments 'extra', 'recurse'."
        );
        assert_eq!(
            r.fix_hints,
            [
                "Remove 'extra'.",
                "Remove 'recurse' (did you mean 'recursive'?).",
                "The tool accepts only: 'path', 'recursive'."
            ]
        );
    }

    #[test]
    fn strip_modes_remove_only_ghosts() {
        let schema = json!({"type": "object", "properties": {"path": {}, "o": {"type": "object", "properties": {"a": {}}}}});
        for (mode, logged) in [
            (UnknownArgs::StripAndLog, true),
            (UnknownArgs::StripSilent, false),
        ] {
            let (out, args) = run(
                mode,
                schema.clone(),
                json!({"path": "/", "x": 1, "o": {"a": 1, "b": 2}}),
            );
            assert_eq!(args, json!({"path": "/", "o": {"a": 1}}));
            let Outcome::Changed(changes) = out else {
                panic!("expected changes")
            };
            assert_eq!(
                changes,
                [
                    Change::StrippedArgument {
                        path: "o.b".into(),
                        logged
                    },
                    Change::StrippedArgument {
                        path: "x".into(),
                        logged
                    }
                ]
            );
        }
    }

    #[test]
    fn valid_calls_pass() {
        let (out, _) = run(
            UnknownArgs::Block,
            json!({"type": "object", "properties": {"a": {}}}),
            json!({"a": 1}),
        );
        assert!(matches!(out, Outcome::Pass));
    }
}
