//! Hostile peers through the HTTP gateway, as `run.rs` does them through the stdio proxy: the
//! testkit's server playing id games (answers to ids nobody sent, two answers to one id, an
//! answer with two `result` members) and clients playing them (null ids, ids in flight reused).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::time::Duration;

use serde_json::{Value, json};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

struct Gateway {
    url: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Gateway {
    async fn start() -> Gateway {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = agent_airlock::ConfigBuilder::new()
            .file("h.toml", "[gateway]\nallow_anonymous = true\n")
            .build()
            .unwrap();
        let settings = config.settings.gateway.clone();
        let gateway = airlock_mcp::http::Gateway::new(
            std::sync::Arc::new(agent_airlock::engine(config).unwrap()),
            settings,
            airlock_mcp::http::Upstream::Command(vec![airlock_testkit::test_server().into()]),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listener, async {
            let _ = stopped.await;
        }));
        Gateway {
            url,
            http: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    /// POST one message; the HTTP status and the JSON-RPC messages of the answer (JSON or SSE).
    async fn post(&self, session: Option<&str>, body: &str) -> (u16, Option<String>, Vec<Value>) {
        let mut r = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_owned());
        if let Some(s) = session {
            r = r.header("mcp-session-id", s);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        let messages = if text.trim_start().starts_with('{') {
            vec![serde_json::from_str(&text).unwrap()]
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect()
        };
        (status, sid, messages)
    }
}

impl Gateway {
    /// A session of its own, initialised.
    async fn session(&self) -> String {
        let (_, sid, _) = self.post(None, INIT).await;
        let sid = sid.unwrap();
        self.post(
            Some(&sid),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
        sid
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_games_through_the_gateway() {
    let g = Gateway::start().await;
    let sid = g.session().await;

    // A null id and a fractional id: refused, not forwarded.
    for id in ["null", "1.5", "true"] {
        let (status, _, m) = g
            .post(
                Some(&sid),
                &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"ann@example.com"}}}}}}"#),
            )
            .await;
        assert_eq!(status, 400, "id {id}");
        assert_eq!(m[0]["error"]["code"], -32600, "id {id}: {m:?}");
    }

    // One client reusing an id while it is in flight: the second request is refused.
    let slow = {
        let (url, http, sid) = (g.url.clone(), g.http.clone(), sid.clone());
        tokio::spawn(async move {
            http.post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", sid)
                .body(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow","arguments":{"ms":1000}}}"#)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, m) = g
        .post(
            Some(&sid),
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ann@example.com"}}}"#,
        )
        .await;
    assert_eq!(m[0]["id"], 7);
    assert!(
        m[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already in flight"),
        "{m:?}"
    );
    assert!(slow.await.unwrap().contains("done"));

    // The server's games: only the answer to what was asked, cleaned; an ambiguous one is
    // withheld.
    for (id, mode) in [(20, "unknown_id"), (21, "twice"), (22, "duplicate_result")] {
        let (_, _, m) = g
            .post(
                Some(&sid),
                &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "hostile", "arguments": {"mode": mode}}}).to_string(),
            )
            .await;
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("ann@example.com"), "{mode}: {text}");
        assert_eq!(m.len(), 1, "{mode}: only the answer: {text}");
        assert_eq!(m[0]["id"], id, "{mode}: {text}");
        if mode == "duplicate_result" {
            assert!(text.contains("appears twice"), "{text}");
        } else {
            assert_eq!(m[0]["result"]["content"][0]["text"], "clean", "{text}");
        }
    }
}

/// Issue 12, through the gateway as through the stdio proxy (`run.rs`): every message a reader
/// sees is cleaned — the tool result in every field, resources, prompts, completions, errors,
/// and the log, progress, sampling and elicitation messages streamed before an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_a_reader_sees_is_cleaned_through_the_gateway() {
    let g = Gateway::start().await;
    let sid = g.session().await;
    let requests = airlock_testkit::leaky_requests();
    let mut seen = Vec::new();
    for r in &requests {
        let (_, _, m) = g.post(Some(&sid), &r.to_string()).await;
        assert!(
            m.iter()
                .any(|v| v["id"] == r["id"] && v.get("method").is_none()),
            "no answer to {r}: {m:?}"
        );
        seen.extend(m);
    }
    let all = serde_json::to_string(&seen).unwrap();
    for secret in airlock_testkit::PLANTED {
        assert!(!all.contains(secret), "{secret} reached the client: {all}");
    }
    for method in [
        "notifications/progress",
        "notifications/message",
        "sampling/createMessage",
        "elicitation/create",
    ] {
        assert!(
            seen.iter().any(|v| v["method"] == method),
            "{method} was not streamed: {all}"
        );
    }
    assert!(all.contains("bm90IGEgc2VjcmV0"), "images are left alone");
    assert!(all.contains("AAECAwQ="), "binary blobs are left alone");
}
