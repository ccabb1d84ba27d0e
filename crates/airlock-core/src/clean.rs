//! The result-cleaning stage: everything a tool returns passes through it before the model sees
//! it.
//!
//! A [`ResultCleaner`] sees every text of a tool result a model reads, one at a time, and may
//! replace it: text content, embedded resources' text, every string leaf of structured content
//! (keys kept), and the message of an error answer. [`clean_tool_result`] walks a result and
//! applies one. The engine holds at most one cleaner ([`crate::EngineBuilder::cleaner`]); every
//! transport calls [`crate::Engine::clean_result`] on every tool result. The scanner
//! (PII and secret masking, truncation) is a cleaner.
//!
//! A cleaner that fails withholds the result: the model gets an error result saying so, never
//! the uncleaned text (fail closed).

use serde_json::{Value, json};

use crate::call::CallerContext;

/// Where a text sits in a tool result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextKind {
    /// `content[i].text` of a `text` item.
    Content,
    /// `content[i].resource.text` of an embedded resource.
    Resource,
    /// A string leaf of `structuredContent`.
    Structured,
    /// The message of a JSON-RPC error answer.
    ErrorMessage,
}

/// What a cleaner knows about the text in hand.
#[derive(Clone, Copy, Debug)]
pub struct CleanContext<'a> {
    /// The tool that produced it.
    pub tool: &'a str,
    /// Who called it.
    pub caller: &'a CallerContext,
    /// Where it sits.
    pub kind: TextKind,
}

/// A cleaner could not do its work; the result is withheld.
#[derive(Debug, thiserror::Error)]
#[error("result cleaning failed: {0}")]
pub struct CleanError(pub String);

/// Cleans the texts of tool results.
pub trait ResultCleaner: Send + Sync {
    /// The cleaned text, or `None` when `text` may go to the model as it is.
    fn clean_text(&self, cx: &CleanContext<'_>, text: &str) -> Result<Option<String>, CleanError>;

    /// Clean a JSON value in place (structured content, error data); returns the number of
    /// texts replaced. The default cleans every string leaf with [`Self::clean_text`]; a
    /// cleaner that reads keys as context (or numbers) overrides it.
    fn clean_json(&self, cx: &CleanContext<'_>, value: &mut Value) -> Result<usize, CleanError> {
        let mut changed = 0;
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => {
                    if let Some(new) = self.clean_text(cx, s)? {
                        *s = new;
                        changed += 1;
                    }
                }
                Value::Array(a) => stack.extend(a.iter_mut()),
                Value::Object(o) => stack.extend(o.values_mut()),
                _ => {}
            }
        }
        Ok(changed)
    }
}

impl<F> ResultCleaner for F
where
    F: Fn(&CleanContext<'_>, &str) -> Result<Option<String>, CleanError> + Send + Sync,
{
    fn clean_text(&self, cx: &CleanContext<'_>, text: &str) -> Result<Option<String>, CleanError> {
        self(cx, text)
    }
}

/// What cleaning did to one result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Texts looked at.
    pub texts: usize,
    /// Texts replaced.
    pub changed: usize,
}

fn clean_one(
    cleaner: &dyn ResultCleaner,
    cx: &CleanContext<'_>,
    slot: &mut Value,
    report: &mut CleanReport,
) -> Result<(), CleanError> {
    if let Value::String(s) = slot {
        report.texts += 1;
        if let Some(new) = cleaner.clean_text(cx, s)? {
            *s = new;
            report.changed += 1;
        }
    }
    Ok(())
}

/// A JSON value, through the cleaner's `clean_json`.
fn clean_leaves(
    cleaner: &dyn ResultCleaner,
    cx: &CleanContext<'_>,
    v: &mut Value,
    report: &mut CleanReport,
) -> Result<(), CleanError> {
    let changed = cleaner.clean_json(cx, v)?;
    report.texts += 1;
    report.changed += changed;
    Ok(())
}

/// Clean a `tools/call` answer in place: a JSON-RPC response (`{"result": …}` or
/// `{"error": …}`) or a bare `CallToolResult`.
pub fn clean_tool_result(
    cleaner: &dyn ResultCleaner,
    tool: &str,
    caller: &CallerContext,
    answer: &mut Value,
) -> Result<CleanReport, CleanError> {
    let mut report = CleanReport::default();
    let cx = |kind| CleanContext { tool, caller, kind };
    if let Some(message) = answer.pointer_mut("/error/message") {
        clean_one(cleaner, &cx(TextKind::ErrorMessage), message, &mut report)?;
    }
    if let Some(data) = answer.pointer_mut("/error/data") {
        clean_leaves(cleaner, &cx(TextKind::ErrorMessage), data, &mut report)?;
    }
    let result = if answer.get("result").is_some() {
        &mut answer["result"]
    } else if answer.get("content").is_some() || answer.get("structuredContent").is_some() {
        answer
    } else {
        return Ok(report);
    };
    if let Some(Value::Array(items)) = result.get_mut("content") {
        for item in items {
            match item.get("type").and_then(Value::as_str) {
                Some("text") => {
                    if let Some(t) = item.get_mut("text") {
                        clean_one(cleaner, &cx(TextKind::Content), t, &mut report)?;
                    }
                }
                Some("resource") => {
                    if let Some(t) = item.pointer_mut("/resource/text") {
                        clean_one(cleaner, &cx(TextKind::Resource), t, &mut report)?;
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(s) = result.get_mut("structuredContent") {
        clean_leaves(cleaner, &cx(TextKind::Structured), s, &mut report)?;
    }
    Ok(report)
}

/// The tool result a model gets when cleaning failed: the result is withheld.
pub fn withheld(error: &CleanError) -> Value {
    json!({
        "content": [{"type": "text", "text": format!(
            "AIRLOCK_BLOCK: the tool's result was withheld because it could not be checked ({error}). Retrying may help; the tool did run."
        )}],
        "isError": true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper(_: &CleanContext<'_>, t: &str) -> Result<Option<String>, CleanError> {
        Ok((t != t.to_uppercase()).then(|| t.to_uppercase()))
    }

    #[test]
    fn every_model_visible_text_is_cleaned() {
        let mut answer = json!({"jsonrpc": "2.0", "id": 1, "result": {
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image", "data": "aGk=", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///x", "text": "b"}}
            ],
            "structuredContent": {"k": ["c", {"deep": "d"}], "n": 1},
            "_meta": {"untouched": "e"}
        }});
        let caller = CallerContext::default();
        let r = clean_tool_result(&upper, "t", &caller, &mut answer).unwrap();
        assert_eq!(r.changed, 4);
        assert_eq!(answer["result"]["content"][0]["text"], "A");
        assert_eq!(answer["result"]["content"][1]["data"], "aGk=");
        assert_eq!(answer["result"]["content"][2]["resource"]["text"], "B");
        assert_eq!(
            answer["result"]["structuredContent"],
            json!({"k": ["C", {"deep": "D"}], "n": 1})
        );
        assert_eq!(answer["result"]["_meta"]["untouched"], "e");

        let mut err = json!({"jsonrpc": "2.0", "id": 2, "error": {"code": 1, "message": "x", "data": {"y": "z"}}});
        clean_tool_result(&upper, "t", &caller, &mut err).unwrap();
        assert_eq!(
            err["error"],
            json!({"code": 1, "message": "X", "data": {"y": "Z"}})
        );

        let mut bare = json!({"content": [{"type": "text", "text": "q"}]});
        clean_tool_result(&upper, "t", &caller, &mut bare).unwrap();
        assert_eq!(bare["content"][0]["text"], "Q");
    }

    #[test]
    fn a_failing_cleaner_fails_the_whole_result() {
        let broken = |_: &CleanContext<'_>, _: &str| -> Result<Option<String>, CleanError> {
            Err(CleanError("broken".into()))
        };
        let mut answer = json!({"result": {"content": [{"type": "text", "text": "secret"}]}});
        let e =
            clean_tool_result(&broken, "t", &CallerContext::default(), &mut answer).unwrap_err();
        assert!(
            withheld(&e)["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("withheld")
        );
    }
}
