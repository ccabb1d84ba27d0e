//! The layers of a configuration and how they merge: the file's text, settings from code
//! (builder calls, command-line flags) and `AIRLOCK_*` environment variables, each layer
//! checked on its own against the raw shape so that an error names its [`Origin`] — file and
//! line, variable or flag — the key path, and a `hint:` with the closest known key or value.
//! [`ConfigBuilder::build`] merges the layers (file, then code, then environment), derives
//! each tenant's effective settings, compiles the result and gathers start-up warnings.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Config;
use super::compile::compile;
use super::settings::Settings;
use crate::checks::UnknownArgs;
use crate::suggest::closest;

/// Environment variables with the `AIRLOCK_` prefix that are not configuration keys.
pub const RESERVED_ENV: &[&str] = &[
    "AIRLOCK_CONFIG",
    "AIRLOCK_LOG",
    "AIRLOCK_BLESS",
    "AIRLOCK_AGENT",
    "AIRLOCK_ROLES",
    "AIRLOCK_TENANT",
    "AIRLOCK_SESSION",
];

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file at this path.
    File(String),
    /// Code: a builder call or a command-line flag (named).
    Code(String),
    /// This environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{p}"),
            Origin::Code(what) => write!(f, "{what}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// A configuration error: where, which key, what is wrong, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// Where the bad setting came from.
    pub origin: Origin,
    /// The line in the file, when known.
    pub line: Option<usize>,
    /// The dotted key path, e.g. `ghost_args.mode` (empty for whole-file syntax errors).
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ", key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// Builds a [`Config`] from a file's text, code overrides and environment variables.
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    file: Option<(String, String)>,
    /// The directory the file's relative paths resolve against (see [`ConfigBuilder::relative_to`]).
    base: Option<std::path::PathBuf>,
    code: Vec<(String, toml::Value, String)>,
    env: Vec<(String, String)>,
}

impl ConfigBuilder {
    /// An empty builder: all defaults.
    pub fn new() -> Self {
        ConfigBuilder::default()
    }

    /// The configuration file's text; `name` (its path) is used in errors.
    #[must_use]
    pub fn file(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.file = Some((name.into(), text.into()));
        self
    }

    /// Resolve the file's relative paths to files on this machine (`audit.path`,
    /// `pinning.file`, `gateway.jwt.jwks_file`, `gateway.jwt.public_key_file`) against `dir`,
    /// the file's directory: MCP clients start servers in a working directory the user does
    /// not choose. Paths from code and the environment stay as given (relative to the working
    /// directory). `dir` itself is made absolute against the working directory.
    #[must_use]
    pub fn relative_to(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        let dir = dir.into();
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(&dir))
        };
        self.base = Some(dir);
        self
    }

    /// Set a dotted key from code; `origin` names the flag or call in errors (`--unknown-args`).
    #[must_use]
    pub fn set(
        mut self,
        key: impl Into<String>,
        value: impl Into<toml::Value>,
        origin: impl Into<String>,
    ) -> Self {
        self.code.push((key.into(), value.into(), origin.into()));
        self
    }

    /// Set `ghost_args.mode` from code.
    #[must_use]
    pub fn unknown_args(self, mode: UnknownArgs) -> Self {
        self.set("ghost_args.mode", mode.as_str(), "builder: unknown_args()")
    }

    /// Environment variables; only `AIRLOCK_*` ones are read. Pass `std::env::vars()`.
    #[must_use]
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in vars {
            let k = k.into();
            if k.starts_with("AIRLOCK_") && !RESERVED_ENV.contains(&k.as_str()) {
                self.env.push((k, v.into()));
            }
        }
        self.env.sort();
        self
    }

    /// Check every layer, merge them (file, then code, then environment) and compile.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut merged = toml::Table::new();
        let mut origins = BTreeMap::new();
        if let Some((name, text)) = &self.file {
            let mut table = parse_file(name, text)?;
            if let Some(base) = &self.base {
                resolve_paths(&mut table, base);
            }
            record_origins(&table, "", &Origin::File(name.clone()), &mut origins);
            merge(&mut merged, table);
        }
        for (key, value, origin) in &self.code {
            let origin = Origin::Code(origin.clone());
            let patch = patch_for(key, value.clone(), &origin)?;
            check_layer(&patch, &origin)?;
            record_origins(&patch, "", &origin, &mut origins);
            merge(&mut merged, patch);
        }
        let mut warnings = Vec::new();
        for (var, raw) in &self.env {
            let origin = Origin::Env(var.clone());
            let Some(key) = env_key(var) else {
                warnings.push(format!(
                    "ignoring environment variable {var}: configuration variables are AIRLOCK_<SECTION>__<KEY> with a double underscore, e.g. AIRLOCK_GHOST_ARGS__MODE"
                ));
                continue;
            };
            let typed = env_value(raw);
            let mut patch = patch_for(&key, typed.clone(), &origin)?;
            if let Err(e) = check_layer(&patch, &origin) {
                // `AIRLOCK_AUDIT__PATH=1234` means the string "1234": retry untyped values as text.
                let as_text = patch_for(&key, toml::Value::String(raw.clone()), &origin)?;
                if typed.is_str() || check_layer(&as_text, &origin).is_err() {
                    return Err(e);
                }
                patch = as_text;
            }
            record_origins(&patch, "", &origin, &mut origins);
            merge(&mut merged, patch);
        }
        let merged_for_tenants = merged.clone();
        let settings =
            Settings::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError {
                origin: Origin::Default,
                line: None,
                key: String::new(),
                message: e.to_string(),
                hint: None,
            })?;
        // Each tenant's effective settings: the merged base with its overrides on top.
        let mut tenant_settings = BTreeMap::new();
        if let Some(toml::Value::Table(tenants)) = merged_for_tenants.get("tenants") {
            let mut base = merged_for_tenants.clone();
            base.remove("tenants");
            for (name, overrides) in tenants {
                if name == "base" {
                    return Err(ConfigError {
                        origin: origins
                            .iter()
                            .find(|(k, _)| k.starts_with("tenants.base."))
                            .map(|(_, o)| o.clone())
                            .unwrap_or(Origin::Default),
                        line: None,
                        key: "tenants.base".into(),
                        message: "\"base\" names the base policy and cannot be a tenant".into(),
                        hint: Some("rename the tenant".into()),
                    });
                }
                let mut effective = base.clone();
                if let toml::Value::Table(t) = overrides {
                    merge(&mut effective, t.clone());
                }
                // Deny lists add up: a tenant can deny more than the base, never less.
                for key in ["deny", "deny_capabilities"] {
                    let base_list = base
                        .get("policy")
                        .and_then(|p| p.get(key))
                        .and_then(toml::Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(toml::Value::Table(policy)) = effective.get_mut("policy")
                        && let Some(toml::Value::Array(list)) = policy.get_mut(key)
                    {
                        for v in base_list {
                            if !list.contains(&v) {
                                list.push(v);
                            }
                        }
                    }
                }
                let s = Settings::deserialize(toml::Value::Table(effective)).map_err(|e| {
                    ConfigError {
                        origin: origins
                            .iter()
                            .find(|(k, _)| k.starts_with(&format!("tenants.{name}.")))
                            .map(|(_, o)| o.clone())
                            .unwrap_or(Origin::Default),
                        line: None,
                        key: format!("tenants.{name}"),
                        message: e.message().to_owned(),
                        hint: None,
                    }
                })?;
                tenant_settings.insert(name.clone(), s);
            }
        }
        let mut config = compile(settings, origins, self.file.as_ref(), tenant_settings)?;
        for pattern in &config.settings.policy.allow {
            if config.settings.policy.deny.contains(pattern) {
                warnings.push(format!(
                    "policy.allow and policy.deny both list {pattern:?}; deny wins, so it is never allowed"
                ));
            }
        }
        warnings.extend(config.policies.base.contradictions());
        for p in config.policies.tenants.values() {
            warnings.extend(p.contradictions());
        }
        if config.settings.ghost_args.mode == UnknownArgs::StripSilent {
            warnings.push(
                "ghost_args.mode = \"strip_silent\": undeclared arguments are removed without any audit record; use \"strip_and_log\" to keep a trace".to_owned(),
            );
        }
        config.warnings = warnings;
        Ok(config)
    }
}

/// The keys whose values name files on this machine.
const FILE_PATHS: &[&[&str]] = &[
    &["audit", "path"],
    &["audit", "signing_key_file"],
    &["pinning", "file"],
    &["gateway", "jwt", "jwks_file"],
    &["gateway", "jwt", "public_key_file"],
];

/// Keys holding a command line (program, then arguments): a program given as a relative path
/// (`./approve`, `bin/approve`) names a file next to the configuration file; a bare name is
/// looked up in `PATH`.
const PROGRAMS: &[&[&str]] = &[&["approval", "command"], &["honeypot", "hook"]];

/// Make the relative [`FILE_PATHS`] and [`PROGRAMS`] in `table` absolute against `base`.
fn resolve_paths(table: &mut toml::Table, base: &std::path::Path) {
    for path in PROGRAMS {
        if let Some(toml::Value::Array(command)) = lookup_mut(table, path)
            && let Some(toml::Value::String(program)) = command.first_mut()
            && program.contains('/')
            && std::path::Path::new(program.as_str()).is_relative()
        {
            *program = base.join(program.as_str()).display().to_string();
        }
    }
    for path in FILE_PATHS {
        if let Some(toml::Value::String(value)) = lookup_mut(table, path)
            && !value.is_empty()
            && std::path::Path::new(value.as_str()).is_relative()
        {
            *value = base.join(value.as_str()).display().to_string();
        }
    }
}

/// The value at the dotted `path` in `table`, if every table on the way is there.
fn lookup_mut<'a>(table: &'a mut toml::Table, path: &[&str]) -> Option<&'a mut toml::Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get_mut(*first)?;
    if rest.is_empty() {
        Some(value)
    } else {
        lookup_mut(value.as_table_mut()?, rest)
    }
}

/// The line an error points at, or the last one before it with text (an unclosed bracket is
/// found where the file ends), trimmed and cut to 80 characters: `(line number, text)`.
fn quoted_line(text: &str, line: usize) -> (usize, String) {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = line.min(lines.len().max(1));
    while at > 1 && lines.get(at - 1).is_none_or(|l| l.trim().is_empty()) {
        at -= 1;
    }
    let shown: String = lines
        .get(at - 1)
        .map_or("", |l| l.trim())
        .chars()
        .take(80)
        .collect();
    (at, shown)
}

fn parse_file(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    let origin = Origin::File(name.to_owned());
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
    };
    // First as the typed shape, for key paths and line numbers of every error.
    let de = toml::de::Deserializer::parse(text).map_err(|e| {
        let line = line_of(e.span());
        ConfigError {
            origin: origin.clone(),
            line: line.map(|l| quoted_line(text, l).0),
            key: String::new(),
            message: format!("not valid TOML: {}", e.message().trim()),
            hint: Some(match line {
                Some(l) => {
                    let (at, shown) = quoted_line(text, l);
                    format!("line {at} reads `{shown}`: check its quotes, brackets and commas")
                }
                None => "check the quoting and brackets".into(),
            }),
        }
    })?;
    if let Err(e) = serde_path_to_error::deserialize::<_, Settings>(de) {
        let key = clean_path(&e.path().to_string());
        let inner = e.into_inner();
        return Err(describe_serde_error(
            origin,
            line_of(inner.span()),
            key,
            inner.message(),
        ));
    }
    toml::from_str::<toml::Table>(text).map_err(|e| ConfigError {
        origin,
        line: line_of(e.span()),
        key: String::new(),
        message: format!("not valid TOML: {}", e.message()),
        hint: None,
    })
}

fn check_layer(patch: &toml::Table, origin: &Origin) -> Result<(), ConfigError> {
    let value = toml::Value::Table(patch.clone());
    serde_path_to_error::deserialize::<_, Settings>(value)
        .map(|_| ())
        .map_err(|e| {
            let key = clean_path(&e.path().to_string());
            let inner = e.into_inner();
            describe_serde_error(origin.clone(), None, key, inner.message())
        })
}

fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

/// Turn serde's messages ("unknown field `x`, expected one of `a`, `b`") into an error with a
/// suggestion.
fn describe_serde_error(
    origin: Origin,
    line: Option<usize>,
    key: String,
    message: &str,
) -> ConfigError {
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let message = message.trim().to_owned();
    let hint = if message.starts_with("unknown field") || message.starts_with("unknown variant") {
        let (bad, known) = ticked.split_first().map_or(("", &[][..]), |(b, k)| (*b, k));
        let what = if message.starts_with("unknown field") {
            "keys"
        } else {
            "values"
        };
        let mut hint = String::new();
        if let Some(near) = closest(bad, known.iter().copied()) {
            hint.push_str(&format!("did you mean `{near}`? "));
        }
        if known.is_empty() {
            hint.push_str("this table takes no keys");
        } else {
            hint.push_str(&format!("known {what}: {}", known.join(", ")));
        }
        Some(hint)
    } else if let Some((message, hint)) = type_error(&key, &message) {
        return ConfigError {
            origin,
            line,
            key,
            message,
            hint: Some(hint),
        };
    } else if message.starts_with("invalid type") {
        Some("see docs/config.md for the type of each key".into())
    } else {
        None
    };
    ConfigError {
        origin,
        line,
        key,
        message,
        hint,
    }
}

/// serde's `invalid type: string "200", expected u64` in words a person acts on: what the key
/// takes, and the line written that way (`max_calls = 200`), reusing the value given where it
/// fits.
fn type_error(key: &str, message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("invalid type: ")?;
    let (got, expected) = rest.split_once(", expected ")?;
    let name = key
        .rsplit('.')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("key");
    // The value given, when it was a string: `string "200"`.
    let given = got
        .strip_prefix("string \"")
        .and_then(|g| g.strip_suffix('"'));
    let (what, example) = match expected.trim() {
        e if e.starts_with('u')
            || e.starts_with('i') && e[1..].chars().all(|c| c.is_ascii_digit()) =>
        {
            let n = given
                .filter(|g| g.trim().parse::<i64>().is_ok())
                .map_or("200".to_owned(), |g| g.trim().to_owned());
            ("an integer", format!("{name} = {n}"))
        }
        e if e.starts_with('f') => ("a number", format!("{name} = 1.5")),
        "a boolean" => (
            "true or false",
            format!(
                "{name} = {}",
                given.filter(|g| *g == "false").unwrap_or("true")
            ),
        ),
        "a sequence" => (
            "an array",
            format!("{name} = [\"{}\"]", given.unwrap_or("…")),
        ),
        "a string" => ("a string", format!("{name} = \"…\"")),
        e if e.starts_with("struct") || e == "a map" => (
            "a table",
            format!("[{key}] and its keys on the lines below"),
        ),
        _ => return None,
    };
    let got = got.replace("sequence", "array").replace("map", "table");
    Some((
        format!("expected {what}, got {got}"),
        format!("write it as {example} (docs/config.md lists every key's type)"),
    ))
}

/// `AIRLOCK_GHOST_ARGS__MODE` → `ghost_args.mode`; `None` for variables without `__`.
fn env_key(var: &str) -> Option<String> {
    let rest = var.trim_start_matches("AIRLOCK_");
    if !rest.contains("__") {
        return None;
    }
    Some(
        rest.split("__")
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn patch_for(key: &str, value: toml::Value, origin: &Origin) -> Result<toml::Table, ConfigError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError {
            origin: origin.clone(),
            line: None,
            key: key.to_owned(),
            message: "not a valid key path".into(),
            hint: Some("use a dotted path such as ghost_args.mode".into()),
        });
    }
    let Some((last, parents)) = parts.split_last() else {
        return Ok(toml::Table::new());
    };
    let mut table = toml::Table::new();
    table.insert((*last).to_owned(), value);
    for part in parents.iter().rev() {
        let mut outer = toml::Table::new();
        outer.insert((*part).to_owned(), toml::Value::Table(table));
        table = outer;
    }
    Ok(table)
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

pub(super) fn record_origins(
    t: &toml::Table,
    prefix: &str,
    origin: &Origin,
    out: &mut BTreeMap<String, Origin>,
) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => record_origins(inner, &key, origin, out),
            _ => {
                out.insert(key, origin.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Config, ConfigError> {
        ConfigBuilder::new().file("airlock.toml", text).build()
    }

    #[test]
    fn unknown_key_names_file_line_key_and_suggestion() {
        let e = file("[ghost_args]\nmode = \"block\"\nmdoe = \"block\"\n").unwrap_err();
        assert_eq!(e.origin, Origin::File("airlock.toml".into()));
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key, "ghost_args.mdoe");
        assert!(e.message.contains("unknown field `mdoe`"), "{e}");
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `mode`? known keys: mode")
        );
    }

    #[test]
    fn unknown_section_and_bad_value() {
        let e = file("[ghost_arg]\nmode = \"block\"\n").unwrap_err();
        assert!(e.hint.unwrap().starts_with("did you mean `ghost_args`?"));
        let e = file("[ghost_args]\nmode = \"blok\"\n").unwrap_err();
        assert_eq!(e.key, "ghost_args.mode");
        assert_eq!(e.line, Some(2));
        assert!(e.hint.unwrap().starts_with("did you mean `block`?"));
        let e = file("[arguments]\nmax_depth = \"deep\"\n").unwrap_err();
        assert_eq!(e.key, "arguments.max_depth");
        let e = file("[arguments\n").unwrap_err();
        assert!(e.message.starts_with("not valid TOML"), "{e}");
    }

    #[test]
    fn relative_file_paths_resolve_against_the_file() {
        let text = "[audit]\npath = \"logs/audit.jsonl\"\n[pinning]\nmode = \"file\"\nfile = \"/var/lib/airlock/pins.json\"\n[gateway.jwt]\njwks_file = \"keys/jwks.json\"\n";
        let c = ConfigBuilder::new()
            .file("/etc/airlock/airlock.toml", text)
            .relative_to("/etc/airlock")
            .build()
            .unwrap();
        assert_eq!(
            c.settings.audit.path.as_deref(),
            Some("/etc/airlock/logs/audit.jsonl")
        );
        assert_eq!(
            c.settings.pinning.file.as_deref(),
            Some("/var/lib/airlock/pins.json")
        );
        assert_eq!(
            c.settings
                .gateway
                .jwt
                .as_ref()
                .and_then(|j| j.jwks_file.as_deref()),
            Some("/etc/airlock/keys/jwks.json")
        );
        // Paths from the environment stay relative to the working directory.
        let c = ConfigBuilder::new()
            .file("/etc/airlock/airlock.toml", text)
            .relative_to("/etc/airlock")
            .env([("AIRLOCK_AUDIT__PATH", "here.jsonl")])
            .build()
            .unwrap();
        assert_eq!(c.settings.audit.path.as_deref(), Some("here.jsonl"));
        // A relative directory is made absolute against the working directory.
        let c = ConfigBuilder::new()
            .file("conf/airlock.toml", text)
            .relative_to("conf")
            .build()
            .unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            c.settings.audit.path.as_deref(),
            Some(
                cwd.join("conf/logs/audit.jsonl")
                    .display()
                    .to_string()
                    .as_str()
            )
        );
    }

    #[test]
    fn relative_programs_resolve_against_the_file_and_bare_names_stay() {
        let text = "[approval]\ncommand = [\"bin/approve\", \"--channel\", \"ops/x\"]\n[honeypot]\nhook = [\"logger\", \"-t\", \"a/b\"]\n";
        let c = ConfigBuilder::new()
            .file("/etc/airlock/airlock.toml", text)
            .relative_to("/etc/airlock")
            .build()
            .unwrap();
        assert_eq!(
            c.settings.approval.command,
            ["/etc/airlock/bin/approve", "--channel", "ops/x"]
        );
        assert_eq!(c.settings.honeypot.hook, ["logger", "-t", "a/b"]);
        // Set from the environment, a relative program has no file to resolve against.
        for (var, key) in [
            ("AIRLOCK_APPROVAL__COMMAND", "approval.command"),
            ("AIRLOCK_HONEYPOT__HOOK", "honeypot.hook"),
        ] {
            let e = ConfigBuilder::new()
                .env([(var, r#"["bin/approve"]"#)])
                .build()
                .unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.message.contains("relative path"), "{e}");
        }
    }

    #[test]
    fn type_errors_say_what_the_key_takes_with_an_example() {
        let e = file("[session]\nmax_calls = \"200\"\n").unwrap_err();
        assert_eq!(e.key, "session.max_calls");
        assert_eq!(e.message, "expected an integer, got string \"200\"");
        assert!(e.hint.unwrap().starts_with("write it as max_calls = 200"));
        let e = file("[policy]\ndeny = \"delete_*\"\n").unwrap_err();
        assert!(
            e.hint
                .unwrap()
                .starts_with("write it as deny = [\"delete_*\"]")
        );
        let e = file("[audit]\nfsync = \"yes\"\n").unwrap_err();
        assert_eq!(e.message, "expected true or false, got string \"yes\"");
    }

    #[test]
    fn toml_syntax_errors_quote_the_line() {
        let e = file("[policy]\ndeny = [\"a\",\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(
            e.hint.as_deref(),
            Some("line 2 reads `deny = [\"a\",`: check its quotes, brackets and commas")
        );
    }

    #[test]
    fn strip_silent_is_announced() {
        let c = file("[ghost_args]\nmode = \"strip_silent\"\n").unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("strip_silent")));
        assert!(file("").unwrap().warnings.is_empty());
    }

    #[test]
    fn env_beats_code_beats_file() {
        let base = || {
            ConfigBuilder::new()
                .file(
                    "a.toml",
                    "[ghost_args]\nmode = \"block\"\n[arguments]\nmax_depth = 10\n",
                )
                .unknown_args(UnknownArgs::StripAndLog)
        };
        let c = base().build().unwrap();
        assert_eq!(c.settings.ghost_args.mode, UnknownArgs::StripAndLog);
        assert_eq!(c.settings.arguments.max_depth, 10);
        assert_eq!(
            c.origin("arguments.max_depth"),
            Origin::File("a.toml".into())
        );
        let c = base()
            .env([
                ("AIRLOCK_GHOST_ARGS__MODE", "strip_silent"),
                ("PATH", "/bin"),
            ])
            .build()
            .unwrap();
        assert_eq!(c.settings.ghost_args.mode, UnknownArgs::StripSilent);
        assert_eq!(
            c.origin("ghost_args.mode"),
            Origin::Env("AIRLOCK_GHOST_ARGS__MODE".into())
        );
    }

    #[test]
    fn env_values_are_typed_and_checked() {
        let c = ConfigBuilder::new()
            .env([
                ("AIRLOCK_AUDIT__REDACT_KEYS", "[\"iban_no\"]"),
                ("AIRLOCK_AUDIT__FSYNC", "true"),
                ("AIRLOCK_AUDIT__PATH", "/tmp/a.jsonl"),
            ])
            .build()
            .unwrap();
        assert!(c.settings.audit.fsync);
        assert_eq!(c.settings.audit.redact_keys, ["iban_no"]);
        assert_eq!(c.settings.audit.path.as_deref(), Some("/tmp/a.jsonl"));
        let e = ConfigBuilder::new()
            .env([("AIRLOCK_GHOST_ARGS__MODDE", "block")])
            .build()
            .unwrap_err();
        assert_eq!(e.origin, Origin::Env("AIRLOCK_GHOST_ARGS__MODDE".into()));
        assert!(e.hint.unwrap().starts_with("did you mean `mode`?"));
        // Variables that cannot be configuration keys are ignored, with a warning.
        let c = ConfigBuilder::new()
            .env([("AIRLOCK_HOME", "/x")])
            .build()
            .unwrap();
        assert!(c.warnings[0].contains("AIRLOCK_HOME"));
        // A string key given digits is the string, not an error.
        let c = ConfigBuilder::new()
            .env([("AIRLOCK_AUDIT__PATH", "1234")])
            .build()
            .unwrap();
        assert_eq!(c.settings.audit.path.as_deref(), Some("1234"));
        // A number key given text is still an error.
        assert!(
            ConfigBuilder::new()
                .env([("AIRLOCK_ARGUMENTS__MAX_DEPTH", "deep")])
                .build()
                .is_err()
        );
    }

    #[test]
    fn errors_render_with_hint_lines() {
        let e = file("[ghost_args]\nmdoe = 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "airlock.toml, line 2, key `ghost_args.mdoe`: unknown field `mdoe`, expected `mode`\nhint: did you mean `mode`? known keys: mode"
        );
    }
}
