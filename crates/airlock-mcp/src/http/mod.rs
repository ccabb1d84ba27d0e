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
//! The messages touched are the stdio proxy's, through the same call lifecycle
//! ([`crate::lifecycle`]): `tools/call` is admitted or refused (a refusal is answered by the
//! gateway, and the server never sees the call) and its answer recorded and cleaned;
//! `tools/list` answers teach the engine the tools and lose the ones the caller may never call;
//! roots (`roots/list` answers, `inputResponses`) are narrowed to `filesystem.allowed_roots`. An answer comes back as `application/json` when the
//! server sends nothing else first, otherwise as an SSE stream carrying the request's progress
//! notifications and the server's own requests before the answer.

//!
//! Files: [`admit`] (Host, Origin, credentials), `session` (sessions and their links), `handlers`
//! (POST, GET, DELETE), `child` and `upstream` (the two kinds of link).

// An HTTP response is the natural error of a handler step, returned once per request.
#![allow(clippy::result_large_err)]

mod admit;
mod child;
mod handlers;
mod session;
mod upstream;

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::Engine;
use airlock_core::config::GatewaySettings;
use axum::extract::DefaultBodyLimit;
use http::HeaderValue;

pub use admit::{host_allowed, origin_allowed};

use crate::auth::Authenticator;
use crate::lifecycle::Lifecycle;
use session::{Session, lock};

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

pub(crate) struct Inner {
    lifecycle: Arc<Lifecycle>,
    metrics: Arc<crate::metrics::Metrics>,
    auth: Authenticator,
    settings: GatewaySettings,
    upstream: Upstream,
    client: reqwest::Client,
    own_auth: Option<HeaderValue>,
    list_timeout: Duration,
    /// Sessions opened by `initialize`, by their id.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions of stateless requests, by the caller's principal.
    shared: Mutex<HashMap<String, Arc<Session>>>,
    next_internal: AtomicU64,
}

impl Inner {
    /// Sessions open now (own and shared).
    fn session_count(&self) -> usize {
        lock(&self.sessions).len() + lock(&self.shared).len()
    }

    /// The Prometheus page now. Reads a shared breaker store when the engine may block.
    fn metrics_page(&self) -> String {
        self.metrics
            .render(self.session_count(), self.lifecycle.engine())
    }
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

impl Gateway {
    /// A gateway deciding with `engine`, configured by `settings`, in front of `upstream`. Roots
    /// are narrowed to the engine configuration's `filesystem.allowed_roots`.
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
        crate::install_tls_provider();
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        Ok(Gateway {
            inner: Arc::new(Inner {
                lifecycle: Arc::new(Lifecycle::new(engine).with_metrics(metrics.clone())),
                metrics,
                auth,
                settings,
                upstream,
                client,
                own_auth,
                list_timeout: Duration::from_secs(30),
                sessions: Mutex::new(HashMap::new()),
                shared: Mutex::new(HashMap::new()),
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

    /// Export a span per client request, and metrics, to OpenTelemetry (sessions open are
    /// counted from this gateway). Call before serving.
    #[must_use]
    pub fn telemetry(mut self, telemetry: Arc<crate::telemetry::Telemetry>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                let lifecycle = Lifecycle::new(inner.lifecycle.engine().clone())
                    .with_metrics(inner.metrics.clone())
                    .with_telemetry(telemetry.clone());
                inner.lifecycle = Arc::new(lifecycle);
            }
            None => tracing::error!(
                "OpenTelemetry was attached to a gateway already shared: its calls are not traced"
            ),
        }
        let weak = Arc::downgrade(&self.inner);
        telemetry.count_sessions(move || weak.upgrade().map_or(0, |i| i.session_count()));
        self
    }

    /// Sessions open now (own and shared).
    pub fn session_count(&self) -> usize {
        self.inner.session_count()
    }

    /// The Prometheus route, `GET /metrics` (text exposition), for a listener of its own
    /// (`airlock serve --metrics ADDR`): metrics stay off the MCP port. With a shared breaker
    /// store (Redis) the page is rendered off the runtime's workers, which a slow store would
    /// otherwise hold.
    pub fn metrics_router(&self) -> axum::Router {
        let inner = self.inner.clone();
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let inner = inner.clone();
                async move {
                    let page = if inner.lifecycle.engine().may_block() {
                        tokio::task::spawn_blocking(move || inner.metrics_page()).await
                    } else {
                        Ok(inner.metrics_page())
                    };
                    let status = match page {
                        Ok(_) => http::StatusCode::OK,
                        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
                    };
                    (
                        status,
                        [(
                            http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        page.unwrap_or_default(),
                    )
                }
            }),
        )
    }

    /// Serve [`Gateway::metrics_router`] on `listener` (until the process ends).
    pub async fn serve_metrics(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.metrics_router()).await
    }

    /// The gateway's routes: `/mcp` (POST, GET, DELETE) and `/healthz`.
    pub fn router(&self) -> axum::Router {
        use axum::routing::get;
        axum::Router::new()
            .route(
                "/mcp",
                axum::routing::post(handlers::post)
                    .get(handlers::stream)
                    .delete(handlers::delete),
            )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{Down, engine};

    #[tokio::test(flavor = "current_thread")]
    async fn metrics_read_a_shared_breaker_store_off_the_runtime_and_leave_out_what_it_cannot_read()
    {
        let store = Arc::new(Down::default());
        let engine = Arc::new(engine(Some(store.clone())));
        assert!(engine.may_block());
        let settings = GatewaySettings {
            allow_anonymous: true,
            ..GatewaySettings::default()
        };
        let gateway = Gateway::new(
            engine,
            settings,
            Upstream::Http("http://127.0.0.1:9".into()),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        tokio::spawn(gateway.serve_metrics(listener));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = client.get(url).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let page = answer.text().await.unwrap();
        assert!(page.contains("airlock_sessions_open 0"), "{page}");
        assert!(!page.contains("airlock_breaker_state{"), "{page}");
        // This runtime has one thread, this one: the store was asked on another.
        let asked_on = store.asked_on.lock().unwrap().clone();
        assert!(!asked_on.is_empty());
        assert!(!asked_on.contains(&std::thread::current().id()));
    }
}
