//! An HTTP session's MCP server as a child process over stdio.
//!
//! The child serves one gateway session: a legacy session (one client that initialised it) or
//! the stateless traffic of one principal. Requests are renumbered on the way in (several HTTP
//! requests may carry the same id) and their ids restored on the way out; progress
//! notifications follow their request's progress token; everything else the server sends
//! (its own requests, logging, list changes) goes to the session's GET stream, or, when none
//! is open, to the newest request still waiting, or is buffered for the next GET.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::STREAM_DEPTH;
use super::session::{Hooks, lock};
use crate::framing::{Line, read_line};
use crate::process::kill_group;
use crate::protocol::{SERVER_GONE, error_to, id_key, line};

/// Most server messages kept for a GET stream that is not open yet.
const BUFFERED: usize = 256;

struct Pending {
    orig: Value,
    /// The gateway's own request (learning the tools): never given the server's other messages.
    internal: bool,
    token: Option<String>,
    tx: mpsc::Sender<Value>,
}

#[derive(Default)]
struct General {
    stream: Option<mpsc::Sender<Value>>,
    buffer: VecDeque<Value>,
}

pub(crate) struct ChildLink {
    to_server: mpsc::Sender<Vec<u8>>,
    pending: Mutex<HashMap<u64, Pending>>,
    next: AtomicU64,
    general: Mutex<General>,
    gone: AtomicBool,
    /// The server's process group, until it has been killed (a pid can be reused after).
    group: Mutex<Option<u32>>,
    child: Mutex<Option<Child>>,
}

impl ChildLink {
    /// Start the server command in its own process group.
    pub(crate) fn spawn(
        program: &std::ffi::OsStr,
        args: &[std::ffi::OsString],
        hooks: Hooks,
    ) -> std::io::Result<Arc<Self>> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other(
                "the server's stdio could not be captured",
            ));
        };
        let (to_server, mut rx) = mpsc::channel::<Vec<u8>>(STREAM_DEPTH);
        let link = Arc::new(ChildLink {
            to_server,
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            general: Mutex::new(General::default()),
            gone: AtomicBool::new(false),
            group: Mutex::new(child.id()),
            child: Mutex::new(Some(child)),
        });
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(l) = rx.recv().await {
                if stdin.write_all(&l).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });
        let reader = link.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(stdout);
            loop {
                match read_line(&mut r, 64 << 20).await {
                    Ok(Line::Ok(bytes)) => {
                        // A member named twice would be read one way here and another way by
                        // the client: withheld.
                        if let Err(why) = crate::protocol::unique_members(&bytes) {
                            reader.withhold(&bytes, &why).await;
                        } else if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                            reader.on_server_message(v, &hooks).await;
                        }
                    }
                    Ok(Line::TooLong) => {
                        tracing::warn!("dropped a server message over 64 MiB");
                    }
                    Ok(Line::Eof) | Err(_) => break,
                }
            }
            reader.server_gone().await;
        });
        Ok(link)
    }

    /// Whether a request is waiting or a GET stream is open. Requests nobody waits for any
    /// more (a fetch that timed out, a client that went away) are forgotten here, so a server
    /// that never answers cannot keep its session from idling out.
    pub(crate) fn is_busy(&self) -> bool {
        let mut pending = lock(&self.pending);
        pending.retain(|_, p| !p.tx.is_closed());
        let waiting = !pending.is_empty();
        drop(pending);
        waiting
            || lock(&self.general)
                .stream
                .as_ref()
                .is_some_and(|s| !s.is_closed())
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    async fn server_gone(&self) {
        self.gone.store(true, Ordering::Release);
        let pending: Vec<Pending> = lock(&self.pending).drain().map(|(_, p)| p).collect();
        for p in pending {
            if !p.orig.is_null() {
                let _ =
                    p.tx.send(error_to(
                        p.orig,
                        SERVER_GONE,
                        "the MCP server exited before answering this request",
                    ))
                    .await;
            }
        }
        lock(&self.general).stream = None;
        self.close();
    }

    /// A server message that cannot be read exactly: when it answers a request in flight, that
    /// request gets an error instead; anything else is dropped.
    async fn withhold(&self, bytes: &[u8], why: &str) {
        tracing::warn!("a server message was withheld: {why}");
        let Some(n) = crate::protocol::sole_member(bytes, "id").and_then(|v| v.as_u64()) else {
            return;
        };
        let Some(p) = lock(&self.pending).remove(&n) else {
            return;
        };
        let why = format!("the server's answer was withheld: it could not be read exactly ({why})");
        let _ = p.tx.send(error_to(p.orig, SERVER_GONE, &why)).await;
    }

    async fn on_server_message(&self, mut msg: Value, hooks: &Hooks) {
        let method = msg.get("method").and_then(Value::as_str).map(str::to_owned);
        let is_response =
            method.is_none() && (msg.get("result").is_some() || msg.get("error").is_some());
        if is_response {
            // An answer to an unknown id (or to a cancelled request) has nobody to go to.
            let Some(n) = msg.get("id").and_then(Value::as_u64) else {
                return;
            };
            let Some(p) = lock(&self.pending).remove(&n) else {
                return;
            };
            msg["id"] = p.orig;
            let _ = p.tx.send(msg).await;
            return;
        }
        match method.as_deref() {
            Some("notifications/progress") => {
                let token = msg.pointer("/params/progressToken").map(id_key);
                let tx = token.and_then(|t| {
                    lock(&self.pending)
                        .values()
                        .find(|p| p.token.as_deref() == Some(t.as_str()))
                        .map(|p| p.tx.clone())
                });
                if let Some(tx) = tx {
                    let _ = tx.send(msg).await;
                    return;
                }
            }
            Some("notifications/tools/list_changed") => hooks.tools_changed(),
            _ => {}
        }
        self.to_general(msg).await;
    }

    /// A server message not tied to one request: the GET stream, else the newest waiting
    /// request, else the buffer.
    async fn to_general(&self, msg: Value) {
        let stream = lock(&self.general).stream.clone();
        if let Some(s) = stream {
            match s.send(msg).await {
                Ok(()) => return,
                Err(mpsc::error::SendError(m)) => {
                    lock(&self.general).stream = None;
                    return Box::pin(self.to_general(m)).await;
                }
            }
        }
        let newest = lock(&self.pending)
            .iter()
            .filter(|(_, p)| !p.internal && !p.tx.is_closed())
            .max_by_key(|(n, _)| **n)
            .map(|(_, p)| p.tx.clone());
        if let Some(tx) = newest
            && tx.send(msg.clone()).await.is_ok()
        {
            return;
        }
        let mut g = lock(&self.general);
        if g.buffer.len() == BUFFERED {
            g.buffer.pop_front();
            tracing::warn!(
                "a session's undelivered server messages overflowed; the oldest was dropped"
            );
        }
        g.buffer.push_back(msg);
    }

    /// Open the session's GET stream (replacing an earlier one), with what was buffered.
    pub(crate) fn open_stream(&self) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        let mut g = lock(&self.general);
        while let Some(m) = g.buffer.pop_front() {
            if tx.try_send(m).is_err() {
                break;
            }
        }
        g.stream = Some(tx);
        rx
    }

    /// Forward a client request; its messages (progress, the answer) arrive on the receiver.
    pub(crate) async fn request(&self, mut msg: Value) -> Result<mpsc::Receiver<Value>, Value> {
        let orig = msg.get("id").cloned().unwrap_or(Value::Null);
        if self.is_gone() {
            return Err(error_to(orig, SERVER_GONE, "the MCP server has exited"));
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let token = msg.pointer("/params/_meta/progressToken").map(id_key);
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        msg["id"] = json!(n);
        let internal = orig
            .as_str()
            .is_some_and(|s| s.starts_with(super::INTERNAL_ID));
        lock(&self.pending).insert(
            n,
            Pending {
                orig: orig.clone(),
                internal,
                token,
                tx,
            },
        );
        if self.to_server.send(line(&msg)).await.is_err() {
            lock(&self.pending).remove(&n);
            return Err(error_to(orig, SERVER_GONE, "the MCP server has exited"));
        }
        Ok(rx)
    }

    /// Forward a notification or an answer to the server's own request. A cancellation names
    /// the request by the id the client used, so it is renumbered like the request was.
    pub(crate) async fn send(&self, mut msg: Value) -> Result<(), String> {
        if self.is_gone() {
            return Err("the MCP server has exited".into());
        }
        if msg.get("method").and_then(Value::as_str) == Some("notifications/cancelled")
            && let Some(req) = msg.pointer("/params/requestId").map(id_key)
        {
            let mut pending = lock(&self.pending);
            let n = pending
                .iter()
                .filter(|(_, p)| !p.orig.is_null() && id_key(&p.orig) == req)
                .map(|(n, _)| *n)
                .max();
            // The client will not read the answer: forget the request.
            if let Some(n) = n {
                pending.remove(&n);
            }
            drop(pending);
            match n {
                Some(n) => msg["params"]["requestId"] = json!(n),
                // Not in flight (already answered): nothing to cancel.
                None => return Ok(()),
            }
        }
        self.to_server
            .send(line(&msg))
            .await
            .map_err(|_| "the MCP server has exited".to_owned())
    }

    /// Stop the server and everything it started.
    pub(crate) fn close(&self) {
        kill_group(lock(&self.group).take());
        if let Some(mut c) = lock(&self.child).take() {
            let _ = c.start_kill();
            tokio::spawn(async move {
                let _ = c.wait().await;
            });
        }
    }
}

impl Drop for ChildLink {
    fn drop(&mut self) {
        kill_group(lock(&self.group).take());
    }
}
