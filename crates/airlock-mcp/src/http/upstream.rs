//! An HTTP session's MCP server over Streamable HTTP.
//!
//! Every client POST becomes one upstream POST, and everything the upstream answers to it (a
//! JSON body or an SSE stream of messages) goes back on that client request's stream, so ids
//! need no renumbering. The upstream's session id (from its `initialize` answer) is kept here
//! and never shown to the client, which only sees the gateway's own. The caller's credentials
//! are not forwarded unless `gateway.pass_credentials` is set.

use std::sync::Mutex;

use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::mpsc;

use super::STREAM_DEPTH;
use super::session::Hooks;
use crate::protocol::{SERVER_GONE, error_to};

const SESSION: &str = "mcp-session-id";

/// Client headers that go upstream (never credentials, cookies, Host or Origin). The headers
/// that describe the message (`Mcp-Method`, `Mcp-Name`) are made from the message actually
/// forwarded, never copied from the client, so they cannot disagree with the body.
fn forwarded(name: &HeaderName) -> bool {
    let n = name.as_str();
    n == "mcp-protocol-version" || n == "last-event-id"
}

/// The largest answer read from the upstream.
const MAX_ANSWER: usize = 64 << 20;

/// `Mcp-Method` and `Mcp-Name` for a message.
fn describe(msg: &Value, h: &mut HeaderMap) {
    let Some(method) = msg.get("method").and_then(Value::as_str) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(method) {
        h.insert("mcp-method", v);
    }
    let name = match method {
        "tools/call" | "prompts/get" => msg.pointer("/params/name"),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            msg.pointer("/params/uri")
        }
        _ => None,
    };
    if let Some(v) = name
        .and_then(Value::as_str)
        .and_then(|n| HeaderValue::from_str(n).ok())
    {
        h.insert("mcp-name", v);
    }
}

pub(crate) struct HttpLink {
    client: reqwest::Client,
    url: String,
    /// What the gateway itself sends as `Authorization`, if anything.
    own_auth: Option<HeaderValue>,
    pass_credentials: bool,
    upstream_session: Mutex<Option<HeaderValue>>,
}

impl HttpLink {
    pub(crate) fn new(
        client: reqwest::Client,
        url: String,
        own_auth: Option<HeaderValue>,
        pass_credentials: bool,
    ) -> Self {
        HttpLink {
            client,
            url,
            own_auth,
            pass_credentials,
            upstream_session: Mutex::new(None),
        }
    }

    fn headers(&self, client: &HeaderMap) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in client {
            if forwarded(k) {
                h.append(k.clone(), v.clone());
            }
        }
        if self.pass_credentials
            && let Some(a) = client.get(http::header::AUTHORIZATION)
        {
            h.insert(http::header::AUTHORIZATION, a.clone());
        } else if let Some(a) = &self.own_auth {
            h.insert(http::header::AUTHORIZATION, a.clone());
        }
        if let Some(s) = self
            .upstream_session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            h.insert(SESSION, s);
        }
        h
    }

    async fn post(&self, msg: &Value, client: &HeaderMap) -> Result<reqwest::Response, String> {
        let body = serde_json::to_vec(msg).unwrap_or_default();
        let mut headers = self.headers(client);
        describe(msg, &mut headers);
        self.client
            .post(&self.url)
            .headers(headers)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("the upstream MCP server could not be reached ({e})"))
    }

    /// Forward a client request; the upstream's messages for it arrive on the receiver.
    pub(crate) async fn request(
        &self,
        msg: Value,
        client: &HeaderMap,
        hooks: Hooks,
    ) -> Result<mpsc::Receiver<Value>, Value> {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let is_initialize = msg.get("method").and_then(Value::as_str) == Some("initialize");
        let resp = self
            .post(&msg, client)
            .await
            .map_err(|e| error_to(id.clone(), SERVER_GONE, &e))?;
        if is_initialize && let Some(s) = resp.headers().get(SESSION) {
            *self
                .upstream_session
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(s.clone());
        }
        let status = resp.status();
        // An HTTP 5xx that is not a JSON-RPC answer: the upstream failed to take the request
        // (retried for calls safe to repeat, like a transport failure).
        let is_json = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.starts_with("application/json") || v.starts_with("text/event-stream")
            });
        if status.is_server_error() && !is_json {
            return Err(error_to(
                id,
                SERVER_GONE,
                &format!("the upstream answered HTTP {status}"),
            ));
        }
        let is_sse = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        if is_sse {
            tokio::spawn(relay_sse(resp, tx, hooks, Some(id)));
            return Ok(rx);
        }
        let mut bytes = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                error_to(
                    id.clone(),
                    SERVER_GONE,
                    &format!("the upstream's answer broke off ({e})"),
                )
            })?;
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(error_to(
                    id,
                    SERVER_GONE,
                    "the upstream's answer is larger than 64 MiB; it was not relayed",
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        // A member named twice would be read one way here and another way by the client.
        if let Err(why) = crate::protocol::unique_members(&bytes) {
            tracing::warn!("an upstream answer was withheld: {why}");
            let why =
                format!("the server's answer was withheld: it could not be read exactly ({why})");
            let _ = tx.send(error_to(id, SERVER_GONE, &why)).await;
            return Ok(rx);
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(list)) => {
                for m in list {
                    note(&m, &hooks);
                    let _ = tx.send(m).await;
                }
            }
            Ok(m @ Value::Object(_)) => {
                note(&m, &hooks);
                let _ = tx.send(m).await;
            }
            _ => {
                let why = if status.is_success() {
                    "the upstream's answer is not JSON-RPC".to_owned()
                } else {
                    format!("the upstream answered HTTP {status}")
                };
                let _ = tx.send(error_to(id, SERVER_GONE, &why)).await;
            }
        }
        Ok(rx)
    }

    /// Forward a notification or an answer to the upstream's own request.
    pub(crate) async fn send(&self, msg: Value, client: &HeaderMap) -> Result<(), String> {
        let resp = self.post(&msg, client).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("the upstream answered HTTP {}", resp.status()))
        }
    }

    /// Open the upstream's GET stream for this session. `Err(status)` when it has none.
    pub(crate) async fn open_stream(
        &self,
        client: &HeaderMap,
        hooks: Hooks,
    ) -> Result<mpsc::Receiver<Value>, http::StatusCode> {
        let resp = self
            .client
            .get(&self.url)
            .headers(self.headers(client))
            .header(http::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|_| http::StatusCode::BAD_GATEWAY)?;
        if !resp.status().is_success() {
            return Err(resp.status());
        }
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        tokio::spawn(relay_sse(resp, tx, hooks, None));
        Ok(rx)
    }

    /// End the upstream session (best effort). `client` holds the caller's headers when the
    /// caller asked for it (empty when the gateway closes an idle session).
    pub(crate) async fn close(&self, client: &HeaderMap) {
        let headers = self.headers(client);
        let had_session = self
            .upstream_session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some();
        if had_session {
            let _ = self.client.delete(&self.url).headers(headers).send().await;
        }
    }
}

/// What the gateway learns from an upstream message in passing.
fn note(m: &Value, hooks: &Hooks) {
    if m.get("method").and_then(Value::as_str) == Some("notifications/tools/list_changed") {
        hooks.tools_changed();
    }
}

/// Read an SSE body event by event and pass each message on. When the stream belongs to a
/// request and ends without its answer, the request gets an error saying so.
async fn relay_sse(
    resp: reqwest::Response,
    tx: mpsc::Sender<Value>,
    hooks: Hooks,
    request: Option<Value>,
) {
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut data = String::new();
    let answered = |m: &Value, id: &Value| {
        m.get("method").is_none()
            && m.get("id").map(crate::protocol::id_key) == Some(crate::protocol::id_key(id))
    };
    let mut done = false;
    'read: while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_ANSWER {
            break;
        }
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = buf.drain(..=nl).collect();
            let l = String::from_utf8_lossy(&raw);
            let l = l.trim_end_matches(['\n', '\r']);
            if l.is_empty() {
                if !data.is_empty() {
                    if let Err(why) = crate::protocol::unique_members(data.as_bytes()) {
                        // Withheld: answered with an error when it answers this stream's
                        // request, dropped otherwise.
                        tracing::warn!("an upstream message was withheld: {why}");
                        if let Some(id) = &request
                            && crate::protocol::sole_member(data.as_bytes(), "id").as_ref()
                                == Some(id)
                        {
                            let why = format!(
                                "the server's answer was withheld: it could not be read exactly ({why})"
                            );
                            let _ = tx.send(error_to(id.clone(), SERVER_GONE, &why)).await;
                        }
                    } else if let Ok(m) = serde_json::from_str::<Value>(&data) {
                        // A batch in one event is its messages, one by one.
                        let list = match m {
                            Value::Array(list) => list,
                            m => vec![m],
                        };
                        for m in list {
                            note(&m, &hooks);
                            let last = request.as_ref().is_some_and(|id| answered(&m, id));
                            if tx.send(m).await.is_err() {
                                break 'read;
                            }
                            if last {
                                done = true;
                                break 'read;
                            }
                        }
                    }
                    data.clear();
                }
            } else if let Some(d) = l.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
            if buf.len() > 64 << 20 || data.len() > 64 << 20 {
                break 'read;
            }
        }
    }
    if let Some(id) = request
        && !done
    {
        let _ = tx
            .send(error_to(
                id,
                SERVER_GONE,
                "the upstream MCP server's stream ended before it answered this request",
            ))
            .await;
    }
}
