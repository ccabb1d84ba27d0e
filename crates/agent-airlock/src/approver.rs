//! `approval.command`: a program as the approver, for calls the client cannot ask its user
//! about (a client without elicitation, the library door).
//!
//! The program gets the call as one JSON line on stdin — `{"tool", "arguments", "caller"}`,
//! the arguments validated as the server would get them — and answers with its exit status:
//! 0 approves, 1 declines (the first line of its output, if any, is the reason the model reads),
//! anything else is a failure and refuses the call (fail closed). It is killed at the deadline
//! (`approval.timeout_secs`), and the call is refused as timed out.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_core::CheckError;
use airlock_core::checks::{ApprovalOutcome, ApprovalRequest, Approver};
use serde_json::json;

/// Runs `approval.command` for each call to approve.
#[derive(Debug)]
pub struct CommandApprover {
    command: Vec<String>,
    timeout: Duration,
}

impl CommandApprover {
    /// An approver running `command` (program, then arguments), killed after `timeout`.
    pub fn new(command: Vec<String>, timeout: Duration) -> Self {
        CommandApprover { command, timeout }
    }
}

impl Approver for CommandApprover {
    fn decide(&self, request: &ApprovalRequest<'_>) -> Result<ApprovalOutcome, CheckError> {
        let Some((program, args)) = self.command.split_first() else {
            return Err(CheckError::new("approval.command is empty"));
        };
        let mut command = Command::new(program);
        // Its own process group: the whole group is killed at the deadline, not only the
        // program (a shell script's children too).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| CheckError::new(format!("approval.command {program:?}: {e}")))?;
        let line = json!({
            "tool": request.tool,
            "arguments": request.arguments,
            "caller": request.caller,
        })
        .to_string();
        // Written and read on threads of their own: a program that never reads its stdin (with
        // arguments larger than a pipe holds), or a child of it that keeps stdout open, cannot
        // hold this thread past the deadline.
        if let Some(mut stdin) = child.stdin.take() {
            std::thread::spawn(move || {
                // A program that decides without reading closes its stdin: not an error.
                let _ = stdin.write_all(line.as_bytes());
                let _ = stdin.write_all(b"\n");
            });
        }
        let mut stdout = child.stdout.take();
        let (said, output) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = String::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(64 << 10).read_to_string(&mut out);
            }
            let _ = said.send(out);
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    kill_group(&child);
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok(ApprovalOutcome::TimedOut);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    kill_group(&child);
                    let _ = child.kill();
                    return Err(CheckError::new(format!(
                        "approval.command {program:?}: {e}"
                    )));
                }
            }
        };
        // What it said, unless a child of it still holds its stdout: then the group goes.
        let left = self.timeout.saturating_sub(started.elapsed());
        let out = output
            .recv_timeout(left.min(Duration::from_secs(1)))
            .unwrap_or_else(|_| {
                kill_group(&child);
                String::new()
            });
        let reason = out
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned);
        match status.code() {
            Some(0) => Ok(ApprovalOutcome::Approved),
            Some(1) => Ok(ApprovalOutcome::Denied(reason)),
            _ => Err(CheckError::new(format!(
                "approval.command {program:?} failed ({status}); the call is refused"
            ))),
        }
    }
}

/// Kill the program's whole process group.
fn kill_group(child: &std::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = child;
}
