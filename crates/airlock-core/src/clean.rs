//! The result-cleaning stage: everything a server sends that a model or a person reads passes
//! through it before the client sees it.
//!
//! A [`ResultCleaner`] sees every such text, one at a time, and may replace it. [`clean_message`]
//! walks any MCP message a server sends — a tool result, a resource or a prompt, the messages of
//! a `sampling/createMessage` request, an elicitation's texts, a log or progress notification, a
//! JSON-RPC error — and hands the cleaner every string a reader sees:
//!
//! * text and descriptions at any depth (`text`, `description`, `title`, `name`, `uri`,
//!   `message`, annotations, `_meta`, …), each through [`ResultCleaner::clean_text`];
//! * free JSON (`structuredContent`, the `data` of a log message or an error) through
//!   [`ResultCleaner::clean_json`], which may read keys as context;
//! * an embedded resource's or a read resource's `blob` whose `mimeType` is text (`text/*`,
//!   JSON, XML, YAML, JavaScript, …): decoded from base64, cleaned, encoded again.
//!
//! Left alone: the protocol's own fields (ids, methods, `type`, `mimeType`, `role`, cursors,
//! progress tokens, versions, statuses), image and audio `data`, binary blobs, and in a tool's
//! `inputSchema`/`outputSchema` everything but its `description` and `title` texts (a schema's
//! constraints and enums must stay what the server validates against).
//!
//! A cleaner that fails withholds the message: the model gets an error saying so, never the
//! uncleaned text (fail closed).

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
    /// Any other text of an MCP message a server sends (a resource, a prompt, a log line, a
    /// sampling request, an elicitation, a description, `_meta`).
    Message,
}

/// What a cleaner knows about the text in hand.
#[derive(Clone, Copy, Debug)]
pub struct CleanContext<'a> {
    /// The tool that produced it; for a message that is not a tool result, its MCP method
    /// (`resources/read`, `notifications/message`, …).
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

    /// Values masked so far, by type, for metrics. The default knows none.
    fn masked(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
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

/// Whether a member of an MCP message holds one of the protocol's own values (an id, a method, a
/// type, a cursor, a version, …), which cleaning leaves alone.
pub fn is_structural(key: &str) -> bool {
    STRUCTURAL.contains(&key) || key.starts_with("io.modelcontextprotocol/")
}

/// Members whose values are the protocol's own: never masked.
const STRUCTURAL: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "type",
    "mimeType",
    "role",
    "resultType",
    "progressToken",
    "requestId",
    "cursor",
    "nextCursor",
    "protocolVersion",
    "supportedVersions",
    "taskId",
    "status",
    "level",
    "ttl",
    "ttlMs",
    "cacheScope",
    "elicitationId",
    "mode",
    "isError",
    "requestState",
];

/// Members holding free JSON, cleaned with [`ResultCleaner::clean_json`].
const FREE_JSON: &[&str] = &["structuredContent", "data"];

/// Members holding a JSON Schema: only their texts for readers are cleaned.
const SCHEMAS: &[&str] = &["inputSchema", "outputSchema", "requestedSchema"];

/// Whether a resource of this MIME type is text (its `blob` is decoded and cleaned).
pub fn is_text_mime(mime: &str) -> bool {
    let m = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    m.starts_with("text/")
        || m.ends_with("+json")
        || m.ends_with("+xml")
        || m.ends_with("+yaml")
        || matches!(
            m.as_str(),
            "application/json"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "application/javascript"
                | "application/ecmascript"
                | "application/x-sh"
                | "application/sql"
                | "application/graphql"
                | "application/toml"
                | "application/x-ndjson"
                | "application/csv"
        )
}

struct Walk<'c, 'a> {
    cleaner: &'c dyn ResultCleaner,
    cx: CleanContext<'a>,
    report: CleanReport,
}

impl Walk<'_, '_> {
    fn text(&mut self, kind: TextKind, slot: &mut String) -> Result<(), CleanError> {
        self.report.texts += 1;
        let cx = CleanContext { kind, ..self.cx };
        if let Some(new) = self.cleaner.clean_text(&cx, slot)? {
            *slot = new;
            self.report.changed += 1;
        }
        Ok(())
    }

    fn json(&mut self, kind: TextKind, v: &mut Value) -> Result<(), CleanError> {
        self.report.texts += 1;
        let cx = CleanContext { kind, ..self.cx };
        self.report.changed += self.cleaner.clean_json(&cx, v)?;
        Ok(())
    }

    /// A base64 `blob` of a text type: decoded, cleaned, encoded again. One that does not
    /// decode as UTF-8 text is withheld (a text type that is not text is not passed unread).
    fn blob(&mut self, slot: &mut String) -> Result<(), CleanError> {
        let bytes = base64_decode(slot)
            .ok_or_else(|| CleanError("a text resource's blob is not valid base64".into()))?;
        let mut text = String::from_utf8(bytes)
            .map_err(|_| CleanError("a text resource's blob is not UTF-8 text".into()))?;
        let before = self.report.changed;
        self.text(TextKind::Resource, &mut text)?;
        if self.report.changed != before {
            *slot = base64_encode(text.as_bytes());
        }
        Ok(())
    }

    /// A whole JSON-RPC message: every member but the protocol's own (`jsonrpc`, `id`,
    /// `method`), so that nothing a server adds beside `params`, `result` or `error` passes
    /// unread; an error's message and data as error texts.
    fn message(&mut self, message: &mut Value) -> Result<(), CleanError> {
        let Value::Object(o) = message else {
            return self.value(self.cx.kind, message, 0);
        };
        for (k, v) in o.iter_mut() {
            match (k.as_str(), v) {
                (k, _) if is_structural(k) => {}
                ("error", Value::Object(e)) => {
                    for (ek, ev) in e.iter_mut() {
                        match (ek.as_str(), ev) {
                            ("code", _) => {}
                            ("data", d) => self.json(TextKind::ErrorMessage, d)?,
                            (_, ev) => self.value(TextKind::ErrorMessage, ev, 1)?,
                        }
                    }
                }
                (_, v) => self.value(self.cx.kind, v, 0)?,
            }
        }
        Ok(())
    }

    /// Any value of a message: texts cleaned, the protocol's own members left alone.
    fn value(&mut self, kind: TextKind, v: &mut Value, depth: usize) -> Result<(), CleanError> {
        if depth > 256 {
            return Err(CleanError(
                "the message nests too deeply to be cleaned".into(),
            ));
        }
        match v {
            Value::String(s) => self.text(kind, s),
            Value::Array(items) => {
                for item in items {
                    self.value(kind, item, depth + 1)?;
                }
                Ok(())
            }
            Value::Object(o) => {
                let binary = o
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| matches!(t, "image" | "audio"));
                let text_blob = o
                    .get("mimeType")
                    .and_then(Value::as_str)
                    .is_some_and(is_text_mime);
                for (k, item) in o.iter_mut() {
                    let k = k.as_str();
                    if STRUCTURAL.contains(&k) || k.starts_with("io.modelcontextprotocol/") {
                        continue;
                    }
                    match (k, item) {
                        ("data", _) if binary => {}
                        ("blob", Value::String(b)) => {
                            if text_blob {
                                self.blob(b)?;
                            }
                        }
                        (k, item) if FREE_JSON.contains(&k) => {
                            let kind = if k == "structuredContent" {
                                TextKind::Structured
                            } else {
                                kind
                            };
                            self.json(kind, item)?;
                        }
                        (k, item) if SCHEMAS.contains(&k) => self.schema(kind, item, depth + 1)?,
                        ("text", item) => {
                            let kind = if matches!(kind, TextKind::Message | TextKind::Content) {
                                kind
                            } else {
                                TextKind::Resource
                            };
                            self.value(kind, item, depth + 1)?;
                        }
                        ("resource", item) => self.value(TextKind::Resource, item, depth + 1)?,
                        (_, item) => self.value(kind, item, depth + 1)?,
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A JSON Schema: only the `description` and `title` texts a reader sees are cleaned.
    fn schema(&mut self, kind: TextKind, v: &mut Value, depth: usize) -> Result<(), CleanError> {
        if depth > 256 {
            return Err(CleanError(
                "the schema nests too deeply to be cleaned".into(),
            ));
        }
        match v {
            Value::Array(items) => {
                for item in items {
                    self.schema(kind, item, depth + 1)?;
                }
            }
            Value::Object(o) => {
                for (k, item) in o.iter_mut() {
                    match (k.as_str(), item) {
                        ("description" | "title", Value::String(s)) => self.text(kind, s)?,
                        (_, item) => self.schema(kind, item, depth + 1)?,
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Clean any MCP message a server sends, in place: a request or notification (its `params`), or
/// an answer (its `result` or `error`). `method` names what the message is (for an answer, the
/// method of the request it answers); it goes to the cleaner as [`CleanContext::tool`].
pub fn clean_message(
    cleaner: &dyn ResultCleaner,
    method: &str,
    caller: &CallerContext,
    message: &mut Value,
) -> Result<CleanReport, CleanError> {
    let mut walk = Walk {
        cleaner,
        cx: CleanContext {
            tool: method,
            caller,
            kind: TextKind::Message,
        },
        report: CleanReport::default(),
    };
    walk.message(message)?;
    Ok(walk.report)
}

/// Clean a `tools/call` answer in place: a JSON-RPC response (`{"result": …}` or
/// `{"error": …}`) or a bare `CallToolResult`. Every text of the result is cleaned as
/// [`clean_message`] does: content of every kind (text, embedded resources and their text
/// blobs, resource links, annotations), structured content, `_meta`, and the error.
pub fn clean_tool_result(
    cleaner: &dyn ResultCleaner,
    tool: &str,
    caller: &CallerContext,
    answer: &mut Value,
) -> Result<CleanReport, CleanError> {
    if answer.get("result").is_some() || answer.get("error").is_some() {
        let mut walk = Walk {
            cleaner,
            cx: CleanContext {
                tool,
                caller,
                kind: TextKind::Content,
            },
            report: CleanReport::default(),
        };
        walk.message(answer)?;
        return Ok(walk.report);
    }
    let mut wrapped = json!({"result": std::mem::take(answer)});
    let report = clean_tool_result(cleaner, tool, caller, &mut wrapped);
    *answer = wrapped["result"].take();
    report
}

/// Standard base64 (RFC 4648, with padding) of `bytes`.
pub fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Bytes of standard or URL-safe base64, padded or not, whitespace ignored; `None` when it is
/// not base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut n = 0u32;
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut ended = false;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                ended = true;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if ended {
            return None;
        }
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
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
                {"type": "text", "text": "a", "annotations": {"audience": ["user"], "note": "n"}},
                {"type": "image", "data": "aGk=", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///x", "text": "b"}},
                {"type": "resource", "resource": {"uri": "file:///y", "mimeType": "application/json",
                    "blob": base64_encode(b"{\"k\": \"secret\"}")}},
                {"type": "resource", "resource": {"uri": "file:///z", "mimeType": "application/octet-stream",
                    "blob": "AAEC"}},
                {"type": "resource_link", "uri": "file:///l", "name": "link", "description": "d"}
            ],
            "structuredContent": {"k": ["c", {"deep": "d"}], "n": 1},
            "_meta": {"note": "e", "progressToken": "tok"},
            "resultType": "complete"
        }});
        let caller = CallerContext::default();
        clean_tool_result(&upper, "t", &caller, &mut answer).unwrap();
        let r = &answer["result"];
        assert_eq!(r["content"][0]["text"], "A");
        assert_eq!(r["content"][0]["annotations"]["note"], "N");
        assert_eq!(r["content"][0]["annotations"]["audience"], json!(["USER"]));
        assert_eq!(
            r["content"][1]["data"], "aGk=",
            "binary content is left alone"
        );
        assert_eq!(r["content"][2]["resource"]["text"], "B");
        assert_eq!(r["content"][2]["resource"]["uri"], "FILE:///X");
        let blob = base64_decode(r["content"][3]["resource"]["blob"].as_str().unwrap()).unwrap();
        assert_eq!(String::from_utf8(blob).unwrap(), "{\"K\": \"SECRET\"}");
        assert_eq!(
            r["content"][4]["resource"]["blob"], "AAEC",
            "binary blobs are left alone"
        );
        assert_eq!(r["content"][5]["name"], "LINK");
        assert_eq!(r["content"][5]["description"], "D");
        assert_eq!(
            r["structuredContent"],
            json!({"k": ["C", {"deep": "D"}], "n": 1})
        );
        assert_eq!(r["_meta"]["note"], "E");
        assert_eq!(
            r["_meta"]["progressToken"], "tok",
            "the protocol's own members are kept"
        );
        assert_eq!(r["content"][0]["type"], "text");
        assert_eq!(r["resultType"], "complete");

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
    fn every_message_a_server_sends_is_cleaned_but_its_protocol_fields() {
        let caller = CallerContext::default();
        let mut sampling = json!({"jsonrpc": "2.0", "id": 5, "method": "sampling/createMessage", "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "systemPrompt": "sp", "maxTokens": 10, "_meta": {"progressToken": 3}
        }});
        clean_message(&upper, "sampling/createMessage", &caller, &mut sampling).unwrap();
        assert_eq!(sampling["params"]["messages"][0]["content"]["text"], "HI");
        assert_eq!(sampling["params"]["messages"][0]["role"], "user");
        assert_eq!(sampling["params"]["systemPrompt"], "SP");
        assert_eq!(sampling["method"], "sampling/createMessage");
        let mut log = json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {
            "level": "info", "logger": "l", "data": {"msg": "m"}}});
        clean_message(&upper, "notifications/message", &caller, &mut log).unwrap();
        assert_eq!(
            log["params"],
            json!({"level": "info", "logger": "L", "data": {"msg": "M"}})
        );
        let mut list = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{
            "name": "t", "description": "desc",
            "inputSchema": {"type": "object", "description": "in", "properties": {
                "mode": {"type": "string", "enum": ["fast"], "pattern": "^f", "title": "title"}}}
        }], "nextCursor": "c"}});
        clean_message(&upper, "tools/list", &caller, &mut list).unwrap();
        let t = &list["result"]["tools"][0];
        assert_eq!(t["description"], "DESC");
        assert_eq!(t["inputSchema"]["description"], "IN");
        assert_eq!(t["inputSchema"]["properties"]["mode"]["title"], "TITLE");
        assert_eq!(
            t["inputSchema"]["properties"]["mode"]["enum"],
            json!(["fast"]),
            "constraints stay"
        );
        assert_eq!(t["inputSchema"]["properties"]["mode"]["pattern"], "^f");
        assert_eq!(list["result"]["nextCursor"], "c");
        // A text blob that is not text is withheld, not passed unread.
        let mut bad = json!({"result": {"contents": [{"uri": "u", "mimeType": "text/plain", "blob": "//79"}]}});
        assert!(clean_message(&upper, "resources/read", &caller, &mut bad).is_err());
    }

    #[test]
    fn base64_round_trips() {
        for text in ["", "a", "ab", "abc", "abcd", "ünïcödé ✓"] {
            let enc = base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&enc).unwrap(), text.as_bytes(), "{text}");
        }
        assert_eq!(base64_encode(b"hi"), "aGk=");
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
        assert!(base64_decode("a$b").is_none());
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
