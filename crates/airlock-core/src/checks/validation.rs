//! `validation` — strict JSON-Schema validation of the arguments. Phase: validate.
//!
//! Guards against wrongly typed or shaped arguments reaching a tool: `"5"` where an integer
//! belongs, `"true"` for a boolean, a missing required field, a value outside an enum or range,
//! a malformed date or URI. Nothing is coerced: the call is refused with one [`FieldError`] per
//! problem (field path, kind, expected, got) and a fix hint a model can act on
//! ("send 5, not \"5\"").
//!
//! The schema is the tool's `inputSchema` as the server sent it (draft 2020-12 by default,
//! draft-07 and others by `$schema`), compiled once per tool definition with formats asserted,
//! remote `$ref`s refused and a backtracking limit on patterns. A schema that does not compile
//! refuses every call to the tool (`validation.schema_invalid`) — validation is never skipped.
//!
//! Not covered: whether `1.0` counts as an integer is the schema draft's call (2020-12 says
//! yes); unknown `format`s are not asserted; keys the schema does not declare are the
//! `ghost_args` check's job, which runs before this one.

use serde_json::{Map, Value};

use crate::audit::{REDACTED, Redactor};
use crate::field_path::{FieldPath, Segment};
use crate::pipeline::{CallState, Check, CheckError, Outcome, Phase};
use crate::refusal::{DenyCode, FieldError, Refusal};
use crate::schema::SchemaError;
use crate::suggest::closest;
use jsonschema::error::{TypeKind, ValidationErrorKind};

/// Longest rendering of a value inside a hint or error.
const MAX_SHOWN: usize = 40;
/// Most enum options listed.
const MAX_OPTIONS: usize = 12;

/// The strict validation check.
#[derive(Clone, Debug)]
pub struct Validation {
    max_errors: usize,
    redactor: Redactor,
}

impl Validation {
    /// A check that reports at most `max_errors` problems per call (at least 1), and never
    /// echoes values under names `redactor` calls sensitive.
    pub fn new(max_errors: usize, redactor: Redactor) -> Self {
        Validation {
            max_errors: max_errors.max(1),
            redactor,
        }
    }
}

impl Default for Validation {
    fn default() -> Self {
        Validation::new(10, Redactor::default())
    }
}

/// One problem, fully described.
struct Problem {
    code: DenyCode,
    error: FieldError,
    hint: String,
}

impl Check for Validation {
    fn name(&self) -> &'static str {
        "validation"
    }

    fn phase(&self) -> Phase {
        Phase::Validate
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let tool = &call.tool.name;
        let validator = match call.tool.compiled().validator() {
            Ok(v) => v,
            Err(e) => return Ok(Outcome::Refuse(schema_invalid(tool, e))),
        };
        // The validator works on a `Value`; wrap the map without copying it.
        let instance = Value::Object(std::mem::take(&mut call.arguments));
        let problems = if validator.is_valid(&instance) {
            Vec::new()
        } else {
            validator
                .iter_errors(&instance)
                .take(self.max_errors)
                .map(|e| {
                    let ctx = Ctx {
                        schema: &call.tool.input_schema,
                        args: &instance,
                        redactor: &self.redactor,
                    };
                    describe(&ctx, &e)
                })
                .collect::<Vec<_>>()
        };
        call.arguments = match instance {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if problems.is_empty() {
            return Ok(Outcome::Pass);
        }
        let code = problems[0].code;
        let summary = problems
            .iter()
            .map(|p| summary(&p.error))
            .collect::<Vec<_>>()
            .join("; ");
        let mut hints: Vec<String> = Vec::new();
        for p in &problems {
            if !hints.contains(&p.hint) {
                hints.push(p.hint.clone());
            }
        }
        let refusal = Refusal::new(
            code,
            tool,
            format!("Tool '{tool}' validation failed. {summary}"),
        )
        .with_hints(hints)
        .with_errors(problems.into_iter().map(|p| p.error).collect());
        Ok(Outcome::Refuse(refusal))
    }
}

/// The refusal for a tool whose input schema cannot be used (shared with `ghost_args`).
pub fn schema_invalid(tool: &str, e: &SchemaError) -> Refusal {
    Refusal::new(
        DenyCode::SchemaInvalid,
        tool,
        format!("Tool '{tool}' cannot be called: its input schema is invalid ({e})."),
    )
    .with_detail("schema_error", e.message.clone())
}

fn summary(e: &FieldError) -> String {
    match (e.kind, &e.expected, &e.got) {
        ("required", _, _) => format!("{}: required but missing", e.field),
        (_, Some(exp), Some(got)) => format!("{}: expected {exp}, got {got}", e.field),
        (_, Some(exp), None) => format!("{}: expected {exp}", e.field),
        (kind, None, _) => format!("{}: {kind} check failed", e.field),
    }
}

/// What describing an error needs besides the error.
struct Ctx<'a> {
    schema: &'a Value,
    args: &'a Value,
    redactor: &'a Redactor,
}

fn describe(ctx: &Ctx<'_>, err: &jsonschema::ValidationError<'_>) -> Problem {
    let schema = ctx.schema;
    let path = FieldPath::from_pointer_in(err.instance_path().as_str(), ctx.args);
    let field = path.to_string();
    let instance: &Value = err.instance();
    let got_type = json_type(instance);
    // Never echo a value that sits under a sensitive name (a key, a token, a password).
    let secret = path
        .0
        .iter()
        .any(|seg| matches!(seg, Segment::Key(k) if ctx.redactor.is_sensitive(k)));
    let shown = if secret {
        REDACTED.to_owned()
    } else {
        show(instance)
    };
    let mk = |code, kind, expected: Option<String>, got: Option<String>, hint: String| Problem {
        code,
        error: FieldError {
            field: field.clone(),
            kind,
            expected,
            got,
        },
        hint,
    };
    match err.kind() {
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<&str> = match kind {
                TypeKind::Single(t) => vec![t.as_str()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).collect(),
            };
            let optional = is_optional(schema, err.schema_path().as_str());
            let hint = type_hint(&field, &expected, instance, secret, optional);
            mk(
                DenyCode::ValidationType,
                "type",
                Some(expected.join(" or ")),
                Some(got_type.to_owned()),
                hint,
            )
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let full = path.key(name).to_string();
            let parent = parent_schema(schema, err.schema_path().as_str());
            let prop = parent
                .and_then(|p| p.get("properties"))
                .and_then(|p| p.get(name));
            let mut hint = format!("Add the required argument '{full}'");
            if let Some(t) = prop.and_then(|p| p.get("type")).and_then(describe_type) {
                hint.push_str(&format!(" ({t})"));
            }
            if let Some(d) = prop
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
            {
                hint.push_str(&format!(": {}", clip(d, 80)));
            }
            hint.push('.');
            Problem {
                code: DenyCode::ValidationRequired,
                error: FieldError {
                    field: full,
                    kind: "required",
                    expected: None,
                    got: None,
                },
                hint,
            }
        }
        ValidationErrorKind::Enum { options } => {
            let opts: Vec<&Value> = match options.as_ref() {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            let listed = list_values(&opts);
            let mut hint = format!("'{field}' must be one of {listed}; got {shown}");
            if let Some(s) = instance.as_str().filter(|_| !secret) {
                let names = opts.iter().filter_map(|o| o.as_str());
                if let Some(near) = closest(s, names) {
                    hint.push_str(&format!(" (did you mean \"{near}\"?)"));
                }
            }
            hint.push('.');
            mk(
                DenyCode::ValidationEnum,
                "enum",
                Some(format!("one of {listed}")),
                Some(shown.clone()),
                hint,
            )
        }
        ValidationErrorKind::Constant { expected_value } => {
            let want = show(expected_value);
            mk(
                DenyCode::ValidationConst,
                "const",
                Some(want.clone()),
                Some(shown.clone()),
                format!("'{field}' must be exactly {want}; got {shown}."),
            )
        }
        ValidationErrorKind::Minimum { limit } => {
            range(mk, &field, "minimum", ">=", limit, &shown, "at least")
        }
        ValidationErrorKind::Maximum { limit } => {
            range(mk, &field, "maximum", "<=", limit, &shown, "at most")
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => range(
            mk,
            &field,
            "exclusive_minimum",
            ">",
            limit,
            &shown,
            "greater than",
        ),
        ValidationErrorKind::ExclusiveMaximum { limit } => range(
            mk,
            &field,
            "exclusive_maximum",
            "<",
            limit,
            &shown,
            "less than",
        ),
        ValidationErrorKind::MultipleOf { multiple_of, .. } => mk(
            DenyCode::ValidationMultipleOf,
            "multiple_of",
            Some(format!("a multiple of {multiple_of}")),
            Some(shown.clone()),
            format!("'{field}' must be a multiple of {multiple_of}; got {shown}."),
        ),
        ValidationErrorKind::MinLength { limit } => {
            length(mk, &field, "min_length", *limit, instance, "at least")
        }
        ValidationErrorKind::MaxLength { limit } => {
            length(mk, &field, "max_length", *limit, instance, "at most")
        }
        ValidationErrorKind::Pattern { pattern } => mk(
            DenyCode::ValidationPattern,
            "pattern",
            Some(format!("a string matching {}", clip(pattern, 60))),
            Some(shown.clone()),
            format!(
                "'{field}' must match the pattern {}; got {shown}.",
                clip(pattern, 60)
            ),
        ),
        ValidationErrorKind::Format { format } => mk(
            DenyCode::ValidationFormat,
            "format",
            Some(format!("a {format} string")),
            Some(shown.clone()),
            format!(
                "'{field}' must be a valid {format}{}; got {shown}.",
                format_example(format)
                    .map(|e| format!(" such as {e}"))
                    .unwrap_or_default()
            ),
        ),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let n = context.len();
            let mut hint = format!("'{field}' must match one of the {n} allowed shapes");
            let firsts: Vec<String> = context
                .iter()
                .take(3)
                .enumerate()
                .filter_map(|(i, branch)| {
                    branch.first().map(|e| {
                        let p = describe(ctx, e);
                        format!("shape {}: {}", i + 1, summary(&p.error))
                    })
                })
                .collect();
            if !firsts.is_empty() {
                hint.push_str(&format!(" ({})", firsts.join("; ")));
            }
            hint.push('.');
            mk(
                DenyCode::ValidationAlternatives,
                "one_of",
                Some(format!("one of {n} alternatives")),
                Some(got_type.to_owned()),
                hint,
            )
        }
        ValidationErrorKind::OneOfMultipleValid { context } => mk(
            DenyCode::ValidationAlternatives,
            "one_of",
            Some("exactly one alternative".to_owned()),
            Some(format!("{} matching", context.len().max(2))),
            format!("'{field}' matches more than one allowed shape; make it match exactly one."),
        ),
        ValidationErrorKind::Not { .. } => mk(
            DenyCode::ValidationAlternatives,
            "not",
            None,
            Some(shown.clone()),
            format!("'{field}' has a value the schema excludes; send a different value."),
        ),
        ValidationErrorKind::MinItems { limit } => mk(
            DenyCode::ValidationItems,
            "min_items",
            Some(format!("at least {limit} items")),
            Some(count_items(instance)),
            format!(
                "'{field}' must have at least {limit} item{}.",
                plural(*limit)
            ),
        ),
        ValidationErrorKind::MaxItems { limit } => mk(
            DenyCode::ValidationItems,
            "max_items",
            Some(format!("at most {limit} items")),
            Some(count_items(instance)),
            format!(
                "'{field}' must have at most {limit} item{}; split the work into several calls.",
                plural(*limit)
            ),
        ),
        ValidationErrorKind::UniqueItems => mk(
            DenyCode::ValidationItems,
            "unique_items",
            Some("unique items".to_owned()),
            Some("duplicates".to_owned()),
            format!("'{field}' must not contain duplicate items; remove the repeats."),
        ),
        ValidationErrorKind::Contains => mk(
            DenyCode::ValidationItems,
            "contains",
            None,
            None,
            format!("'{field}' must contain at least one item of the kind the schema requires."),
        ),
        ValidationErrorKind::AdditionalItems { limit } => mk(
            DenyCode::ValidationItems,
            "additional_items",
            Some(format!("at most {limit} items")),
            Some(count_items(instance)),
            format!(
                "'{field}' must have at most {limit} item{}.",
                plural(*limit as u64)
            ),
        ),
        ValidationErrorKind::UnevaluatedItems { unexpected } => mk(
            DenyCode::ValidationItems,
            "unevaluated_items",
            None,
            Some(format!("{} extra items", unexpected.len())),
            format!("'{field}' has more items than the schema allows; remove the extra items."),
        ),
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let names = unexpected
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ");
            mk(
                DenyCode::ValidationProperties,
                "additional_properties",
                None,
                Some(names.clone()),
                format!("Remove {names} from '{field}': the schema does not allow them."),
            )
        }
        ValidationErrorKind::MinProperties { limit } => mk(
            DenyCode::ValidationProperties,
            "min_properties",
            Some(format!("at least {limit} properties")),
            None,
            format!(
                "'{field}' must have at least {limit} propert{}.",
                if *limit == 1 { "y" } else { "ies" }
            ),
        ),
        ValidationErrorKind::MaxProperties { limit } => mk(
            DenyCode::ValidationProperties,
            "max_properties",
            Some(format!("at most {limit} properties")),
            None,
            format!(
                "'{field}' must have at most {limit} propert{}.",
                if *limit == 1 { "y" } else { "ies" }
            ),
        ),
        ValidationErrorKind::PropertyNames { error } => mk(
            DenyCode::ValidationProperties,
            "property_names",
            None,
            Some(show(error.instance())),
            format!(
                "'{field}' has a badly named key {}; rename it to fit the schema.",
                show(error.instance())
            ),
        ),
        ValidationErrorKind::BacktrackLimitExceeded { .. }
        | ValidationErrorKind::RegexEngineFailure { .. } => mk(
            DenyCode::ValidationLimit,
            "limit_exceeded",
            None,
            None,
            format!(
                "'{field}' could not be checked against its pattern within limits; send a shorter or simpler value."
            ),
        ),
        ValidationErrorKind::Referencing(_) => mk(
            DenyCode::SchemaInvalid,
            "schema_invalid",
            None,
            None,
            DenyCode::SchemaInvalid.hint().to_owned(),
        ),
        ValidationErrorKind::FalseSchema => mk(
            DenyCode::ValidationOther,
            "false_schema",
            None,
            None,
            format!("'{field}' is not allowed here; leave it out."),
        ),
        ValidationErrorKind::ContentEncoding { content_encoding } => mk(
            DenyCode::ValidationOther,
            "content_encoding",
            Some(format!("{content_encoding}-encoded text")),
            None,
            format!("'{field}' must be {content_encoding}-encoded."),
        ),
        ValidationErrorKind::ContentMediaType { content_media_type } => mk(
            DenyCode::ValidationOther,
            "content_media_type",
            Some(content_media_type.clone()),
            None,
            format!("'{field}' must hold valid {content_media_type} content."),
        ),
        ValidationErrorKind::FromUtf8 { .. } => mk(
            DenyCode::ValidationOther,
            "content_encoding",
            None,
            None,
            format!("'{field}' must decode to valid UTF-8 text."),
        ),
        ValidationErrorKind::Custom { keyword, .. } => mk(
            DenyCode::ValidationOther,
            "custom",
            None,
            None,
            format!(
                "'{field}' fails the schema's '{keyword}' rule; change the value to satisfy it."
            ),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn range(
    mk: impl Fn(DenyCode, &'static str, Option<String>, Option<String>, String) -> Problem,
    field: &str,
    kind: &'static str,
    op: &str,
    limit: &Value,
    shown: &str,
    words: &str,
) -> Problem {
    mk(
        DenyCode::ValidationRange,
        kind,
        Some(format!("a number {op} {limit}")),
        Some(shown.to_owned()),
        format!("'{field}' must be {words} {limit}; got {shown}."),
    )
}

fn length(
    mk: impl Fn(DenyCode, &'static str, Option<String>, Option<String>, String) -> Problem,
    field: &str,
    kind: &'static str,
    limit: u64,
    instance: &Value,
    words: &str,
) -> Problem {
    let got = instance
        .as_str()
        .map(|s| s.chars().count())
        .unwrap_or_default();
    mk(
        DenyCode::ValidationLength,
        kind,
        Some(format!("{words} {limit} characters")),
        Some(format!("{got} characters")),
        format!(
            "'{field}' must be {words} {limit} character{} long; it has {got}.",
            plural(limit)
        ),
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn count_items(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("{} items", a.len()),
        _ => json_type(v).to_owned(),
    }
}

/// The JSON type name of a value, with `integer` for whole numbers.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The type name with its article: `an integer`, `a string`, `null`.
pub fn article(t: &str) -> String {
    match t {
        "null" => "null".to_owned(),
        "integer" | "object" | "array" => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

fn describe_type(t: &Value) -> Option<String> {
    match t {
        Value::String(s) => Some(article(s)),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(article)
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        _ => None,
    }
}

/// Whether the property a `type` error is about is optional in its parent (`None`: unknown).
fn is_optional(schema: &Value, schema_path: &str) -> Option<bool> {
    // `…/properties/<name>/type`, reachable as a plain pointer.
    let rest = schema_path.strip_suffix("/type")?;
    let (props, name) = rest.rsplit_once('/')?;
    let parent = props.strip_suffix("/properties")?;
    let parent = schema.pointer(parent)?;
    let name = name.replace("~1", "/").replace("~0", "~");
    let required = parent
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(name.as_str())));
    Some(!required)
}

/// A concrete fix for a type mismatch, e.g. `send 5, not "5"`. Values under sensitive names
/// (`secret`) are never echoed.
fn type_hint(
    field: &str,
    expected: &[&str],
    got: &Value,
    secret: bool,
    optional: Option<bool>,
) -> String {
    let want = expected
        .iter()
        .map(|t| article(t))
        .collect::<Vec<_>>()
        .join(" or ");
    let got_t = article(json_type(got));
    let head = format!("'{field}' must be {want}, not {got_t}");
    let wants = |t: &str| expected.contains(&t);
    let fix: Option<String> = match got {
        Value::String(s) => {
            let t = s.trim();
            // Re-print what was parsed, so the suggestion is valid JSON ("+5" → 5, "05" → 5).
            let as_number = if (wants("integer") || wants("number"))
                && let Ok(n) = t.parse::<i64>()
            {
                Some(n.to_string())
            } else if wants("number")
                && let Ok(f) = t.parse::<f64>()
                && let Some(n) = serde_json::Number::from_f64(f)
            {
                Some(n.to_string())
            } else {
                None
            };
            if let Some(n) = as_number {
                if secret {
                    Some("send the number itself, without quotes".to_owned())
                } else {
                    Some(format!("send {n}, not \"{}\"", clip(s, MAX_SHOWN)))
                }
            } else if wants("boolean")
                && matches!(t.to_ascii_lowercase().as_str(), "true" | "false")
            {
                Some(format!(
                    "send {}, not \"{}\"",
                    t.to_ascii_lowercase(),
                    clip(s, MAX_SHOWN)
                ))
            } else if wants("integer") || wants("number") {
                Some("send a bare number such as 5, without quotes".to_owned())
            } else if wants("boolean") {
                Some("send true or false, without quotes".to_owned())
            } else if (wants("array") && t.starts_with('['))
                || (wants("object") && t.starts_with('{'))
            {
                Some("send the JSON value itself, not a string holding JSON".to_owned())
            } else if wants("array") {
                if secret {
                    Some("send a JSON array holding the value".to_owned())
                } else {
                    Some(format!("send a JSON array, e.g. [{}]", show(got)))
                }
            } else {
                None
            }
        }
        Value::Number(n) => {
            if wants("integer") && !wants("number") && !(n.is_i64() || n.is_u64()) {
                if secret {
                    return format!("'{field}' must be a whole number (an integer).");
                }
                return format!("'{field}' must be a whole number (an integer); got {n}.");
            } else if wants("string") {
                if secret {
                    Some("send the value in quotes, as a string".to_owned())
                } else {
                    Some(format!("send \"{n}\" in quotes"))
                }
            } else if wants("boolean") {
                Some("send true or false, not 1 or 0".to_owned())
            } else {
                None
            }
        }
        Value::Bool(b) => {
            if wants("string") {
                Some(format!("send \"{b}\" in quotes"))
            } else if wants("integer") || wants("number") {
                Some("send a number, not true or false".to_owned())
            } else {
                None
            }
        }
        Value::Null => match optional {
            Some(true) => Some(format!(
                "send {want}, or leave '{field}' out: it is optional"
            )),
            _ => Some(format!("send {want} instead of null")),
        },
        Value::Array(a) if a.len() == 1 && !wants("array") => {
            Some("send the single value itself, not an array holding it".to_owned())
        }
        Value::Array(_) | Value::Object(_) => None,
    };
    match fix {
        Some(fix) => format!("{head}: {fix}."),
        None => format!("{head}."),
    }
}

fn format_example(format: &str) -> Option<&'static str> {
    Some(match format {
        "date-time" => "2024-05-01T12:00:00Z",
        "date" => "2024-05-01",
        "time" => "12:00:00Z",
        "duration" => "P3DT4H",
        "email" => "name@example.com",
        "hostname" => "api.example.com",
        "ipv4" => "192.0.2.1",
        "ipv6" => "2001:db8::1",
        "uri" => "https://example.com/path",
        "uri-reference" => "/path/to/thing",
        "uuid" => "123e4567-e89b-12d3-a456-426614174000",
        "regex" => "^[a-z]+$",
        "json-pointer" => "/items/0",
        _ => return None,
    })
}

/// A value as shown in hints: compact JSON, cut at a readable length.
fn show(v: &Value) -> String {
    let text = match v {
        Value::Array(a) if a.len() > 8 => format!("an array of {} items", a.len()),
        Value::Object(m) if m.len() > 8 => format!("an object with {} keys", m.len()),
        _ => v.to_string(),
    };
    clip(&text, MAX_SHOWN)
}

fn list_values(values: &[&Value]) -> String {
    let mut out: Vec<String> = values.iter().take(MAX_OPTIONS).map(|v| show(v)).collect();
    if values.len() > MAX_OPTIONS {
        out.push(format!("… ({} more)", values.len() - MAX_OPTIONS));
    }
    out.join(", ")
}

/// Cut `s` to at most `max` characters, marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The schema object holding the keyword at `schema_path`, when the path is a plain pointer.
fn parent_schema<'s>(schema: &'s Value, schema_path: &str) -> Option<&'s Value> {
    let (parent, _) = schema_path.rsplit_once('/')?;
    schema.pointer(parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CallerContext, ToolDef};
    use jiff::Timestamp;
    use serde_json::json;

    fn refuse(schema: Value, args: Value) -> Option<Refusal> {
        let tool = ToolDef::new("transfer", schema);
        let caller = CallerContext::default();
        let policy = crate::policy::Policy::permissive();
        let Value::Object(arguments) = args else {
            panic!()
        };
        let mut state = CallState {
            tool: &tool,
            caller: &caller,
            policy: &policy,
            at: Timestamp::UNIX_EPOCH,
            arguments: arguments.clone(),
            approval: &crate::checks::ApprovalPath::Approver,
        };
        let out = Validation::default().check(&mut state).unwrap();
        // Validation never changes the arguments.
        assert_eq!(state.arguments, arguments);
        match out {
            Outcome::Refuse(r) | Outcome::Hold(r, _) => Some(r),
            Outcome::Pass => None,
            Outcome::Changed(_) => panic!("validation must not change calls"),
        }
    }

    fn transfer() -> Value {
        json!({
            "type": "object",
            "properties": {
                "to": {"type": "string", "description": "IBAN of the recipient", "minLength": 5, "maxLength": 34},
                "amount": {"type": "integer", "minimum": 1, "maximum": 10000},
                "currency": {"enum": ["EUR", "USD", "GBP"]},
                "express": {"type": "boolean"},
                "note": {"type": "string", "pattern": "^[a-z ]*$"},
                "when": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "uniqueItems": true},
                "kind": {"const": "sepa"},
                "step": {"type": "number", "multipleOf": 0.5},
                "target": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["id"]}]}
            },
            "required": ["to", "amount"]
        })
    }

    #[test]
    fn valid_call_passes() {
        let ok = json!({"to": "DE89370400440532013000", "amount": 5, "currency": "EUR", "express": true,
                         "when": "2024-05-01T12:00:00Z", "tags": ["a"], "kind": "sepa", "step": 1.5, "target": "x"});
        assert!(refuse(transfer(), ok).is_none());
    }

    #[test]
    fn table_of_refusals() {
        let base = json!({"to": "DE89370400440532013000", "amount": 5});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let cases: Vec<(Value, DenyCode, &str, &str)> = vec![
            (
                with("amount", json!("5")),
                DenyCode::ValidationType,
                "amount",
                "'amount' must be an integer, not a string: send 5, not \"5\".",
            ),
            (
                with("amount", json!(2.5)),
                DenyCode::ValidationType,
                "amount",
                "'amount' must be a whole number (an integer); got 2.5.",
            ),
            (
                with("express", json!("true")),
                DenyCode::ValidationType,
                "express",
                "'express' must be a boolean, not a string: send true, not \"true\".",
            ),
            (
                with("express", json!(1)),
                DenyCode::ValidationType,
                "express",
                "'express' must be a boolean, not an integer: send true or false, not 1 or 0.",
            ),
            (
                json!({"to": "DE89370400440532013000"}),
                DenyCode::ValidationRequired,
                "amount",
                "Add the required argument 'amount' (an integer).",
            ),
            (
                json!({"amount": 5}),
                DenyCode::ValidationRequired,
                "to",
                "Add the required argument 'to' (a string): IBAN of the recipient.",
            ),
            (
                with("currency", json!("EURO")),
                DenyCode::ValidationEnum,
                "currency",
                "'currency' must be one of \"EUR\", \"USD\", \"GBP\"; got \"EURO\" (did you mean \"EUR\"?).",
            ),
            (
                with("kind", json!("swift")),
                DenyCode::ValidationConst,
                "kind",
                "'kind' must be exactly \"sepa\"; got \"swift\".",
            ),
            (
                with("amount", json!(0)),
                DenyCode::ValidationRange,
                "amount",
                "'amount' must be at least 1; got 0.",
            ),
            (
                with("amount", json!(10001)),
                DenyCode::ValidationRange,
                "amount",
                "'amount' must be at most 10000; got 10001.",
            ),
            (
                with("to", json!("DE")),
                DenyCode::ValidationLength,
                "to",
                "'to' must be at least 5 characters long; it has 2.",
            ),
            (
                with("note", json!("Hi!")),
                DenyCode::ValidationPattern,
                "note",
                "'note' must match the pattern ^[a-z ]*$; got \"Hi!\".",
            ),
            (
                with("when", json!("tomorrow")),
                DenyCode::ValidationFormat,
                "when",
                "'when' must be a valid date-time such as 2024-05-01T12:00:00Z; got \"tomorrow\".",
            ),
            (
                with("tags", json!(["a", "a"])),
                DenyCode::ValidationItems,
                "tags",
                "'tags' must not contain duplicate items; remove the repeats.",
            ),
            (
                with("tags", json!(["a", "b", "c"])),
                DenyCode::ValidationItems,
                "tags",
                "'tags' must have at most 2 items; split the work into several calls.",
            ),
            (
                with("tags", json!(["a", 5])),
                DenyCode::ValidationType,
                "tags[1]",
                "'tags[1]' must be a string, not an integer: send \"5\" in quotes.",
            ),
            (
                with("step", json!(0.3)),
                DenyCode::ValidationMultipleOf,
                "step",
                "'step' must be a multiple of 0.5; got 0.3.",
            ),
            (
                with("target", json!({"name": "x"})),
                DenyCode::ValidationAlternatives,
                "target",
                "'target' must match one of the 2 allowed shapes (shape 1: target: expected string, got object; shape 2: target.id: required but missing).",
            ),
            (
                with("amount", json!(null)),
                DenyCode::ValidationType,
                "amount",
                "'amount' must be an integer, not null: send an integer instead of null.",
            ),
        ];
        for (args, code, field, hint) in cases {
            let r = refuse(transfer(), args.clone())
                .unwrap_or_else(|| panic!("{args} should be refused"));
            assert_eq!(r.code, code, "{args}");
            assert_eq!(r.errors[0].field, field, "{args}");
            assert_eq!(r.fix_hints[0], hint, "{args}");
        }
    }

    #[test]
    fn message_reads_like_the_design() {
        let r = refuse(
            transfer(),
            json!({"to": "DE89370400440532013000", "amount": "5"}),
        )
        .unwrap();
        assert_eq!(
            r.error_text(),
            "AIRLOCK_BLOCK: Tool 'transfer' validation failed. amount: expected integer, got string"
        );
        assert_eq!(
            r.errors[0],
            FieldError {
                field: "amount".into(),
                kind: "type",
                expected: Some("integer".into()),
                got: Some("string".into())
            }
        );
    }

    #[test]
    fn several_errors_are_all_reported() {
        let r = refuse(transfer(), json!({"amount": "5", "express": "yes"})).unwrap();
        let fields: Vec<_> = r.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(
            fields.contains(&"amount") && fields.contains(&"express") && fields.contains(&"to"),
            "{fields:?}"
        );
    }

    #[test]
    fn draft_07_schemas_work() {
        let schema = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                            "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}}});
        assert!(refuse(schema.clone(), json!({"n": 1})).is_none());
        let r = refuse(schema, json!({"n": 0})).unwrap();
        assert_eq!(r.code, DenyCode::ValidationRange);
    }

    #[test]
    fn broken_schema_refuses_every_call() {
        let r = refuse(
            json!({"type": "object", "properties": {"a": {"type": 12}}}),
            json!({}),
        )
        .unwrap();
        assert_eq!(r.code, DenyCode::SchemaInvalid);
        assert!(r.render_text().contains("Retrying will not help"));
    }

    #[test]
    fn catastrophic_patterns_are_bounded() {
        let schema = json!({"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}});
        let evil = format!("{}!", "a".repeat(5_000));
        // Either refused for the mismatch or for the backtracking limit; never hangs.
        let r = refuse(schema, json!({"s": evil})).unwrap();
        assert!(matches!(
            r.code,
            DenyCode::ValidationPattern | DenyCode::ValidationLimit
        ));
    }

    #[test]
    fn hints_never_echo_secrets_and_always_suggest_valid_json() {
        let schema = json!({"type": "object", "properties": {
            "api_key": {"type": "string", "pattern": "^sk-"},
            "pin": {"type": "integer"},
            "n": {"type": "integer"}, "x": {"type": "number"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "opt": {"type": "string"}
        }, "required": ["n"]});
        let r = refuse(
            schema.clone(),
            json!({"n": 1, "api_key": "pk-live-SECRET1234"}),
        )
        .unwrap();
        let all = serde_json::to_string(&r).unwrap();
        assert!(!all.contains("SECRET1234"), "{all}");
        let r = refuse(schema.clone(), json!({"n": 1, "pin": "12345678"})).unwrap();
        assert!(!serde_json::to_string(&r).unwrap().contains("12345678"));
        for (sent, want) in [("+5", "send 5, not \"+5\""), ("05", "send 5, not \"05\"")] {
            let r = refuse(schema.clone(), json!({"n": sent})).unwrap();
            assert!(r.fix_hints[0].contains(want), "{}", r.fix_hints[0]);
        }
        for (sent, want) in [(".5", "send 0.5"), ("5.", "send 5.0")] {
            let r = refuse(schema.clone(), json!({"n": 1, "x": sent})).unwrap();
            assert!(r.fix_hints[0].contains(want), "{}", r.fix_hints[0]);
        }
        let r = refuse(schema.clone(), json!({"n": 1, "labels": {"1": 5}})).unwrap();
        assert_eq!(r.errors[0].field, "labels.1");
        let r = refuse(schema, json!({"n": 1, "opt": null})).unwrap();
        assert_eq!(
            r.fix_hints[0],
            "'opt' must be a string, not null: send a string, or leave 'opt' out: it is optional."
        );
    }
}
