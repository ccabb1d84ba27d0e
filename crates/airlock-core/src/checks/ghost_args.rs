//! `ghost_args` — arguments the tool never declared. Phase: normalise.
//!
//! Models invent parameters (`recurse` for `recursive`, `force: true`, `dry_run`) that a server
//! may silently ignore or, worse, interpret. An object in the arguments is *closed* when a
//! schema that applies to it declares `properties` or `patternProperties`, or says
//! `additionalProperties: false` (or `unevaluatedProperties: false`), and no applying schema
//! explicitly opens it (`additionalProperties: true` or a schema). Every key of a closed object
//! that no applying schema declares is a ghost argument, at any depth: nested objects and the
//! items of arrays are followed through `properties`, `patternProperties`, `items`,
//! `prefixItems`, `$ref` (local pointers, anchors, `$id`s of the same document), `allOf`,
//! `if`/`then`/`else`, `dependentSchemas`/`dependencies`. Names listed in `required` or
//! `dependentRequired` count as declared, so the check never asks to remove what validation
//! would then ask to add.
//!
//! `anyOf`/`oneOf` branches count only when they can apply to the value: a branch whose
//! `type`, `required` names, or `const`/`enum` discriminator property contradict the value is
//! left out (if every branch is left out, all count and validation reports the mismatch). So a
//! tagged union `{"mode": "copy", "src"} | {"mode": "delete", "force"}` refuses `force` on a
//! `copy`.
//!
//! Modes ([`UnknownArgs`]): `block` refuses the call and names the ghosts (sorted) with the
//! declared names and the closest unused one; `strip_and_log` removes them and records the
//! change in the audit log; `strip_silent` removes them without a record.
//!
//! Fail closed: when the check cannot decide — a `$ref` it cannot resolve within the document,
//! a chain of more than 32 `$ref` hops, more than [`MAX_APPLICABLE`] subschemas applying to one
//! value, a pattern that hits its backtracking limit, or more than [`MAX_STEPS`] steps of work —
//! the call is refused (`ghost_args.undecidable`) in every mode. A tool whose schema does not
//! compile is refused here too (`validation.schema_invalid`), before any ghost is named.
//!
//! Not covered: schemas that open an object (`additionalProperties: {}`) are trusted as written;
//! in untagged unions, a key declared by any branch that can apply counts as declared.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::call::ToolDef;
use crate::checks::validation::{json_type, schema_invalid};
use crate::field_path::{FieldPath, Segment, percent_decode};
use crate::pipeline::{CallState, Change, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, FieldError, Refusal};
use crate::schema::CompiledSchema;
use crate::suggest::closest;

/// Most subschemas considered for one value; beyond this the check cannot decide (refuses).
pub const MAX_APPLICABLE: usize = 256;
/// Most units of work (subschemas expanded, keys looked up) for one call.
pub const MAX_STEPS: usize = 2_000_000;
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
    /// The closest declared name not already sent in that object, if one is near.
    pub suggestion: Option<String>,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every undeclared argument, sorted by path.
    pub ghosts: Vec<Ghost>,
    /// Why the walk could not decide, if it could not (the call must then be refused).
    pub undecidable: Option<Undecidable>,
}

impl Check for GhostArgs {
    fn name(&self) -> &'static str {
        "ghost_args"
    }

    fn phase(&self) -> Phase {
        Phase::Normalise
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = call.tool;
        // A broken schema refuses every call; do not send the model off removing arguments first.
        if let Err(e) = tool.compiled().validator() {
            return Ok(Outcome::Refuse(schema_invalid(&tool.name, e)));
        }
        let scan = scan(tool, &call.arguments);
        if let Some(u) = scan.undecidable {
            let name = &tool.name;
            let refusal = if u.too_much_work {
                Refusal::new(
                    DenyCode::GhostArgsTooComplex,
                    name,
                    format!(
                        "Tool '{name}' was not called: its arguments are too large or nested to check in time."
                    ),
                )
            } else {
                Refusal::new(
                    DenyCode::GhostArgsUndecidable,
                    name,
                    format!(
                        "Tool '{name}' was not called: its input schema is beyond what airlock can check arguments against."
                    ),
                )
            };
            return Ok(Outcome::Refuse(refusal.with_detail("reason", u.why)));
        }
        let ghosts = scan.ghosts;
        if ghosts.is_empty() {
            return Ok(Outcome::Pass);
        }
        match self.mode {
            UnknownArgs::Block => Ok(Outcome::Refuse(refusal(&tool.name, &ghosts))),
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
        let mut hint = format!("Remove '{}'", g.path);
        if let Some(near) = &g.suggestion {
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
///
/// Panics never; gives up (empty list) only where [`scan`] would say undecidable.
pub fn find_ghosts(tool: &ToolDef, args: &Map<String, Value>) -> Vec<Ghost> {
    scan(tool, args).ghosts
}

/// Walk `args` against `tool`'s schema: the undeclared arguments, or why it cannot tell.
pub fn scan(tool: &ToolDef, args: &Map<String, Value>) -> Scan {
    let compiled = tool.compiled();
    // Fast path: a plain root schema and only scalar values — every key declared means no
    // ghosts. Anything else (a ghost, a nested value) takes the full walk below.
    if let Some(declared) = compiled.plain_root()
        && args
            .iter()
            .all(|(k, v)| !v.is_object() && !v.is_array() && declared.binary_search(k).is_ok())
    {
        return Scan::default();
    }
    let mut walker = Walker {
        root: &tool.input_schema,
        compiled,
        memo: PtrMap::default(),
        steps: 0,
    };
    let root_value = RootRef(args);
    match walker.walk(root_value) {
        Ok(mut ghosts) => {
            ghosts.sort_by(|a, b| a.path.cmp(&b.path));
            Scan {
                ghosts,
                undecidable: None,
            }
        }
        Err(why) => Scan {
            ghosts: Vec::new(),
            undecidable: Some(why),
        },
    }
}

struct RootRef<'v>(&'v Map<String, Value>);

/// Why the walk could not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecidable {
    /// What stopped it.
    pub why: String,
    /// The work budget ran out (large arguments), rather than the schema being beyond reach.
    pub too_much_work: bool,
}

#[allow(non_snake_case)]
fn Undecidable(why: String) -> Undecidable {
    Undecidable {
        why,
        too_much_work: false,
    }
}

type Schemas<'s> = Rc<Vec<&'s Value>>;

struct Walker<'s> {
    root: &'s Value,
    compiled: &'s CompiledSchema,
    /// Expansions that did not depend on the value (no `anyOf`/`oneOf` choice), by schema.
    memo: PtrMap<Schemas<'s>>,
    steps: usize,
}

enum Node<'v> {
    Obj(&'v Map<String, Value>),
    Arr(&'v [Value]),
}

impl<'s> Walker<'s> {
    fn step(&mut self, n: usize) -> Result<(), Undecidable> {
        self.steps += n;
        if self.steps > MAX_STEPS {
            return Err(Undecidable {
                why: format!("checking the arguments took more than {MAX_STEPS} steps"),
                too_much_work: true,
            });
        }
        Ok(())
    }

    fn walk<'v>(&mut self, args: RootRef<'v>) -> Result<Vec<Ghost>, Undecidable> {
        let mut ghosts = Vec::new();
        let applicable = self.expand_for_object(self.root, args.0)?;
        let mut stack: Vec<(Node<'v>, FieldPath, Schemas<'s>)> =
            vec![(Node::Obj(args.0), FieldPath::root(), applicable)];
        while let Some((node, path, schemas)) = stack.pop() {
            match node {
                Node::Obj(map) => {
                    self.visit_object(map, &path, &schemas, &mut stack, &mut ghosts)?
                }
                Node::Arr(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let child = match item {
                            Value::Object(m) => Node::Obj(m),
                            Value::Array(a) => Node::Arr(a),
                            _ => continue,
                        };
                        self.step(1)?;
                        let mut child_schemas = Vec::new();
                        for s in schemas.iter() {
                            for sub in item_schemas(s, i) {
                                let expanded = self.expand(sub, item)?;
                                child_schemas.extend(expanded.iter().copied());
                            }
                        }
                        if child_schemas.len() > MAX_APPLICABLE {
                            return Err(too_many(&path.index(i)));
                        }
                        if !child_schemas.is_empty() {
                            stack.push((child, path.index(i), Rc::new(child_schemas)));
                        }
                    }
                }
            }
        }
        Ok(ghosts)
    }

    fn expand_for_object(
        &mut self,
        schema: &'s Value,
        map: &Map<String, Value>,
    ) -> Result<Schemas<'s>, Undecidable> {
        // The value is only inspected for anyOf/oneOf choices; build it lazily as a Value view.
        let view = ObjView(map);
        self.expand_with(schema, &view)
    }

    fn expand(&mut self, schema: &'s Value, value: &Value) -> Result<Schemas<'s>, Undecidable> {
        self.expand_with(schema, &ValView(value))
    }

    /// `schema` and every subschema that applies to the same value: `$ref` targets, `allOf`
    /// branches, `anyOf`/`oneOf` branches that can apply, `if`/`then`/`else`,
    /// `dependentSchemas`/`dependencies`.
    fn expand_with(
        &mut self,
        schema: &'s Value,
        value: &dyn View,
    ) -> Result<Schemas<'s>, Undecidable> {
        let key = schema as *const Value as usize;
        if let Some(hit) = self.memo.get(&key).cloned() {
            self.step(1)?;
            return Ok(hit);
        }
        let mut out: Vec<&'s Value> = Vec::new();
        let mut seen_many: HashSet<*const Value> = HashSet::new();
        let mut chose = false;
        let mut stack: Vec<(&'s Value, usize)> = vec![(schema, 0)];
        while let Some((s, hops)) = stack.pop() {
            let Value::Object(m) = s else { continue };
            // Small sets (the usual case) are searched linearly; large ones through a set.
            let repeat = if out.len() < 32 {
                out.iter().any(|seen| std::ptr::eq(*seen, s))
            } else {
                if seen_many.is_empty() {
                    seen_many.extend(out.iter().map(|v| *v as *const Value));
                }
                !seen_many.insert(s as *const Value)
            };
            if repeat {
                continue;
            }
            self.step(1)?;
            out.push(s);
            if out.len() > MAX_APPLICABLE {
                return Err(Undecidable(format!(
                    "more than {MAX_APPLICABLE} subschemas apply to one value"
                )));
            }
            let kw = Kw::of(m);
            for r in kw.refs.into_iter().flatten() {
                if hops >= MAX_REF_HOPS {
                    return Err(Undecidable(format!(
                        "more than {MAX_REF_HOPS} $ref hops in a chain"
                    )));
                }
                let target = self.resolve(r)?;
                stack.push((target, hops + 1));
            }
            if let Some(branches) = kw.all_of {
                stack.extend(branches.iter().map(|b| (b, hops)));
            }
            for branches in [kw.any_of, kw.one_of].into_iter().flatten() {
                chose = true;
                let live: Vec<&'s Value> = branches
                    .iter()
                    .filter(|b| !self.excludes(b, value))
                    .collect();
                if live.is_empty() {
                    stack.extend(branches.iter().map(|b| (b, hops)));
                } else {
                    stack.extend(live.into_iter().map(|b| (b, hops)));
                }
            }
            stack.extend(kw.conditional.into_iter().flatten().map(|c| (c, hops)));
            for deps in [kw.dependent_schemas, kw.dependencies]
                .into_iter()
                .flatten()
            {
                // `dependencies` also holds arrays of names (draft-07); only schemas expand.
                stack.extend(deps.values().filter(|d| d.is_object()).map(|d| (d, hops)));
            }
        }
        let out = Rc::new(out);
        if !chose {
            self.memo.insert(key, out.clone());
        }
        Ok(out)
    }

    /// Whether an `anyOf`/`oneOf` branch cannot apply to `value`: its `type`, `required`
    /// names, or a `const`/`enum` property contradict the value.
    fn excludes(&self, branch: &'s Value, value: &dyn View) -> bool {
        let mut b = branch;
        for _ in 0..MAX_REF_HOPS {
            match b.get("$ref").and_then(Value::as_str) {
                Some(r) => match self.resolve(r) {
                    Ok(t) => b = t,
                    Err(_) => return false,
                },
                None => break,
            }
        }
        let Value::Object(m) = b else { return false };
        let kw = Kw::of(m);
        if let Some(t) = kw.type_ {
            let got = value.json_type();
            let allows = |name: &str| name == got || (name == "number" && got == "integer");
            let ok = match t {
                Value::String(name) => allows(name),
                Value::Array(names) => names.iter().filter_map(Value::as_str).any(allows),
                _ => true,
            };
            if !ok {
                return true;
            }
        }
        let Some(obj) = value.object() else {
            return false;
        };
        if let Some(required) = kw.required
            && required
                .iter()
                .filter_map(Value::as_str)
                .any(|name| !obj.contains_key(name))
        {
            return true;
        }
        if let Some(props) = kw.properties {
            for (name, sub) in props {
                let Some(sent) = obj.get(name) else { continue };
                if let Some(c) = sub.get("const")
                    && c != sent
                {
                    return true;
                }
                if let Some(Value::Array(options)) = sub.get("enum")
                    && !options.contains(sent)
                {
                    return true;
                }
            }
        }
        false
    }

    /// Resolve a `$ref` within this document: `#`, `#/pointer`, `#anchor`, or an `$id` (with an
    /// optional fragment) declared in the document.
    fn resolve(&self, reference: &str) -> Result<&'s Value, Undecidable> {
        let fail = || {
            Undecidable(format!(
                "cannot resolve $ref {reference:?} within the schema"
            ))
        };
        let (base, fragment) = match reference.split_once('#') {
            Some((b, f)) => (b, f),
            None => (reference, ""),
        };
        let doc: &'s Value = if base.is_empty() {
            self.root
        } else {
            let root_id = self.root.get("$id").and_then(Value::as_str).unwrap_or("");
            let root_base = root_id.split('#').next().unwrap_or("");
            if base == root_base {
                self.root
            } else if let Some(ptr) = self.compiled.id(base) {
                self.root.pointer(ptr).ok_or_else(fail)?
            } else {
                return Err(fail());
            }
        };
        if fragment.is_empty() {
            return Ok(doc);
        }
        if fragment.starts_with('/') {
            return doc.pointer(&percent_decode(fragment)).ok_or_else(fail);
        }
        let ptr = self.compiled.anchor(fragment).ok_or_else(fail)?;
        self.root.pointer(ptr).ok_or_else(fail)
    }

    fn visit_object<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &FieldPath,
        schemas: &[&'s Value],
        stack: &mut Vec<(Node<'v>, FieldPath, Schemas<'s>)>,
        ghosts: &mut Vec<Ghost>,
    ) -> Result<(), Undecidable> {
        let kws: Vec<Kw<'s>> = schemas
            .iter()
            .filter_map(|s| s.as_object().map(Kw::of))
            .collect();
        let mut declares = false;
        let mut open = false;
        let mut named: Vec<&'s str> = Vec::new();
        for kw in &kws {
            declares |= kw.properties.is_some() || kw.pattern_properties.is_some();
            for v in [kw.additional, kw.unevaluated].into_iter().flatten() {
                match v {
                    Value::Bool(false) => declares = true,
                    Value::Bool(true) | Value::Object(_) => open = true,
                    _ => {}
                }
            }
            if let Some(required) = kw.required {
                named.extend(required.iter().filter_map(Value::as_str));
            }
            if let Some(dep) = kw.dependent_required {
                for (k, v) in dep {
                    named.push(k.as_str());
                    if let Value::Array(list) = v {
                        named.extend(list.iter().filter_map(Value::as_str));
                    }
                }
            }
            if let Some(dep) = kw.dependencies {
                for v in dep.values() {
                    if let Value::Array(list) = v {
                        named.extend(list.iter().filter_map(Value::as_str));
                    }
                }
            }
        }
        let closed = declares && !open;
        let mut unknown_here = Vec::new();
        for (key, value) in map {
            self.step(kws.len())?;
            let child = match value {
                Value::Object(m) => Some(Node::Obj(m)),
                Value::Array(a) => Some(Node::Arr(a)),
                _ => None,
            };
            let mut known = named.contains(&key.as_str());
            let mut child_schemas: Vec<&'s Value> = Vec::new();
            for kw in &kws {
                let mut matched = false;
                if let Some(sub) = kw.properties.and_then(|p| p.get(key)) {
                    matched = true;
                    if child.is_some() {
                        child_schemas.extend(self.expand(sub, value)?.iter().copied());
                    }
                }
                if let Some(pp) = kw.pattern_properties {
                    for (pattern, sub) in pp {
                        let Some(re) = self.compiled.pattern(pattern) else {
                            return Err(Undecidable(format!(
                                "the patternProperties pattern {pattern:?} is not compiled"
                            )));
                        };
                        match re.is_match(key) {
                            Some(true) => {
                                matched = true;
                                if child.is_some() {
                                    child_schemas.extend(self.expand(sub, value)?.iter().copied());
                                }
                            }
                            Some(false) => {}
                            None => {
                                return Err(Undecidable(format!(
                                    "the pattern {pattern:?} hit its backtracking limit"
                                )));
                            }
                        }
                    }
                }
                if !matched
                    && child.is_some()
                    && let Some(ap @ Value::Object(_)) = kw.additional
                {
                    child_schemas.extend(self.expand(ap, value)?.iter().copied());
                }
                known |= matched;
            }
            if closed && !known {
                unknown_here.push(key.as_str());
                continue;
            }
            if child_schemas.len() > MAX_APPLICABLE {
                return Err(too_many(&path.key(key)));
            }
            if let Some(child) = child
                && !child_schemas.is_empty()
            {
                stack.push((child, path.key(key), Rc::new(child_schemas)));
            }
        }
        if unknown_here.is_empty() {
            return Ok(());
        }
        let mut declared: Vec<String> = Vec::new();
        for kw in &kws {
            if let Some(p) = kw.properties {
                declared.extend(p.keys().cloned());
            }
        }
        declared.extend(named.iter().map(|n| (*n).to_owned()));
        declared.sort();
        declared.dedup();
        let unused: Vec<&str> = declared
            .iter()
            .map(String::as_str)
            .filter(|d| !map.contains_key(*d))
            .collect();
        for key in unknown_here {
            ghosts.push(Ghost {
                path: path.key(key),
                declared: declared.clone(),
                suggestion: closest(key, unused.iter().copied()).map(str::to_owned),
            });
        }
        Ok(())
    }
}

/// The keywords of one schema object this check reads, found in one pass over its keys (a
/// schema object has a handful of keys; looking each keyword up would hash a dozen times).
#[derive(Default)]
struct Kw<'s> {
    refs: [Option<&'s str>; 3],
    all_of: Option<&'s [Value]>,
    any_of: Option<&'s [Value]>,
    one_of: Option<&'s [Value]>,
    conditional: [Option<&'s Value>; 3],
    dependent_schemas: Option<&'s Map<String, Value>>,
    dependencies: Option<&'s Map<String, Value>>,
    properties: Option<&'s Map<String, Value>>,
    pattern_properties: Option<&'s Map<String, Value>>,
    additional: Option<&'s Value>,
    unevaluated: Option<&'s Value>,
    required: Option<&'s [Value]>,
    dependent_required: Option<&'s Map<String, Value>>,
    type_: Option<&'s Value>,
}

impl<'s> Kw<'s> {
    fn of(m: &'s Map<String, Value>) -> Self {
        let mut k = Kw::default();
        for (name, v) in m {
            match name.as_str() {
                "$ref" => k.refs[0] = v.as_str(),
                "$dynamicRef" => k.refs[1] = v.as_str(),
                "$recursiveRef" => k.refs[2] = v.as_str(),
                "allOf" => k.all_of = v.as_array().map(Vec::as_slice),
                "anyOf" => k.any_of = v.as_array().map(Vec::as_slice),
                "oneOf" => k.one_of = v.as_array().map(Vec::as_slice),
                "if" => k.conditional[0] = Some(v),
                "then" => k.conditional[1] = Some(v),
                "else" => k.conditional[2] = Some(v),
                "dependentSchemas" => k.dependent_schemas = v.as_object(),
                "dependencies" => k.dependencies = v.as_object(),
                "properties" => k.properties = v.as_object(),
                "patternProperties" => k.pattern_properties = v.as_object(),
                "additionalProperties" => k.additional = Some(v),
                "unevaluatedProperties" => k.unevaluated = Some(v),
                "required" => k.required = v.as_array().map(Vec::as_slice),
                "dependentRequired" => k.dependent_required = v.as_object(),
                "type" => k.type_ = Some(v),
                _ => {}
            }
        }
        k
    }
}

/// The per-call memo, keyed by schema address (the crate's FNV hasher: keys are not chosen by
/// callers).
type PtrMap<V> = HashMap<usize, V, std::hash::BuildHasherDefault<crate::fnv::Fnv>>;

fn too_many(path: &FieldPath) -> Undecidable {
    Undecidable(format!(
        "more than {MAX_APPLICABLE} subschemas apply to {path}"
    ))
}

/// A value as the branch filter sees it.
trait View {
    fn json_type(&self) -> &'static str;
    fn object(&self) -> Option<&Map<String, Value>>;
}

struct ObjView<'a>(&'a Map<String, Value>);
struct ValView<'a>(&'a Value);

impl View for ObjView<'_> {
    fn json_type(&self) -> &'static str {
        "object"
    }
    fn object(&self) -> Option<&Map<String, Value>> {
        Some(self.0)
    }
}

impl View for ValView<'_> {
    fn json_type(&self) -> &'static str {
        json_type(self.0)
    }
    fn object(&self) -> Option<&Map<String, Value>> {
        self.0.as_object()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallerContext;
    use jiff::Timestamp;
    use serde_json::json;

    fn run(mode: UnknownArgs, schema: Value, args: Value) -> (Outcome, Value) {
        let tool = ToolDef::new("t", schema);
        let caller = CallerContext::default();
        let policy = crate::policy::Policy::permissive();
        let Value::Object(arguments) = args else {
            panic!("args must be an object")
        };
        let mut state = CallState {
            tool: &tool,
            caller: &caller,
            policy: &policy,
            at: Timestamp::UNIX_EPOCH,
            arguments,
            approval: &crate::checks::ApprovalPath::Approver,
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

    fn decide(mode: UnknownArgs, schema: Value, args: Value) -> Result<Value, Box<Refusal>> {
        match run(mode, schema, args) {
            (Outcome::Pass, v) | (Outcome::Changed(_), v) => Ok(v),
            (Outcome::Refuse(r), _) | (Outcome::Hold(r, _), _) => Err(Box::new(r)),
        }
    }

    #[test]
    fn tagged_unions_only_count_the_matching_branch() {
        let schema = json!({"type": "object", "oneOf": [
            {"properties": {"mode": {"const": "copy"}, "src": {"type": "string"}}, "required": ["mode", "src"]},
            {"properties": {"mode": {"const": "delete"}, "force": {"type": "boolean"}}, "required": ["mode"]}
        ]});
        assert_eq!(
            ghosts(
                schema.clone(),
                json!({"mode": "copy", "src": "a", "force": true})
            ),
            ["force"]
        );
        assert!(ghosts(schema.clone(), json!({"mode": "delete", "force": true})).is_empty());
        // An enum discriminator and a type mismatch exclude branches too.
        let schema = json!({"type": "object", "properties": {"v": {"anyOf": [
            {"type": "object", "properties": {"kind": {"enum": ["a", "b"]}, "x": {}}},
            {"type": "object", "properties": {"kind": {"enum": ["c"]}, "y": {}}},
            {"type": "string"}
        ]}}});
        assert_eq!(ghosts(schema, json!({"v": {"kind": "a", "y": 1}})), ["v.y"]);
    }

    #[test]
    fn required_dependencies_and_if_declare_names() {
        let d07 = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"card": {"type": "string"}},
            "dependencies": {"card": {"properties": {"billing": {"type": "string"}}, "required": ["billing"]}}});
        assert!(ghosts(d07.clone(), json!({"card": "4111", "billing": "x"})).is_empty());
        let (out, args) = run(
            UnknownArgs::StripSilent,
            d07,
            json!({"card": "4111", "billing": "x"}),
        );
        assert!(matches!(out, Outcome::Pass));
        assert_eq!(args["billing"], "x");
        let req = json!({"type": "object", "properties": {"a": {}}, "required": ["a", "b"]});
        assert!(
            ghosts(req, json!({"a": 1, "b": 2})).is_empty(),
            "required names are declared"
        );
        let iff = json!({"type": "object", "properties": {"a": {}}, "if": {"properties": {"flag": {"const": true}}}, "then": {"properties": {"extra": {}}}});
        assert!(ghosts(iff, json!({"a": 1, "flag": true, "extra": 1})).is_empty());
    }

    #[test]
    fn id_refs_anchors_and_lookaround_resolve() {
        let schema = json!({"$id": "https://example.com/s.json", "type": "object",
            "$defs": {"p": {"type": "object", "properties": {"x": {}}, "additionalProperties": false}},
            "properties": {"a": {"$ref": "https://example.com/s.json#/$defs/p"}, "b": {"$ref": "#/$defs/p"}},
            "patternProperties": {"^x-(?!internal)": {}}});
        assert_eq!(
            ghosts(
                schema.clone(),
                json!({"a": {"x": 1, "z": 1}, "b": {"x": 1}})
            ),
            ["a.z"]
        );
        assert_eq!(
            ghosts(schema, json!({"x-trace": 1, "x-internal": 1})),
            ["x-internal"]
        );
    }

    #[test]
    fn what_cannot_be_decided_is_refused_in_every_mode() {
        let mut defs = serde_json::Map::new();
        for i in 0..40 {
            defs.insert(
                format!("d{i}"),
                json!({"$ref": format!("#/$defs/d{}", i + 1)}),
            );
        }
        defs.insert("d40".into(), json!({"properties": {"a": {}}}));
        let chain = json!({"type": "object", "$defs": defs, "$ref": "#/$defs/d0"});
        let many: Vec<Value> = (0..300)
            .map(|i| json!({"properties": {format!("k{i}"): {}}}))
            .collect();
        let wide = json!({"type": "object", "allOf": many});
        for schema in [chain, wide] {
            for mode in [
                UnknownArgs::Block,
                UnknownArgs::StripAndLog,
                UnknownArgs::StripSilent,
            ] {
                let r = decide(mode, schema.clone(), json!({"a": 1, "evil": 1})).unwrap_err();
                assert_eq!(r.code, DenyCode::GhostArgsUndecidable, "{mode:?}");
                assert!(r.render_text().contains("Retrying will not help"));
            }
        }
    }

    #[test]
    fn broken_schema_is_refused_before_ghosts_are_named() {
        let r = decide(
            UnknownArgs::Block,
            json!({"type": "object", "properties": {"a": {"type": 5}}}),
            json!({"b": 1}),
        )
        .unwrap_err();
        assert_eq!(r.code, DenyCode::SchemaInvalid);
    }

    #[test]
    fn suggestions_skip_names_already_sent() {
        let schema = json!({"type": "object", "properties": {"path": {}, "recursive": {}}});
        let r = decide(
            UnknownArgs::Block,
            schema,
            json!({"path": "/", "recursive": true, "recurse": true}),
        )
        .unwrap_err();
        assert_eq!(r.fix_hints[0], "Remove 'recurse'.");
    }
}
