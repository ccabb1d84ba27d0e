//! Audit records: one JSON Lines event per decision, written before the decision is returned.
//!
//! Guards against: unaccountable tool use, and secrets leaking into the audit log itself.
//! Every decision (allowed, allowed with changes, refused) produces one [`AuditEvent`] with the
//! time, tool, caller, decision, block reason and code, the arguments with sensitive-named
//! fields redacted and long values cut ([`Redactor`]), what was stripped or masked, which checks
//! decided in a degraded way, and the duration.
//!
//! The engine hands the event to an [`AuditSink`] and only returns the decision once the sink
//! has accepted it; a sink that fails makes the engine refuse the call (`audit.unavailable`),
//! so no call is ever answered without its record. [`JsonlSink`] writes each event as one
//! line with a single `write_all` and flushes it to the operating system: a `kill -9` of the
//! process right after an answer loses nothing (surviving power loss needs `fsync`, which the
//! file-opening side — the CLI — can turn on).
//!
//! This module opens no files: the transport or binary opens them and passes a writer.
//! Not covered: PII inside free-text argument values (the scanner's job, a later stage).

use std::io::Write;
use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::call::CallerContext;
use crate::refusal::{BlockReason, DenyCode};

/// Names whose values are always redacted (compared after lowercasing and removing `_`/`-`).
pub const SENSITIVE_SUBSTRINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "authorization",
    "cookie",
    "signature",
    "sessionid",
    "cardnumber",
    "creditcard",
    "iban",
    "cvv",
];

/// Names redacted only when they are the whole (folded) name.
pub const SENSITIVE_EXACT: &[&str] = &["auth", "pin", "ssn", "otp", "pwd", "bearer"];

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// The decision as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Recorded {
    /// Allowed unchanged (or with silent changes).
    Allowed,
    /// Allowed after logged changes (stripped arguments).
    AllowedWithChanges,
    /// Refused.
    Refused,
    /// Answered with a fake success (a honeypot); the server was never called.
    Honeypot,
    /// Held for a person's approval, which the client is asked for; the answer is recorded
    /// as the call decided again (`approval` on an allowed call, or `approval.denied` /
    /// `approval.timed_out`).
    AwaitingApproval,
}

/// One audit record.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEvent {
    /// When the decision was made (RFC 3339, UTC).
    pub ts: Timestamp,
    /// The tool called.
    pub tool: String,
    /// Who called.
    pub caller: CallerContext,
    /// What was decided.
    pub decision: Recorded,
    /// The coarse reason, for refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<BlockReason>,
    /// The fine-grained code, for refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<DenyCode>,
    /// The check that refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<&'static str>,
    /// For operators: what broke inside a check that failed (never shown to the model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_error: Option<String>,
    /// The arguments as received, redacted and cut.
    pub arguments: Value,
    /// Paths of arguments removed (`strip_and_log`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stripped: Vec<String>,
    /// Arguments masked on their way out, as `path: type`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
    /// Checks that decided in a degraded way, and why (`check: reason`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
    /// How long the decision took, in microseconds.
    pub duration_us: u64,
    /// A honeypot answered the call with a fake success (`decision` is `honeypot`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub honeypot: bool,
    /// What the call was charged against its budgets before it ran (the result's part is a
    /// `spend` note when it comes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend: Option<crate::budget::Spend>,
    /// The pin (`sha256:…`) of the tool definition the call was checked against; the sink keeps
    /// the definition by it ([`AuditSink::definition`]) for `airlock replay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// Who approved the call, for a tool that needs a person's yes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::checks::Approved>,
}

/// A record that is not a call's decision: a circuit breaker changing state.
#[derive(Clone, Debug, Serialize)]
pub struct AuditNote {
    /// When it happened (RFC 3339, UTC).
    pub ts: Timestamp,
    /// What happened: `breaker`.
    pub event: &'static str,
    /// What the event says, beside `ts` and `event`.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

/// Where audit events go.
pub trait AuditSink: Send + Sync {
    /// Record one event durably enough that it survives the process being killed. An `Err`
    /// makes the engine refuse the call.
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError>;

    /// Record a note (a breaker's change of state). An `Err` is logged: the event has
    /// happened already.
    fn note(&self, note: &AuditNote) -> Result<(), AuditError>;

    /// Keep a tool definition by its pin (content-addressed), before the first record naming
    /// it. The default keeps nothing: `airlock replay` then cannot re-decide those calls and
    /// says so. An `Err` refuses the call, as for a record.
    fn definition(&self, def: &crate::call::ToolDef) -> Result<(), AuditError> {
        let _ = def;
        Ok(())
    }
}

/// An audit sink failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Writing failed.
    #[error("could not write the audit record: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding failed.
    #[error("could not encode the audit record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Writes each event as one JSON line to a writer, flushing after every line.
pub struct JsonlSink<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonlSink<W> {
    /// A sink writing to `out` (open files in append mode).
    pub fn new(out: W) -> Self {
        JsonlSink {
            out: Mutex::new(out),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// One event (or note) as one JSON line, newline included.
pub fn encode_line(event: &impl Serialize) -> Result<Vec<u8>, AuditError> {
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    Ok(line)
}

impl<W: Write + Send> JsonlSink<W> {
    fn write(&self, line: &[u8]) -> Result<(), AuditError> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // One write_all per line: with O_APPEND, lines of concurrent writers never interleave.
        out.write_all(line)?;
        out.flush()?;
        Ok(())
    }
}

impl<W: Write + Send> AuditSink for JsonlSink<W> {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.write(&encode_line(event)?)
    }

    fn note(&self, note: &AuditNote) -> Result<(), AuditError> {
        self.write(&encode_line(note)?)
    }
}

/// Keeps events in memory: for tests and for embedding programs that ship events elsewhere.
#[derive(Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
    notes: Mutex<Vec<AuditNote>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// The events recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The notes recorded so far.
    pub fn notes(&self) -> Vec<AuditNote> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        Ok(())
    }

    fn note(&self, note: &AuditNote) -> Result<(), AuditError> {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(note.clone());
        Ok(())
    }
}

/// Redacts sensitive-named fields and cuts long values before arguments reach the audit log.
#[derive(Clone, Debug)]
pub struct Redactor {
    extra: Vec<String>,
    max_chars: usize,
    max_items: usize,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(Vec::new(), 256, 32)
    }
}

impl Redactor {
    /// A redactor that also redacts names containing any of `extra` (folded like the
    /// built-in names), cuts strings to `max_chars` characters and arrays/objects to
    /// `max_items` entries.
    pub fn new(extra: Vec<String>, max_chars: usize, max_items: usize) -> Self {
        Redactor {
            extra: extra.iter().map(|e| fold(e)).collect(),
            max_chars: max_chars.max(8),
            max_items: max_items.max(1),
        }
    }

    /// Whether a field of this name is redacted.
    pub fn is_sensitive(&self, name: &str) -> bool {
        // Fold short ASCII names on the stack: this runs for every key of every recorded call.
        let mut buf = [0u8; 64];
        let mut len = 0;
        let mut ascii = name.len() <= buf.len();
        if ascii {
            for b in name.bytes() {
                if !b.is_ascii() {
                    ascii = false;
                    break;
                }
                if b != b'_' && b != b'-' && b != b' ' {
                    buf[len] = b.to_ascii_lowercase();
                    len += 1;
                }
            }
        }
        let owned;
        let f: &str = if ascii {
            // Only ASCII bytes were copied, so this is valid UTF-8.
            std::str::from_utf8(&buf[..len]).unwrap_or_default()
        } else {
            owned = fold(name);
            &owned
        };
        SENSITIVE_SUBSTRINGS.iter().any(|s| f.contains(s))
            || SENSITIVE_EXACT.contains(&f)
            || self.extra.iter().any(|s| f.contains(s.as_str()))
    }

    /// A redacted, cut copy of `args`. Depth is bounded by the caller (arguments are checked
    /// for depth before they are recorded); this walk still stops at 64 levels.
    pub fn redact(&self, args: &Map<String, Value>) -> Value {
        Value::Object(self.redact_map(args, 0))
    }

    /// A redacted, cut copy of any JSON value (names inside objects are checked).
    pub fn redact_value(&self, v: &Value) -> Value {
        self.redact_value_at(v, 0)
    }

    /// The caller as recorded: metadata values under sensitive names redacted, long ones cut.
    pub fn redact_caller(&self, caller: &CallerContext) -> CallerContext {
        let mut out = caller.clone();
        for (k, v) in out.metadata.iter_mut() {
            if self.is_sensitive(k) {
                *v = REDACTED.to_owned();
            } else if v.chars().count() > self.max_chars {
                let cut: String = v.chars().take(self.max_chars).collect();
                *v = format!("{cut}…");
            }
        }
        out
    }

    fn redact_map(&self, map: &Map<String, Value>, depth: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for (i, (k, v)) in map.iter().enumerate() {
            if i == self.max_items {
                out.insert(
                    "…".to_owned(),
                    Value::String(format!("{} more keys", map.len() - i)),
                );
                break;
            }
            let v = if self.is_sensitive(k) {
                Value::String(REDACTED.to_owned())
            } else {
                self.redact_value_at(v, depth + 1)
            };
            out.insert(k.clone(), v);
        }
        out
    }

    fn redact_value_at(&self, v: &Value, depth: usize) -> Value {
        if depth > 64 {
            return Value::String("[too deep]".to_owned());
        }
        match v {
            Value::String(s) => {
                let n = s.chars().count();
                if n <= self.max_chars {
                    v.clone()
                } else {
                    let mut cut: String = s.chars().take(self.max_chars).collect();
                    cut.push_str(&format!("…(+{} chars)", n - self.max_chars));
                    Value::String(cut)
                }
            }
            Value::Array(items) => {
                let mut out: Vec<Value> = items
                    .iter()
                    .take(self.max_items)
                    .map(|i| self.redact_value_at(i, depth + 1))
                    .collect();
                if items.len() > self.max_items {
                    out.push(Value::String(format!(
                        "…(+{} items)",
                        items.len() - self.max_items
                    )));
                }
                Value::Array(out)
            }
            Value::Object(m) => Value::Object(self.redact_map(m, depth)),
            other => other.clone(),
        }
    }
}

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-' && *c != ' ')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_sensitive_names_at_any_depth() {
        let r = Redactor::new(vec!["account_no".into()], 10, 32);
        let args = json!({
            "user": "ann", "Password": "hunter2", "api-key": "sk-1", "nested": {"access_token": "t", "author": "me"},
            "list": [{"client_secret": "s"}], "accountNo": "123", "key": "k", "keyboard": "qwerty"
        });
        let Value::Object(m) = args else { panic!() };
        let out = r.redact(&m);
        assert_eq!(out["user"], "ann");
        assert_eq!(out["Password"], REDACTED);
        assert_eq!(out["api-key"], REDACTED);
        assert_eq!(out["nested"]["access_token"], REDACTED);
        assert_eq!(out["nested"]["author"], "me");
        assert_eq!(out["list"][0]["client_secret"], REDACTED);
        assert_eq!(out["accountNo"], REDACTED);
        assert_eq!(out["key"], "k");
        assert_eq!(out["keyboard"], "qwerty");
        assert!(
            r.is_sensitive("Pässwort_token"),
            "non-ASCII names are folded too"
        );
        assert!(
            r.is_sensitive(&format!("{}_secret", "x".repeat(100))),
            "long names too"
        );
    }

    #[test]
    fn cuts_long_values() {
        let r = Redactor::new(vec![], 10, 3);
        let Value::Object(m) = json!({"s": "x".repeat(25), "a": [1, 2, 3, 4, 5]}) else {
            panic!()
        };
        let out = r.redact(&m);
        assert_eq!(out["s"], "xxxxxxxxxx…(+15 chars)");
        assert_eq!(out["a"], json!([1, 2, 3, "…(+2 items)"]));
    }

    #[test]
    fn jsonl_sink_writes_one_line_per_event() {
        let sink = JsonlSink::new(Vec::new());
        let ev = AuditEvent {
            ts: Timestamp::UNIX_EPOCH,
            tool: "t".into(),
            caller: CallerContext::default().agent("a"),
            decision: Recorded::Refused,
            block_reason: Some(BlockReason::GhostArguments),
            code: Some(DenyCode::GhostArgsUnknown),
            check: Some("ghost_args"),
            internal_error: None,
            arguments: json!({"x": 1}),
            stripped: vec![],
            masked: vec![],
            degraded: vec![],
            duration_us: 3,
            honeypot: false,
            spend: None,
            pin: None,
            approval: None,
        };
        sink.record(&ev).unwrap();
        sink.record(&ev).unwrap();
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"ts":"1970-01-01T00:00:00Z","tool":"t","caller":{"agent":"a"},"decision":"refused","block_reason":"ghost_arguments","code":"ghost_args.unknown","check":"ghost_args","arguments":{"x":1},"duration_us":3}"#
        );
    }
}
