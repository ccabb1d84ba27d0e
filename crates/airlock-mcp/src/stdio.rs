//! The stdio proxy: `airlock run -- <server command…>`.
//!
//! A raw line-delimited JSON-RPC relay between an MCP client (our stdin/stdout) and a server
//! process (its stdin/stdout). Lines it does not have to touch pass through byte for byte in
//! both directions: unknown methods (`server/discover`), unknown fields, ids, progress,
//! cancellation, server-to-client requests. What it touches goes through the one call
//! lifecycle ([`crate::lifecycle`]), as on every other door:
//!
//! * `tools/call` — admitted or refused by the engine; a refusal is answered here and the
//!   server never sees the call; an allowed call's answer is recorded and cleaned. A call that
//!   has to wait (the tool list is fetched first, or a check waits on Redis, DNS or a person)
//!   runs in a task of its own: the client's other messages keep flowing.
//! * `tools/list` answers — the definitions feed the engine; tools the caller may never call
//!   are removed.
//! * roots — `roots/list` answers, and the `inputResponses` of retried 2026-07-28 requests, are
//!   narrowed to `filesystem.allowed_roots`.
//! * `initialize` — its answer settles the session's protocol version, which the airlock's own
//!   answers follow (a request naming its own version in `_meta` wins).
//!
//! Malformed client input (not JSON, a batch, a line over the size limit, a bare carriage
//! return) gets a JSON-RPC error and is not forwarded. When the server exits, every request
//! still waiting for it gets an error saying so; when the client closes its side, the server's
//! stdin is closed and the server (with its whole process group) is given a moment to exit
//! before it is killed.

use std::collections::{HashMap, HashSet};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::{CallerContext, Engine};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::oneshot;

use crate::framing::{Line, Queue, read_line};
use crate::lifecycle::{
    Admission, CallRequest, FromServer, Lifecycle, Listed, Ticket, cancellation,
    tools_list_changed, withheld,
};
use crate::messages::Sender;
use crate::process::{Stop, kill_group};
use crate::protocol::{
    self, INVALID_REQUEST, PARSE_ERROR, SERVER_GONE, SessionVersion, id_key as key, line,
};
use crate::telemetry::Trace;
use airlock_core::breaker::CallOutcome;

/// The longest server message relayed (a message from the server is not limited by the
/// client's `max_line_bytes`, but neither may it take all the memory there is).
const MAX_SERVER_LINE: usize = 64 << 20;

/// Settings of one stdio proxy.
#[derive(Clone, Debug)]
pub struct StdioProxy {
    lifecycle: Arc<Lifecycle>,
    caller: CallerContext,
    max_line_bytes: usize,
    list_timeout: Duration,
    shutdown_grace: Duration,
}

/// A JSON-RPC id as a map key ([`protocol::id_key`]).
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
    #[serde(borrow, default)]
    params: Option<&'a serde_json::value::RawValue>,
}

/// Whether a request's params answer input requests (`inputResponses`, 2026-07-28), however
/// the key is spelt (`\u0069nputResponses` is the same key): their roots are narrowed.
fn answers_input(params: Option<&serde_json::value::RawValue>) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "inputResponses", default)]
        input_responses: Option<serde::de::IgnoredAny>,
    }
    params.is_some_and(|p| {
        // Not an object of params, or unreadable: the whole message is read on the slow path.
        serde_json::from_str::<Probe>(p.get()).map_or(true, |probe| probe.input_responses.is_some())
    })
}

fn raw_key(id: &serde_json::value::RawValue) -> IdKey {
    // The id's JSON text, re-serialised so that `1` and ` 1` agree with `key()`.
    serde_json::from_str::<Value>(id.get())
        .map(|v| key(&v))
        .unwrap_or_else(|_| id.get().to_owned())
}

/// A client request in flight: its id as sent, and its method (what its answer is cleaned as).
struct Asked {
    id: Value,
    method: String,
    /// Its span (`[telemetry]`), ended when it is answered.
    trace: Option<Trace>,
}

impl Asked {
    /// Its span ends with the JSON-RPC error the airlock answered it with.
    fn failed(&self, code: i64, message: &str) {
        if let Some(t) = &self.trace {
            t.end_with(Some((code.to_string(), message.to_owned())));
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// Client requests forwarded to the server and not yet answered.
    in_flight: HashMap<IdKey, Asked>,
    /// Which of those are tool calls: what their answers need.
    calls: HashMap<IdKey, Ticket>,
    /// Which of those are `tools/list` requests (their answers feed the catalog).
    client_lists: HashSet<IdKey>,
    /// Which of those are `initialize` requests (their answers settle the version).
    initializing: HashSet<IdKey>,
    /// The deadline timers of tool calls in flight.
    timers: HashMap<IdKey, tokio::task::AbortHandle>,
    /// Calls cancelled at their deadline whose late answers may still come (dropped when they
    /// do), oldest first; their ids may not be reused meanwhile. At most [`MAX_CANCELLED`].
    cancelled: std::collections::VecDeque<IdKey>,
    /// Our own requests to the server, waiting for their answers.
    internal: HashMap<IdKey, oneshot::Sender<Value>>,
    next_internal: u64,
    /// The client declared form elicitation at `initialize`: a person can be asked to approve.
    elicit: bool,
    server_gone: bool,
    /// The client's open `subscriptions/listen` streams (2026-07-28), by request id.
    listens: HashMap<IdKey, Listen>,
}

/// A client's `subscriptions/listen` stream: where the airlock's own tool list notices go on
/// 2026-07-28, once the server has acknowledged the stream (the ack must come first).
struct Listen {
    id: Value,
    /// The client asked for tool list changes.
    tools: bool,
    acked: bool,
    /// A tool list change was found after the stream opened but before its ack went out: the
    /// notice follows the ack.
    missed: bool,
}

/// What one connection's tasks share.
pub(crate) struct Conn {
    pub(crate) state: Mutex<State>,
    pub(crate) version: SessionVersion,
    pub(crate) fetch: tokio::sync::Mutex<()>,
    pub(crate) to_client: Queue,
    pub(crate) to_server: Queue,
    /// The airlock's own `elicitation/create` requests to the client, waiting for answers.
    pub(crate) asking: Arc<crate::approval::Asking>,
}

impl Conn {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An error answer to the client, in the session's protocol version.
    fn error(&self, id: Option<Value>, code: i64, message: &str) {
        let v = self.version.get();
        let _ = self
            .to_client
            .send(line(&protocol::error(id, code, message, v.as_deref())));
    }

    /// Record a client request about to be forwarded. If it cannot be tracked exactly (a null
    /// or ambiguous id, an id already in flight, an id in the airlock's own namespace), or the
    /// server is gone, answer it with an error instead and return false: a request is never
    /// forwarded when its answer could not be told apart.
    fn track(&self, id: Value, method: &str, trace: Option<Trace>) -> bool {
        // A request answered here with an error ends its span with that error.
        let refused = |code: i64, message: &str| {
            if let Some(t) = &trace {
                t.end_with(Some((code.to_string(), message.to_owned())));
            }
        };
        if let Some(why) = protocol::untrackable_id(&id) {
            refused(INVALID_REQUEST, why);
            let id = (!id.is_null()).then_some(id);
            self.error(
                id,
                INVALID_REQUEST,
                &format!("{why}; the request was not forwarded"),
            );
            return false;
        }
        let k = key(&id);
        let mut s = self.lock();
        if s.server_gone {
            drop(s);
            refused(SERVER_GONE, "the MCP server has exited");
            self.error(Some(id), SERVER_GONE, "the MCP server has exited");
            return false;
        }
        if s.cancelled.contains(&k) {
            drop(s);
            refused(INVALID_REQUEST, "a request with this id was cancelled");
            self.error(
                Some(id),
                INVALID_REQUEST,
                "a request with this id was cancelled at its deadline and its late answer may still come; give every request its own id (the request was not forwarded)",
            );
            return false;
        }
        if s.in_flight.contains_key(&k) || id.as_str().is_some_and(|i| i.starts_with(INTERNAL_ID)) {
            drop(s);
            refused(
                INVALID_REQUEST,
                "a request with this id is already in flight",
            );
            self.error(
                Some(id),
                INVALID_REQUEST,
                "a request with this id is already in flight; give every request its own id (the request was not forwarded)",
            );
            return false;
        }
        match method {
            "tools/list" => {
                s.client_lists.insert(k.clone());
            }
            "initialize" => {
                s.initializing.insert(k.clone());
            }
            _ => {}
        }
        s.in_flight.insert(
            k,
            Asked {
                id,
                method: method.to_owned(),
                trace,
            },
        );
        true
    }

    /// Note what a message changes about the client's listen streams: the client's
    /// `subscriptions/listen` request opens one (call after [`Conn::track`] took its id), a
    /// cancellation of one, from either side, ends it.
    fn note_listens(&self, method: &str, id: Option<&Value>, params: Option<&Value>) {
        match (method, id) {
            ("subscriptions/listen", Some(id)) => {
                let listen = Listen {
                    id: id.clone(),
                    tools: crate::lifecycle::listens_for_tools(params),
                    acked: false,
                    missed: false,
                };
                self.lock().listens.insert(key(id), listen);
            }
            ("notifications/cancelled", None) => {
                // A cancelled stream has its end: no answer follows (a cancelled request is
                // not answered), so it is in flight no more and its id may be used again.
                if let Some(request) = params.and_then(|p| p.get("requestId")) {
                    let k = key(request);
                    let mut s = self.lock();
                    if s.listens.remove(&k).is_some() {
                        s.in_flight.remove(&k);
                        s.answered(&k);
                    }
                }
            }
            _ => {}
        }
    }

    /// Tell the client its tool list changed: before 2026-07-28 as a plain notification; on
    /// 2026-07-28 only on the acknowledged listen streams that asked for it, each naming its
    /// stream (the spec forbids a notice the client did not opt in to).
    fn tools_changed(&self) {
        if protocol::notifies_plainly(self.version.get().as_deref()) {
            let _ = self.to_client.send(line(&tools_list_changed()));
            return;
        }
        // Queued under the lock, as a stream's ack and its end are: no notice goes out after
        // its stream ended or before its ack. A stream still waiting for its ack takes the
        // notice right after it (the client opened it before the change).
        let mut s = self.lock();
        for l in s.listens.values_mut().filter(|l| l.tools) {
            if l.acked {
                self.tell_stream(&l.id);
            } else {
                l.missed = true;
            }
        }
    }

    /// Queue the airlock's own tool-list notice on the listen stream `id` (under the lock that
    /// orders it after the stream's ack and before its end).
    fn tell_stream(&self, id: &Value) {
        let _ = self
            .to_client
            .send(line(&crate::lifecycle::tools_list_changed_on(id)));
    }

    /// Forget a request the airlock answers itself with `answer`. False when it is no longer in
    /// flight: the server went away meanwhile and the request has had its answer (one answer
    /// per id).
    fn untrack(&self, id: &Value, answer: &Value) -> bool {
        let asked = self.lock().in_flight.remove(&key(id));
        if let Some(t) = asked.as_ref().and_then(|a| a.trace.as_ref()) {
            t.answered(answer);
        }
        asked.is_some()
    }
}

/// The id prefix of the airlock's own requests to the server; clients may not use it.
const INTERNAL_ID: &str = "airlock-internal-";

/// What came of one attempt sent under the airlock's own id ([`ask_within`]).
enum Attempt {
    Answer(Value),
    TimedOut,
    Gone,
}

/// Send `request` (a client's `tools/call`, as forwarded) again under an id of the airlock's
/// own, and wait up to `d` for its answer; past `d` the server is told to cancel it.
async fn ask_within(conn: &Conn, mut request: Value, d: Duration) -> Attempt {
    let (tx, rx) = oneshot::channel();
    let id = {
        let mut s = conn.lock();
        if s.server_gone {
            return Attempt::Gone;
        }
        s.next_internal += 1;
        let id = Value::String(format!(
            "{INTERNAL_ID}{}-{}",
            std::process::id(),
            s.next_internal
        ));
        s.internal.insert(key(&id), tx);
        id
    };
    request["id"] = id.clone();
    if conn.to_server.send(line(&request)).is_err() {
        return Attempt::Gone;
    }
    match tokio::time::timeout(d, rx).await {
        Ok(Ok(answer)) => Attempt::Answer(answer),
        Ok(Err(_)) => Attempt::Gone,
        Err(_) => {
            conn.lock().internal.remove(&key(&id));
            let _ = conn.to_server.send(line(&cancellation(&id, d)));
            Attempt::TimedOut
        }
    }
}

/// Most cancelled calls whose late answers are watched for.
const MAX_CANCELLED: usize = 4096;

impl State {
    /// A request's answer came (or never will): stop its deadline timer; the answer to a
    /// listen request ends its stream.
    fn answered(&mut self, k: &IdKey) {
        if let Some(t) = self.timers.remove(k) {
            t.abort();
        }
        self.listens.remove(k);
    }

    /// Whether `k` is a cancelled call's late answer (forgotten now: it came).
    fn late(&mut self, k: &IdKey) -> bool {
        match self.cancelled.iter().position(|c| c == k) {
            Some(i) => {
                self.cancelled.remove(i);
                true
            }
            None => false,
        }
    }
}

impl StdioProxy {
    /// A proxy deciding with `engine` for calls by `caller`. Roots are narrowed to the engine
    /// configuration's `filesystem.allowed_roots`.
    pub fn new(engine: Arc<Engine>, caller: CallerContext) -> Self {
        StdioProxy {
            lifecycle: Arc::new(Lifecycle::new(engine)),
            caller,
            max_line_bytes: 4 << 20,
            list_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
        }
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

    /// Export a span per client request, and metrics, to OpenTelemetry.
    #[must_use]
    pub fn telemetry(mut self, telemetry: Arc<crate::telemetry::Telemetry>) -> Self {
        let lifecycle = Lifecycle::new(self.lifecycle.engine().clone()).with_telemetry(telemetry);
        self.lifecycle = Arc::new(lifecycle);
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
        let (to_client, mut to_client_rx) = Queue::new();
        let (to_server, mut to_server_rx) = Queue::new();
        let conn = Arc::new(Conn {
            state: Mutex::new(State::default()),
            version: SessionVersion::default(),
            fetch: tokio::sync::Mutex::new(()),
            to_client: to_client.clone(),
            to_server: to_server.clone(),
            asking: Arc::default(),
        });

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
        // The client's end closes the server's stdin (tasks still holding the queue, such as a
        // call waiting for an approval, do not keep it open).
        let (client_ended, mut ended) = oneshot::channel::<()>();
        {
            let queue = to_server.counter();
            tokio::spawn(async move {
                let mut input = server_in;
                let mut open = true;
                loop {
                    let l = if open {
                        tokio::select! {
                            biased;
                            l = to_server_rx.recv() => l,
                            _ = &mut ended => {
                                // What was queued before the end still goes out.
                                open = false;
                                to_server_rx.close();
                                to_server_rx.recv().await
                            }
                        }
                    } else {
                        to_server_rx.recv().await
                    };
                    let Some(l) = l else { break };
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
            let conn = conn.clone();
            let proxy = self.clone();
            let done = server_done.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(server_out);
                loop {
                    // A client that does not read slows the server down, instead of the
                    // proxy queueing without end.
                    conn.to_client.room().await;
                    match read_line(&mut reader, MAX_SERVER_LINE).await {
                        Ok(Line::Ok(bytes)) => proxy.on_server_line(bytes, &conn),
                        Ok(Line::TooLong) => {
                            tracing::warn!(
                                "dropped a server message over {} MiB",
                                MAX_SERVER_LINE >> 20
                            );
                        }
                        Ok(Line::Eof) | Err(_) => break,
                    }
                }
                // The server is gone: answer everything still waiting for it.
                let waiting: Vec<Asked> = {
                    let mut s = conn.lock();
                    s.server_gone = true;
                    s.internal.clear();
                    s.listens.clear();
                    for (_, t) in s.timers.drain() {
                        t.abort();
                    }
                    for (_, ticket) in s.calls.drain() {
                        proxy.lifecycle.unreachable(&ticket);
                    }
                    s.in_flight.drain().map(|(_, a)| a).collect()
                };
                let why = "the MCP server exited before answering this request";
                for asked in waiting {
                    asked.failed(SERVER_GONE, why);
                    conn.error(Some(asked.id), SERVER_GONE, why);
                }
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
                Ok(Line::Ok(bytes)) => self.on_client_line(bytes, &conn).await,
                Ok(Line::TooLong) => conn.error(
                    None,
                    INVALID_REQUEST,
                    &format!(
                        "message larger than {} bytes; it was not forwarded",
                        self.max_line_bytes
                    ),
                ),
                Ok(Line::Eof) | Err(_) => break,
            }
        }
        // The client is done: close the server's stdin, give it a moment, then make sure.
        drop(client_ended);
        drop(to_server);
        drop(conn);
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

    /// The span of a client request (`[telemetry]` on), from the parsed message.
    fn trace(&self, conn: &Conn, message: &Value) -> Option<Trace> {
        let telemetry = self.lifecycle.telemetry()?;
        // A 2026-07-28 request names its own version, as on the HTTP door.
        let session = conn.version.get();
        let version = protocol::version_for(message, session.as_deref());
        telemetry.request(crate::telemetry::Request {
            session: self.caller.session.as_deref(),
            version,
            ..crate::telemetry::Request::of(message, "pipe")
        })
    }

    /// [`StdioProxy::trace`] for a request only routed, from its method, id and raw params.
    fn trace_raw(
        &self,
        conn: &Conn,
        method: &str,
        id: &Value,
        params: Option<&serde_json::value::RawValue>,
    ) -> Option<Trace> {
        let telemetry = self.lifecycle.telemetry()?;
        #[derive(serde::Deserialize)]
        struct Params {
            #[serde(rename = "_meta", default)]
            meta: Option<serde_json::Map<String, Value>>,
            #[serde(default)]
            name: Option<String>,
        }
        let params = params.and_then(|p| serde_json::from_str::<Params>(p.get()).ok());
        let session = conn.version.get();
        let version = params
            .as_ref()
            .and_then(|p| p.meta.as_ref())
            .and_then(protocol::version_in_meta)
            .map(str::to_owned)
            .or(session);
        telemetry.request(crate::telemetry::Request {
            method,
            id: Some(id),
            target: params.as_ref().and_then(|p| p.name.as_deref()),
            meta: params.as_ref().and_then(|p| p.meta.as_ref()),
            headers: None,
            session: self.caller.session.as_deref(),
            version: version.as_deref(),
            transport: "pipe",
        })
    }

    pub(crate) async fn on_client_line(&self, bytes: Vec<u8>, conn: &Arc<Conn>) {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            conn.error(
                None,
                PARSE_ERROR,
                "the message is not valid UTF-8; it was not forwarded",
            );
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
            conn.error(
                None,
                INVALID_REQUEST,
                "a carriage return inside a message is not allowed; it was not forwarded",
            );
            return;
        }
        let is_object = body.trim_start().starts_with('{');
        // A member named twice would be read one way here and another way by the server.
        if let Err(why) = protocol::unique_members(&bytes) {
            self.refuse_ambiguous(&bytes, &why, conn);
            return;
        }
        // Fast path: a request or notification the airlock does not touch is only routed.
        if is_object
            && let Ok(env) = serde_json::from_slice::<Envelope<'_>>(&bytes)
            && let Some(method) = env.method.as_deref()
            && !matches!(method, "tools/call" | "initialize")
            && !answers_input(env.params)
        {
            if let Some(id) = env.id {
                // An id that does not parse (a lone surrogate) cannot be tracked exactly.
                let Ok(id) = serde_json::from_str::<Value>(id.get()) else {
                    conn.error(
                        None,
                        INVALID_REQUEST,
                        "the request id is not valid JSON text; the request was not forwarded",
                    );
                    return;
                };
                let trace = self.trace_raw(conn, method, &id, env.params);
                // Only a listen request's id is kept beyond `track`.
                let listen = (method == "subscriptions/listen").then(|| id.clone());
                if !conn.track(id, method, trace) {
                    return;
                }
                if let Some(id) = listen {
                    let params = env.params.and_then(|p| serde_json::from_str(p.get()).ok());
                    conn.note_listens(method, Some(&id), params.as_ref());
                }
            } else if method == "notifications/cancelled" {
                let params = env.params.and_then(|p| serde_json::from_str(p.get()).ok());
                conn.note_listens(method, None, params.as_ref());
            }
            let _ = conn.to_server.send(bytes);
            return;
        }
        let mut msg: Value = match serde_json::from_str(text.trim_end()) {
            Ok(v) => v,
            Err(e) => {
                conn.error(
                    None,
                    PARSE_ERROR,
                    &format!(
                        "not valid JSON: {}; the message was not forwarded",
                        airlock_core::json_error::explain(&e)
                    ),
                );
                return;
            }
        };
        let Value::Object(obj) = &msg else {
            let what = if msg.is_array() {
                "JSON-RPC batches are not supported; send one message per line"
            } else {
                "a JSON-RPC message must be an object"
            };
            conn.error(None, INVALID_REQUEST, what);
            return;
        };
        let method = obj.get("method").and_then(Value::as_str).map(str::to_owned);
        let id = obj.get("id").cloned();
        match (method.as_deref(), id) {
            (Some("tools/call"), Some(id)) => {
                // The id is taken now, so that no other request can claim it while this one
                // waits for its decision.
                let trace = self.trace(conn, &msg);
                if !conn.track(id, "tools/call", trace.clone()) {
                    return;
                }
                if self.lifecycle.may_wait(&msg) {
                    // Waiting on the server (its tool list, which may first need the client: a
                    // roots/list request) or on a slow check: the client's lines keep flowing.
                    let (proxy, conn) = (self.clone(), conn.clone());
                    tokio::spawn(async move { proxy.call(msg, &conn, trace).await });
                } else {
                    self.call(msg, conn, trace).await;
                }
            }
            // A call without an id cannot be answered, so it cannot be refused either: it is
            // never forwarded unchecked (fail closed).
            (Some("tools/call"), None) => {
                tracing::warn!(
                    "dropped a tools/call without an id (it cannot be checked and answered)"
                );
            }
            (Some(m), Some(id)) => {
                if m == "initialize" {
                    conn.version.proposed(&msg);
                    conn.lock().elicit =
                        crate::approval::can_elicit_form(msg.pointer("/params/capabilities"));
                }
                let trace = self.trace(conn, &msg);
                let listen = (m == "subscriptions/listen").then(|| id.clone());
                if conn.track(id, m, trace) {
                    conn.note_listens(m, listen.as_ref(), msg.get("params"));
                    let _ = if self.lifecycle.narrow_roots(&mut msg) {
                        conn.to_server.send(line(&msg))
                    } else {
                        conn.to_server.send(bytes)
                    };
                }
            }
            // An answer to the server's own request: roots are narrowed — by id, or by carrying
            // roots at all: ids can be spelt many ways (`0` and `0.0` are one id to a JavaScript
            // server).
            (None, Some(_)) => {
                // The answer to the airlock's own elicitation/create goes to the call waiting
                // for it, never to the server.
                if conn.asking.answered(&msg).is_some() {
                    return;
                }
                let _ = if self.lifecycle.narrow_roots(&mut msg) {
                    conn.to_server.send(line(&msg))
                } else {
                    conn.to_server.send(bytes)
                };
            }
            // Notifications: untouched.
            _ => {
                if let Some(m) = &method {
                    conn.note_listens(m, None, msg.get("params"));
                }
                let _ = conn.to_server.send(bytes);
            }
        }
    }

    /// A client message with a member named twice is not forwarded: a request gets an error, an
    /// answer to the server's request is replaced by an error for the server, a notification is
    /// dropped.
    fn refuse_ambiguous(&self, bytes: &[u8], why: &str, conn: &Conn) {
        let id =
            protocol::sole_member(bytes, "id").filter(|id| protocol::untrackable_id(id).is_none());
        let is_request = protocol::sole_member(bytes, "method").is_some();
        let message = format!("{why}: the message is ambiguous and was not forwarded");
        match (is_request, id) {
            (true, id) => conn.error(id, INVALID_REQUEST, &message),
            (false, Some(id)) => {
                tracing::warn!("a client answer was withheld from the server: {why}");
                let _ =
                    conn.to_server
                        .send(line(&protocol::error_to(id, INVALID_REQUEST, &message)));
            }
            (false, None) => tracing::warn!("dropped a client message: {why}"),
        }
    }

    /// One `tools/call` through the lifecycle: answered here, or forwarded with its ticket.
    async fn call(&self, msg: Value, conn: &Arc<Conn>, trace: Option<Trace>) {
        let session = conn.version.get();
        let version = protocol::version_for(&msg, session.as_deref()).map(str::to_owned);
        // A person can be asked (elicitation/create) when the client said so at initialize and
        // the tool may need one.
        let elicit = (conn.lock().elicit && self.lifecycle.may_ask_person(&msg)).then(|| {
            let to_client = conn.to_client.clone();
            conn.asking
                .elicit(move |request| to_client.send(line(&request)).is_ok())
        });
        let request = CallRequest {
            message: msg,
            caller: &self.caller,
            version: version.as_deref(),
            fetch_lock: &conn.fetch,
            trace,
            elicit,
            // One connection, one client.
            remember: true,
        };
        let ask = |method: &'static str, params: Value| self.ask(conn, method, params);
        let id = request.message.get("id").cloned().unwrap_or(Value::Null);
        let admitted = self.lifecycle.admit(request, ask).await;
        // The list the airlock fetched itself refuses a tool the client may still show.
        if admitted.list_changed {
            conn.tools_changed();
        }
        let admission = admitted.admission;
        match admission {
            Admission::Answer(answer) => {
                if conn.untrack(&id, &answer) {
                    let _ = conn.to_client.send(line(&answer));
                }
            }
            Admission::Forward { request, ticket } => {
                let k = key(&id);
                let deadline = ticket.deadline();
                let mut s = conn.lock();
                if s.server_gone {
                    // Its error was sent when the server went (it was in flight).
                    return;
                }
                s.calls.insert(k.clone(), ticket);
                drop(s);
                let _ = conn.to_server.send(line(&request));
                if let Some(d) = deadline {
                    self.deadline(conn, k, d, request);
                }
            }
        }
    }

    /// Cancel call `k` if it is still in flight after `d`: the client gets `upstream.timeout`,
    /// the server `notifications/cancelled`, and a late answer is dropped. The timer holds no
    /// strong reference, so it never keeps a finished connection alive.
    fn deadline(&self, conn: &Arc<Conn>, k: IdKey, d: Duration, request: Value) {
        let weak = Arc::downgrade(conn);
        let lifecycle = self.lifecycle.clone();
        let timer_key = k.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(d).await;
            let Some(conn) = weak.upgrade() else { return };
            let Some(mut ticket) = ({
                let mut s = conn.lock();
                s.timers.remove(&timer_key);
                s.calls.get(&timer_key).cloned()
            }) else {
                return;
            };
            // The server is told to stop the attempt that ran out of time.
            let cancel = cancellation(ticket.id(), d);
            let _ = conn.to_server.send(line(&cancel));
            let mut outcome = CallOutcome::TimedOut;
            while let Some(wait) = lifecycle.attempt_failed(&mut ticket, outcome) {
                tokio::time::sleep(wait).await;
                // Another attempt, under an id of the airlock's own; the client's id stays in
                // flight, and whichever answer comes first is the one the client gets.
                match ask_within(&conn, request.clone(), d).await {
                    Attempt::Answer(mut answer) => {
                        let still_waiting = {
                            let mut s = conn.lock();
                            match s.calls.remove(&timer_key) {
                                Some(_) => Some(s.in_flight.remove(&timer_key)),
                                None => None,
                            }
                        };
                        if let Some(asked) = still_waiting {
                            answer["id"] = ticket.id().clone();
                            lifecycle.finish(&ticket, &mut answer);
                            if let Some(t) = asked.as_ref().and_then(|a| a.trace.as_ref()) {
                                t.answered(&answer);
                            }
                            let _ = conn.to_client.send(line(&answer));
                        }
                        return;
                    }
                    Attempt::TimedOut => outcome = CallOutcome::TimedOut,
                    // The server went away: every call in flight has had its error.
                    Attempt::Gone => return,
                }
                if !conn.lock().calls.contains_key(&timer_key) {
                    // Answered meanwhile (a late answer to an earlier attempt).
                    return;
                }
            }
            let gave_up = {
                let mut s = conn.lock();
                match s.calls.remove(&timer_key) {
                    Some(_) => {
                        let asked = s.in_flight.remove(&timer_key);
                        if s.cancelled.len() >= MAX_CANCELLED {
                            s.cancelled.pop_front();
                        }
                        s.cancelled.push_back(timer_key);
                        Some(asked)
                    }
                    None => None,
                }
            };
            if let Some(asked) = gave_up {
                let (answer, _) = lifecycle.timeout_messages(&ticket);
                if let Some(t) = asked.as_ref().and_then(|a| a.trace.as_ref()) {
                    t.answered(&answer);
                }
                let _ = conn.to_client.send(line(&answer));
            }
        });
        let mut s = conn.lock();
        if s.calls.contains_key(&k) {
            s.timers.insert(k, timer.abort_handle());
        } else {
            // Answered already.
            timer.abort();
        }
    }

    /// Send one request of the airlock's own to the server and wait for its answer.
    async fn ask(&self, conn: &Conn, method: &'static str, params: Value) -> Option<Value> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut s = conn.lock();
            if s.server_gone {
                return None;
            }
            s.next_internal += 1;
            let id = Value::String(format!(
                "{INTERNAL_ID}{}-{}",
                std::process::id(),
                s.next_internal
            ));
            s.internal.insert(key(&id), tx);
            id
        };
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        conn.to_server.send(line(&req)).ok()?;
        match tokio::time::timeout(self.list_timeout, rx).await {
            Ok(Ok(answer)) => Some(answer),
            _ => {
                conn.lock().internal.remove(&key(&id));
                None
            }
        }
    }

    pub(crate) fn on_server_line(&self, bytes: Vec<u8>, conn: &Conn) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        // A member named twice would be read one way here and another way by the client.
        if let Err(why) = protocol::unique_members(&bytes) {
            self.withhold(&bytes, &why, conn);
            return;
        }
        // Fast path: most server lines are answers to requests the client made; route them by
        // their envelope without building the whole tree.
        if let Ok(env) = serde_json::from_slice::<Envelope<'_>>(&bytes)
            && env.method.is_none()
            && (env.result.is_some() || env.error.is_some())
            && let Some(id) = env.id
        {
            let k = raw_key(id);
            let mut s = conn.lock();
            if !s.internal.contains_key(&k)
                && !s.client_lists.contains(&k)
                && !s.initializing.contains(&k)
            {
                let asked = s.in_flight.remove(&k);
                let ticket = s.calls.remove(&k);
                s.answered(&k);
                let late = asked.is_none() && s.late(&k);
                drop(s);
                let Some(asked) = asked else {
                    if late {
                        tracing::info!(
                            "dropped a late answer to a call cancelled at its deadline (id {k})"
                        );
                    } else {
                        // Never asked, or answered already: nobody is waiting for it.
                        tracing::warn!(
                            "dropped a server answer to a request not in flight (id {k})"
                        );
                    }
                    return;
                };
                let out = match ticket {
                    Some(ticket) => self.lifecycle.finish_line(&ticket, bytes),
                    None => self.answer(&asked, bytes, None, conn),
                };
                if let Some(t) = &asked.trace {
                    t.answered_bytes(&out);
                }
                let _ = conn.to_client.send(out);
                return;
            }
        }
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&bytes) else {
            self.withhold(&bytes, "the message is not a JSON object", conn);
            return;
        };
        let method = obj.get("method").and_then(Value::as_str);
        if method == Some("notifications/tools/list_changed") {
            self.lifecycle.tools_changed();
        }
        let is_response =
            method.is_none() && (obj.contains_key("result") || obj.contains_key("error"));
        if method.is_none() && !is_response {
            // Neither a request, a notification nor an answer: nobody reads it.
            self.withhold(&bytes, "the message is not JSON-RPC", conn);
            return;
        }
        let Some(id) = obj.get("id").filter(|_| is_response) else {
            // The server's own request or a notification: cleaned where a reader sees it.
            let is_ack = method == Some("notifications/subscriptions/acknowledged");
            let mut msg = Value::Object(obj);
            // The server ends a listen stream by cancelling it, as a client does.
            if let Some(m) = msg.get("method").and_then(Value::as_str) {
                conn.note_listens(m, None, msg.get("params"));
            }
            let stream = if is_ack {
                Self::acknowledgement(&mut msg, conn)
            } else {
                None
            };
            let rewritten = stream.as_ref().is_some_and(|(_, changed)| *changed);
            let out = match self.lifecycle.from_server(&self.caller, None, &mut msg) {
                FromServer::Relay if !rewritten => bytes,
                FromServer::Relay | FromServer::Rewritten => line(&msg),
                FromServer::Withheld(why) => {
                    let version = conn.version.get();
                    if let Some((Sender::Server, answer)) = withheld(&msg, &why, version.as_deref())
                    {
                        let _ = conn.to_server.send(line(&answer));
                    }
                    return;
                }
            };
            // The stream takes the airlock's own notices once its ack is on the way: the ack
            // must come first (one withheld never reached the client). Queued and marked under
            // one lock, which `tools_changed` takes too, so no notice falls between them; a
            // change found while the ack was on its way from the server follows it.
            let Some((k, _)) = stream else {
                let _ = conn.to_client.send(out);
                return;
            };
            let mut s = conn.lock();
            if conn.to_client.send(out).is_ok()
                && let Some(listen) = s.listens.get_mut(&k)
            {
                listen.acked = true;
                if std::mem::take(&mut listen.missed) {
                    conn.tell_stream(&listen.id);
                }
            }
            return;
        };
        let k = key(id);
        let mut s = conn.lock();
        if let Some(waiter) = s.internal.remove(&k) {
            drop(s);
            let _ = waiter.send(Value::Object(obj));
            return;
        }
        let Some(asked) = s.in_flight.remove(&k) else {
            let late = s.late(&k);
            drop(s);
            if late {
                tracing::info!(
                    "dropped a late answer to a call cancelled at its deadline (id {k})"
                );
            } else {
                tracing::warn!("dropped a server answer to a request not in flight (id {k})");
            }
            return;
        };
        s.answered(&k);
        s.calls.remove(&k);
        let was_list = s.client_lists.remove(&k);
        let was_initialize = s.initializing.remove(&k);
        drop(s);
        let mut msg = Value::Object(obj);
        if was_initialize {
            conn.version.settled(&msg);
        }
        // Learn the definitions and hide what this caller may never call.
        let listed = match msg.get_mut("result") {
            Some(result) if was_list => self.lifecycle.tools_page_listed(&self.caller, result),
            _ => Listed::default(),
        };
        let out = self.answer(&asked, bytes, Some((msg, listed.changed)), conn);
        if let Some(t) = &asked.trace {
            t.answered_bytes(&out);
        }
        let _ = conn.to_client.send(out);
        // A tool shown on an earlier page is refused now: the client lists again.
        if listed.list_changed {
            conn.tools_changed();
        }
    }

    /// The server's acknowledgement of one of the client's listen streams: where the client
    /// asked for tool list changes it says they are honoured (the airlock sends them itself).
    /// The stream's key, and whether `ack` changed; `None` for no stream of the client's.
    fn acknowledgement(ack: &mut Value, conn: &Conn) -> Option<(IdKey, bool)> {
        let k = key(crate::lifecycle::subscription_of(ack)?);
        let tools = conn.lock().listens.get(&k)?.tools;
        let changed = tools && crate::lifecycle::honour_tool_changes(ack);
        Some((k, changed))
    }

    /// The server's answer to a client request other than `tools/call`, cleaned as its method
    /// says: the line to send the client (the original bytes when nothing changed).
    fn answer(
        &self,
        asked: &Asked,
        bytes: Vec<u8>,
        parsed: Option<(Value, bool)>,
        conn: &Conn,
    ) -> Vec<u8> {
        let declares = crate::lifecycle::declares_capabilities(&asked.method);
        if !self.lifecycle.engine().cleans_results()
            && !declares
            && parsed.as_ref().is_none_or(|(_, f)| !f)
        {
            return bytes;
        }
        let (mut msg, mut changed) = match parsed {
            Some(p) => p,
            None => match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => (v, false),
                Err(_) => {
                    let version = conn.version.get();
                    return line(&protocol::error(
                        Some(asked.id.clone()),
                        SERVER_GONE,
                        "the server's answer was withheld: it could not be read to be checked",
                        version.as_deref(),
                    ));
                }
            },
        };
        changed |= crate::lifecycle::declare_list_changed(&asked.method, &mut msg);
        match self
            .lifecycle
            .from_server(&self.caller, Some(&asked.method), &mut msg)
        {
            FromServer::Relay if !changed => bytes,
            FromServer::Relay | FromServer::Rewritten => line(&msg),
            FromServer::Withheld(why) => {
                let version = conn.version.get();
                line(&protocol::error(
                    Some(asked.id.clone()),
                    SERVER_GONE,
                    &format!("the server's answer was withheld: it could not be checked ({why})"),
                    version.as_deref(),
                ))
            }
        }
    }

    /// A server message the airlock cannot read exactly (not JSON, a member named twice) is
    /// never relayed: when it answers a request in flight, the client gets an error for that
    /// request instead; anything else is dropped and logged.
    fn withhold(&self, bytes: &[u8], why: &str, conn: &Conn) {
        let id = protocol::sole_member(bytes, "id").or_else(|| {
            serde_json::from_slice::<Envelope<'_>>(bytes)
                .ok()
                .and_then(|e| e.id)
                .and_then(|id| serde_json::from_str::<Value>(id.get()).ok())
        });
        if let Some(id) = id {
            let k = key(&id);
            let mut s = conn.lock();
            // The airlock's own request: its waiter gives up (the call is then refused).
            if s.internal.remove(&k).is_some() {
                drop(s);
                tracing::warn!(
                    "a server answer to the airlock's own request was unreadable: {why}"
                );
                return;
            }
            if let Some(asked) = s.in_flight.remove(&k) {
                s.answered(&k);
                s.calls.remove(&k);
                s.client_lists.remove(&k);
                s.initializing.remove(&k);
                drop(s);
                tracing::warn!("a server answer was withheld: {why}");
                let message = format!(
                    "the server's answer was withheld: it could not be read exactly ({why})"
                );
                asked.failed(SERVER_GONE, &message);
                conn.error(Some(asked.id), SERVER_GONE, &message);
                return;
            }
        }
        tracing::warn!("dropped a server message: {why}");
    }
}
