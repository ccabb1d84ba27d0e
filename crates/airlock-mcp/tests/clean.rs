//! The result-cleaning stage in all three transports: every text a model reads passes the
//! engine's cleaner, and a failing cleaner withholds the result.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::sync::Arc;

use airlock_core::{CallerContext, CleanContext, CleanError, Engine};
use airlock_mcp::http::{Gateway, Upstream};
use airlock_mcp::server::Guard;
use airlock_mcp::stdio::StdioProxy;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Masks the word "secret" and e-mail domains; refuses to look at anything saying "explode".
fn cleaner(_: &CleanContext<'_>, text: &str) -> Result<Option<String>, CleanError> {
    if text.contains("explode") {
        return Err(CleanError("the test cleaner refuses this text".into()));
    }
    let cleaned = text
        .replace("secret", "[MASKED]")
        .replace("@example.org", "@[DOMAIN]")
        .replace("@example.com", "@[DOMAIN]")
        .replace("@example.net", "@[DOMAIN]");
    Ok((cleaned != text).then_some(cleaned))
}

fn engine() -> Arc<Engine> {
    Arc::new(
        agent_airlock::engine_builder(agent_airlock::Config::default())
            .unwrap()
            .cleaner(Arc::new(cleaner))
            .build()
            .unwrap(),
    )
}

fn call(id: u64, text: &str) -> String {
    format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}}})
    )
}

#[tokio::test]
async fn the_stdio_proxy_cleans_results() {
    let (client, proxy_side) = tokio::io::duplex(1 << 16);
    let (from_client, to_client) = tokio::io::split(proxy_side);
    let server = tokio::process::Command::new(airlock_testkit::test_server());
    let proxy = tokio::spawn(StdioProxy::new(engine(), CallerContext::default()).run(
        server,
        from_client,
        to_client,
    ));
    let (read, mut write) = tokio::io::split(client);
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(call(1, "my secret plan").as_bytes())
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "my [MASKED] plan");
    write
        .write_all(call(2, "explode").as_bytes())
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(answer["result"]["isError"], true);
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("withheld") && !text.contains("explode"),
        "{text}"
    );
    drop(write);
    drop(lines);
    proxy.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_cleans_results() {
    let settings = airlock_core::config::GatewaySettings {
        allow_anonymous: true,
        ..Default::default()
    };
    let gateway = Gateway::new(
        engine(),
        settings,
        Upstream::Command(vec![airlock_testkit::test_server().into()]),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.serve(listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let post = |body: String, session: Option<String>| {
        let mut r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(s) = session {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
            "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        .to_string(),
        None,
    )
    .await
    .unwrap();
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer: Value = post(call(1, "the secret"), Some(sid.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "the [MASKED]");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_rmcp_wrapper_cleans_results() {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let served = tokio::spawn(
        airlock_mcp::demo::DemoServer::new()
            .guarded(engine())
            .serve(tokio::io::split(server_io)),
    );
    let client = ().serve(tokio::io::split(client_io)).await.unwrap();
    let _server = served.await.unwrap().unwrap();
    let r = client
        .call_tool(
            CallToolRequestParams::new("query_customers")
                .with_arguments(json!({"columns": ["email"]}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = serde_json::to_value(&r.content).unwrap()[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("ada@[DOMAIN]") && !text.contains("example.org"),
        "{text}"
    );
    client.cancel().await.unwrap();
}
