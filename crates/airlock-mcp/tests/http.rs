//! The Streamable-HTTP gateway end to end: an rmcp client over real HTTP, real server
//! processes behind it (the testkit's server, one per session) or a real rmcp Streamable-HTTP
//! server as the upstream; raw HTTP for authentication, Host/Origin and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop loudly

use std::sync::Arc;
use std::time::Duration;

use airlock_core::ConfigBuilder;
use airlock_mcp::http::{Gateway, Upstream};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, JsonObject};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn sha(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config_text(extra_gateway: &str) -> String {
    format!(
        r#"
[policy]
deny = ["delete_*"]

[tools.add]
roles = ["math"]

[gateway]
api_keys = [
  {{ sha256 = "{alice}", agent = "alice", roles = ["math"] }},
  {{ sha256 = "{bob}", agent = "bob" }},
]
allowed_origins = ["https://app.example.com"]
{extra_gateway}

[gateway.jwt]
public_key_file = "{FIXTURES}/jwt-ed25519.pub.pem"
issuer = "https://issuer.test"
audience = "airlock-test"
"#,
        alice = sha("key-alice"),
        bob = sha("key-bob"),
    )
}

fn jwt(claims: Value) -> String {
    let pem = std::fs::read(format!("{FIXTURES}/jwt-ed25519.key.pem")).unwrap();
    jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_pem(&pem).unwrap(),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Running {
    url: String,
    gateway: Gateway,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the gateway stops")
            .unwrap()
            .unwrap();
    }
}

async fn start(toml: &str, upstream: Upstream) -> Running {
    start_with(toml, upstream, |g| g).await
}

async fn start_with(
    toml: &str,
    upstream: Upstream,
    tune: impl FnOnce(Gateway) -> Gateway,
) -> Running {
    let config = ConfigBuilder::new()
        .file("test.toml", toml)
        .build()
        .unwrap();
    let settings = config.settings.gateway.clone();
    let engine = Arc::new(agent_airlock::engine(config).unwrap());
    let gateway = tune(Gateway::new(engine, settings, upstream).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.clone().serve(listener, async {
        let _ = rx.await;
    }));
    Running {
        url,
        gateway,
        stop: Some(tx),
        task: Some(task),
    }
}

fn test_server() -> Upstream {
    Upstream::Command(vec![airlock_testkit::test_server().into()])
}

fn args(v: Value) -> JsonObject {
    v.as_object().unwrap().clone()
}

fn refusal_code(meta: Option<&rmcp::model::MetaObject>) -> Option<String> {
    let m = serde_json::to_value(meta?).unwrap();
    m.pointer("/airlock~1refusal/metadata/code")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

async fn rmcp_client(url: &str, key: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(key.to_owned()),
    );
    ().serve(transport).await.expect("the client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_through_the_gateway() {
    let gw = start(&config_text(""), test_server()).await;
    let alice = rmcp_client(&gw.url, "key-alice").await;

    // The tool list (two pages upstream) arrives without the tools alice may never call.
    let tools = alice.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "add",
            "crash",
            "echo",
            "hostile",
            "leaky",
            "leaky_error",
            "slow"
        ]
    );

    // A valid call passes and its answer comes back.
    let r = alice
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(args(json!({"text": "hello"}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, None, "{r:?}");
    assert_eq!(
        serde_json::to_value(&r.content).unwrap()[0]["text"],
        "hello"
    );
    let r = alice
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": 2, "b": 3}))))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&r.content).unwrap()[0]["text"], "5");

    // Ghost and wrong-typed arguments are refused with fix hints.
    let r = alice
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(args(json!({"text": "x", "loud": true}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert_eq!(
        refusal_code(r.meta.as_ref()).as_deref(),
        Some("ghost_args.unknown")
    );
    let r = alice
        .call_tool(
            CallToolRequestParams::new("add").with_arguments(args(json!({"a": "2", "b": 3}))),
        )
        .await
        .unwrap();
    assert_eq!(
        refusal_code(r.meta.as_ref()).as_deref(),
        Some("validation.type")
    );
    let text = serde_json::to_value(&r.content).unwrap()[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("send 2, not \"2\""), "{text}");

    // bob has no "math" role: add is refused for him, and hidden from his list.
    let bob = rmcp_client(&gw.url, "key-bob").await;
    let r = bob
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": 2, "b": 3}))))
        .await
        .unwrap();
    assert_eq!(
        refusal_code(r.meta.as_ref()).as_deref(),
        Some("tool_access.role_required"),
        "{r:?}"
    );
    let tools = bob.list_all_tools().await.unwrap();
    assert!(tools.iter().all(|t| t.name != "add"));

    // Two clients, two sessions, each with its own server process; closing a client ends its
    // session.
    let open = gw.gateway.session_count();
    assert!(open >= 2, "{open}");
    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
    let mut left = gw.gateway.session_count();
    for _ in 0..50 {
        if left <= open - 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = gw.gateway.session_count();
    }
    assert_eq!(left, open - 2);
    gw.stop().await;
}

/// A raw HTTP exchange.
struct Exchange {
    status: u16,
    headers: reqwest::header::HeaderMap,
    /// The JSON body, or the messages of an SSE body.
    messages: Vec<Value>,
}

async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Exchange {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned());
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let sse = headers
        .get("content-type")
        .is_some_and(|c| c.to_str().unwrap().starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();
    let messages = if sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| serde_json::from_str(d.trim()).unwrap())
            .collect()
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![serde_json::from_str(&text).unwrap_or(Value::String(text))]
    };
    Exchange {
        status,
        headers,
        messages,
    }
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

async fn open_session(url: &str, auth: &[(&str, &str)]) -> String {
    let r = post(url, auth, INIT).await;
    assert_eq!(r.status, 200, "{:?}", r.messages);
    r.headers["mcp-session-id"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_must_authenticate() {
    let gw = start(&config_text(""), test_server()).await;
    let url = gw.url.clone();

    // No credentials: 401, a challenge, and a body that says what to send.
    let r = post(&url, &[], INIT).await;
    assert_eq!(r.status, 401);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let msg = r.messages[0]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Authorization: Bearer"), "{msg}");
    // Wrong credentials.
    for bad in ["Bearer nope", "Basic a2V5LWFsaWNl", "Bearer "] {
        let r = post(&url, &[("authorization", bad)], INIT).await;
        assert_eq!(r.status, 401, "{bad}");
    }
    // An API key, as a bearer token or X-API-Key.
    let sid = open_session(&url, &[("authorization", "Bearer key-alice")]).await;
    open_session(&url, &[("x-api-key", "key-bob")]).await;

    // A session belongs to the credentials that opened it.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
    let r = post(
        &url,
        &[("x-api-key", "key-bob"), ("mcp-session-id", &sid)],
        call,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = post(
        &url,
        &[("x-api-key", "key-alice"), ("mcp-session-id", &sid)],
        call,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.messages[0]["result"]["content"][0]["text"], "hi");

    // JWTs: a valid one works and its claims are the caller's identity.
    let good = jwt(
        json!({"sub": "carol", "roles": "math reader", "iss": "https://issuer.test",
        "aud": "airlock-test", "exp": now() + 300}),
    );
    let auth = format!("Bearer {good}");
    let sid = open_session(&url, &[("authorization", &auth)]).await;
    let add = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#;
    let r = post(
        &url,
        &[("authorization", &auth), ("mcp-session-id", &sid)],
        add,
    )
    .await;
    assert_eq!(
        r.messages[0]["result"]["content"][0]["text"], "3",
        "{:?}",
        r.messages
    );
    // Expired, another audience, another issuer, tampered, or no subject: 401.
    let base = json!({"sub": "carol", "iss": "https://issuer.test", "aud": "airlock-test", "exp": now() + 300});
    let mut bad_tokens = Vec::new();
    for k in ["iss", "aud"] {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove(k);
        bad_tokens.push(jwt(c));
    }
    for (k, v) in [
        ("aud", json!(5)),
        ("exp", json!(now() - 3600)),
        ("aud", json!("another-service")),
        ("iss", json!("https://evil.test")),
        ("sub", json!("")),
    ] {
        let mut c = base.clone();
        c[k] = v;
        bad_tokens.push(jwt(c));
    }
    let mut tampered: Vec<String> = jwt(base.clone()).split('.').map(str::to_owned).collect();
    tampered[1] = jwt(json!({"sub": "root", "iss": "https://issuer.test", "aud": "airlock-test", "exp": now() + 300}))
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    tampered[2] = jwt(base).split('.').nth(2).unwrap().to_owned();
    bad_tokens.push(tampered.join("."));
    for t in bad_tokens {
        let r = post(&url, &[("authorization", &format!("Bearer {t}"))], INIT).await;
        assert_eq!(r.status, 401, "{t}");
        assert!(
            r.messages[0]["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid credentials")
        );
    }

    // DNS rebinding: a foreign Host or Origin gets 403 before credentials are even looked at.
    let r = post(
        &url,
        &[("host", "evil.example"), ("x-api-key", "key-alice")],
        INIT,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = post(
        &url,
        &[
            ("origin", "https://evil.example"),
            ("x-api-key", "key-alice"),
        ],
        INIT,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = post(
        &url,
        &[
            ("origin", "https://app.example.com"),
            ("x-api-key", "key-alice"),
        ],
        INIT,
    )
    .await;
    assert_eq!(r.status, 200);
    // The gateway's own loopback origin is same-origin: served by default (issue 12, the
    // conformance suite's DNS-rebinding scenario); another port of it is not.
    let own = url.trim_end_matches("/mcp").to_owned();
    let r = post(&url, &[("origin", &own), ("x-api-key", "key-alice")], INIT).await;
    assert_eq!(r.status, 200, "{:?}", r.messages);
    let other = format!("{}1", own);
    let r = post(
        &url,
        &[("origin", &other), ("x-api-key", "key-alice")],
        INIT,
    )
    .await;
    assert_eq!(r.status, 403);
    // Only JSON is read: a body a browser page could send without asking first gets 415.
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = post(
            &url,
            &[("content-type", kind), ("x-api-key", "key-alice")],
            INIT,
        )
        .await;
        assert_eq!(r.status, 415, "{kind}");
        assert_eq!(r.messages[0]["error"]["code"], -32600);
    }
    let r = post(
        &url,
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("x-api-key", "key-alice"),
        ],
        INIT,
    )
    .await;
    assert_eq!(r.status, 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_a_crashing_server() {
    let gw = start(&config_text("max_body_bytes = 4096"), test_server()).await;
    let url = gw.url.clone();
    let auth = [("x-api-key", "key-alice")];
    let sid = open_session(&url, &auth).await;
    let with = [("x-api-key", "key-alice"), ("mcp-session-id", sid.as_str())];

    let r = post(&url, &with, "{not json").await;
    assert_eq!(
        (r.status, r.messages[0]["error"]["code"].clone()),
        (400, json!(-32700))
    );
    let r = post(&url, &with, "[]").await;
    assert_eq!(r.status, 400);
    assert!(
        r.messages[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batches")
    );
    let r = post(&url, &with, &format!("{{\"x\":\"{}\"}}", "a".repeat(8192))).await;
    assert_eq!(r.status, 413);
    let r = post(
        &url,
        &[("x-api-key", "key-alice"), ("mcp-session-id", "no-such")],
        INIT,
    )
    .await;
    assert_eq!(r.status, 404);
    // A tools/call without an id (a "notification") is never forwarded.
    let r = post(
        &url,
        &with,
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_everything","arguments":{}}}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    // An unknown method goes to the server, which answers it.
    let r = post(
        &url,
        &with,
        r#"{"jsonrpc":"2.0","id":5,"method":"vendor/thing"}"#,
    )
    .await;
    assert_eq!(r.messages[0]["error"]["code"], -32601);

    // The server dies in the middle of a call: the call gets an error saying so, and the
    // session is over (404: the client opens a new one).
    let r = post(
        &url,
        &with,
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"crash","arguments":{}}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let err = &r.messages.last().unwrap()["error"];
    assert_eq!(err["code"], -32000, "{:?}", r.messages);
    assert!(err["message"].as_str().unwrap().contains("exited"));
    let mut status = 0;
    for _ in 0..50 {
        status = post(&url, &with, r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#)
            .await
            .status;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    // A new session works.
    open_session(&url, &auth).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_upstream_never_sees_the_callers_credentials() {
    // A real rmcp Streamable-HTTP server as the upstream, recording the `Authorization`
    // headers it receives.
    let (upstream_url, seen) = airlock_testkit::echo_http().await;
    for pass in [false, true] {
        seen.lock().unwrap().clear();
        let gw = start(
            &config_text(&format!("pass_credentials = {pass}")),
            Upstream::Http(upstream_url.clone()),
        )
        .await;
        let client = rmcp_client(&gw.url, "key-alice").await;
        let tools = client.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), 1);
        let r = client
            .call_tool(
                CallToolRequestParams::new("echo").with_arguments(args(json!({"text": "up"}))),
            )
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&r.content).unwrap()[0]["text"],
            "up",
            "{r:?}"
        );
        let r = client
            .call_tool(
                CallToolRequestParams::new("echo")
                    .with_arguments(args(json!({"text": "up", "x": 1}))),
            )
            .await
            .unwrap();
        assert_eq!(
            refusal_code(r.meta.as_ref()).as_deref(),
            Some("ghost_args.unknown")
        );
        client.cancel().await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert!(!seen.is_empty());
        if pass {
            assert!(
                seen.iter()
                    .all(|a| a.as_deref() == Some("Bearer key-alice")),
                "{seen:?}"
            );
        } else {
            assert!(seen.iter().all(Option::is_none), "{seen:?}");
        }
        gw.stop().await;
    }
}

#[test]
fn jwks_keys_are_picked_by_kid() {
    use airlock_core::config::{GatewaySettings, JwtSettings};
    use airlock_mcp::auth::{AuthError, Authenticator};
    let settings = GatewaySettings {
        jwt: Some(JwtSettings {
            jwks_file: Some(format!("{FIXTURES}/jwks.json")),
            algorithms: vec!["EdDSA".into()],
            roles_claim: "scope".into(),
            tenant_claim: "org".into(),
            ..JwtSettings::default()
        }),
        ..GatewaySettings::default()
    };
    let auth = Authenticator::new(&settings).unwrap();
    let pem = std::fs::read(format!("{FIXTURES}/jwt-ed25519.key.pem")).unwrap();
    let key = EncodingKey::from_ed_pem(&pem).unwrap();
    let token = |kid: &str| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.into());
        let claims = json!({"sub": "dave", "scope": "ops,admin", "org": "acme", "exp": now() + 60});
        jsonwebtoken::encode(&h, &claims, &key).unwrap()
    };
    let headers = |t: &str| {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        h
    };
    let id = auth.authenticate(&headers(&token("test-1"))).unwrap();
    assert_eq!(id.agent, "dave");
    assert_eq!(id.roles, ["ops", "admin"]);
    assert_eq!(id.tenant.as_deref(), Some("acme"));
    assert!(matches!(
        auth.authenticate(&headers(&token("other"))),
        Err(AuthError::Invalid(_))
    ));
    assert_eq!(
        auth.authenticate(&http::HeaderMap::new()),
        Err(AuthError::Missing)
    );
    // An HS256 token (the classic algorithm-confusion attack) is refused.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "mallory", "exp": now() + 60}),
        &EncodingKey::from_secret(b"vugxnT21S7lK98gqhJgnGfF6iK1kasiPCvW8p2cx1hY"),
    )
    .unwrap();
    assert!(auth.authenticate(&headers(&hs)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_caller_cannot_take_every_session_and_a_failed_initialize_leaves_none() {
    let gw = start(&config_text("max_sessions_per_caller = 2"), test_server()).await;
    let url = gw.url.clone();
    let alice = [("x-api-key", "key-alice")];
    let first = open_session(&url, &alice).await;
    open_session(&url, &alice).await;
    let r = post(&url, &alice, INIT).await;
    assert_eq!(r.status, 429, "{:?}", r.messages);
    assert!(
        r.messages[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DELETE")
    );
    // Another caller is not affected.
    open_session(&url, &[("x-api-key", "key-bob")]).await;
    // Ending one of alice's sessions makes room.
    let gone = reqwest::Client::new()
        .delete(&url)
        .header("x-api-key", "key-alice")
        .header("mcp-session-id", &first)
        .send()
        .await
        .unwrap();
    assert!(gone.status().is_success(), "{}", gone.status());
    open_session(&url, &alice).await;
    assert_eq!(gw.gateway.session_count(), 3);

    // The server refuses initialize (an error inside HTTP 200): no session is kept, and none
    // is announced.
    let failing = INIT.replace("\"raw\"", "\"fail-init\"");
    let r = post(&url, &[("x-api-key", "key-bob")], &failing).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.messages[0]["error"]["code"], -32602);
    assert!(r.headers.get("mcp-session-id").is_none());
    assert_eq!(gw.gateway.session_count(), 3);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_lists_its_tools_cannot_keep_a_session_alive() {
    let silent = Upstream::Command(vec![
        "env".into(),
        "AIRLOCK_TEST_SILENT_LIST=1".into(),
        airlock_testkit::test_server().into(),
    ]);
    let gw = start_with(&config_text("idle_timeout_secs = 1"), silent, |g| {
        g.list_timeout(Duration::from_millis(300))
    })
    .await;
    let url = gw.url.clone();
    let auth = [("x-api-key", "key-alice")];
    let sid = open_session(&url, &auth).await;
    let with = [("x-api-key", "key-alice"), ("mcp-session-id", sid.as_str())];
    // The call needs the tool list, which never comes: refused (never called blind).
    let r = post(
        &url,
        &with,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.messages[0].get("result").is_some() || r.messages[0].get("error").is_some());
    assert_ne!(
        r.messages[0]
            .pointer("/result/content/0/text")
            .and_then(Value::as_str),
        Some("x"),
        "the call went through blind: {:?}",
        r.messages
    );
    // The unanswered fetch does not count as work in flight: the session idles out.
    let mut open = gw.gateway.session_count();
    for _ in 0..100 {
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        open = gw.gateway.session_count();
    }
    assert_eq!(open, 0, "the session never idled out");
    gw.stop().await;
}
