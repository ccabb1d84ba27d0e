//! The stdio proxy: `airlock run -- <server command…>`.
//!
//! A raw line-delimited JSON-RPC relay between an MCP client (our stdin/stdout) and a server
//! process (its stdin/stdout). Lines it does not have to touch pass through byte for byte in
//! both directions: unknown methods (`server/discover`), unknown fields, ids, progress,
//! cancellation, server-to-client requests. It intercepts:
//!
//! * `tools/call` — the engine decides. A refusal goes back to the client as a tool result with
//!   `isError: true`, the refusal text (error and fix hints) as its content, and the refusal
//!   object in `_meta["airlock/refusal"]`; the server never sees the call. An allowed call is
//!   forwarded unchanged (the original bytes) or, if arguments were stripped, re-serialised.
//!   A call for a tool not yet listed (or after `notifications/tools/list_changed`) makes the
//!   proxy fetch `tools/list` from the server first (all pages): it never calls blind.
//! * `tools/list` answers — the definitions feed the engine's catalog; tools the caller's policy
//!   denies are removed from the answer.
//!
//! Malformed client input (not JSON, a batch, a line over the size limit) gets a JSON-RPC error
//! and is not forwarded. When the server exits, every request still waiting for it gets an
//! error saying so; when the client closes its side, the server's stdin is closed and the
//! server is given a moment to exit before it is killed.
//!
//! * `roots/list` answers — when `filesystem.allowed_roots` is set, the roots the client
//!   announces to the server are narrowed to them ([`crate::roots::narrow`]), so a client
//!   announcing `file:///` cannot widen a filesystem server beyond the configured roots.
//!
//! Not yet covered here: cleaning results (the scanner issue).

use std::collections::{HashMap, HashSet};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::{Arguments, Call, CallerContext, Decision, Engine};
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

/// JSON-RPC: invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request (batches, oversize lines).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: bad params.
pub const INVALID_PARAMS: i64 = -32602;
/// The longest server message relayed (a message from the server is not limited by the
/// client's `max_line_bytes`, but neither may it take all the memory there is).
const MAX_SERVER_LINE: usize = 64 << 20;

/// Implementation-defined: the server went away before answering.
pub const SERVER_GONE: i64 = -32000;

pub use crate::intercept::{REFUSAL_META, refusal_result};
use crate::intercept::{error_message, id_key as key};

/// Settings of one stdio proxy.
#[derive(Clone, Debug)]
pub struct StdioProxy {
    engine: Arc<Engine>,
    caller: CallerContext,
    max_line_bytes: usize,
    list_timeout: Duration,
    shutdown_grace: Duration,
    roots: Option<Arc<airlock_guard::path::PathPolicy>>,
}

/// A JSON-RPC id as a map key (its JSON text: `1` and `"1"` differ).
type IdKey = String;

/// Just enough of a message to route it, without building a tree of the rest.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    result: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a serde_json::value::RawValue>,
}

fn raw_key(id: &serde_json::value::RawValue) -> IdKey {
    // The id's JSON text, re-serialised so that `1` and ` 1` agree with `key()`.
    serde_json::from_str::<Value>(id.get())
        .map(|v| key(&v))
        .unwrap_or_else(|_| id.get().to_owned())
}

#[derive(Default)]
struct State {
    /// Client requests forwarded to the server and not yet answered.
    in_flight: HashMap<IdKey, Value>,
    /// Which of those are tool calls, and of which tool (their outcome is reported).
    calls: HashMap<IdKey, String>,
    /// Which of those are `tools/list` requests (their answers feed the catalog).
    client_lists: HashSet<IdKey>,
    /// Our own requests to the server, waiting for their answers.
    internal: HashMap<IdKey, oneshot::Sender<Value>>,
    next_internal: u64,
    /// The catalog may be out of date (`notifications/tools/list_changed`).
    stale: bool,
    /// The server's `roots/list` requests, waiting for the client's answers.
    roots_requests: HashSet<IdKey>,
    server_gone: bool,
}

/// Outcome of reading one line.
pub(crate) enum Line {
    Eof,
    Ok(Vec<u8>),
    TooLong,
}

pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !too_long {
                Line::Eof
            } else if too_long {
                Line::TooLong
            } else {
                Line::Ok(buf)
            });
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long {
            if buf.len() + n > max + 1 {
                too_long = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Ok(buf)
            });
        }
    }
}

/// SIGTERM, SIGINT or SIGHUP to the proxy: stop the session (and the server's whole group).
pub(crate) struct Stop {
    fired: bool,
    #[cfg(unix)]
    signals: [Option<tokio::signal::unix::Signal>; 3],
}

impl Stop {
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = [
                SignalKind::terminate(),
                SignalKind::interrupt(),
                SignalKind::hangup(),
            ]
            .map(|k| signal(k).ok());
            Stop {
                fired: false,
                signals,
            }
        }
        #[cfg(not(unix))]
        Stop { fired: false }
    }

    pub(crate) async fn signalled(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            let [term, int, hup] = &mut self.signals;
            tokio::select! {
                () = recv(term) => {}
                () = recv(int) => {}
                () = recv(hup) => {}
            }
            self.fired = true;
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

/// Bytes queued in one direction before the side feeding it waits.
const QUEUE_BUDGET: usize = 16 << 20;

/// A queue of lines to one side (the client or the server) that counts the bytes waiting in
/// it: the reader feeding it waits for room past [`QUEUE_BUDGET`], so a side that does not
/// read slows the other down instead of growing the proxy's memory.
#[derive(Clone)]
pub(crate) struct Queue {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    drained: Arc<tokio::sync::Notify>,
    budget: usize,
}

impl Queue {
    fn new() -> (Queue, mpsc::UnboundedReceiver<Vec<u8>>) {
        Queue::with_budget(QUEUE_BUDGET)
    }

    fn with_budget(budget: usize) -> (Queue, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let q = Queue {
            budget,
            tx,
            queued: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            drained: Arc::new(tokio::sync::Notify::new()),
        };
        (q, rx)
    }

    /// Queue a line (never waits: the budget is enforced where input is read).
    fn send(&self, line: Vec<u8>) -> Result<(), mpsc::error::SendError<Vec<u8>>> {
        let n = line.len();
        self.queued
            .fetch_add(n, std::sync::atomic::Ordering::AcqRel);
        self.tx.send(line).inspect_err(|_| {
            self.queued
                .fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
        })
    }

    /// What the side writing the lines out needs: the byte count.
    fn counter(&self) -> Written {
        Written {
            queued: self.queued.clone(),
            drained: self.drained.clone(),
        }
    }

    #[cfg(test)]
    fn written(&self, n: usize) {
        self.counter().written(n);
    }

    /// Wait until the queue is under its budget.
    async fn room(&self) {
        loop {
            let drained = self.drained.notified();
            if self.queued.load(std::sync::atomic::Ordering::Acquire) <= self.budget
                || self.tx.is_closed()
            {
                return;
            }
            drained.await;
        }
    }
}

/// The writing side of a [`Queue`]: it reports lines written out.
pub(crate) struct Written {
    queued: Arc<std::sync::atomic::AtomicUsize>,
    drained: Arc<tokio::sync::Notify>,
}

impl Written {
    /// A line of `n` bytes has been written out.
    fn written(&self, n: usize) {
        self.queued
            .fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
        self.drained.notify_waiters();
    }
}

/// Completes when the process gets SIGTERM, SIGINT or SIGHUP.
pub async fn stop_signal() {
    Stop::new().signalled().await;
}

/// SIGKILL the server's process group (ignored when it is already gone).
pub(crate) fn kill_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group
        .and_then(|g| i32::try_from(g).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = group;
}

/// Record a client request about to be forwarded (its answer is awaited, and for `tools/list`
/// read). If the server is gone, answer it with an error instead and return false.
fn track(state: &Arc<Mutex<State>>, to_client: &Queue, id: Value, is_list: bool) -> bool {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    if s.server_gone {
        drop(s);
        let _ = to_client.send(error_line(id, SERVER_GONE, "the MCP server has exited"));
        return false;
    }
    if is_list {
        s.client_lists.insert(key(&id));
    }
    s.in_flight.insert(key(&id), id);
    true
}

fn error_line(id: Value, code: i64, message: &str) -> Vec<u8> {
    line(&error_message(id, code, message))
}

/// A message as one line of JSON.
pub(crate) fn line(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

impl StdioProxy {
    /// A proxy deciding with `engine` for calls by `caller`.
    pub fn new(engine: Arc<Engine>, caller: CallerContext) -> Self {
        StdioProxy {
            engine,
            caller,
            max_line_bytes: 4 << 20,
            list_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            roots: None,
        }
    }

    /// Narrow the roots the client announces to `policy`'s roots, each kept root checked
    /// against the policy (symlinks, deny lists). A policy without roots: pass unchanged.
    #[must_use]
    pub fn allowed_roots(mut self, policy: Arc<airlock_guard::path::PathPolicy>) -> Self {
        self.roots = (!policy.roots().is_empty()).then_some(policy);
        self
    }

    /// Refuse client lines longer than this (default 4 MiB).
    #[must_use]
    pub fn max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n.max(1024);
        self
    }

    /// How long to wait for the server's `tools/list` answer (default 30 s).
    #[must_use]
    pub fn list_timeout(mut self, d: Duration) -> Self {
        self.list_timeout = d;
        self
    }

    /// Start `server` and relay between it and the client until either side ends. Returns the
    /// server's exit status.
    pub async fn run<R, W>(
        self,
        mut server: Command,
        client_in: R,
        client_out: W,
    ) -> std::io::Result<ExitStatus>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        // The server gets its own process group, so that everything it starts (a shell, `npx`,
        // node) can be stopped with it: no orphans.
        #[cfg(unix)]
        server.process_group(0);
        let mut child = server
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let group = child.id();
        let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other(
                "the server's stdio could not be captured",
            ));
        };
        let state = Arc::new(Mutex::new(State::default()));
        let (to_client, mut to_client_rx) = Queue::new();
        let (to_server, mut to_server_rx) = Queue::new();

        let client_writer = {
            // The writer holds the byte count, not a sender: the channel closes with the
            // proxy's own senders.
            let queue = to_client.counter();
            tokio::spawn(async move {
                let mut out = client_out;
                while let Some(l) = to_client_rx.recv().await {
                    let failed = out.write_all(&l).await.is_err() || out.flush().await.is_err();
                    queue.written(l.len());
                    if failed {
                        break;
                    }
                }
            })
        };
        {
            let queue = to_server.counter();
            tokio::spawn(async move {
                let mut input = server_in;
                while let Some(l) = to_server_rx.recv().await {
                    let failed = input.write_all(&l).await.is_err() || input.flush().await.is_err();
                    queue.written(l.len());
                    if failed {
                        break;
                    }
                }
                // Dropping `input` closes the server's stdin.
            });
        }
        let server_done = Arc::new(tokio::sync::Notify::new());
        let server_reader = {
            let state = state.clone();
            let to_client = to_client.clone();
            let proxy = self.clone();
            let done = server_done.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(server_out);
                loop {
                    // A client that does not read slows the server down, instead of the
                    // proxy queueing without end.
                    to_client.room().await;
                    match read_line(&mut reader, MAX_SERVER_LINE).await {
                        Ok(Line::Ok(bytes)) => proxy.on_server_line(bytes, &state, &to_client),
                        Ok(Line::TooLong) => {
                            eprintln!(
                                "airlock: dropped a server message over {} MiB",
                                MAX_SERVER_LINE >> 20
                            );
                        }
                        Ok(Line::Eof) | Err(_) => break,
                    }
                }
                // The server is gone: answer everything still waiting for it.
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.server_gone = true;
                for (_, id) in s.in_flight.drain() {
                    let _ = to_client.send(error_line(
                        id,
                        SERVER_GONE,
                        "the MCP server exited before answering this request",
                    ));
                }
                s.internal.clear();
                s.calls.clear();
                drop(s);
                done.notify_one();
            })
        };

        let mut reader = BufReader::new(client_in);
        let mut stop = Stop::new();
        loop {
            // A server that does not read slows the client down the same way.
            tokio::select! {
                () = to_server.room() => {}
                () = stop.signalled() => break,
                () = server_done.notified() => break,
            }
            let read = tokio::select! {
                read = read_line(&mut reader, self.max_line_bytes) => read,
                () = stop.signalled() => break,
                // The server is gone (its calls in flight have their errors): so is the proxy,
                // and the client sees its server end.
                () = server_done.notified() => break,
            };
            match read {
                Ok(Line::Ok(bytes)) => {
                    self.on_client_line(bytes, &state, &to_client, &to_server)
                        .await;
                }
                Ok(Line::TooLong) => {
                    let _ = to_client.send(error_line(
                        Value::Null,
                        INVALID_REQUEST,
                        &format!(
                            "message larger than {} bytes; it was not forwarded",
                            self.max_line_bytes
                        ),
                    ));
                }
                Ok(Line::Eof) | Err(_) => break,
            }
        }
        // The client is done: close the server's stdin, give it a moment, then make sure.
        drop(to_server);
        let grace = if stop.fired {
            Duration::from_millis(500)
        } else {
            self.shutdown_grace
        };
        let status = match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                kill_group(group);
                let _ = child.start_kill();
                child.wait().await?
            }
        };
        // Whatever the server left behind in its group goes with it.
        kill_group(group);
        let _ = tokio::time::timeout(Duration::from_secs(1), server_reader).await;
        drop(to_client);
        let _ = tokio::time::timeout(Duration::from_secs(1), client_writer).await;
        Ok(status)
    }

    async fn on_client_line(
        &self,
        bytes: Vec<u8>,
        state: &Arc<Mutex<State>>,
        to_client: &Queue,
        to_server: &Queue,
    ) {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            let _ = to_client.send(error_line(
                Value::Null,
                PARSE_ERROR,
                "the message is not valid UTF-8; it was not forwarded",
            ));
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        // A bare carriage return inside a line could end a line for a server that also splits
        // on `\r`, smuggling a second message past the check.
        let body = text.strip_suffix('\n').unwrap_or(text);
        let body = body.strip_suffix('\r').unwrap_or(body);
        if body.contains('\r') {
            let _ = to_client.send(error_line(
                Value::Null,
                INVALID_REQUEST,
                "a carriage return inside a message is not allowed; it was not forwarded",
            ));
            return;
        }
        let is_object = body.trim_start().starts_with('{');
        // Fast path: a request or notification other than `tools/call` is only routed.
        if is_object
            && let Ok(env) = serde_json::from_slice::<Envelope<'_>>(&bytes)
            && let Some(method) = env.method.as_deref()
            && method != "tools/call"
        {
            if let Some(id) = env.id {
                let id: Value = serde_json::from_str(id.get()).unwrap_or(Value::Null);
                if !track(state, to_client, id, method == "tools/list") {
                    return;
                }
            }
            let _ = to_server.send(bytes);
            return;
        }
        let msg: Value = match serde_json::from_str(text.trim_end()) {
            Ok(v) => v,
            Err(e) => {
                let _ = to_client.send(error_line(
                    Value::Null,
                    PARSE_ERROR,
                    &format!("not valid JSON ({e}); the message was not forwarded"),
                ));
                return;
            }
        };
        let Value::Object(obj) = &msg else {
            let what = if msg.is_array() {
                "JSON-RPC batches are not supported; send one message per line"
            } else {
                "a JSON-RPC message must be an object"
            };
            let _ = to_client.send(error_line(Value::Null, INVALID_REQUEST, what));
            return;
        };
        let method = obj.get("method").and_then(Value::as_str);
        let id = obj.get("id").cloned();
        match (method, id) {
            (Some("tools/call"), Some(id)) => {
                let name = msg.pointer("/params/name").and_then(Value::as_str);
                let stale = state.lock().unwrap_or_else(|p| p.into_inner()).stale;
                if stale || name.is_some_and(|n| self.engine.catalog().get(n).is_none()) {
                    // Learning the tools means waiting for the server, which may first need
                    // the client (a roots/list request, say): the client's lines keep flowing.
                    let (proxy, state) = (self.clone(), state.clone());
                    let (to_client, to_server) = (to_client.clone(), to_server.clone());
                    tokio::spawn(async move {
                        proxy.call(msg, id, &state, &to_client, &to_server).await;
                    });
                } else {
                    self.call(msg, id, state, to_client, to_server).await;
                }
            }
            // A call without an id cannot be answered, so it cannot be refused either: it is
            // never forwarded unchecked (fail closed).
            (Some("tools/call"), None) => {
                eprintln!(
                    "airlock: dropped a tools/call without an id (it cannot be checked and answered)"
                );
            }
            (Some(m), Some(id)) => {
                if track(state, to_client, id, m == "tools/list") {
                    let _ = to_server.send(bytes);
                }
            }
            // An answer to the server's own request: `roots/list` answers are narrowed.
            (None, Some(id)) => {
                let was_roots = state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .roots_requests
                    .remove(&key(&id));
                // Whatever its id claims, an answer carrying roots is narrowed: ids can be
                // spelt many ways (`0` and `0.0` are one id to a JavaScript server).
                let carries_roots = msg.pointer("/result/roots").is_some();
                if (was_roots || carries_roots)
                    && let Some(policy) = &self.roots
                {
                    let mut msg = msg;
                    crate::intercept::narrow_roots_answer(&mut msg, policy);
                    let _ = to_server.send(line(&msg));
                } else {
                    let _ = to_server.send(bytes);
                }
            }
            // Notifications: untouched.
            _ => {
                let _ = to_server.send(bytes);
            }
        }
    }

    async fn call(
        &self,
        msg: Value,
        id: Value,
        state: &Arc<Mutex<State>>,
        to_client: &Queue,
        to_server: &Queue,
    ) {
        let Some(name) = msg
            .pointer("/params/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            let _ = to_client.send(error_line(
                id,
                INVALID_PARAMS,
                "tools/call needs params.name, the tool to call",
            ));
            return;
        };
        let stale = state.lock().unwrap_or_else(|p| p.into_inner()).stale;
        if stale || self.engine.catalog().get(&name).is_none() {
            // Never call blind: learn the server's tools first. If that fails, forget stale
            // definitions too, so the engine refuses the call instead of checking it against
            // a schema the server may have changed.
            if !self.fetch_tools(state, to_server).await && stale {
                self.engine.set_tools(Vec::new());
            }
        }
        let arguments = msg
            .pointer("/params/arguments")
            .cloned()
            .unwrap_or(Value::Null);
        let decision = self
            .engine
            .check(Call::new(name, Arguments::Json(arguments)).caller(self.caller.clone()));
        match decision {
            Decision::Refused(r) => {
                if let Some(internal) = &r.internal {
                    eprintln!("airlock: a check failed and the call was refused: {internal}");
                }
                let _ = to_client.send(line(&refusal_result(id, &r.refusal)));
            }
            Decision::Allowed(allowed) => {
                // The server gets exactly what was checked: the parsed call, re-serialised
                // (duplicate keys collapsed as checked, arguments as decided) — never the raw
                // bytes, which a server could read differently.
                let mut msg = msg;
                if let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) {
                    params.insert("arguments".into(), Value::Object(allowed.arguments));
                }
                let bytes = line(&msg);
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                if s.server_gone {
                    drop(s);
                    let _ =
                        to_client.send(error_line(id, SERVER_GONE, "the MCP server has exited"));
                    return;
                }
                if let Some(tool) = msg.pointer("/params/name").and_then(Value::as_str) {
                    s.calls.insert(key(&id), tool.to_owned());
                }
                s.in_flight.insert(key(&id), id);
                drop(s);
                let _ = to_server.send(bytes);
            }
        }
    }

    /// Ask the server for every page of `tools/list` and load it into the engine.
    async fn fetch_tools(&self, state: &Arc<Mutex<State>>, to_server: &Queue) -> bool {
        let ask = |params: Value| async move {
            let (tx, rx) = oneshot::channel();
            let id = {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                if s.server_gone {
                    return None;
                }
                s.next_internal += 1;
                let id = Value::String(format!(
                    "airlock-internal-{}-{}",
                    std::process::id(),
                    s.next_internal
                ));
                s.internal.insert(key(&id), tx);
                id
            };
            let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
            to_server.send(line(&req)).ok()?;
            match tokio::time::timeout(self.list_timeout, rx).await {
                Ok(Ok(answer)) => Some(answer),
                _ => {
                    state
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .internal
                        .remove(&key(&id));
                    None
                }
            }
        };
        let Some(tools) = crate::intercept::list_all_tools(ask).await else {
            return false;
        };
        self.engine.set_tools(tools);
        state.lock().unwrap_or_else(|p| p.into_inner()).stale = false;
        true
    }

    fn on_server_line(&self, bytes: Vec<u8>, state: &Arc<Mutex<State>>, to_client: &Queue) {
        // Fast path: most server lines are answers to requests the client made; route them by
        // their envelope without building the whole tree.
        if let Ok(env) = serde_json::from_slice::<Envelope<'_>>(&bytes)
            && env.method.is_none()
            && (env.result.is_some() || env.error.is_some())
            && let Some(id) = env.id
        {
            let k = raw_key(id);
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            if !s.internal.contains_key(&k) && !s.client_lists.contains(&k) {
                s.in_flight.remove(&k);
                let tool = s.calls.remove(&k);
                drop(s);
                if let Some(tool) = tool {
                    if !self.engine.cleans_results() {
                        // Only whether it failed is read; the answer passes byte for byte.
                        #[derive(serde::Deserialize)]
                        struct Outcome {
                            #[serde(rename = "isError", default)]
                            is_error: Option<bool>,
                        }
                        let ok = env.result.is_some_and(|r| {
                            serde_json::from_str::<Outcome>(r.get())
                                .is_ok_and(|o| o.is_error != Some(true))
                        });
                        self.engine.record_outcome(&self.caller, &tool, ok);
                        let _ = to_client.send(bytes);
                        return;
                    }
                    // Every text the model will read passes the result-cleaning stage (the
                    // answer is parsed once, for both).
                    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
                        let id = serde_json::from_str(id.get()).unwrap_or(Value::Null);
                        let _ = to_client.send(error_line(
                            id,
                            SERVER_GONE,
                            "the tool's result was withheld: it could not be read to be checked",
                        ));
                        return;
                    };
                    let ok = crate::intercept::call_succeeded(&answer);
                    self.engine.record_outcome(&self.caller, &tool, ok);
                    if let Err(e) = self.engine.clean_result(&tool, &self.caller, &mut answer) {
                        eprintln!("airlock: a result of {tool} was withheld: {e}");
                    }
                    let _ = to_client.send(line(&answer));
                    return;
                }
                let _ = to_client.send(bytes);
                return;
            }
        }
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&bytes) else {
            let _ = to_client.send(bytes);
            return;
        };
        let method = obj.get("method").and_then(Value::as_str);
        if method == Some("roots/list")
            && let Some(id) = obj.get("id")
        {
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .roots_requests
                .insert(key(id));
        }
        if method == Some("notifications/tools/list_changed") {
            state.lock().unwrap_or_else(|p| p.into_inner()).stale = true;
            let _ = to_client.send(bytes);
            return;
        }
        let is_response =
            method.is_none() && (obj.contains_key("result") || obj.contains_key("error"));
        let Some(id) = obj.get("id").filter(|_| is_response) else {
            let _ = to_client.send(bytes);
            return;
        };
        let k = key(id);
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(waiter) = s.internal.remove(&k) {
            drop(s);
            let _ = waiter.send(Value::Object(obj));
            return;
        }
        s.in_flight.remove(&k);
        let was_list = s.client_lists.remove(&k);
        drop(s);
        if !was_list {
            let _ = to_client.send(bytes);
            return;
        }
        let mut msg = Value::Object(obj);
        let Some(result) = msg.get_mut("result") else {
            let _ = to_client.send(bytes);
            return;
        };
        // Learn the definitions and hide what this caller may never call.
        if crate::intercept::learn_and_hide(&self.engine, &self.caller, result) {
            let _ = to_client.send(line(&msg));
        } else {
            let _ = to_client.send(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_makes_its_feeder_wait_until_lines_are_written() {
        let (q, mut rx) = Queue::with_budget(10);
        q.send(vec![b'x'; 8]).unwrap();
        q.room().await; // under budget: no wait
        q.send(vec![b'y'; 8]).unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), q.room()).await;
        assert!(
            waiting.is_err(),
            "16 bytes queued, budget 10: the feeder must wait"
        );
        let line = rx.recv().await.unwrap();
        let (q2, line_len) = (q.clone(), line.len());
        let waiter = tokio::spawn(async move { q2.room().await });
        q.written(line_len);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("room after a line is written")
            .unwrap();
        // A queue nobody reads any more never blocks its feeder.
        drop(rx);
        q.send(vec![b'z'; 100]).ok();
        tokio::time::timeout(Duration::from_secs(5), q.room())
            .await
            .unwrap();
    }
}
