//! The audit record of a decision: one [`AuditEvent`] per call, allowed or refused, built from
//! the decision (what was stripped, masked or degraded; the code and check of a refusal) and
//! handed to the sink *before* the answer is returned. A call that cannot be recorded is
//! refused (`audit.unavailable`). Arguments are recorded redacted; arguments that held a
//! secret are recorded masked, or not at all.

use std::time::Instant;

use serde_json::Value;

use super::{Decision, Engine, Refused};
use crate::audit::{AuditEvent, Recorded};
use crate::pipeline::Change;
use crate::refusal::{DenyCode, Refusal};

/// What the audit log records for arguments that held a secret when no masked copy exists.
pub(super) const REDACTED_ARGUMENTS: &str = "[REDACTED: the arguments held a secret]";

/// What the record of one call is made of, besides the decision.
pub(super) struct Recording<'a> {
    pub(super) tool_name: String,
    pub(super) caller: crate::call::CallerContext,
    pub(super) at: jiff::Timestamp,
    pub(super) recorded_args: Value,
    pub(super) started: Instant,
    /// The definition the call was checked against.
    pub(super) def: Option<&'a crate::call::ToolDef>,
}

impl Engine {
    /// Write the audit record, then answer; an unrecordable call is refused.
    pub(super) fn record(&self, decision: Decision, r: Recording<'_>) -> Decision {
        let Recording {
            tool_name,
            caller,
            at,
            recorded_args,
            started,
            def,
        } = r;
        let Some(sink) = &self.audit else {
            return decision;
        };
        let caller = self.config.redactor.redact_caller(&caller);
        let mut event = event_for(&decision, tool_name, caller, at, recorded_args, started);
        // The definition the call was checked against, kept by its pin before the record that
        // names it (`airlock replay` re-decides against it).
        let kept = def.map(|d| {
            event.pin = Some(d.pin().to_owned());
            sink.definition(d)
        });
        let recorded = match kept {
            Some(Err(e)) => Err(e),
            _ => sink.record(&event),
        };
        match recorded {
            Ok(()) if event.honeypot => {
                self.honeypot_fired(&event);
                decision
            }
            Ok(()) => decision,
            Err(e) => Decision::Refused(Box::new(Refused {
                refusal: Refusal::new(
                    DenyCode::AuditUnavailable,
                    &event.tool,
                    format!(
                        "Tool '{}' was not called: the call could not be recorded in the audit log.",
                        event.tool
                    ),
                ),
                check: None,
                internal: Some(e.to_string()),
                honeypot: None,
                ask: None,
            })),
        }
    }
}

fn event_for(
    decision: &Decision,
    tool: String,
    caller: crate::call::CallerContext,
    at: jiff::Timestamp,
    arguments: Value,
    started: Instant,
) -> AuditEvent {
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    match decision {
        Decision::Allowed(a) => {
            let stripped: Vec<String> = a
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::StrippedArgument { path, logged: true } => Some(path.clone()),
                    Change::StrippedArgument { logged: false, .. }
                    | Change::Degraded { .. }
                    | Change::MaskedArgument { .. }
                    | Change::Spent { .. }
                    | Change::Approved(_) => None,
                })
                .collect();
            let degraded: Vec<String> = a
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::Degraded { check, reason } => Some(format!("{check}: {reason}")),
                    Change::StrippedArgument { .. }
                    | Change::MaskedArgument { .. }
                    | Change::Spent { .. }
                    | Change::Approved(_) => None,
                })
                .collect();
            let masked: Vec<String> = a
                .changes
                .iter()
                .filter_map(|c| match c {
                    Change::MaskedArgument { path, found } => Some(format!("{path}: {found}")),
                    Change::StrippedArgument { .. }
                    | Change::Degraded { .. }
                    | Change::Spent { .. }
                    | Change::Approved(_) => None,
                })
                .collect();
            let spend = a.changes.iter().find_map(|c| match c {
                Change::Spent { spend } => Some(*spend),
                _ => None,
            });
            let approval = a.changes.iter().find_map(|c| match c {
                Change::Approved(a) => Some(a.clone()),
                _ => None,
            });
            AuditEvent {
                ts: at,
                tool,
                caller,
                decision: if stripped.is_empty() && masked.is_empty() {
                    Recorded::Allowed
                } else {
                    Recorded::AllowedWithChanges
                },
                block_reason: None,
                code: None,
                check: None,
                internal_error: None,
                arguments,
                stripped,
                masked,
                degraded,
                duration_us,
                honeypot: false,
                spend,
                pin: None,
                approval,
            }
        }
        Decision::Refused(r) => AuditEvent {
            ts: at,
            tool,
            caller,
            decision: if r.honeypot.is_some() {
                Recorded::Honeypot
            } else if r.ask.is_some() {
                Recorded::AwaitingApproval
            } else {
                Recorded::Refused
            },
            block_reason: Some(r.refusal.block_reason()),
            code: Some(r.refusal.code),
            check: r.check,
            internal_error: r.internal.clone(),
            arguments,
            stripped: Vec::new(),
            masked: Vec::new(),
            degraded: Vec::new(),
            duration_us,
            honeypot: r.honeypot.is_some(),
            spend: None,
            pin: None,
            approval: None,
        },
    }
}

impl Engine {
    /// A honeypot answered a call: say so at warn, and run `honeypot.hook` with the audit record
    /// as one JSON line on its stdin (in the background: the answer does not wait for it).
    fn honeypot_fired(&self, event: &AuditEvent) {
        tracing::warn!(
            tool = %event.tool,
            agent = event.caller.agent.as_deref().unwrap_or("-"),
            code = event.code.map_or("-", |c| c.as_str()),
            "honeypot: answered with a fake success; the server was not called"
        );
        let hook = &self.config.settings.honeypot.hook;
        let Some((program, args)) = hook.split_first() else {
            return;
        };
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        line.push(b'\n');
        let spawned = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(mut child) => {
                let program = program.clone();
                // Fed and reaped off the caller's thread; a hook that never reads is its problem.
                std::thread::spawn(move || {
                    if let Some(mut stdin) = child.stdin.take() {
                        use std::io::Write;
                        let _ = stdin.write_all(&line);
                    }
                    match child.wait() {
                        Ok(s) if !s.success() => {
                            tracing::warn!("honeypot hook {program:?} exited with {s}");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("honeypot hook {program:?}: {e}"),
                    }
                });
            }
            Err(e) => tracing::error!("honeypot hook {program:?} could not be started: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::tests::{engine, tools};
    use super::*;
    use crate::audit::{AuditError, AuditSink, MemorySink};
    use crate::call::{Arguments, Call, CallerContext};
    use crate::checks::UnknownArgs;
    use serde_json::json;

    #[test]
    fn allowed_refused_and_stripped_are_all_recorded() {
        let sink = Arc::new(MemorySink::new());
        let e = engine(UnknownArgs::StripAndLog, sink.clone());
        let caller = CallerContext::default().agent("bot").roles(["reader"]);
        let ok = e.check(Call::new("read_file", json!({"path": "a.txt"})).caller(caller.clone()));
        assert!(ok.is_allowed());
        let stripped = e.check(Call::new(
            "read_file",
            json!({"path": "a", "token": "sekrit", "x": 1}),
        ));
        let Decision::Allowed(a) = &stripped else {
            panic!()
        };
        assert_eq!(Value::Object(a.arguments.clone()), json!({"path": "a"}));
        let refused = e.check(Call::new("read_file", json!({"path": 5})));
        assert_eq!(refused.refusal().unwrap().code, DenyCode::ValidationType);

        let events = sink.events();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].decision, Recorded::Allowed);
        assert_eq!(events[0].caller.agent.as_deref(), Some("bot"));
        assert_eq!(events[1].decision, Recorded::AllowedWithChanges);
        assert_eq!(events[1].stripped, ["token", "x"]);
        // Recorded as received, with the sensitive field redacted.
        assert_eq!(
            events[1].arguments,
            json!({"path": "a", "token": "[REDACTED]", "x": 1})
        );
        assert_eq!(events[2].code, Some(DenyCode::ValidationType));
        assert_eq!(events[2].check, Some("validation"));
    }

    struct FailingSink;
    impl AuditSink for FailingSink {
        fn record(&self, _: &AuditEvent) -> Result<(), AuditError> {
            Err(AuditError::Io(std::io::Error::other("disk full")))
        }
        fn note(&self, _: &crate::audit::AuditNote) -> Result<(), AuditError> {
            Err(AuditError::Io(std::io::Error::other("disk full")))
        }
    }

    #[test]
    fn audit_failure_refuses_the_call() {
        let e = Engine::builder()
            .config(crate::config::bare().build().unwrap())
            .tools(tools())
            .audit(Arc::new(FailingSink))
            .build()
            .unwrap();
        let Decision::Refused(r) = e.check(Call::new("read_file", json!({"path": "a"}))) else {
            panic!("an unrecorded call must not be allowed")
        };
        assert_eq!(r.refusal.code, DenyCode::AuditUnavailable);
        assert!(r.internal.unwrap().contains("disk full"));
    }

    #[test]
    fn the_record_exists_before_the_answer() {
        struct Witness(Arc<MemorySink>);
        impl AuditSink for Witness {
            fn record(&self, e: &AuditEvent) -> Result<(), AuditError> {
                self.0.record(e)
            }
            fn note(&self, n: &crate::audit::AuditNote) -> Result<(), AuditError> {
                self.0.note(n)
            }
        }
        let mem = Arc::new(MemorySink::new());
        let e = Engine::builder()
            .config(crate::config::bare().build().unwrap())
            .tools(tools())
            .audit(Arc::new(Witness(mem.clone())))
            .build()
            .unwrap();
        for i in 0..5 {
            let _ = e.check(Call::new("read_file", json!({"path": i.to_string()})));
            assert_eq!(
                mem.events().len(),
                i + 1,
                "record {i} must be written when check returns"
            );
        }
    }

    #[test]
    fn refused_calls_record_nothing_secret() {
        let sink = Arc::new(MemorySink::new());
        let e = engine(UnknownArgs::Block, sink.clone());
        let _ = e.check(Call::new(
            "read_file",
            json!([{"password": "hunter2", "api_key": "sk-live-123"}, "y".repeat(5000)]),
        ));
        let _ = e.check(Call::new(
            "read_file",
            Arguments::Raw(r#"{"path":"a","password":"hunter2",}"#.into()),
        ));
        let _ = e.check(Call::new(
            "no_such_tool",
            json!({"token": "sk-live-123", "q": 1}),
        ));
        let mut caller = CallerContext::default().agent("bot");
        caller
            .metadata
            .insert("authorization".into(), "Bearer sk-live-123".into());
        let _ = e.check(Call::new("read_file", json!({"path": "a"})).caller(caller));
        let events = sink.events();
        let text = serde_json::to_string(
            &events
                .iter()
                .map(|e| serde_json::to_value(e).unwrap())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("sk-live-123"), "{text}");
        assert!(!text.contains(&"y".repeat(300)), "long values are cut");
        assert_eq!(events[2].code, Some(DenyCode::UnknownTool));
        assert_eq!(events[2].arguments, json!({"token": "[REDACTED]", "q": 1}));
        assert_eq!(events[3].caller.metadata["authorization"], "[REDACTED]");
    }
}
