//! Secrets leaving through a tool call: the `argument_scan` check (guard phase).
//!
//! Every string in the arguments, at any depth, is scanned for secrets (and custom detectors'
//! types); personal data in arguments is normal (an e-mail address to send to) and is left
//! alone. `refuse` refuses the call naming the fields and types, never the values; `mask`
//! replaces what was found and lets the call go on, recording each masked path.

use std::sync::Arc;

use airlock_core::pipeline::{CallState, Change, Check, CheckError, Outcome, Phase};
use airlock_core::refusal::{DenyCode, FieldError, Refusal};
use serde_json::Value;

use crate::{Category, Scanner};

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
    scanner: Arc<Scanner>,
    mode: ArgumentMode,
}

impl ArgumentScan {
    /// Scan arguments with `scanner`.
    pub fn new(scanner: Arc<Scanner>, mode: ArgumentMode) -> Self {
        ArgumentScan { scanner, mode }
    }
}

fn path_of(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl Check for ArgumentScan {
    fn name(&self) -> &'static str {
        "argument_scan"
    }

    fn phase(&self) -> Phase {
        Phase::Guard
    }

    fn check(&self, call: &mut CallState<'_>) -> Result<Outcome, CheckError> {
        let mut hits: Vec<(String, &'static str)> = Vec::new();
        let mut changes = Vec::new();
        let mut stack: Vec<(String, &mut Value)> = call
            .arguments
            .iter_mut()
            .map(|(k, v)| (k.clone(), v))
            .collect();
        while let Some((path, v)) = stack.pop() {
            match v {
                Value::String(s) => {
                    let findings: Vec<_> = self
                        .scanner
                        .find(s)
                        .into_iter()
                        .filter(|f| {
                            self.scanner
                                .detectors()
                                .iter()
                                .any(|d| d.kind == f.kind && d.category != Category::Pii)
                        })
                        .collect();
                    if findings.is_empty() {
                        continue;
                    }
                    for f in &findings {
                        hits.push((path.clone(), f.kind));
                    }
                    if self.mode == ArgumentMode::Mask {
                        *s = self.scanner.apply(s, &findings);
                        for f in &findings {
                            changes.push(Change::MaskedArgument {
                                path: path.clone(),
                                found: f.kind.to_owned(),
                            });
                        }
                    }
                }
                Value::Array(a) => {
                    for (i, item) in a.iter_mut().enumerate() {
                        stack.push((format!("{path}[{i}]"), item));
                    }
                }
                Value::Object(o) => {
                    for (k, item) in o.iter_mut() {
                        stack.push((path_of(&path, k), item));
                    }
                }
                _ => {}
            }
        }
        if hits.is_empty() {
            return Ok(Outcome::Pass);
        }
        hits.sort();
        hits.dedup();
        if self.mode == ArgumentMode::Mask {
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
            .tools([tool])
            .check(Arc::new(ArgumentScan::new(scanner, mode)))
            .build()
            .unwrap()
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
    }
}
