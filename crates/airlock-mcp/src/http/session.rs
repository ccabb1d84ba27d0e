//! The gateway's sessions: one per `initialize` (its own `Mcp-Session-Id`, bound to the
//! credentials that opened it), or one shared per caller identity for stateless requests. Each
//! holds its link to the server (a child process or an upstream session), its protocol version,
//! its requests in flight and its one-at-a-time tool-list fetch. Guards against one caller
//! taking every slot (`max_sessions`, `max_sessions_per_caller`) and against idle sessions
//! holding server processes (`idle_timeout_secs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::CallerContext;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;

use super::admit::rpc_error_response;
use super::child::ChildLink;
use super::upstream::HttpLink;
use super::{Inner, SESSION_HEADER, Upstream};
use crate::auth::Identity;
use crate::lifecycle::Lifecycle;
use crate::protocol::{INVALID_REQUEST, SERVER_GONE, SessionVersion};

/// What a session's server tells the gateway in passing.
#[derive(Clone)]
pub(crate) struct Hooks {
    lifecycle: Arc<Lifecycle>,
}

impl Hooks {
    pub(crate) fn tools_changed(&self) {
        self.lifecycle.tools_changed();
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) enum Link {
    Child(Arc<ChildLink>),
    Http(HttpLink),
}

pub(crate) struct Session {
    pub(crate) id: String,
    /// The one session of a caller identity's stateless requests: it holds many independent
    /// clients of the same credentials, so nothing in it is one client's own (request ids,
    /// approvals "for this session", the session in traces).
    pub(crate) shared: bool,
    pub(crate) principal: String,
    pub(crate) caller: CallerContext,
    pub(crate) link: Link,
    pub(crate) hooks: Hooks,
    pub(crate) last_used: Mutex<Instant>,
    /// Requests in flight, by id: a client's `notifications/cancelled` ends their streams.
    pub(crate) inflight: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// One tool-list fetch at a time per session (a slow server delays only its own session).
    pub(crate) fetch: tokio::sync::Mutex<()>,
    /// The protocol version `initialize` negotiated (none for stateless sessions).
    pub(crate) version: SessionVersion,
    /// The client declared form elicitation at `initialize`: a person can be asked to approve.
    pub(crate) elicit: std::sync::atomic::AtomicBool,
    /// The airlock's own `elicitation/create` requests to the client, waiting for the answers.
    pub(crate) asking: Arc<crate::approval::Asking>,
}

/// Removes a request from its session's in-flight table when its answer is done.
pub(crate) struct InFlight {
    pub(crate) session: Arc<Session>,
    pub(crate) key: String,
    pub(crate) cancelled: Arc<tokio::sync::Notify>,
    /// The request's span (`[telemetry]`): ended here at the latest, when the request is done.
    pub(crate) trace: Option<crate::telemetry::Trace>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // A request answered has ended its span already; one still open here got no answer (the
        // client went away, or cancelled it): not a success.
        if let Some(t) = &self.trace {
            t.end_with(Some((
                "cancelled".to_owned(),
                "the request ended before it was answered".to_owned(),
            )));
        }
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
    pub(crate) async fn request(
        &self,
        msg: Value,
        headers: &HeaderMap,
    ) -> Result<mpsc::Receiver<Value>, Value> {
        match &self.link {
            Link::Child(c) => c.request(msg).await,
            Link::Http(h) => h.request(msg, headers, self.hooks.clone()).await,
        }
    }

    pub(crate) async fn send(&self, msg: Value, headers: &HeaderMap) -> Result<(), String> {
        match &self.link {
            Link::Child(c) => c.send(msg).await,
            Link::Http(h) => h.send(msg, headers).await,
        }
    }

    pub(crate) fn is_gone(&self) -> bool {
        matches!(&self.link, Link::Child(c) if c.is_gone())
    }

    pub(crate) fn is_busy(&self) -> bool {
        !lock(&self.inflight).is_empty() || matches!(&self.link, Link::Child(c) if c.is_busy())
    }

    pub(crate) async fn close(&self, headers: &HeaderMap) {
        match &self.link {
            Link::Child(c) => c.close(),
            // A hung upstream must not hold up reaping or shutdown.
            Link::Http(h) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), h.close(headers)).await;
            }
        }
    }
}

pub(crate) use crate::protocol::random_id;

impl Inner {
    /// Close sessions idle for longer than `idle` (all of them for zero) and those whose server
    /// is gone.
    pub(crate) async fn reap(&self, idle: Duration) {
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
            self.lifecycle.end_session(&s.caller);
        }
    }

    /// A new session for `identity`: a client's own (`initialize`), or `shared` by its
    /// stateless requests.
    pub(crate) fn open_session(
        &self,
        identity: &Identity,
        shared: bool,
        headers: &HeaderMap,
    ) -> Result<Arc<Session>, Response> {
        if lock(&self.sessions).len() + lock(&self.shared).len() >= self.settings.max_sessions {
            return Err(rpc_error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                INVALID_REQUEST,
                "the gateway has as many sessions as it may hold; try again later",
                headers,
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
                headers,
            ));
        }
        let id = if shared {
            format!("shared-{}", random_id())
        } else {
            random_id()
        };
        let hooks = Hooks {
            lifecycle: self.lifecycle.clone(),
        };
        let link = match &self.upstream {
            Upstream::Command(cmd) => {
                let link = ChildLink::spawn(&cmd[0], &cmd[1..], hooks.clone()).map_err(|e| {
                    tracing::error!("cannot start the MCP server {:?}: {e}", cmd[0]);
                    rpc_error_response(
                        StatusCode::BAD_GATEWAY,
                        SERVER_GONE,
                        "the MCP server could not be started",
                        headers,
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
            shared,
            principal: identity.principal.clone(),
            link,
            hooks,
            last_used: Mutex::new(Instant::now()),
            inflight: Mutex::new(HashMap::new()),
            fetch: tokio::sync::Mutex::new(()),
            version: SessionVersion::default(),
            elicit: std::sync::atomic::AtomicBool::new(false),
            asking: Arc::default(),
        }))
    }

    pub(crate) fn shared_session(
        &self,
        identity: &Identity,
        headers: &HeaderMap,
    ) -> Result<Arc<Session>, Response> {
        let found = lock(&self.shared).get(&identity.principal).cloned();
        if let Some(s) = found {
            if !s.is_gone() {
                return Ok(s);
            }
            lock(&self.shared).remove(&identity.principal);
        }
        let s = self.open_session(identity, true, headers)?;
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
}

/// The caller's shared (stateless) session, if there is one.
pub(crate) fn shared_of(inner: &Inner, identity: &Identity) -> Option<Arc<Session>> {
    lock(&inner.shared).get(&identity.principal).cloned()
}

/// The session a request names, if it exists and belongs to this caller.
pub(crate) fn named_session(
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
            headers,
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
