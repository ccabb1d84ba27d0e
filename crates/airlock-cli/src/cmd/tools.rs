//! `airlock tools -- <server command…>` / `airlock tools --url <…/mcp>` — print a server's
//! tools: every page of `tools/list`, as `{"tools": [...]}`, the file `airlock check --tools`
//! and `airlock pin --tools` read.
//!
//! It starts the server (a child process speaking line-delimited JSON-RPC on its stdin and
//! stdout, its stderr passed through to ours; or Streamable HTTP POSTs to the URL, answered with
//! JSON or an SSE stream, with the `Mcp-Session-Id` the server gives), runs `initialize` with
//! the newest protocol version that has a handshake, sends `notifications/initialized`, follows
//! `nextCursor` through every page, and stops the server again (stdin closed, then killed if it
//! does not exit; an HTTP session ended with `DELETE`). No check runs here: the tools are
//! printed as the server wrote them, for a person to review before pinning them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::Outcome;

/// `airlock tools` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    airlock tools -- npx -y @modelcontextprotocol/server-everything > tools.json\n  \
    airlock tools --url http://127.0.0.1:8080/mcp --output tools.json\n  \
    airlock pin --tools tools.json --out airlock-pins.json")]
pub struct Args {
    /// The server's Streamable-HTTP endpoint (http:// or https://), instead of a command.
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    url: Option<String>,
    /// An HTTP header for every request to --url, as `Name: value` (repeatable), e.g. the
    /// credentials the server wants: `--header "Authorization: Bearer $TOKEN"`.
    #[arg(long, short = 'H', value_name = "HEADER", requires = "url")]
    header: Vec<String>,
    /// Write the tools here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Instead of the tools, print what a poisoned definition would hide in them (instructions
    /// aimed at the model, invisible Unicode, collection URLs, shadowing of another tool, names
    /// imitating another tool), as `{"tools": N, "findings": [...]}`; exit 1 when anything is
    /// found.
    #[arg(long)]
    scan: bool,
    /// Seconds to wait for each answer of the server (initialize, each tools/list page).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    /// The MCP server command and its arguments, after `--`. It runs unsandboxed, as it is:
    /// `[sandbox]` applies to the servers `run` and `serve` start, not to this one.
    #[arg(last = true, value_name = "COMMAND", required_unless_present = "url")]
    command: Vec<String>,
}

/// The largest message read from a server.
const MAX_MESSAGE: usize = 64 << 20;
/// The most `tools/list` pages followed (a server whose cursors never end is an error).
const MAX_PAGES: usize = 10_000;
/// How long a server may take to exit after its stdin is closed, before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
const SESSION: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// List the server's tools and print them; any failure (start, handshake, timeout, JSON-RPC
/// error) is an error, and the server is stopped either way.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let tools = runtime.block_on(async {
        let mut server = match &args.url {
            Some(url) => Server::Http(Http::new(url, &args.header)?),
            None => Server::Stdio(Box::new(Process::start(&args.command)?)),
        };
        let listed = list_tools(&mut server, timeout).await;
        server.stop().await;
        listed
    })?;
    // The file must be one `check --tools` and `pin --tools` accept.
    let defs = airlock_core::ToolDef::parse_list(Value::Array(tools.clone())).context(
        "the server's tools/list answer does not hold valid tools\nhint: each tool needs at least a \"name\" (a string)",
    )?;
    if args.scan {
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        let names = airlock_core::poison::Names::new(&names);
        let findings: Vec<Value> = defs
            .iter()
            .flat_map(|d| {
                airlock_core::poison::scan(d, &names)
                    .into_iter()
                    .map(move |f| json!({"tool": d.name, "kind": f.kind, "field": f.field, "excerpt": f.excerpt}))
            })
            .collect();
        let clean = findings.is_empty();
        crate::load::write_json(
            args.output.as_deref(),
            &json!({"tools": defs.len(), "findings": findings}),
            "findings",
        )?;
        return Ok(if clean { Outcome::Ok } else { Outcome::Refused });
    }
    crate::load::write_json(args.output.as_deref(), &json!({ "tools": tools }), "tools")?;
    Ok(Outcome::Ok)
}

/// The protocol version proposed in `initialize`: the newest that has the handshake
/// (`airlock_mcp::messages`); later versions are stateless and have no `initialize`.
fn proposed_version() -> &'static str {
    airlock_mcp::messages::rule("initialize", airlock_mcp::messages::Sender::Client)
        .and_then(|r| r.versions.last().copied())
        .unwrap_or("2025-06-18")
}

/// `initialize`, `notifications/initialized`, then every page of `tools/list`.
async fn list_tools(server: &mut Server, timeout: Duration) -> anyhow::Result<Vec<Value>> {
    let init = server
        .request(
            "initialize",
            json!({
                "protocolVersion": proposed_version(),
                "capabilities": {},
                "clientInfo": {"name": "airlock", "version": env!("CARGO_PKG_VERSION")},
            }),
            timeout,
        )
        .await?;
    // Whatever version the server settles on is accepted: only tools/list is asked for.
    if let Some(version) = init.get("protocolVersion").and_then(Value::as_str) {
        tracing::debug!("the server speaks MCP {version}");
        server.set_version(version);
    }
    server.notify("notifications/initialized").await?;

    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let page = server.request("tools/list", params, timeout).await?;
        match page.get("tools") {
            Some(Value::Array(list)) => tools.extend(list.iter().cloned()),
            _ => bail!(
                "the server's tools/list answer has no \"tools\" array\nhint: does the server offer tools? Its initialize answer lists its capabilities"
            ),
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => {
                if !seen.insert(next.to_owned()) {
                    bail!("the server sent the nextCursor {next:?} twice: its pages never end");
                }
                cursor = Some(next.to_owned());
            }
            _ => return Ok(tools),
        }
    }
    bail!("the server's tools/list has more than {MAX_PAGES} pages")
}

/// A `JSON-RPC` error answer as an error of this command.
fn rpc_error(method: &str, error: &Value) -> anyhow::Error {
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)");
    let hint = if method == "initialize" {
        "\nhint: the server refused the handshake; its own log (stderr) may say why"
    } else {
        ""
    };
    anyhow!("the server answered {method} with an error: {message} (code {code}){hint}")
}

/// The result of the answer to a request, or its error.
fn result_of(method: &str, answer: Value) -> anyhow::Result<Value> {
    if let Some(error) = answer.get("error") {
        return Err(rpc_error(method, error));
    }
    match answer {
        Value::Object(mut obj) => match obj.remove("result") {
            Some(result @ Value::Object(_)) => Ok(result),
            _ => bail!("the server's answer to {method} has no result object"),
        },
        _ => bail!("the server's answer to {method} is not a JSON-RPC response"),
    }
}

/// Whether `m` is the answer to request `id` (not a request of the server's own).
fn answers(m: &Value, id: u64) -> bool {
    m.get("method").is_none() && m.get("id").and_then(Value::as_u64) == Some(id)
}

/// What a client answers to a request of the server's: `ping` is answered, anything else is
/// an unknown method (this client declares no capabilities).
fn answer_to_server(m: &Value) -> Option<Value> {
    let id = m.get("id")?;
    let method = m.get("method")?.as_str()?;
    Some(if method == "ping" {
        json!({"jsonrpc": "2.0", "id": id, "result": {}})
    } else {
        json!({"jsonrpc": "2.0", "id": id,
               "error": {"code": -32601, "message": format!("method not found: {method}")}})
    })
}

fn timed_out(method: &str, timeout: Duration) -> anyhow::Error {
    let secs = timeout.as_secs();
    let unit = if secs == 1 { "second" } else { "seconds" };
    let hint = if method == "initialize" {
        "check that it is an MCP server (a command speaking MCP on stdio, or an MCP endpoint URL); a slow one may need a longer --timeout"
    } else {
        "a slow server may need a longer --timeout"
    };
    anyhow!("the server did not answer {method} within {secs} {unit}\nhint: {hint}")
}

/// The server, by transport.
enum Server {
    Stdio(Box<Process>),
    Http(Http),
}

impl Server {
    async fn request(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let answer = match self {
            Server::Stdio(s) => s.request(method, params, timeout).await?,
            Server::Http(h) => h.request(method, params, timeout).await?,
        };
        result_of(method, answer)
    }

    async fn notify(&mut self, method: &str) -> anyhow::Result<()> {
        let msg = json!({"jsonrpc": "2.0", "method": method});
        match self {
            // A server gone by now is reported by the next request, with its exit status.
            Server::Stdio(s) => {
                let _ = s.send(&msg).await;
                Ok(())
            }
            Server::Http(h) => h.notify(&msg).await,
        }
    }

    fn set_version(&mut self, version: &str) {
        if let Server::Http(h) = self {
            h.version = HeaderValue::from_str(version).ok();
        }
    }

    async fn stop(self) {
        match self {
            Server::Stdio(s) => s.stop().await,
            Server::Http(h) => h.stop().await,
        }
    }
}

/// A server started as a child process, line-delimited JSON-RPC on its stdin and stdout.
struct Process {
    program: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Process {
    fn start(command: &[String]) -> anyhow::Result<Self> {
        let (program, rest) = command.split_first().context(
            "no server command after --\nhint: airlock tools -- npx -y @modelcontextprotocol/server-everything, or airlock tools --url http://127.0.0.1:8080/mcp",
        )?;
        let mut child = tokio::process::Command::new(program)
            .args(rest)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("cannot start the MCP server {program:?}\nhint: check that the command exists and is executable")
            })?;
        let stdin = child
            .stdin
            .take()
            .context("the server's stdin is not a pipe")?;
        let stdout = child
            .stdout
            .take()
            .context("the server's stdout is not a pipe")?;
        Ok(Process {
            program: program.clone(),
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            next_id: 1,
        })
    }

    async fn send(&mut self, msg: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(msg)?;
        line.push(b'\n');
        let stdin = self
            .stdin
            .as_mut()
            .context("the server's stdin is closed")?;
        let written = async {
            stdin.write_all(&line).await?;
            stdin.flush().await
        }
        .await;
        written.with_context(|| format!("the MCP server {:?} closed its stdin", self.program))
    }

    /// Send a request and read until its answer, answering the server's own requests on the
    /// way; lines that are not JSON (a server logging to stdout) are skipped.
    async fn request(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.send(&msg).await.is_err() {
            return Err(self.gone(method).await);
        }
        tokio::time::timeout(timeout, self.answer(method, id))
            .await
            .map_err(|_| timed_out(method, timeout))?
    }

    async fn answer(&mut self, method: &str, id: u64) -> anyhow::Result<Value> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut self.stdout)
                .take(MAX_MESSAGE as u64 + 1)
                .read_until(b'\n', &mut line)
                .await
                .context("cannot read the server's stdout")?;
            if n == 0 {
                return Err(self.gone(method).await);
            }
            if line.len() > MAX_MESSAGE {
                bail!("the server sent a message larger than 64 MiB");
            }
            let Ok(m) = serde_json::from_slice::<Value>(&line) else {
                tracing::debug!("a line of the server's stdout that is not JSON was skipped");
                continue;
            };
            if answers(&m, id) {
                return Ok(m);
            }
            if let Some(reply) = answer_to_server(&m) {
                self.send(&reply).await?;
            }
        }
    }

    /// The error for a server that closed its pipes (it has usually exited: its status says
    /// how) before it answered `method`.
    async fn gone(&mut self, method: &str) -> anyhow::Error {
        let status = match tokio::time::timeout(EXIT_GRACE, self.child.wait()).await {
            Ok(Ok(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        anyhow!(
            "the MCP server {:?} stopped before it answered {method}{status}\nhint: its own messages (stderr, above) may say why; check the command and its arguments",
            self.program
        )
    }

    /// Close the server's stdin, give it a moment to exit, then kill it.
    async fn stop(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(EXIT_GRACE, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// A server at a Streamable-HTTP endpoint.
struct Http {
    client: reqwest::Client,
    url: String,
    session: Option<HeaderValue>,
    version: Option<HeaderValue>,
    next_id: u64,
}

impl Http {
    fn new(url: &str, headers: &[String]) -> anyhow::Result<Self> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!(
                "--url {url:?} is not an http:// or https:// URL\nhint: give the server's MCP endpoint, e.g. http://127.0.0.1:8080/mcp"
            );
        }
        let mut defaults = reqwest::header::HeaderMap::new();
        for h in headers {
            let (name, value) = h.split_once(':').with_context(|| {
                format!("--header {h:?} is not `Name: value`\nhint: --header \"Authorization: Bearer <token>\"")
            })?;
            let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| {
                    format!("--header {h:?}: {:?} is not a header name", name.trim())
                })?;
            let mut value = HeaderValue::from_str(value.trim()).with_context(|| {
                format!("--header {h:?}: the value holds characters a header cannot")
            })?;
            // Kept out of debug output and logs.
            value.set_sensitive(true);
            defaults.append(name, value);
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .default_headers(defaults)
            .tcp_nodelay(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Http {
            client,
            url: url.to_owned(),
            session: None,
            version: None,
            next_id: 1,
        })
    }

    async fn post(&self, msg: &Value) -> anyhow::Result<reqwest::Response> {
        let mut req = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(serde_json::to_vec(msg)?);
        if let Some(s) = &self.session {
            req = req.header(SESSION, s.clone());
        }
        if let Some(v) = &self.version {
            req = req.header(PROTOCOL_VERSION, v.clone());
        }
        req.send().await.with_context(|| {
            format!(
                "cannot reach the MCP server at {}\nhint: check the URL and that the server is running",
                self.url
            )
        })
    }

    async fn notify(&mut self, msg: &Value) -> anyhow::Result<()> {
        let resp = self.post(msg).await?;
        if !resp.status().is_success() {
            bail!(
                "the server answered a notification with HTTP {}",
                resp.status()
            );
        }
        Ok(())
    }

    async fn request(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        tokio::time::timeout(timeout, self.exchange(method, id, &msg))
            .await
            .map_err(|_| timed_out(method, timeout))?
    }

    /// POST one request and read its answer from a JSON body or an SSE stream.
    async fn exchange(&mut self, method: &str, id: u64, msg: &Value) -> anyhow::Result<Value> {
        let resp = self.post(msg).await?;
        if method == "initialize"
            && let Some(s) = resp.headers().get(SESSION)
        {
            self.session = Some(s.clone());
        }
        let status = resp.status();
        if !status.is_success() {
            let body = read_body(resp).await.unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            let body: String = body.trim().chars().take(300).collect();
            let hint = match status.as_u16() {
                401 | 403 => "\nhint: the server wants credentials; airlock tools sends none",
                404 => "\nhint: check the URL's path (often /mcp)",
                _ => "",
            };
            bail!("the server answered {method} with HTTP {status}: {body}{hint}");
        }
        let sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if sse {
            return self.answer_from_sse(method, id, resp).await;
        }
        let body = read_body(resp).await?;
        let list = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(list)) => list,
            Ok(m @ Value::Object(_)) => vec![m],
            _ => bail!("the server's answer to {method} is not JSON-RPC"),
        };
        list.into_iter()
            .find(|m| answers(m, id))
            .with_context(|| format!("the server's answer to {method} does not hold its response"))
    }

    /// Read SSE events until the answer to `id`, answering the server's own requests.
    async fn answer_from_sse(
        &mut self,
        method: &str,
        id: u64,
        resp: reqwest::Response,
    ) -> anyhow::Result<Value> {
        let mut body = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        let mut data = String::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.with_context(|| format!("the server's answer to {method} broke off"))?;
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&raw);
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(d) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                } else if line.is_empty() && !data.is_empty() {
                    let messages = match serde_json::from_str::<Value>(&data) {
                        Ok(Value::Array(list)) => list,
                        Ok(m) => vec![m],
                        Err(_) => Vec::new(),
                    };
                    data.clear();
                    for m in messages {
                        if answers(&m, id) {
                            return Ok(m);
                        }
                        if let Some(reply) = answer_to_server(&m) {
                            self.notify(&reply).await?;
                        }
                    }
                }
            }
            if buf.len() > MAX_MESSAGE || data.len() > MAX_MESSAGE {
                bail!("the server sent a message larger than 64 MiB");
            }
        }
        bail!("the server's event stream ended before it answered {method}")
    }

    /// End the session the server opened, if it opened one (best effort).
    async fn stop(self) {
        let Some(session) = self.session else { return };
        let mut req = self.client.delete(&self.url).header(SESSION, session);
        if let Some(v) = self.version {
            req = req.header(PROTOCOL_VERSION, v);
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), req.send()).await;
    }
}

/// A whole (non-streamed) body, at most [`MAX_MESSAGE`] bytes.
async fn read_body(resp: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the server's answer broke off")?;
        if bytes.len() + chunk.len() > MAX_MESSAGE {
            bail!("the server's answer is larger than 64 MiB");
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposes_the_newest_handshake_version() {
        let v = proposed_version();
        assert!(airlock_mcp::protocol::VERSIONS.contains(&v));
        assert!(v >= "2025-11-25", "{v}");
    }

    #[test]
    fn answers_and_errors() {
        assert!(answers(&json!({"id": 3, "result": {}}), 3));
        assert!(!answers(&json!({"id": 3, "method": "ping"}), 3));
        assert!(!answers(&json!({"id": 4, "result": {}}), 3));
        let e = result_of(
            "tools/list",
            json!({"id": 1, "error": {"code": -32601, "message": "no"}}),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert_eq!(
            e,
            "the server answered tools/list with an error: no (code -32601)"
        );
        assert_eq!(
            answer_to_server(&json!({"id": 9, "method": "ping"})),
            Some(json!({"jsonrpc": "2.0", "id": 9, "result": {}}))
        );
        assert_eq!(
            answer_to_server(&json!({"method": "notifications/x"})),
            None
        );
    }
}
