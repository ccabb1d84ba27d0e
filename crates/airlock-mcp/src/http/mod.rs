//! The Streamable-HTTP gateway: `airlock serve --listen ADDR (--upstream URL | -- <cmd…>)`.
//!
//! One endpoint (`/mcp`) speaks MCP's Streamable HTTP to many clients at once. Each request is
//! checked in this order: the `Host` header against `gateway.allowed_hosts` and any `Origin`
//! against `gateway.allowed_origins` (403: DNS rebinding), then the caller's credentials (401
//! with a JSON body saying what to send), then the message itself. The caller's identity
//! (agent, roles, tenant) comes from the API key or JWT and feeds the engine.
//!
//! Sessions. A client that sends `initialize` gets a session of its own (`Mcp-Session-Id`,
//! bound to the credentials that opened it: another caller presenting the id gets 404).
//! Requests without a session id (the stateless 2026-07-28 protocol, `server/discover`) go to
//! one shared session per caller identity. Behind each session is either
//!
//! * a child process (`-- <cmd…>`): one server process per session, started on the session's
//!   first request and stopped (with everything it started) when the session ends, is deleted,
//!   or idles past `gateway.idle_timeout_secs`; or
//! * an HTTP upstream (`--upstream URL`): one upstream session per gateway session; the
//!   upstream's session id stays inside the gateway.
//!
//! The messages touched are the stdio proxy's: `tools/call` goes through the engine (a refusal
//! is answered by the gateway, and the server never sees the call), `tools/list` answers teach
//! the engine the tools and lose the ones the caller may never call, `roots/list` answers are
//! narrowed to `filesystem.allowed_roots`. An answer comes back as `application/json` when the
//! server sends nothing else first, otherwise as an SSE stream carrying the request's progress
//! notifications and the server's own requests before the answer.

// An HTTP response is the natural error of a handler step, returned once per request.
#![allow(clippy::result_large_err)]

mod child;
mod upstream;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::config::GatewaySettings;
use airlock_core::{Arguments, Call, CallerContext, Decision, Engine};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::{AuthError, Authenticator, Identity};
use crate::intercept::{
    error_message, id_key, learn_and_hide, narrow_roots_answer, refusal_result,
};
use crate::stdio::{INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, SERVER_GONE};
use child::ChildLink;
use upstream::HttpLink;

/// Depth of the queues between a session's server and its clients' streams. A client that
/// stops reading slows its own session down, never another.
const STREAM_DEPTH: usize = 256;
const SESSION_HEADER: &str = "mcp-session-id";
/// The id prefix of the gateway's own requests to a server.
const INTERNAL_ID: &str = "airlock-internal-";

/// Where the gateway's MCP server is.
#[derive(Clone, Debug)]
pub enum Upstream {
    /// A Streamable-HTTP MCP server at this URL.
    Http(String),
    /// A stdio MCP server command (program and arguments), started once per session.
    Command(Vec<OsString>),
}

/// What a session's server tells the gateway in passing.
#[derive(Clone)]
pub(crate) struct Hooks {
    stale: Arc<AtomicBool>,
    roots: Arc<Mutex<HashSet<String>>>,
}

impl Hooks {
    fn tools_changed(&self) {
        self.stale.store(true, Ordering::Release);
    }
    fn roots_requested(&self, id: &Value) {
        lock(&self.roots).insert(id_key(id));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Link {
    Child(Arc<ChildLink>),
    Http(HttpLink),
}

struct Session {
    id: String,
    principal: String,
    caller: CallerContext,
    link: Link,
    hooks: Hooks,
    last_used: Mutex<Instant>,
    /// Requests in flight, by id: a client's `notifications/cancelled` ends their streams.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// One tool-list fetch at a time per session (a slow server delays only its own session).
    fetch: tokio::sync::Mutex<()>,
}

/// Removes a request from its session's in-flight table when its answer is done.
struct InFlight {
    session: Arc<Session>,
    key: String,
    cancelled: Arc<tokio::sync::Notify>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = lock(&self.session.inflight);
        if map
            .get(&self.key)
            .is_some_and(|n| Arc::ptr_eq(n, &self.cancelled))
        {
            map.remove(&self.key);
        }
    }
}

impl Session {
    async fn request(
        &self,
        msg: Value,
        headers: &HeaderMap,
    ) -> Result<mpsc::Receiver<Value>, Value> {
        match &self.link {
            Link::Child(c) => c.request(msg).await,
            Link::Http(h) => h.request(msg, headers, self.hooks.clone()).await,
        }
    }

    async fn send(&self, msg: Value, headers: &HeaderMap) -> Result<(), String> {
        match &self.link {
            Link::Child(c) => c.send(msg).await,
            Link::Http(h) => h.send(msg, headers).await,
        }
    }

    fn is_gone(&self) -> bool {
        matches!(&self.link, Link::Child(c) if c.is_gone())
    }

    fn is_busy(&self) -> bool {
        !lock(&self.inflight).is_empty() || matches!(&self.link, Link::Child(c) if c.is_busy())
    }

    async fn close(&self, headers: &HeaderMap) {
        match &self.link {
            Link::Child(c) => c.close(),
            // A hung upstream must not hold up reaping or shutdown.
            Link::Http(h) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), h.close(headers)).await;
            }
        }
    }
}

struct Inner {
    engine: Arc<Engine>,
    auth: Authenticator,
    settings: GatewaySettings,
    upstream: Upstream,
    client: reqwest::Client,
    own_auth: Option<HeaderValue>,
    roots: Option<Arc<airlock_guard::path::PathPolicy>>,
    list_timeout: Duration,
    /// Sessions opened by `initialize`, by their id.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions of stateless requests, by the caller's principal.
    shared: Mutex<HashMap<String, Arc<Session>>>,
    stale: Arc<AtomicBool>,
    next_internal: AtomicU64,
}

/// The Streamable-HTTP gateway.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstream", &self.inner.upstream)
            .field("sessions", &self.session_count())
            .finish()
    }
}

fn random_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        // No /dev/urandom: the std hasher's per-process random keys, over a counter and the time.
        use std::hash::{BuildHasher, RandomState};
        static N: AtomicU64 = AtomicU64::new(0);
        let s = RandomState::new();
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let a = s.hash_one((t, N.fetch_add(1, Ordering::Relaxed)));
        let c = RandomState::new().hash_one((a, t));
        b[..8].copy_from_slice(&a.to_le_bytes());
        b[8..].copy_from_slice(&c.to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Gateway {
    /// A gateway deciding with `engine`, configured by `settings`, in front of `upstream`.
    /// Fails when the credentials configuration cannot be loaded, when no way to authenticate
    /// is configured (and anonymous callers are not allowed), or when the upstream is empty.
    pub fn new(
        engine: Arc<Engine>,
        settings: GatewaySettings,
        upstream: Upstream,
    ) -> Result<Self, String> {
        let auth = Authenticator::new(&settings)?;
        if !auth.is_open() {
            return Err("no caller could authenticate: configure gateway.api_keys or gateway.jwt, or set gateway.allow_anonymous = true".into());
        }
        match &upstream {
            Upstream::Command(c) if c.is_empty() => return Err("no server command".into()),
            Upstream::Http(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                return Err(format!(
                    "the upstream {u:?} is not an http:// or https:// URL"
                ));
            }
            _ => {}
        }
        let own_auth = match &settings.upstream_token_env {
            Some(var) => {
                let token = std::env::var(var)
                    .map_err(|_| format!("gateway.upstream_token_env: ${var} is not set"))?;
                Some(
                    HeaderValue::from_str(&format!("Bearer {token}"))
                        .map_err(|_| format!("${var} is not a valid header value"))?,
                )
            }
            None => None,
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Gateway {
            inner: Arc::new(Inner {
                engine,
                auth,
                settings,
                upstream,
                client,
                own_auth,
                roots: None,
                list_timeout: Duration::from_secs(30),
                sessions: Mutex::new(HashMap::new()),
                shared: Mutex::new(HashMap::new()),
                stale: Arc::new(AtomicBool::new(false)),
                next_internal: AtomicU64::new(1),
            }),
        })
    }

    /// How long a tool-list fetch may take before the call that needed it is refused
    /// (default 30 s).
    #[must_use]
    pub fn list_timeout(mut self, timeout: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.list_timeout = timeout;
        }
        self
    }

    /// Narrow the roots clients announce to `policy`'s roots, each kept root checked against
    /// the policy (symlinks, deny lists). A policy without roots: pass unchanged.
    #[must_use]
    pub fn allowed_roots(mut self, policy: Arc<airlock_guard::path::PathPolicy>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.roots = (!policy.roots().is_empty()).then_some(policy);
        }
        self
    }

    /// Sessions open now (own and shared).
    pub fn session_count(&self) -> usize {
        lock(&self.inner.sessions).len() + lock(&self.inner.shared).len()
    }

    /// The gateway's routes: `/mcp` (POST, GET, DELETE) and `/healthz`.
    pub fn router(&self) -> axum::Router {
        use axum::routing::get;
        axum::Router::new()
            .route("/mcp", axum::routing::post(post).get(stream).delete(delete))
            .route("/healthz", get(|| async { "ok" }))
            .layer(DefaultBodyLimit::max(self.inner.settings.max_body_bytes))
            .with_state(self.inner.clone())
    }

    /// Serve on `listener` until `shutdown` completes; then close every session (stopping
    /// their servers).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let reaper = {
            let inner = self.inner.clone();
            let idle = Duration::from_secs(inner.settings.idle_timeout_secs.max(1));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(idle.min(Duration::from_secs(30)));
                loop {
                    tick.tick().await;
                    inner.reap(idle).await;
                }
            })
        };
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        use axum::serve::ListenerExt;
        // Small JSON-RPC messages: Nagle's algorithm against delayed ACKs would add 40 ms.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(listener, self.router()).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping.send(());
        });
        // Open streams would hold a graceful shutdown forever: they get a few seconds.
        let result = tokio::select! {
            r = server => r,
            () = async {
                if stopped.await.is_ok() {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => Ok(()),
        };
        reaper.abort();
        self.inner.reap(Duration::ZERO).await;
        result
    }
}

impl Inner {
    /// Close sessions idle for longer than `idle` (all of them for zero) and those whose server
    /// is gone.
    async fn reap(&self, idle: Duration) {
        // A session with a call or a stream open is not idle, however long that takes.
        let expired = |s: &Arc<Session>| {
            idle.is_zero() || s.is_gone() || (lock(&s.last_used).elapsed() > idle && !s.is_busy())
        };
        let mut closed = Vec::new();
        lock(&self.sessions).retain(|_, s| {
            let keep = !expired(s);
            if !keep {
                closed.push(s.clone());
            }
            keep
        });
        lock(&self.shared).retain(|_, s| {
            let keep = !expired(s);
            if !keep {
                closed.push(s.clone());
            }
            keep
        });
        for s in closed {
            s.close(&HeaderMap::new()).await;
            self.engine.end_session(&s.caller);
        }
    }

    fn open_session(&self, identity: &Identity, id: String) -> Result<Arc<Session>, Response> {
        if lock(&self.sessions).len() + lock(&self.shared).len() >= self.settings.max_sessions {
            return Err(rpc_error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                INVALID_REQUEST,
                "the gateway has as many sessions as it may hold; try again later",
            ));
        }
        // One caller may not take every slot (each may be a server process).
        let own = lock(&self.sessions)
            .values()
            .filter(|s| s.principal == identity.principal && !s.is_gone())
            .count()
            + usize::from(lock(&self.shared).contains_key(&identity.principal));
        if own >= self.settings.max_sessions_per_caller {
            return Err(rpc_error_response(
                StatusCode::TOO_MANY_REQUESTS,
                INVALID_REQUEST,
                &format!(
                    "this caller has {own} sessions open, the most allowed; end one (HTTP DELETE with its Mcp-Session-Id) or reuse it"
                ),
            ));
        }
        let hooks = Hooks {
            stale: self.stale.clone(),
            roots: Arc::new(Mutex::new(HashSet::new())),
        };
        let link = match &self.upstream {
            Upstream::Command(cmd) => {
                let link = ChildLink::spawn(&cmd[0], &cmd[1..], hooks.clone()).map_err(|e| {
                    eprintln!("airlock: cannot start the MCP server {:?}: {e}", cmd[0]);
                    rpc_error_response(
                        StatusCode::BAD_GATEWAY,
                        SERVER_GONE,
                        "the MCP server could not be started",
                    )
                })?;
                Link::Child(link)
            }
            Upstream::Http(url) => Link::Http(HttpLink::new(
                self.client.clone(),
                url.clone(),
                self.own_auth.clone(),
                self.settings.pass_credentials,
            )),
        };
        Ok(Arc::new(Session {
            caller: CallerContext {
                agent: Some(identity.agent.clone()),
                session: Some(id.clone()),
                tenant: identity.tenant.clone(),
                roles: identity.roles.clone(),
                metadata: Default::default(),
            },
            id,
            principal: identity.principal.clone(),
            link,
            hooks,
            last_used: Mutex::new(Instant::now()),
            inflight: Mutex::new(HashMap::new()),
            fetch: tokio::sync::Mutex::new(()),
        }))
    }

    fn shared_session(&self, identity: &Identity) -> Result<Arc<Session>, Response> {
        let found = lock(&self.shared).get(&identity.principal).cloned();
        if let Some(s) = found {
            if !s.is_gone() {
                return Ok(s);
            }
            lock(&self.shared).remove(&identity.principal);
        }
        let s = self.open_session(identity, format!("shared-{}", random_id()))?;
        let mut shared = lock(&self.shared);
        // Two first requests at once: keep the one that got in first.
        if let Some(existing) = shared.get(&identity.principal).cloned() {
            drop(shared);
            if let Link::Child(c) = &s.link {
                c.close();
            }
            return Ok(existing);
        }
        shared.insert(identity.principal.clone(), s.clone());
        Ok(s)
    }

    /// Learn every page of the server's tools (the never-call-blind rule).
    async fn fetch_tools(
        &self,
        session: &Session,
        name: &str,
        meta: Option<&Value>,
        headers: &HeaderMap,
    ) -> bool {
        let _one = session.fetch.lock().await;
        if !self.stale.load(Ordering::Acquire) && self.engine.catalog().get(name).is_some() {
            return true;
        }
        // Only the protocol version goes with our own request: the message headers of the
        // client's call would contradict it.
        let mut h = HeaderMap::new();
        if let Some(v) = headers.get("mcp-protocol-version") {
            h.insert("mcp-protocol-version", v.clone());
        }
        h.insert("mcp-method", HeaderValue::from_static("tools/list"));
        let h = &h;
        let ask = |mut params: Value| async move {
            let id = json!(format!(
                "{INTERNAL_ID}{}",
                self.next_internal.fetch_add(1, Ordering::Relaxed)
            ));
            if let Some(Value::Object(m)) = meta {
                let mut m = m.clone();
                m.remove("progressToken");
                params["_meta"] = Value::Object(m);
            }
            let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
            let mut rx = session.request(req, h).await.ok()?;
            tokio::time::timeout(self.list_timeout, async {
                while let Some(m) = rx.recv().await {
                    if is_answer(&m, &id) {
                        return Some(m);
                    }
                }
                None
            })
            .await
            .ok()
            .flatten()
        };
        let Some(tools) = crate::intercept::list_all_tools(ask).await else {
            return false;
        };
        self.engine.set_tools(tools);
        self.stale.store(false, Ordering::Release);
        true
    }

    /// The engine's decision on a `tools/call`: the message to forward, or the answer.
    async fn decide(
        &self,
        session: &Session,
        caller: &CallerContext,
        mut msg: Value,
        id: &Value,
        headers: &HeaderMap,
    ) -> Result<Value, Value> {
        let Some(name) = msg
            .pointer("/params/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(error_message(
                id.clone(),
                INVALID_PARAMS,
                "tools/call needs params.name, the tool to call",
            ));
        };
        let stale = self.stale.load(Ordering::Acquire);
        if stale || self.engine.catalog().get(&name).is_none() {
            let fetched = self
                .fetch_tools(session, &name, msg.pointer("/params/_meta"), headers)
                .await;
            if !fetched && stale {
                // Never check against definitions the server may have changed.
                self.engine.set_tools(Vec::new());
            }
        }
        let arguments = msg
            .pointer("/params/arguments")
            .cloned()
            .unwrap_or(Value::Null);
        match self
            .engine
            .check(Call::new(name, Arguments::Json(arguments)).caller(caller.clone()))
        {
            Decision::Refused(r) => {
                if let Some(internal) = &r.internal {
                    eprintln!("airlock: a check failed and the call was refused: {internal}");
                }
                Err(refusal_result(id.clone(), &r.refusal))
            }
            Decision::Allowed(allowed) => {
                if let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) {
                    params.insert("arguments".into(), Value::Object(allowed.arguments));
                }
                Ok(msg)
            }
        }
    }
}

fn is_answer(m: &Value, id: &Value) -> bool {
    m.get("method").is_none()
        && (m.get("result").is_some() || m.get("error").is_some())
        && m.get("id").map(id_key) == Some(id_key(id))
}

fn rpc_error_response(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        error_message(Value::Null, code, message).to_string(),
    )
        .into_response()
}

fn json_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// `host` or `host:port` (`[v6]:port`), lower-cased, split.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        match s.find(']') {
            Some(i) if i + 1 == s.len() => (s, None),
            Some(i) => match s[i + 1..].strip_prefix(':') {
                Some(port) => (&s[..=i], Some(port)),
                // `[::1]evil` is no host at all.
                None => ("", None),
            },
            None => (s, None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (s, None),
        }
    }
}

/// Whether a `Host` header names an allowed host (`host` entries allow any port).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let (name, port) = split_host_port(&host);
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        let (an, ap) = split_host_port(&a);
        an == name && (ap.is_none() || ap == port)
    })
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    }
}

/// Whether an `Origin` header is one of the allowed origins (`scheme://host[:port|:*]`; an
/// entry without a port means the scheme's default port; `null` matches `null`).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let parse = |s: &str| -> Option<(String, String, Option<String>)> {
        let s = s.trim().to_ascii_lowercase();
        let (scheme, rest) = s.split_once("://")?;
        if rest.contains('/') || rest.contains('@') || rest.is_empty() {
            return None;
        }
        let (h, p) = split_host_port(rest);
        let port = p
            .map(str::to_owned)
            .or(default_port(scheme).map(str::to_owned));
        Some((scheme.to_owned(), h.to_owned(), port))
    };
    if origin.trim() == "null" {
        return allowed.iter().any(|a| a == "null");
    }
    let Some((s, h, p)) = parse(origin) else {
        return false;
    };
    allowed.iter().any(|a| match parse(a) {
        Some((as_, ah, ap)) => as_ == s && ah == h && (ap.as_deref() == Some("*") || ap == p),
        None => false,
    })
}

/// Host, Origin and credentials, in that order.
fn admit(inner: &Inner, headers: &HeaderMap) -> Result<Identity, Response> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, &inner.settings.allowed_hosts) {
        return Err(rpc_error_response(
            StatusCode::FORBIDDEN,
            INVALID_REQUEST,
            &format!("the Host {host:?} is not served here (gateway.allowed_hosts)"),
        ));
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        if !origin_allowed(o, &inner.settings.allowed_origins) {
            return Err(rpc_error_response(
                StatusCode::FORBIDDEN,
                INVALID_REQUEST,
                &format!(
                    "requests from the origin {o:?} are not allowed (gateway.allowed_origins)"
                ),
            ));
        }
    }
    inner.auth.authenticate(headers).map_err(|e| {
        let mut r = rpc_error_response(StatusCode::UNAUTHORIZED, -32001, &e.to_string());
        let challenge = match e {
            AuthError::Missing => "Bearer realm=\"airlock\"",
            AuthError::Invalid(_) => "Bearer realm=\"airlock\", error=\"invalid_token\"",
        };
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        r
    })
}

/// The caller's shared (stateless) session, if there is one.
fn shared_of(inner: &Inner, identity: &Identity) -> Option<Arc<Session>> {
    lock(&inner.shared).get(&identity.principal).cloned()
}

/// The session a request names, if it exists and belongs to this caller.
fn named_session(
    inner: &Inner,
    headers: &HeaderMap,
    identity: &Identity,
) -> Option<Result<Arc<Session>, Response>> {
    let sid = headers.get(SESSION_HEADER)?;
    let not_found = || {
        rpc_error_response(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            "no such session (it ended or was never opened here); send initialize again",
        )
    };
    let Ok(sid) = sid.to_str() else {
        return Some(Err(not_found()));
    };
    let found = lock(&inner.sessions).get(sid).cloned();
    Some(match found {
        Some(s) if s.principal == identity.principal && !s.is_gone() => Ok(s),
        Some(s) if s.is_gone() => {
            lock(&inner.sessions).remove(sid);
            Err(not_found())
        }
        _ => Err(not_found()),
    })
}

async fn post(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let identity = match admit(&inner, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return rpc_error_response(
                StatusCode::BAD_REQUEST,
                PARSE_ERROR,
                &format!("not valid JSON ({e}); the message was not forwarded"),
            );
        }
    };
    let Value::Object(obj) = &msg else {
        let what = if msg.is_array() {
            "JSON-RPC batches are not supported; send one message per request"
        } else {
            "a JSON-RPC message must be an object"
        };
        return rpc_error_response(StatusCode::BAD_REQUEST, INVALID_REQUEST, what);
    };
    let method = obj.get("method").and_then(Value::as_str).map(str::to_owned);
    let id = obj.get("id").cloned();
    let is_initialize = method.as_deref() == Some("initialize");
    let (session, opened) = match named_session(&inner, &headers, &identity) {
        Some(Ok(s)) => (s, false),
        Some(Err(r)) => return r,
        None if is_initialize => {
            let s = match inner.open_session(&identity, random_id()) {
                Ok(s) => s,
                Err(r) => return r,
            };
            lock(&inner.sessions).insert(s.id.clone(), s.clone());
            (s, true)
        }
        None => match inner.shared_session(&identity) {
            Ok(s) => (s, false),
            Err(r) => return r,
        },
    };
    *lock(&session.last_used) = Instant::now();
    match (method, id) {
        (Some(m), Some(id)) => {
            // The session's identity, with the roles the credentials carry now.
            let caller = CallerContext {
                roles: identity.roles.clone(),
                ..session.caller.clone()
            };
            let response = request(&inner, &session, caller, m, id, msg, &headers).await;
            if opened {
                return with_session(response, &inner, &session).await;
            }
            response
        }
        (Some(m), None) if !m.starts_with("notifications/") => rpc_error_response(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "a request needs an id (only notifications/* are sent without one); it was not forwarded",
        ),
        (Some(m), None) => {
            if m == "notifications/cancelled"
                && let Some(req) = msg.pointer("/params/requestId")
                && let Some(n) = lock(&session.inflight).remove(&id_key(req))
            {
                // The client gives up on the request: its stream ends now, whatever the
                // server does with the cancellation.
                n.notify_one();
            }
            match session.send(msg, &headers).await {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(e) => rpc_error_response(StatusCode::BAD_GATEWAY, SERVER_GONE, &e),
            }
        }
        (None, Some(id)) => {
            // An answer to the server's own request: `roots/list` answers are narrowed (by id,
            // or by carrying roots at all: ids can be spelt many ways).
            let mut msg = msg;
            let was_roots = lock(&session.hooks.roots).remove(&id_key(&id));
            if (was_roots || msg.pointer("/result/roots").is_some())
                && let Some(policy) = &inner.roots
            {
                narrow_roots_answer(&mut msg, policy);
            }
            match session.send(msg, &headers).await {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(e) => rpc_error_response(StatusCode::BAD_GATEWAY, SERVER_GONE, &e),
            }
        }
        (None, None) => rpc_error_response(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "a JSON-RPC message needs a method or an id",
        ),
    }
}

/// A new session's `initialize` answer carries its id; a failed handshake ends it.
async fn with_session(response: Response, inner: &Inner, session: &Arc<Session>) -> Response {
    // A JSON answer is read to see whether `initialize` failed (an error with HTTP 200): then
    // the session is closed now instead of idling until its timeout.
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (mut response, failed) = if response.status() != StatusCode::OK {
        (response, true)
    } else if is_json {
        let (parts, body) = response.into_parts();
        match axum::body::to_bytes(body, 4 << 20).await {
            Ok(bytes) => {
                let failed = serde_json::from_slice::<Value>(&bytes)
                    .map_or(true, |v| v.get("result").is_none());
                (
                    Response::from_parts(parts, axum::body::Body::from(bytes)),
                    failed,
                )
            }
            Err(_) => (
                rpc_error_response(
                    StatusCode::BAD_GATEWAY,
                    SERVER_GONE,
                    "the server's answer to initialize could not be read",
                ),
                true,
            ),
        }
    } else {
        (response, false)
    };
    if failed {
        lock(&inner.sessions).remove(&session.id);
        session.close(&HeaderMap::new()).await;
    } else if let Ok(v) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

async fn request(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    caller: CallerContext,
    method: String,
    id: Value,
    msg: Value,
    headers: &HeaderMap,
) -> Response {
    let tool = (method == "tools/call")
        .then(|| msg.pointer("/params/name").and_then(Value::as_str))
        .flatten()
        .map(str::to_owned);
    let msg = if method == "tools/call" {
        match inner.decide(session, &caller, msg, &id, headers).await {
            Ok(m) => m,
            Err(answer) => return json_response(&answer),
        }
    } else {
        msg
    };
    let mut rx = match session.request(msg, headers).await {
        Ok(rx) => rx,
        Err(answer) => return json_response(&answer),
    };
    let finish = {
        let inner = inner.clone();
        move |mut m: Value| {
            if method == "tools/list"
                && let Some(result) = m.get_mut("result")
            {
                learn_and_hide(&inner.engine, &caller, result);
            }
            // Tell the engine how the call went (for `required_before` rules).
            if let Some(tool) = &tool {
                let ok = crate::intercept::call_succeeded(&m);
                inner.engine.record_outcome(&caller, tool, ok);
                // Every text the model will read passes the result-cleaning stage.
                if let Err(e) = inner.engine.clean_result(tool, &caller, &mut m) {
                    eprintln!("airlock: a result of {tool} was withheld: {e}");
                }
            }
            m
        }
    };
    let cancelled = Arc::new(tokio::sync::Notify::new());
    let guard = InFlight {
        session: session.clone(),
        key: id_key(&id),
        cancelled: cancelled.clone(),
    };
    lock(&session.inflight).insert(guard.key.clone(), cancelled.clone());
    let first = tokio::select! {
        biased;
        () = cancelled.notified() => {
            // Cancelled before anything came: no answer will be sent, so an empty stream.
            let empty = futures_util::stream::empty::<Result<Event, Infallible>>();
            return Sse::new(empty).into_response();
        }
        m = rx.recv() => m,
    };
    let Some(first) = first else {
        return json_response(&error_message(
            id,
            SERVER_GONE,
            "the MCP server went away before answering this request",
        ));
    };
    if is_answer(&first, &id) {
        return json_response(&finish(first));
    }
    // Something comes before the answer: stream everything, the answer last.
    let stream = futures_util::stream::unfold(
        (Some(first), rx, false, guard),
        move |(first, mut rx, done, guard)| {
            let id = id.clone();
            let finish = finish.clone();
            async move {
                if done {
                    return None;
                }
                let m = match first {
                    Some(m) => m,
                    None => tokio::select! {
                        biased;
                        () = guard.cancelled.notified() => return None,
                        m = rx.recv() => m?,
                    },
                };
                let last = is_answer(&m, &id);
                let m = if last { finish(m) } else { m };
                let event = Event::default().event("message").data(m.to_string());
                Some((Ok::<_, Infallible>(event), (None, rx, last, guard)))
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// GET: the session's stream of server messages not tied to a request.
async fn stream(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let identity = match admit(&inner, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let session = match named_session(&inner, &headers, &identity) {
        Some(Ok(s)) => s,
        Some(Err(r)) => return r,
        None => match shared_of(&inner, &identity) {
            Some(s) => s,
            None => {
                return rpc_error_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    INVALID_REQUEST,
                    "no session to stream: send a request first",
                );
            }
        },
    };
    *lock(&session.last_used) = Instant::now();
    let rx = match &session.link {
        Link::Child(c) => c.open_stream(),
        Link::Http(h) => match h.open_stream(&headers, session.hooks.clone()).await {
            Ok(rx) => rx,
            Err(status) => {
                return rpc_error_response(
                    status,
                    INVALID_REQUEST,
                    "the upstream offers no stream for this session",
                );
            }
        },
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let m = rx.recv().await?;
        let event = Event::default().event("message").data(m.to_string());
        Some((Ok::<_, Infallible>(event), rx))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// DELETE: end a session and stop its server.
async fn delete(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let identity = match admit(&inner, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match named_session(&inner, &headers, &identity) {
        Some(Ok(s)) => {
            lock(&inner.sessions).remove(&s.id);
            s.close(&headers).await;
            inner.engine.end_session(&s.caller);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(Err(r)) => r,
        None => rpc_error_response(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "DELETE needs the Mcp-Session-Id of the session to end",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_by_name_and_port() {
        let allowed = vec![
            "localhost".to_owned(),
            "127.0.0.1:8080".to_owned(),
            "[::1]".to_owned(),
        ];
        assert!(host_allowed("localhost:3000", &allowed));
        assert!(host_allowed("LOCALHOST", &allowed));
        assert!(host_allowed("localhost.", &allowed));
        assert!(host_allowed("127.0.0.1:8080", &allowed));
        assert!(!host_allowed("127.0.0.1:8081", &allowed));
        assert!(host_allowed("[::1]:9", &allowed));
        assert!(!host_allowed("evil.example", &allowed));
        assert!(!host_allowed("localhost.evil.example", &allowed));
        assert!(!host_allowed("", &allowed));
        assert!(!host_allowed("[::1]evil", &allowed));
        assert!(!host_allowed("[::1]evil:80", &allowed));
        assert!(host_allowed("anything", &["*".to_owned()]));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let allowed = vec![
            "https://app.example.com".to_owned(),
            "http://localhost:*".to_owned(),
        ];
        assert!(origin_allowed("https://app.example.com", &allowed));
        assert!(origin_allowed("https://app.example.com:443", &allowed));
        assert!(!origin_allowed("https://app.example.com:8443", &allowed));
        assert!(!origin_allowed("http://app.example.com", &allowed));
        assert!(origin_allowed("http://localhost:5173", &allowed));
        assert!(!origin_allowed("https://evil.example", &allowed));
        assert!(!origin_allowed(
            "https://app.example.com.evil.example",
            &allowed
        ));
        assert!(!origin_allowed("null", &allowed));
        assert!(origin_allowed("null", &["null".to_owned()]));
        assert!(!origin_allowed("https://app.example.com", &[]));
    }
}
