//! Finding the values in a call's arguments that name files or network endpoints, at any depth.
//!
//! A string is a target when, in this order:
//!
//! 1. **its schema says so**: a `format` of `uri`, `uri-reference`, `iri`, `iri-reference` or
//!    `url` (a URL), `hostname`, `idn-hostname`, `ipv4` or `ipv6` (a host), or a path
//!    convention — `path`, `file-path`, `directory-path`, `uri-path` (a path). The schema is
//!    followed through `properties`, `additionalProperties`, `items`, `prefixItems`, local
//!    `$ref`s and `allOf`/`anyOf`/`oneOf` branches;
//! 2. **its parameter's name says so**: the last word of the name (`snake_case`, `camelCase`,
//!    `kebab-case`, plurals too) is `path`, `file`, `filename`, `dir`, `directory`, `folder`,
//!    `source`, `destination`, `target`, `cwd`, … (a path), `url`, `uri`, `endpoint`,
//!    `webhook`, `callback`, `href`, `link`, … (a URL) or `host`, `hostname`, `domain` (a host).
//!    Items of an array count under the array's name (`paths: [...]`);
//! 3. **its shape says so**: `scheme://…` (a URL) or, without whitespace, an absolute path,
//!    `~/…`, `./…`, `../…`, a path with a `..` component, or a Windows drive path (a path).
//!
//! A `file:` URL is always a path, whichever rule found it; a URL-like value (`scheme://`)
//! under a path name is a URL. Which rule matched is part of each [`Target`], so refusals and
//! `airlock check` can say why a value was checked.
//!
//! Not covered: paths inside free text (`"cat /etc/passwd"` in a `command`) — that is a
//! command, for a sandbox, not a path argument.

use serde_json::{Map, Value};

/// What a target names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A filesystem path (or `file:` URI).
    Path,
    /// A URL.
    Url,
    /// A host name or address, maybe with a port.
    Host,
}

/// Why a value was taken for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The schema's `format`.
    Format(String),
    /// The parameter's name.
    Name(String),
    /// The value's shape.
    Shape(&'static str),
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Format(x) => write!(f, "schema format '{x}'"),
            Rule::Name(x) => write!(f, "parameter name '{x}'"),
            Rule::Shape(x) => write!(f, "shape: {x}"),
        }
    }
}

/// One value to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// Where in the arguments: `path`, `options.dest`, `files[2]`.
    pub field: String,
    /// The value.
    pub value: &'a str,
    /// What it names.
    pub kind: Kind,
    /// Which rule found it.
    pub rule: Rule,
}

const URL_FORMATS: &[&str] = &["uri", "uri-reference", "iri", "iri-reference", "url"];
const HOST_FORMATS: &[&str] = &["hostname", "idn-hostname", "ipv4", "ipv6"];
const PATH_FORMATS: &[&str] = &["path", "file-path", "directory-path", "uri-path"];

/// Last words of parameter names that hold paths.
const PATH_WORDS: &[&str] = &[
    "path",
    "pathname",
    "file",
    "filename",
    "filepath",
    "dir",
    "dirname",
    "directory",
    "folder",
    "source",
    "src",
    "destination",
    "dest",
    "dst",
    "target",
    "cwd",
    "workdir",
];
/// Last words of parameter names that hold URLs.
const URL_WORDS: &[&str] = &[
    "url", "uri", "iri", "endpoint", "webhook", "callback", "href", "link", "homepage", "website",
];
/// Last words of parameter names that hold hosts.
const HOST_WORDS: &[&str] = &["host", "hostname", "domain"];

/// Most `$ref` hops and subschemas followed per value (beyond, names and shapes still apply).
const MAX_SCHEMAS: usize = 64;
/// Deepest nesting walked (arguments are already limited by `arguments.max_depth`).
const MAX_DEPTH: usize = 128;

/// Every target in `args`, given the tool's input schema.
pub fn targets<'a>(schema: &Value, args: &'a Map<String, Value>) -> Vec<Target<'a>> {
    let mut out = Vec::new();
    let root = applicable(schema, schema);
    object(schema, &root, args, "", &mut out, 0);
    out
}

fn object<'a>(
    doc: &Value,
    schemas: &[&Value],
    map: &'a Map<String, Value>,
    path: &str,
    out: &mut Vec<Target<'a>>,
    depth: usize,
) {
    for (k, v) in map {
        let field = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let mut child: Vec<&Value> = Vec::new();
        for s in schemas {
            if let Some(p) = s.get("properties").and_then(|p| p.get(k)) {
                child.extend(applicable(doc, p));
            } else if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object()) {
                child.extend(applicable(doc, a));
            }
        }
        child.truncate(MAX_SCHEMAS);
        value(doc, &child, v, k, field, out, depth + 1);
    }
}

fn value<'a>(
    doc: &Value,
    schemas: &[&Value],
    v: &'a Value,
    name: &str,
    field: String,
    out: &mut Vec<Target<'a>>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::String(s) => {
            if let Some((kind, rule)) = classify(schemas, name, s) {
                out.push(Target {
                    field,
                    value: s,
                    kind,
                    rule,
                });
            }
        }
        Value::Object(m) => object(doc, schemas, m, &field, out, depth),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut child: Vec<&Value> = Vec::new();
                for s in schemas {
                    match s.get("prefixItems").and_then(|p| p.get(i)) {
                        Some(p) => child.extend(applicable(doc, p)),
                        None => {
                            if let Some(it) = s.get("items").filter(|it| it.is_object()) {
                                child.extend(applicable(doc, it));
                            }
                        }
                    }
                }
                child.truncate(MAX_SCHEMAS);
                value(
                    doc,
                    &child,
                    item,
                    name,
                    format!("{field}[{i}]"),
                    out,
                    depth + 1,
                );
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `schema` and every subschema that applies with it: local `$ref`s, `allOf`, `anyOf`, `oneOf`.
fn applicable<'a>(doc: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = Vec::new();
    let mut todo = vec![schema];
    while let Some(s) = todo.pop() {
        if out.len() >= MAX_SCHEMAS {
            break;
        }
        if !s.is_object() || out.iter().any(|o| std::ptr::eq(*o, s)) {
            continue;
        }
        out.push(s);
        if let Some(r) = s.get("$ref").and_then(Value::as_str)
            && let Some(pointer) = r.strip_prefix('#')
            && let Some(target) = doc.pointer(&airlock_core::field_path::percent_decode(pointer))
        {
            todo.push(target);
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(branches) = s.get(key).and_then(Value::as_array) {
                todo.extend(branches.iter());
            }
        }
    }
    out
}

fn has_scheme(s: &str) -> bool {
    let Some(i) = s.find("://") else {
        return false;
    };
    let scheme = &s[..i];
    scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn is_file_uri(s: &str) -> bool {
    s.len() >= 5 && s[..5].eq_ignore_ascii_case("file:")
}

/// The words of a parameter name, lower-case: `sourceFilePaths` → `source file paths`.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `paths` → `path`, `directories` → `directory`, `urls` → `url`.
fn singular(w: &str) -> String {
    if let Some(stem) = w.strip_suffix("ies") {
        return format!("{stem}y");
    }
    if let Some(stem) = w.strip_suffix("es")
        && (stem.ends_with("ss") || stem.ends_with('x'))
    {
        return stem.to_owned();
    }
    match w.strip_suffix('s') {
        Some(stem) if stem.len() >= 2 && !stem.ends_with('s') => stem.to_owned(),
        _ => w.to_owned(),
    }
}

/// What a parameter's name says it holds.
pub fn kind_of_name(name: &str) -> Option<Kind> {
    let w = words(name);
    let last = singular(w.last()?);
    let pair = (w.len() >= 2).then(|| singular(&format!("{}{}", w[w.len() - 2], w[w.len() - 1])));
    let is = |set: &[&str]| {
        set.contains(&last.as_str()) || pair.as_deref().is_some_and(|p| set.contains(&p))
    };
    if is(URL_WORDS) {
        Some(Kind::Url)
    } else if is(HOST_WORDS) {
        Some(Kind::Host)
    } else if is(PATH_WORDS) {
        Some(Kind::Path)
    } else {
        None
    }
}

fn classify(schemas: &[&Value], name: &str, s: &str) -> Option<(Kind, Rule)> {
    if s.is_empty() {
        return None;
    }
    let url_or_path = |k: Kind| {
        if is_file_uri(s) {
            Kind::Path
        } else if k == Kind::Path && has_scheme(s) {
            Kind::Url
        } else {
            k
        }
    };
    for sc in schemas {
        if let Some(f) = sc.get("format").and_then(Value::as_str) {
            let kind = if URL_FORMATS.contains(&f) {
                Some(Kind::Url)
            } else if HOST_FORMATS.contains(&f) {
                Some(Kind::Host)
            } else if PATH_FORMATS.contains(&f) {
                Some(Kind::Path)
            } else {
                None
            };
            if let Some(k) = kind {
                return Some((url_or_path(k), Rule::Format(f.to_owned())));
            }
        }
    }
    if let Some(k) = kind_of_name(name) {
        return Some((url_or_path(k), Rule::Name(name.to_owned())));
    }
    if is_file_uri(s) {
        return Some((Kind::Path, Rule::Shape("file URI")));
    }
    if has_scheme(s) {
        return Some((Kind::Url, Rule::Shape("scheme://")));
    }
    if s.chars().any(char::is_whitespace) {
        return None;
    }
    let b = s.as_bytes();
    let shape = if s.starts_with('/') {
        Some("absolute path")
    } else if s == "~" || s.starts_with("~/") {
        Some("home path")
    } else if s.starts_with("./") || s.starts_with(".\\") {
        Some("relative path")
    } else if s == ".."
        || s.starts_with("../")
        || s.starts_with("..\\")
        || s.contains("/../")
        || s.contains("\\..\\")
        || s.ends_with("/..")
    {
        Some("parent directory")
    } else if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b"\\/".contains(&b[2]) {
        Some("drive path")
    } else {
        None
    };
    shape.map(|r| (Kind::Path, Rule::Shape(r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(schema: Value, args: Value) -> Vec<(String, Kind, String)> {
        let Value::Object(m) = args else {
            unreachable!()
        };
        targets(&schema, &m)
            .into_iter()
            .map(|t| (t.field, t.kind, t.rule.to_string()))
            .collect()
    }

    #[test]
    fn names_plurals_and_case_styles() {
        for (name, kind) in [
            ("path", Some(Kind::Path)),
            ("paths", Some(Kind::Path)),
            ("sourceFilePath", Some(Kind::Path)),
            ("output_dir", Some(Kind::Path)),
            ("directories", Some(Kind::Path)),
            ("file_name", Some(Kind::Path)),
            ("Destination", Some(Kind::Path)),
            ("base-url", Some(Kind::Url)),
            ("redirect_uri", Some(Kind::Url)),
            ("webhooks", Some(Kind::Url)),
            ("callbackURL", Some(Kind::Url)),
            ("hostname", Some(Kind::Host)),
            ("db_host", Some(Kind::Host)),
            ("status", None),
            ("address", None),
            ("class", None),
            ("filesize", None),
        ] {
            assert_eq!(kind_of_name(name), kind, "{name}");
        }
    }

    #[test]
    fn schema_names_shapes_at_any_depth() {
        let schema = json!({
            "type": "object",
            "$defs": {"loc": {"type": "string", "format": "uri"}},
            "properties": {
                "where": {"$ref": "#/$defs/loc"},
                "opts": {"type": "object", "properties": {"out": {"type": "string", "format": "path"}}},
                "list": {"type": "array", "items": {"anyOf": [{"type": "string", "format": "hostname"}]}}
            }
        });
        let got = found(
            schema,
            json!({
                "where": "https://example.com",
                "opts": {"out": "report.txt", "mode": "x"},
                "list": ["example.org"],
                "paths": ["a.txt", "/b"],
                "note": "see /etc/passwd",
                "ref": "../../etc/passwd",
                "link": "file:///etc/shadow",
                "target": "https://example.net/x",
                "count": 3
            }),
        );
        assert_eq!(
            got,
            vec![
                ("where".into(), Kind::Url, "schema format 'uri'".into()),
                ("opts.out".into(), Kind::Path, "schema format 'path'".into()),
                (
                    "list[0]".into(),
                    Kind::Host,
                    "schema format 'hostname'".into()
                ),
                (
                    "paths[0]".into(),
                    Kind::Path,
                    "parameter name 'paths'".into()
                ),
                (
                    "paths[1]".into(),
                    Kind::Path,
                    "parameter name 'paths'".into()
                ),
                ("ref".into(), Kind::Path, "shape: parent directory".into()),
                ("link".into(), Kind::Path, "parameter name 'link'".into()),
                ("target".into(), Kind::Url, "parameter name 'target'".into()),
            ]
        );
    }
}
