//! Secrets leaving through a tool call: the `argument_scan` check (guard phase).
//!
//! Every string in the arguments, at any depth, is scanned for secrets (and custom detectors'
//! types); personal data in arguments is normal (an e-mail address to send to) and is left
//! alone. Keys are scanned too, and a member's key is the context of its value
//! (`{"db_password": "…"}`); a list of strings is also read as one command line
//! (`["--password", "…"]`). `refuse` refuses the call naming the fields and types, never the
//! values; `mask` replaces what was found and lets the call go on, recording each masked path.
//! A secret in a key is refused in either mode (masking a key would change the call's shape).
//!
//! In both modes the values are masked in the call's arguments before the verdict, so the audit
//! log, which records the arguments of such calls after this check, never holds the secret.
//!
//! The scanner is chosen by the caller's tenant (`[tenants.NAME.sanitize]`: its allow lists,
//! disabled types and custom detectors), else the base one.

use std::collections::HashMap;
use std::sync::Arc;

use airlock_core::pipeline::{CallState, Change, Check, CheckError, Outcome, Phase};
use airlock_core::refusal::{DenyCode, FieldError, Refusal};
use serde_json::{Map, Value};

use crate::Scanner;

/// What `argument_scan` does with a secret in the arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgumentMode {
    /// Refuse the call.
    Refuse,
    /// Mask the value and let the call go on.
    Mask,
}

/// The check.
#[derive(Debug)]
pub struct ArgumentScan {
    base: Arc<Scanner>,
    tenants: HashMap<String, Arc<Scanner>>,
    mode: ArgumentMode,
}

impl ArgumentScan {
    /// Scan arguments with `scanner`.
    pub fn new(scanner: Arc<Scanner>, mode: ArgumentMode) -> Self {
        ArgumentScan {
            base: scanner,
            tenants: HashMap::new(),
            mode,
        }
    }

    /// Scan the arguments of `tenant`'s callers with `scanner` instead of the base one.
    pub fn tenant(mut self, tenant: &str, scanner: Arc<Scanner>) -> Self {
        self.tenants.insert(tenant.to_owned(), scanner);
        self
    }
}

fn path_of(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// One walk over the arguments: what was found where, and the masks applied.
struct Walk<'s> {
    scanner: &'s Scanner,
    hits: Vec<(String, &'static str)>,
    changes: Vec<Change>,
}

impl Walk<'_> {
    fn secrets(&self, text: &str, key: Option<&str>) -> Vec<crate::Finding> {
        match key {
            Some(k) => self.scanner.find_member(k, text),
            None => self.scanner.find(text),
        }
        .into_iter()
        .filter(|f| self.scanner.is_secret(f.kind))
        .collect()
    }

    /// Scan (and mask) the keys of `map`, then its values.
    fn object(&mut self, path: &str, map: &mut Map<String, Value>) {
        let keys: Vec<String> = map.keys().cloned().collect();
        for k in keys {
            let found = self.secrets(&k, None);
            let item_path = path_of(path, &k);
            let key = if found.is_empty() {
                k
            } else {
                for f in &found {
                    self.hits.push((format!("{item_path} (key)"), f.kind));
                }
                let masked = self.scanner.apply(&k, &found);
                let Some(v) = map.remove(&k) else { continue };
                map.insert(masked.clone(), v);
                masked
            };
            if let Some(v) = map.get_mut(&key) {
                self.value(item_path, Some(&key), v);
            }
        }
    }

    fn value(&mut self, path: String, key: Option<&str>, v: &mut Value) {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Object(o) => return self.object(&path, o),
            Value::Array(a) => {
                self.argv(&path, a);
                for (i, item) in a.iter_mut().enumerate() {
                    self.value(format!("{path}[{i}]"), key, item);
                }
                return;
            }
            Value::Bool(_) | Value::Null => return,
        };
        let found = self.secrets(&text, key);
        if found.is_empty() {
            return;
        }
        for f in &found {
            self.hits.push((path.clone(), f.kind));
            self.changes.push(Change::MaskedArgument {
                path: path.clone(),
                found: f.kind.to_owned(),
            });
        }
        *v = Value::String(self.scanner.apply(&text, &found));
    }

    /// An argv-style list (`["--password", "x"]`) read as one command line: an item holding
    /// (part of) a secret is masked whole.
    fn argv(&mut self, path: &str, a: &mut [Value]) {
        if a.len() < 2 || !a.iter().all(Value::is_string) {
            return;
        }
        let items: Vec<String> = a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        let line = format!(" {}", items.join(" "));
        let mut starts = Vec::with_capacity(items.len());
        let mut at = 1;
        for it in &items {
            starts.push(at);
            at += it.len() + 1;
        }
        for f in self.secrets(&line, None) {
            for (i, it) in items.iter().enumerate() {
                let (lo, hi) = (starts[i], starts[i] + it.len());
                if f.start < hi && f.end > lo {
                    let item_path = format!("{path}[{i}]");
                    self.hits.push((item_path.clone(), f.kind));
                    a[i] = Value::String(format!("[{}]", f.kind.to_ascii_uppercase()));
                    self.changes.push(Change::MaskedArgument {
                        path: item_path,
                        found: f.kind.to_owned(),
                    });
                }
            }
        }
    }
}

impl Check for ArgumentScan {
    fn name(&self) -> &'static str {
        "argument_scan"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["sanitize.arguments"]
    }

    fn phase(&self) -> Phase {
        Phase::Guard
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let scanner = call
            .caller
            .tenant
            .as_deref()
            .and_then(|t| self.tenants.get(t))
            .unwrap_or(&self.base);
        let mut walk = Walk {
            scanner,
            hits: Vec::new(),
            changes: Vec::new(),
        };
        walk.object("", &mut call.arguments);
        let Walk {
            mut hits, changes, ..
        } = walk;
        if hits.is_empty() {
            return Ok(Outcome::Pass);
        }
        hits.sort();
        hits.dedup();
        // A secret in a key cannot be masked away without changing the call's shape: refused
        // in either mode.
        let in_key = hits.iter().any(|(p, _)| p.ends_with(" (key)"));
        if self.mode == ArgumentMode::Mask && !in_key {
            return Ok(Outcome::Changed(changes));
        }
        let list: Vec<String> = hits.iter().map(|(p, k)| format!("'{p}' ({k})")).collect();
        let mut refusal = Refusal::new(
            DenyCode::ArgumentsSecret,
            call.tool.name.clone(),
            format!(
                "Tool '{}' would receive a secret: {}.",
                call.tool.name,
                list.join(", ")
            ),
        );
        refusal.errors = hits
            .into_iter()
            .map(|(field, kind)| FieldError {
                field,
                kind: "secret",
                expected: None,
                got: Some(kind.to_owned()),
            })
            .collect();
        Ok(Outcome::Refuse(refusal))
    }
}

#[cfg(test)]
mod tests {
    /// The engine's own configuration for tests of this check alone: the sections other
    /// checks serve (paths, URLs, result masking) are off.
    fn core_only() -> airlock_core::Config {
        airlock_testkit::core_only().build().unwrap()
    }

    use super::*;
    use airlock_core::{Call, CallerContext, Decision, Engine, ToolDef};
    use serde_json::json;

    fn engine(mode: ArgumentMode) -> Engine {
        let scanner = Arc::new(Scanner::builder().build().unwrap());
        let tool = ToolDef::new(
            "http_post",
            json!({"type": "object", "properties": {"url": {"type": "string"}, "body": {"type": "object"}}}),
        );
        Engine::builder()
            .config(core_only())
            .tools([tool])
            .check(Arc::new(ArgumentScan::new(scanner, mode)))
            .build()
            .unwrap()
    }

    #[test]
    fn the_audit_log_never_holds_the_secret_and_tenants_have_their_own_rules() {
        use airlock_core::audit::MemorySink;
        let token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
        let tool = ToolDef::new(
            "http_post",
            json!({"type": "object", "properties": {"url": {"type": "string"}, "body": {"type": "object"}}}),
        );
        for mode in [ArgumentMode::Refuse, ArgumentMode::Mask] {
            let sink = Arc::new(MemorySink::new());
            let engine = Engine::builder()
                .config(core_only())
                .tools([tool.clone()])
                .audit(sink.clone())
                .check(Arc::new(ArgumentScan::new(
                    Arc::new(Scanner::builder().build().unwrap()),
                    mode,
                )))
                .build()
                .unwrap();
            for args in [
                json!({"url": "u", "body": {"note": format!("key {token}")}}),
                json!({"url": "u", "body": {token: 1}}),
                json!({"url": "u", "body": {"argv": ["gh", "--token", token]}}),
            ] {
                let _ = engine.check(call(args));
            }
            let events = sink.events();
            assert_eq!(events.len(), 3);
            for e in events {
                let line = serde_json::to_string(&e).unwrap();
                assert!(!line.contains(token), "{mode:?}: {line}");
                assert!(line.contains("body"), "the rest is still recorded: {line}");
            }
        }
        // A tenant's allow list applies to its own callers' arguments only.
        let check = ArgumentScan::new(
            Arc::new(Scanner::builder().build().unwrap()),
            ArgumentMode::Refuse,
        )
        .tenant(
            "ci",
            Arc::new(Scanner::builder().allow(token).build().unwrap()),
        );
        let engine = Engine::builder()
            .config(core_only())
            .tools([tool])
            .check(Arc::new(check))
            .build()
            .unwrap();
        let args = json!({"url": "u", "body": {"note": token}});
        let ci = CallerContext {
            tenant: Some("ci".into()),
            ..Default::default()
        };
        assert!(
            engine
                .check(Call::new("http_post", args.clone()).caller(ci))
                .is_allowed()
        );
        assert!(!engine.check(call(args)).is_allowed());
    }

    fn call(args: Value) -> Call {
        Call::new("http_post", args).caller(CallerContext::default())
    }

    #[test]
    fn secrets_in_arguments_are_refused_or_masked_and_pii_is_left_alone() {
        let args = json!({"url": "https://paste.example/new", "body": {"note": "deploy key ghp_16C7e42F292c6912E7710c838347Ae178B4a", "to": "ada@example.org"}});
        match engine(ArgumentMode::Refuse).check(call(args.clone())) {
            Decision::Refused(r) => {
                assert_eq!(r.refusal.code, DenyCode::ArgumentsSecret);
                assert!(
                    r.refusal.message.contains("'body.note' (github_token)"),
                    "{}",
                    r.refusal.message
                );
                assert!(
                    !r.refusal.render_text().contains("ghp_"),
                    "the value is never echoed"
                );
            }
            Decision::Allowed(_) => panic!("a token left through the arguments"),
        }
        match engine(ArgumentMode::Mask).check(call(args)) {
            Decision::Allowed(a) => {
                assert_eq!(a.arguments["body"]["note"], "deploy key [GITHUB_TOKEN]");
                assert_eq!(a.arguments["body"]["to"], "ada@example.org");
            }
            Decision::Refused(r) => panic!("{:?}", r.refusal),
        }
        assert!(
            engine(ArgumentMode::Refuse)
                .check(call(
                    json!({"url": "https://example.org", "body": {"to": "ada@example.org"}})
                ))
                .is_allowed()
        );
        // A key gives its value context; numbers and keys are scanned too.
        for args in [
            json!({"url": "u", "body": {"db_password": "Zq8vLm2Pk4"}}),
            json!({"url": "u", "body": {"headers": {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}}}),
            json!({"url": "u", "body": {"ghp_16C7e42F292c6912E7710c838347Ae178B4a": 1}}),
            json!({"url": "u", "body": {"argv": ["mysql", "-u", "root", "--password", "Tr0ub4dor-x"]}}),
        ] {
            assert!(
                !engine(ArgumentMode::Refuse)
                    .check(call(args.clone()))
                    .is_allowed(),
                "{args}"
            );
        }
    }
}
