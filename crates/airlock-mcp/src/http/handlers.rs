//! The gateway's HTTP handlers: POST carries one JSON-RPC message (answered as JSON, or as an
//! SSE stream when the server sends anything before the answer), GET opens a session's stream
//! of server messages, DELETE ends a session. A `tools/call` goes through the one call
//! lifecycle ([`crate::lifecycle`]) like on every other door; the handlers map its answers onto
//! HTTP. Malformed input (bad JSON, a batch, a request without an id) gets 400 with a JSON-RPC
//! error body and is not forwarded.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use airlock_core::CallerContext;
use airlock_core::breaker::CallOutcome;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::admit::{admit, header_version, json_response, rpc_error_response};
use super::session::{InFlight, Link, Session, lock, named_session, shared_of};
use super::{INTERNAL_ID, Inner, SESSION_HEADER};
use crate::lifecycle::{Admission, CallRequest, FromServer, Ticket, withheld};
use crate::protocol::{self, INVALID_REQUEST, PARSE_ERROR, SERVER_GONE, id_key, is_answer};

pub(crate) async fn post(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let identity = match admit(&inner, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    // A browser page may send `text/plain` and friends without asking first (a CORS "simple"
    // request): only JSON is read.
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return rpc_error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            INVALID_REQUEST,
            "send the message as Content-Type: application/json; it was not read",
            &headers,
        );
    }
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return rpc_error_response(
                StatusCode::BAD_REQUEST,
                PARSE_ERROR,
                &format!(
                    "not valid JSON: {}; the message was not forwarded",
                    airlock_core::json_error::explain(&e)
                ),
                &headers,
            );
        }
    };
    let Value::Object(obj) = &msg else {
        let what = if msg.is_array() {
            "JSON-RPC batches are not supported; send one message per request"
        } else {
            "a JSON-RPC message must be an object"
        };
        return rpc_error_response(StatusCode::BAD_REQUEST, INVALID_REQUEST, what, &headers);
    };
    let method = obj.get("method").and_then(Value::as_str).map(str::to_owned);
    let id = obj.get("id").cloned();
    let is_initialize = method.as_deref() == Some("initialize");
    let (session, opened) = match named_session(&inner, &headers, &identity) {
        Some(Ok(s)) => (s, false),
        Some(Err(r)) => return r,
        None if is_initialize => {
            let s = match inner.open_session(&identity, false, &headers) {
                Ok(s) => s,
                Err(r) => return r,
            };
            lock(&inner.sessions).insert(s.id.clone(), s.clone());
            (s, true)
        }
        None => match inner.shared_session(&identity, &headers) {
            Ok(s) => (s, false),
            Err(r) => return r,
        },
    };
    *lock(&session.last_used) = Instant::now();
    if method.is_some()
        && let Some(why) = id.as_ref().and_then(protocol::untrackable_id)
    {
        return rpc_error_response(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            &format!("{why}; the request was not forwarded"),
            &headers,
        );
    }
    match (method, id) {
        (Some(m), Some(id)) => {
            // The session's identity, with the roles the credentials carry now.
            let caller = CallerContext {
                roles: identity.roles.clone(),
                ..session.caller.clone()
            };
            // Worked out once: whether to ask the client's user in a request of the airlock's
            // own depends on it, and so does every answer.
            let version = request_version(&session, &headers, &msg);
            let response = if m == "tools/call"
                && session.elicit.load(Ordering::Acquire)
                && !protocol::asks_in_results(version.as_deref())
                && inner.lifecycle.may_ask_person(&msg)
            {
                asking(&inner, &session, caller, id, msg, version, &headers).await
            } else {
                request(
                    &inner, &session, caller, m, id, msg, version, &headers, None,
                )
                .await
            };
            if opened {
                return with_session(response, &inner, &session).await;
            }
            response
        }
        (Some(m), None) if !m.starts_with("notifications/") => rpc_error_response(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "a request needs an id (only notifications/* are sent without one); it was not forwarded",
            &headers,
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
                Err(e) => rpc_error_response(StatusCode::BAD_GATEWAY, SERVER_GONE, &e, &headers),
            }
        }
        (None, Some(_)) => match session.asking.answered(&msg) {
            // The answer to the airlock's own elicitation/create goes to the call waiting for
            // it, never to the server.
            Some(true) => StatusCode::ACCEPTED.into_response(),
            Some(false) => rpc_error_response(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                "no approval request with this id is waiting (it was answered, or its time ran out)",
                &headers,
            ),
            None => {
                // An answer to the server's own request: roots are narrowed (whatever the id:
                // ids can be spelt many ways).
                let mut msg = msg;
                inner.lifecycle.narrow_roots(&mut msg);
                match session.send(msg, &headers).await {
                    Ok(()) => StatusCode::ACCEPTED.into_response(),
                    Err(e) => {
                        rpc_error_response(StatusCode::BAD_GATEWAY, SERVER_GONE, &e, &headers)
                    }
                }
            }
        },
        (None, None) => rpc_error_response(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "a JSON-RPC message needs a method or an id",
            &headers,
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
                    &HeaderMap::new(),
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

/// What the answer to a forwarded request needs on its way back.
// One per request, taken apart once: boxing the ticket would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Return {
    /// A `tools/call`: recorded and cleaned ([`crate::lifecycle::Lifecycle::finish`]).
    Call(Ticket),
    /// A `tools/list`: learned and filtered for the caller.
    List(CallerContext),
    /// `initialize`: its answer settles the session's protocol version.
    Initialize,
    /// Anything else: cleaned as the answer of its method.
    Plain(String),
}

/// A `tools/call` that may ask the client's user (the session's client declared elicitation at
/// `initialize`): it runs in a task of its own, and when it sends the client an
/// `elicitation/create` request first, the answer is an SSE stream carrying that request, then
/// whatever the call's own answer is. The client answers the request with a POST of its own.
/// The task is the response's: when the client goes away, the call is abandoned with it, as any
/// other request's would be. Whatever goes wrong, the client gets an answer to its id, under
/// `version` (the request's protocol version, which the caller worked out to get here).
async fn asking(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    caller: CallerContext,
    id: Value,
    msg: Value,
    version: Option<String>,
    headers: &HeaderMap,
) -> Response {
    /// Aborts the call's task when the response (or the handler, before it) is dropped.
    struct Task(tokio::task::JoinHandle<Response>);
    impl Drop for Task {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let failed = {
        let (id, version) = (id.clone(), version.clone());
        move |why: &str| {
            tracing::error!("an approval-asking call failed: {why}");
            protocol::error(
                Some(id.clone()),
                crate::protocol::INTERNAL_ERROR,
                "the airlock could not finish this call; it may not have run",
                version.as_deref(),
            )
        }
    };
    let (to_client, mut asked) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let mut task = {
        let (inner, session, headers) = (inner.clone(), session.clone(), headers.clone());
        let version = version.clone();
        Task(tokio::spawn(async move {
            request(
                &inner,
                &session,
                caller,
                "tools/call".into(),
                id,
                msg,
                version,
                &headers,
                Some(to_client),
            )
            .await
        }))
    };
    let first = tokio::select! {
        r = &mut task.0 => return r.unwrap_or_else(|e| json_response(&failed(&e.to_string()))),
        m = asked.recv() => m,
    };
    let Some(first) = first else {
        return (&mut task.0)
            .await
            .unwrap_or_else(|e| json_response(&failed(&e.to_string())));
    };
    let event = |m: &Value| axum::body::Bytes::from(format!("event: message\ndata: {m}\n\n"));
    // The request first, then the call's own answer: its SSE body as it is, or its JSON answer
    // as one event. A comment every 15 s keeps the stream open while the person decides.
    enum Step {
        Asked(
            Option<Value>,
            tokio::sync::mpsc::UnboundedReceiver<Value>,
            Task,
        ),
        Body(axum::body::BodyDataStream),
        Done,
    }
    let stream = futures_util::stream::unfold(Step::Asked(Some(first), asked, task), move |step| {
        let failed = failed.clone();
        async move {
            match step {
                Step::Asked(Some(m), asked, task) => Some((
                    Ok::<_, Infallible>(event(&m)),
                    Step::Asked(None, asked, task),
                )),
                Step::Asked(None, mut asked, mut task) => {
                    let tick = tokio::time::sleep(std::time::Duration::from_secs(15));
                    tokio::select! {
                        r = &mut task.0 => {
                            let r = match r {
                                Ok(r) => r,
                                Err(e) => return Some((Ok(event(&failed(&e.to_string()))), Step::Done)),
                            };
                            let sse = r
                                .headers()
                                .get(http::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .is_some_and(|v| v.starts_with("text/event-stream"));
                            if sse {
                                let body = r.into_body().into_data_stream();
                                return Some((Ok(axum::body::Bytes::new()), Step::Body(body)));
                            }
                            let answer = axum::body::to_bytes(r.into_body(), 64 << 20)
                                .await
                                .ok()
                                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                                .unwrap_or_else(|| failed("the call's answer could not be read"));
                            Some((Ok(event(&answer)), Step::Done))
                        }
                        Some(m) = asked.recv() => Some((Ok(event(&m)), Step::Asked(None, asked, task))),
                        () = tick => Some((Ok(axum::body::Bytes::from_static(b": waiting for the user\n\n")), Step::Asked(None, asked, task))),
                    }
                }
                Step::Body(mut body) => {
                    use futures_util::StreamExt;
                    match body.next().await? {
                        Ok(b) => Some((Ok(b), Step::Body(body))),
                        Err(_) => None,
                    }
                }
                Step::Done => None,
            }
        }
    });
    Response::builder()
        .header(http::header::CONTENT_TYPE, "text/event-stream")
        .header(http::header::CACHE_CONTROL, "no-cache")
        .body(axum::body::Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The session's protocol version (settled at `initialize`), else the one the request's
/// `MCP-Protocol-Version` header names.
fn session_version(session: &Session, headers: &HeaderMap) -> Option<String> {
    session
        .version
        .get()
        .or_else(|| header_version(headers).map(str::to_owned))
}

/// A request's protocol version: [`session_version`], as the message itself may say otherwise.
fn request_version(session: &Session, headers: &HeaderMap, msg: &Value) -> Option<String> {
    let session_version = session_version(session, headers);
    protocol::version_for(msg, session_version.as_deref()).map(str::to_owned)
}

/// One request with an id, of protocol `version` ([`request_version`]): through the lifecycle
/// when it is a `tools/call`, then to the server; the answer (and whatever the server sends
/// before it) back to the client. `to_client`: where requests of the airlock's own to the
/// client go (a person asked to approve the call).
#[allow(clippy::too_many_arguments)]
async fn request(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    caller: CallerContext,
    method: String,
    id: Value,
    mut msg: Value,
    version: Option<String>,
    headers: &HeaderMap,
    to_client: Option<tokio::sync::mpsc::UnboundedSender<Value>>,
) -> Response {
    // The id is taken for as long as the request is in flight. A session of its own belongs to
    // one client, which must not reuse an id in flight; the shared session of stateless
    // requests holds many independent clients, whose answers travel on their own HTTP
    // responses, so there the newest request owns the id (for cancellation).
    let cancelled = Arc::new(tokio::sync::Notify::new());
    let trace = inner.lifecycle.telemetry().and_then(|t| {
        t.request(crate::telemetry::Request {
            headers: Some(headers),
            session: (!session.shared).then_some(session.id.as_str()),
            version: version.as_deref(),
            ..crate::telemetry::Request::of(&msg, "tcp")
        })
    });
    // The answer the client gets ends the request's span.
    let answered = {
        let trace = trace.clone();
        move |answer: &Value| {
            if let Some(t) = &trace {
                t.answered(answer);
            }
        }
    };
    let guard = {
        let key = id_key(&id);
        let mut inflight = lock(&session.inflight);
        if !session.shared && inflight.contains_key(&key) {
            let answer = protocol::error(
                Some(id),
                INVALID_REQUEST,
                "a request with this id is already in flight; give every request its own id (the request was not forwarded)",
                version.as_deref(),
            );
            answered(&answer);
            return json_response(&answer);
        }
        inflight.insert(key.clone(), cancelled.clone());
        InFlight {
            session: session.clone(),
            key,
            cancelled: cancelled.clone(),
            trace: trace.clone(),
        }
    };
    let ret = match method.as_str() {
        "tools/call" => {
            let call = CallRequest {
                message: msg,
                caller: &caller,
                version: version.as_deref(),
                fetch_lock: &session.fetch,
                trace: trace.clone(),
                elicit: to_client.map(|t| {
                    session
                        .asking
                        .elicit(move |request| t.send(request).is_ok())
                }),
                // Stateless requests share one session per identity, among clients that cannot be
                // told apart (anonymous, or holding the same credentials): one person's "for this
                // session" would let other clients' calls through. Nothing is remembered there.
                remember: !session.shared,
            };
            let ask = |m: &'static str, params: Value| ask(inner, session, m, params, headers);
            // This door sends no `notifications/tools/list_changed` of its own (see
            // `crate::messages`): `list_changed` is not read.
            match inner.lifecycle.admit(call, ask).await.admission {
                Admission::Answer(answer) => {
                    answered(&answer);
                    return json_response(&answer);
                }
                Admission::Forward { request, ticket } => {
                    msg = request;
                    Return::Call(ticket)
                }
            }
        }
        "tools/list" => Return::List(caller.clone()),
        "initialize" => {
            session.version.proposed(&msg);
            session.elicit.store(
                crate::approval::can_elicit_form(msg.pointer("/params/capabilities")),
                Ordering::Release,
            );
            Return::Initialize
        }
        other => Return::Plain(other.to_owned()),
    };
    if !matches!(ret, Return::Call(_)) {
        // A retried 2026-07-28 request may answer the server's roots/list input requests.
        inner.lifecycle.narrow_roots(&mut msg);
    }
    // A tool call's deadline runs from forwarding to the answer, per attempt. An attempt that
    // fails before anything of its answer came (no answer in time, the upstream unreachable or
    // answering HTTP 5xx) is tried again when the call is safe to repeat ([`Lifecycle::attempt_failed`]).
    let mut ret = ret;
    // The id the upstream sees: the client's, then one of the airlock's own for each retry (an
    // id is not reused within a session); answers go back under the client's.
    let mut wire = id.clone();
    let (mut rx, first, deadline) = loop {
        let deadline = match &ret {
            Return::Call(ticket) => ticket.deadline().map(|d| tokio::time::Instant::now() + d),
            _ => None,
        };
        let failed = match session.request(msg.clone(), headers).await {
            Err(answer) => Err((answer, CallOutcome::Unreachable)),
            Ok(mut rx) => tokio::select! {
                biased;
                () = cancelled.notified() => {
                    // Cancelled before anything came: no answer will be sent, so an empty stream.
                    let empty = futures_util::stream::empty::<Result<Event, Infallible>>();
                    return Sse::new(empty).into_response();
                }
                m = rx.recv() => Ok((rx, m)),
                () = until(deadline) => Err((Value::Null, CallOutcome::TimedOut)),
            },
        };
        let (answer, outcome) = match failed {
            Ok((rx, first)) => break (rx, first, deadline),
            Err(f) => f,
        };
        let Return::Call(ticket) = &mut ret else {
            answered(&answer);
            return json_response(&answer);
        };
        if outcome == CallOutcome::TimedOut {
            // The server is told to stop the attempt that ran out of time.
            let waited = ticket.deadline().unwrap_or_default();
            if let Err(e) = session
                .send(crate::lifecycle::cancellation(&wire, waited), headers)
                .await
            {
                tracing::debug!("the cancellation could not be sent: {e}");
            }
        }
        let again = if session.is_gone() {
            inner
                .lifecycle
                .attempt_failed(ticket, CallOutcome::Unreachable);
            None
        } else {
            inner.lifecycle.attempt_failed(ticket, outcome)
        };
        match again {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                wire = Value::String(format!(
                    "airlock-retry-{}-{}",
                    super::session::random_id(),
                    ticket.attempts()
                ));
                msg["id"] = wire.clone();
            }
            None if outcome == CallOutcome::TimedOut => {
                let (answer, _) = inner.lifecycle.timeout_messages(ticket);
                answered(&answer);
                return json_response(&answer);
            }
            None => {
                inner.lifecycle.gave_up(ticket, outcome);
                answered(&answer);
                return json_response(&answer);
            }
        }
    };
    let ret = Arc::new(ret);
    let call_ticket = match ret.as_ref() {
        Return::Call(ticket) => Some(ticket.clone()),
        _ => None,
    };
    // At the deadline: the client's answer (`upstream.timeout`); the server is sent
    // `notifications/cancelled` in the background, and a late answer has nobody waiting for it.
    let expire = {
        let (inner, session, ret) = (inner.clone(), session.clone(), ret.clone());
        let headers = headers.clone();
        let answered = answered.clone();
        move || {
            let Return::Call(ticket) = ret.as_ref() else {
                return Value::Null;
            };
            let (answer, cancel) = inner.lifecycle.timed_out(ticket);
            answered(&answer);
            let (session, headers) = (session.clone(), headers.clone());
            tokio::spawn(async move {
                if let Err(e) = session.send(cancel, &headers).await {
                    tracing::debug!("the cancellation could not be sent: {e}");
                }
            });
            answer
        }
    };
    let finish = {
        let (inner, session, caller, version) = (
            inner.clone(),
            session.clone(),
            caller.clone(),
            version.clone(),
        );
        let answered = answered.clone();
        move |mut m: Value| {
            let method = match ret.as_ref() {
                Return::Call(ticket) => {
                    inner.lifecycle.finish(ticket, &mut m);
                    answered(&m);
                    return m;
                }
                Return::List(caller) => {
                    if let Some(result) = m.get_mut("result") {
                        inner.lifecycle.tools_listed(caller, result);
                    }
                    "tools/list"
                }
                Return::Initialize => {
                    session.version.settled(&m);
                    "initialize"
                }
                Return::Plain(method) => method.as_str(),
            };
            // Every answer a reader sees is cleaned; one that cannot be checked becomes an error.
            if let FromServer::Withheld(why) =
                inner.lifecycle.from_server(&caller, Some(method), &mut m)
            {
                m = withheld(&m, &why, version.as_deref())
                    .map_or(Value::Null, |(_, answer)| answer);
            }
            answered(&m);
            m
        }
    };
    let relay = {
        let (inner, session, caller, version) = (
            inner.clone(),
            session.clone(),
            caller.clone(),
            version.clone(),
        );
        let headers = headers.clone();
        move |m: Value| {
            let (inner, session, caller, version, headers) = (
                inner.clone(),
                session.clone(),
                caller.clone(),
                version.clone(),
                headers.clone(),
            );
            async move { relay(&inner, &session, &caller, version.as_deref(), &headers, m).await }
        }
    };
    // An answer to another id (one nobody sent, or one already answered) has nobody waiting
    // for it here: dropped, never streamed to this client.
    let stray = |m: &Value| {
        let stray = m.get("method").is_none()
            && (m.get("result").is_some() || m.get("error").is_some())
            && !is_answer(m, &wire);
        if stray {
            tracing::warn!("dropped a server answer to a request not in flight here");
        }
        stray
    };
    let mut first = first;
    while first.as_ref().is_some_and(&stray) {
        first = tokio::select! {
            biased;
            () = cancelled.notified() => {
                let empty = futures_util::stream::empty::<Result<Event, Infallible>>();
                return Sse::new(empty).into_response();
            }
            m = rx.recv() => m,
            () = until(deadline) => return json_response(&expire()),
        };
    }
    let Some(first) = first else {
        if let Some(ticket) = &call_ticket {
            inner.lifecycle.unreachable(ticket);
        }
        let answer = protocol::error(
            Some(id),
            SERVER_GONE,
            "the MCP server went away before answering this request",
            version.as_deref(),
        );
        answered(&answer);
        return json_response(&answer);
    };
    if is_answer(&first, &wire) {
        let mut first = first;
        first["id"] = id.clone();
        return json_response(&finish(first));
    }
    // Something comes before the answer: stream everything, the answer last.
    let stream = futures_util::stream::unfold(
        (Some(first), rx, false, guard),
        move |(first, mut rx, done, guard)| {
            let id = id.clone();
            let wire = wire.clone();
            let finish = finish.clone();
            let relay = relay.clone();
            let expire = expire.clone();
            async move {
                if done {
                    return None;
                }
                let mut m = match first {
                    Some(m) => m,
                    None => tokio::select! {
                        biased;
                        () = guard.cancelled.notified() => return None,
                        m = rx.recv() => m?,
                        // The deadline passed: the timeout answer is the stream's last event.
                        () = until(deadline) => {
                            let event = Event::default().event("message").data(expire().to_string());
                            return Some((Ok::<_, Infallible>(event), (None, rx, true, guard)));
                        }
                    },
                };
                // Answers to other ids are dropped (see `stray` above).
                while m.get("method").is_none()
                    && (m.get("result").is_some() || m.get("error").is_some())
                    && !is_answer(&m, &wire)
                {
                    tracing::warn!("dropped a server answer to a request not in flight here");
                    m = tokio::select! {
                        biased;
                        () = guard.cancelled.notified() => return None,
                        m = rx.recv() => m?,
                        () = until(deadline) => {
                            let event = Event::default().event("message").data(expire().to_string());
                            return Some((Ok::<_, Infallible>(event), (None, rx, true, guard)));
                        }
                    };
                }
                let last = is_answer(&m, &wire);
                let m = if last {
                    let mut m = m;
                    m["id"] = id.clone();
                    finish(m)
                } else {
                    // The server's requests and notifications on the way: cleaned, or withheld
                    // (a comment line keeps the stream going).
                    match relay(m).await {
                        Some(m) => m,
                        None => {
                            let event = Event::default().comment("withheld");
                            return Some((Ok::<_, Infallible>(event), (None, rx, false, guard)));
                        }
                    }
                };
                let event = Event::default().event("message").data(m.to_string());
                Some((Ok::<_, Infallible>(event), (None, rx, last, guard)))
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Resolves at `at`; never without one.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A request or notification the server sends on its way to the client: cleaned as the message
/// table says. `None` when it is withheld; a withheld server request is answered with an error,
/// so the server does not wait for the client.
async fn relay(
    inner: &Inner,
    session: &Session,
    caller: &CallerContext,
    version: Option<&str>,
    headers: &HeaderMap,
    mut m: Value,
) -> Option<Value> {
    if m.get("method").is_none() && m.get("result").is_none() && m.get("error").is_none() {
        // Neither a request, a notification nor an answer: nobody reads it.
        tracing::warn!("dropped a server message that is not JSON-RPC");
        return None;
    }
    match inner.lifecycle.from_server(caller, None, &mut m) {
        FromServer::Relay | FromServer::Rewritten => Some(m),
        FromServer::Withheld(why) => {
            if let Some((_, answer)) = withheld(&m, &why, version) {
                let _ = session.send(answer, headers).await;
            }
            None
        }
    }
}

/// One request of the gateway's own to the session's server (learning the tools), answered or
/// given up after `list_timeout`.
async fn ask(
    inner: &Inner,
    session: &Session,
    method: &'static str,
    params: Value,
    headers: &HeaderMap,
) -> Option<Value> {
    // Only the protocol version goes with our own request: the message headers of the client's
    // call would contradict it.
    let mut h = HeaderMap::new();
    if let Some(v) = headers.get("mcp-protocol-version") {
        h.insert("mcp-protocol-version", v.clone());
    }
    h.insert("mcp-method", HeaderValue::from_static(method));
    let id = json!(format!(
        "{INTERNAL_ID}{}",
        inner.next_internal.fetch_add(1, Ordering::Relaxed)
    ));
    let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mut rx = session.request(req, &h).await.ok()?;
    tokio::time::timeout(inner.list_timeout, async {
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
}

/// GET: the session's stream of server messages not tied to a request.
pub(crate) async fn stream(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
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
                    &headers,
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
                    &headers,
                );
            }
        },
    };
    let caller = CallerContext {
        roles: identity.roles.clone(),
        ..session.caller.clone()
    };
    let version = session_version(&session, &headers);
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let (inner, session, caller, version, headers) = (
            inner.clone(),
            session.clone(),
            caller.clone(),
            version.clone(),
            headers.clone(),
        );
        async move {
            let m = rx.recv().await?;
            // The server's requests and notifications: cleaned, or withheld.
            let event =
                match relay(&inner, &session, &caller, version.as_deref(), &headers, m).await {
                    Some(m) => Event::default().event("message").data(m.to_string()),
                    None => Event::default().comment("withheld"),
                };
            Some((Ok::<_, Infallible>(event), rx))
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// DELETE: end a session and stop its server.
pub(crate) async fn delete(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let identity = match admit(&inner, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match named_session(&inner, &headers, &identity) {
        Some(Ok(s)) => {
            lock(&inner.sessions).remove(&s.id);
            s.close(&headers).await;
            inner.lifecycle.end_session(&s.caller);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(Err(r)) => r,
        None => rpc_error_response(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "DELETE needs the Mcp-Session-Id of the session to end",
            &headers,
        ),
    }
}
