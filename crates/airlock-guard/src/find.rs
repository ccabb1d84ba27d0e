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
//!    Items of an array count under the array's name (`paths: [...]`). The name gives way
//!    when the schema says the value is something else: another `format` (`email`, `date`,
//!    `uuid`, `iban` …), or a `description` naming another kind of value (IBAN, e-mail,
//!    phone, amount, name, id …) and no path, file, directory, URL or host. A parameter listed
//!    in `not_paths` ([`targets_except`]) is not a path by name either;
//! 3. **its shape says so**: `scheme://…` (a URL) or, without whitespace, an absolute path,
//!    `~/…`, `./…`, `../…`, a path with a `..` component, or a Windows drive path (a path).
//!
//! A `file:` URL is always a path, whichever rule found it; a URL-like value (`scheme://`)
//! under a path name is a URL. A `data:` URI ([`is_data_uri`]) where a URL is expected (a URL
//! format or name) is no target at all: its content is inline, it reaches no network and
//! names no file (its size is bounded by `arguments.max_bytes` like any argument); under a
//! path's format or name it is still checked as a path. Which rule matched is part of each [`Target`], so refusals and
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
pub enum Rule<'a> {
    /// The schema's `format`.
    Format(&'a str),
    /// The parameter's name.
    Name(&'a str),
    /// The value's shape.
    Shape(&'static str),
}

impl std::fmt::Display for Rule<'_> {
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
    pub rule: Rule<'a>,
    /// A URL the `filesystem` guard checks too: one with no scheme (a relative reference,
    /// `../../etc/passwd` under `format: uri-reference`), or one under a path's name or
    /// format (`"path": "http://x/../../etc/passwd"` is a relative path to a server that
    /// takes it as one).
    pub also_path: bool,
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
    "from",
    "to",
    "location",
];
/// Last words of parameter names that hold URLs.
const URL_WORDS: &[&str] = &[
    "url", "uri", "iri", "endpoint", "webhook", "callback", "href", "link", "homepage", "website",
];
/// Last words of parameter names that hold hosts.
const HOST_WORDS: &[&str] = &[
    "host", "hostname", "domain", "server", "addr", "ip", "proxy",
];

/// Most `$ref` hops and subschemas followed per value (beyond, names and shapes still apply).
const MAX_SCHEMAS: usize = 64;
/// Deepest nesting walked (arguments are already limited by `arguments.max_depth`).
const MAX_DEPTH: usize = 128;

/// Every target in `args`, given the tool's input schema.
pub fn targets<'a>(schema: &'a Value, args: &'a Map<String, Value>) -> Vec<Target<'a>> {
    targets_except(schema, args, &[])
}

/// Every target in `args`, given the tool's input schema, where a parameter named in
/// `not_paths` (`filesystem.not_paths`, `filesystem.tools.<tool>.not_paths`) is not a path by
/// its name alone; its schema's format and its value's shape still count.
pub fn targets_except<'a>(
    schema: &'a Value,
    args: &'a Map<String, Value>,
    not_paths: &[String],
) -> Vec<Target<'a>> {
    let mut out = Vec::new();
    let root = applicable(schema, schema);
    object(schema, &root, args, "", not_paths, &mut out, 0);
    out
}

/// Where a value sits: its parent's field path and its own key or index (the path is built
/// only for targets and containers).
#[derive(Clone, Copy)]
enum Seg<'k> {
    Key(&'k str),
    Index(usize),
}

fn field(parent: &str, seg: Seg<'_>) -> String {
    match seg {
        Seg::Key(k) if parent.is_empty() => k.to_owned(),
        Seg::Key(k) => format!("{parent}.{k}"),
        Seg::Index(i) => format!("{parent}[{i}]"),
    }
}

/// A schema's `properties` and its object-valued `additionalProperties`.
type Members<'s> = (Option<&'s Map<String, Value>>, Option<&'s Value>);

fn object<'a>(
    doc: &'a Value,
    schemas: &[&'a Value],
    map: &'a Map<String, Value>,
    path: &str,
    not_paths: &[String],
    out: &mut Vec<Target<'a>>,
    depth: usize,
) {
    // Each schema's `properties`, `patternProperties` and object-valued
    // `additionalProperties`, looked up once.
    let members: Vec<Members<'_>> = schemas
        .iter()
        .map(|s| {
            (
                s.get("properties").and_then(Value::as_object),
                s.get("additionalProperties").filter(|a| a.is_object()),
            )
        })
        .collect();
    let patterns: Vec<(regex::Regex, &Value)> = schemas
        .iter()
        .filter_map(|s| s.get("patternProperties").and_then(Value::as_object))
        .flat_map(|p| p.iter())
        .filter_map(|(re, sub)| Some((regex::Regex::new(re).ok()?, sub)))
        .collect();
    for (k, v) in map {
        if !matches!(v, Value::String(_) | Value::Object(_) | Value::Array(_)) {
            continue;
        }
        let mut child: Vec<&Value> = Vec::new();
        for (props, additional) in &members {
            let Some(sub) = props.and_then(|p| p.get(k)).or(*additional) else {
                continue;
            };
            if child.is_empty() {
                child = applicable(doc, sub);
            } else {
                child.extend(applicable(doc, sub));
            }
        }
        for (re, sub) in &patterns {
            if re.is_match(k) {
                child.extend(applicable(doc, sub));
            }
        }
        child.truncate(MAX_SCHEMAS);
        value(
            doc,
            &child,
            v,
            k,
            path,
            Seg::Key(k),
            not_paths,
            out,
            depth + 1,
        );
    }
}

#[allow(clippy::too_many_arguments)] // one recursive walk; a struct would only rename them
fn value<'a>(
    doc: &'a Value,
    schemas: &[&'a Value],
    v: &'a Value,
    name: &'a str,
    parent: &str,
    seg: Seg<'_>,
    not_paths: &[String],
    out: &mut Vec<Target<'a>>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::String(s) => {
            if let Some((kind, rule)) = classify(schemas, name, s, not_paths) {
                let also_path = kind == Kind::Url && {
                    let t = s.trim_start_matches(|c: char| c.is_whitespace() || c.is_control());
                    !(has_scheme(t) || has_special_scheme(t))
                        || matches!(rule, Rule::Name(n) if kind_of_name(n) == Some(Kind::Path))
                        || matches!(rule, Rule::Format(f) if PATH_FORMATS.contains(&f))
                };
                out.push(Target {
                    field: field(parent, seg),
                    value: s,
                    kind,
                    rule,
                    also_path,
                });
            }
        }
        Value::Object(m) => object(doc, schemas, m, &field(parent, seg), not_paths, out, depth),
        Value::Array(items) => {
            let here = field(parent, seg);
            for (i, item) in items.iter().enumerate() {
                if !matches!(item, Value::String(_) | Value::Object(_) | Value::Array(_)) {
                    continue;
                }
                let mut child: Vec<&Value> = Vec::new();
                for s in schemas {
                    // 2020-12 `prefixItems`/`items`; draft-07 tuple `items`/`additionalItems`.
                    let tuple = s
                        .get("prefixItems")
                        .or_else(|| s.get("items").filter(|it| it.is_array()));
                    let rest = if s.get("prefixItems").is_some() {
                        s.get("items")
                    } else if tuple.is_some() {
                        s.get("additionalItems")
                    } else {
                        s.get("items")
                    };
                    match tuple.and_then(|p| p.get(i)) {
                        Some(p) => child.extend(applicable(doc, p)),
                        None => {
                            if let Some(it) = rest.filter(|it| it.is_object()) {
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
                    &here,
                    Seg::Index(i),
                    not_paths,
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
    // Most property schemas combine nothing: themselves alone.
    if let Some(obj) = schema.as_object()
        && !obj.keys().any(|k| {
            matches!(
                k.as_str(),
                "$ref" | "allOf" | "anyOf" | "oneOf" | "then" | "else"
            )
        })
    {
        return vec![schema];
    }
    let mut out: Vec<&Value> = Vec::with_capacity(1);
    let mut todo = vec![schema];
    while let Some(s) = todo.pop() {
        if out.len() >= MAX_SCHEMAS {
            break;
        }
        let Some(obj) = s.as_object() else { continue };
        if out.iter().any(|o| std::ptr::eq(*o, s)) {
            continue;
        }
        out.push(s);
        // One pass over the (usually few) keywords instead of a lookup per keyword.
        for (key, v) in obj {
            match key.as_str() {
                "$ref" => {
                    if let Some(pointer) = v.as_str().and_then(|r| r.strip_prefix('#'))
                        && let Some(target) =
                            doc.pointer(&airlock_core::field_path::percent_decode(pointer))
                    {
                        todo.push(target);
                    }
                }
                "allOf" | "anyOf" | "oneOf" => {
                    if let Some(branches) = v.as_array() {
                        todo.extend(branches.iter());
                    }
                }
                // Either branch may apply: both count.
                "then" | "else" => todo.push(v),
                _ => {}
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
    s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:"))
}

/// A `data:` URI (RFC 2397): `data:` then an optional media type and parameters made of
/// token characters, `/`, `;` and `=`, then `,` and the content
/// (`data:application/gzip;base64,H4sI…`, `data:,Hello`). It carries its content inline and
/// reaches no network. Anything else after `data:` (`data://host/…`, a header with other
/// characters, no comma) is not one, and stays a URL with a scheme to check.
pub fn is_data_uri(s: &str) -> bool {
    let Some(rest) = s
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .and_then(|_| s.get(5..))
    else {
        return false;
    };
    let Some((header, _)) = rest.split_once(',') else {
        return false;
    };
    !header.starts_with('/')
        && header
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-/;=".contains(c))
}

/// A special scheme and its colon without `//` (`http:169.254.169.254/`): WHATWG parsers and
/// Node's `fetch` read it as a URL all the same.
fn has_special_scheme(s: &str) -> bool {
    ["http:", "https:", "ws:", "wss:", "ftp:"].iter().any(|p| {
        s.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// Whether any component, with `/` or `\` as separators, is `..`.
fn climbs(s: &str) -> bool {
    s.split(['/', '\\']).any(|c| c == "..")
}

/// An IP address, or an address and port (`10.0.0.5`, `10.0.0.5:6379`, `[::1]:80`, `::1`).
fn is_address(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok() || s.parse::<std::net::SocketAddr>().is_ok()
}

/// `paths` → `path`, `directories` → `directory`, `urls` → `url`, in place: the new length.
fn singular(w: &mut [u8], len: usize) -> usize {
    let word = &w[..len];
    if word.ends_with(b"ies") {
        w[len - 3] = b'y';
        return len - 2;
    }
    if word.ends_with(b"es")
        && (word[..len - 2].ends_with(b"ss") || word[..len - 2].ends_with(b"x"))
    {
        return len - 2;
    }
    if word.ends_with(b"s") && len >= 3 && word[len - 2] != b's' {
        return len - 1;
    }
    len
}

/// The kind a lower-case word names.
fn kind_of_word(w: &[u8]) -> Option<Kind> {
    let is = |set: &[&str]| set.iter().any(|s| s.as_bytes() == w);
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

/// The bytes of `ranges` of `b`, lower-cased into `buf`: their length, or `None` when they
/// are not ASCII or do not fit (every listed word is short and ASCII).
fn lower_into(b: &[u8], ranges: &[(usize, usize)], buf: &mut [u8; 32]) -> Option<usize> {
    let mut n = 0;
    for &(s, e) in ranges {
        for &c in &b[s..e] {
            if !c.is_ascii() || n == buf.len() {
                return None;
            }
            buf[n] = c.to_ascii_lowercase();
            n += 1;
        }
    }
    Some(n)
}

/// What a parameter's name says it holds: its last word (`sourceFilePath` → `path`), or its
/// last two words together (`file_name` → `filename`), singular.
pub fn kind_of_name(name: &str) -> Option<Kind> {
    // The last two words' byte ranges (words split at non-alphanumerics and at a lower-case
    // letter or digit followed by an upper-case one); no allocation.
    let b = name.as_bytes();
    let mut last: [Option<(usize, usize)>; 2] = [None, None];
    let mut push = |s: usize, e: usize| {
        last[0] = last[1];
        last[1] = Some((s, e));
    };
    let mut start: Option<usize> = None;
    let mut prev_lower = false;
    for (i, ch) in name.char_indices() {
        if !ch.is_alphanumeric() {
            if let Some(s) = start.take() {
                push(s, i);
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase()
            && prev_lower
            && let Some(s) = start.take()
        {
            push(s, i);
        }
        start.get_or_insert(i);
        prev_lower = ch.is_lowercase() || ch.is_numeric();
    }
    if let Some(s) = start {
        push(s, b.len());
    }
    let mut buf = [0u8; 32];
    let (prev, word) = (last[0], last[1]?);
    if let Some(n) = lower_into(b, &[word], &mut buf) {
        let n = singular(&mut buf, n);
        if let Some(k) = kind_of_word(&buf[..n]) {
            return Some(k);
        }
    }
    let n = lower_into(b, &[prev?, word], &mut buf)?;
    let n = singular(&mut buf, n);
    kind_of_word(&buf[..n])
}

/// Words of a `description` that say a value is a path, a URL or a host: the name rule keeps
/// its say when one appears.
const TARGET_DESCRIPTION_WORDS: &[&str] = &[
    "path",
    "pathname",
    "file",
    "filename",
    "filepath",
    "dir",
    "directory",
    "folder",
    "url",
    "uri",
    "iri",
    "endpoint",
    "webhook",
    "link",
    "href",
    "host",
    "hostname",
    "domain",
];
/// Words of a `description` that say a value is something else than a path, a URL or a host.
const OTHER_DESCRIPTION_WORDS: &[&str] = &[
    "iban",
    "bic",
    "swift",
    "email",
    "mail",
    "phone",
    "telephone",
    "amount",
    "price",
    "name",
    "username",
    "id",
    "identifier",
    "uuid",
    "number",
    "account",
    "date",
    "time",
    "timestamp",
    "currency",
    "country",
    "language",
];

/// Whether the schema says what a value is, and it is not a path, URL or host: a `format` of
/// another kind (`email`, `date`, `uuid`, `iban` …), or a `description` naming another kind
/// of value (IBAN, e-mail, phone, amount, name, id …) and no path, file, directory, URL or
/// host. The name rule then gives way (formats of a target kind were taken before).
fn schema_says_otherwise(schemas: &[&Value]) -> bool {
    if schemas
        .iter()
        .any(|sc| sc.get("format").and_then(Value::as_str).is_some())
    {
        return true;
    }
    let mut other = false;
    for d in schemas
        .iter()
        .filter_map(|sc| sc.get("description").and_then(Value::as_str))
    {
        for word in d
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let mut buf = [0u8; 32];
            let Some(n) = lower_into(word.as_bytes(), &[(0, word.len())], &mut buf) else {
                continue;
            };
            let n = singular(&mut buf, n);
            let w = &buf[..n];
            let is = |set: &[&str]| set.iter().any(|s| s.as_bytes() == w);
            if is(TARGET_DESCRIPTION_WORDS) {
                return false;
            }
            other |= is(OTHER_DESCRIPTION_WORDS);
        }
    }
    other
}

fn classify<'a>(
    schemas: &[&'a Value],
    name: &'a str,
    s: &str,
    not_paths: &[String],
) -> Option<(Kind, Rule<'a>)> {
    if s.is_empty() {
        return None;
    }
    // Leading spaces and controls are dropped by URL parsers (`" http://…"` is a URL).
    let t = s.trim_start_matches(|c: char| c.is_whitespace() || c.is_control());
    let url_or_path = |k: Kind| {
        if is_file_uri(t) {
            Kind::Path
        } else if k == Kind::Path && (has_scheme(t) || has_special_scheme(t)) {
            Kind::Url
        } else {
            k
        }
    };
    // Inline content (`data:`) where a URL is expected names no endpoint and no file. Under a
    // path's name or format it stays a path: a server that takes it as one opens that file.
    let inline = |k: Kind| k == Kind::Url && is_data_uri(t);
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
                if inline(k) {
                    return None;
                }
                return Some((url_or_path(k), Rule::Format(f)));
            }
        }
    }
    if let Some(k) = kind_of_name(name)
        && !(k == Kind::Path && not_paths.iter().any(|n| n == name))
        && !schema_says_otherwise(schemas)
    {
        if inline(k) {
            return None;
        }
        return Some((url_or_path(k), Rule::Name(name)));
    }
    if is_file_uri(t) {
        return Some((Kind::Path, Rule::Shape("file URI")));
    }
    if has_scheme(t) || has_special_scheme(t) {
        return Some((Kind::Url, Rule::Shape("scheme://")));
    }
    if is_address(s) {
        return Some((Kind::Host, Rule::Shape("IP address")));
    }
    // A `..` component is a traversal whatever else the text holds.
    if climbs(s) {
        return Some((Kind::Path, Rule::Shape("parent directory")));
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

    /// Issue 14: server-everything's `gzip-file-as-resource` takes its content as a `data:`
    /// URI under `format: uri`, and the network guard refused it as a disallowed scheme.
    #[test]
    fn issue_14_data_uris_are_not_endpoints() {
        let schema = json!({"type": "object", "properties": {
            "data": {"type": "string", "format": "uri"},
            "path": {"type": "string", "format": "path"}
        }});
        let got = found(
            schema,
            json!({
                "data": "data:application/gzip;base64,H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==",
                "callback_url": "DATA:,Hello%2C%20World",
                "path": "data:,x",
                "link": "data://169.254.169.254/,x",
                "webhook": "javascript:alert(1)",
                "href": "data:text/html<script>,x"
            }),
        );
        assert_eq!(
            got,
            vec![
                ("path".into(), Kind::Path, "schema format 'path'".into()),
                ("link".into(), Kind::Url, "parameter name 'link'".into()),
                (
                    "webhook".into(),
                    Kind::Url,
                    "parameter name 'webhook'".into()
                ),
                ("href".into(), Kind::Url, "parameter name 'href'".into()),
            ]
        );
        assert!(is_data_uri("data:,"));
        assert!(is_data_uri("data:text/plain;charset=utf-8;base64,SGk="));
        assert!(!is_data_uri("data:"));
        assert!(!is_data_uri("data:text/plain"));
        assert!(!is_data_uri("data://h/,x"));
        assert!(!is_data_uri("datax:,x"));
    }

    /// Issue 14: `to`, described as "IBAN of the recipient", was taken for a path by its name.
    #[test]
    fn issue_14_name_rule_gives_way_to_description_and_format() {
        let schema = json!({"type": "object", "properties": {
            "to": {"type": "string", "description": "IBAN of the recipient"},
            "from": {"type": "string", "format": "email"},
            "target": {"type": "string", "description": "E-mail address to notify"},
            "source": {"type": "string", "description": "Name of the file to copy"},
            "dest": {"type": "string", "description": "Directory (by name) to copy into"},
            "destination": {"type": "string", "format": "uri-reference", "description": "Account id"},
            "location": {"type": "string", "description": "Account id"},
            "file": {"type": "string", "description": "Which report"}
        }});
        let got = found(
            schema,
            json!({
                "to": "DE89370400440532013000",
                "from": "a@example.com",
                "target": "ops@example.com",
                "source": "notes.txt",
                "dest": "backup",
                "destination": "acct-1",
                "location": "/etc/passwd",
                "file": "q3.pdf"
            }),
        );
        assert_eq!(
            got,
            vec![
                (
                    "source".into(),
                    Kind::Path,
                    "parameter name 'source'".into()
                ),
                ("dest".into(), Kind::Path, "parameter name 'dest'".into()),
                (
                    "destination".into(),
                    Kind::Url,
                    "schema format 'uri-reference'".into()
                ),
                // Not a path by its name, but still by its shape.
                ("location".into(), Kind::Path, "shape: absolute path".into()),
                ("file".into(), Kind::Path, "parameter name 'file'".into()),
            ]
        );
    }

    /// Issue 14: a per-tool opt-out (`filesystem.tools.<tool>.not_paths`) for names that are
    /// not paths in this tool; the value's shape still counts.
    #[test]
    fn issue_14_not_paths_turns_off_the_name_rule_only() {
        let schema = json!({"type": "object"});
        let args = json!({"to": "DE89370400440532013000", "from": "../../etc/passwd", "path": "a"});
        let Value::Object(m) = args else {
            unreachable!()
        };
        let not_paths = vec!["to".to_owned(), "from".to_owned()];
        let got: Vec<(String, String)> = targets_except(&schema, &m, &not_paths)
            .into_iter()
            .map(|t| (t.field, t.rule.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("from".into(), "shape: parent directory".into()),
                ("path".into(), "parameter name 'path'".into()),
            ]
        );
    }

    #[test]
    fn review_findings_are_found() {
        let got = found(
            json!({"type": "object", "properties": {
                "ref": {"type": "string", "format": "uri-reference"},
                "tuple": {"type": "array", "items": [{"type": "string"}, {"type": "string", "format": "path"}]},
                "by_pattern": {"type": "object", "patternProperties": {"^out": {"format": "path"}}},
                "cond": {"if": {"type": "string"}, "then": {"format": "uri"}}
            }}),
            json!({
                "ref": "../../etc/passwd",
                "tuple": ["x", "report.txt"],
                "by_pattern": {"out_file_x": "a.txt"},
                "cond": "https://example.com",
                "query": "\u{e9}\u{e9}\u{e9}",
                "q": "http:169.254.169.254/latest/",
                "q2": " http://169.254.169.254/",
                "q3": "a b/../../etc/passwd",
                "q4": "a/..\\..",
                "ip": "10.0.0.5",
                "misc": "10.0.0.5:6379",
                "from": ".env"
            }),
        );
        let kinds: Vec<(&str, Kind)> = got.iter().map(|(f, k, _)| (f.as_str(), *k)).collect();
        assert_eq!(
            kinds,
            vec![
                ("ref", Kind::Url),
                ("tuple[1]", Kind::Path),
                ("by_pattern.out_file_x", Kind::Path),
                ("cond", Kind::Url),
                ("q", Kind::Url),
                ("q2", Kind::Url),
                ("q3", Kind::Path),
                ("q4", Kind::Path),
                ("ip", Kind::Host),
                ("misc", Kind::Host),
                ("from", Kind::Path),
            ]
        );
        // A relative reference is checked as a path too; so is a URL under a path's name.
        let schema = json!({"properties": {"ref": {"format": "uri-reference"}}});
        let args = json!({"ref": "../x", "path": "http://h/../../etc"});
        let Value::Object(m) = args else {
            unreachable!()
        };
        let t = targets(&schema, &m);
        assert!(t.iter().all(|t| t.also_path), "{t:?}");
    }
}
