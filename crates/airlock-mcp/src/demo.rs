//! The demo MCP server behind `airlock demo`: a company's tools with nothing real behind them.
//!
//! `read_file` and `list_directory` serve a small in-memory workspace, `transfer_money` queues
//! nothing, `fetch_url` fetches nothing (it answers offline), `query_customers` answers from a
//! table full of personal data, and `delete_records` deletes nothing. No file, network or
//! account is touched, so the demo is safe to run anywhere; the airlock in front of it is real.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

/// The demo's tool definitions (`examples/tools.json`, the file the README's `airlock check`
/// examples use), plus `delete_records`.
pub const TOOLS_JSON: &str = include_str!("../../../examples/tools.json");

const FILES: &[(&str, &str)] = &[
    (
        "reports/q3.txt",
        "Q3 revenue: 4.2M EUR (+12%). Churn: 3.1%. Top region: DACH.",
    ),
    ("reports/q2.txt", "Q2 revenue: 3.75M EUR. Churn: 3.4%."),
    (
        "notes/todo.md",
        "- renew the TLS certificate\n- rotate the API keys",
    ),
];

const CUSTOMERS: &[(&str, &str, &str, &str, &str)] = &[
    // id, name, email, phone, card
    (
        "c-1001",
        "Ada Lovelace",
        "ada@example.org",
        "+44 20 7946 0958",
        "4111 1111 1111 1111",
    ),
    (
        "c-1002",
        "Grace Hopper",
        "grace.hopper@example.com",
        "+1 202-555-0147",
        "5500 0000 0000 0004",
    ),
    (
        "c-1003",
        "Alan Turing",
        "alan@example.net",
        "+44 161 496 0753",
        "3400 0000 0000 009",
    ),
];

/// The demo MCP server.
#[derive(Clone, Debug, Default)]
pub struct DemoServer {
    transfers: Arc<AtomicU64>,
}

fn text(s: impl Into<String>) -> Result<CallToolResponse, McpError> {
    Ok(CallToolResult::success(vec![ContentBlock::text(s.into())]).into())
}

impl DemoServer {
    /// A demo server.
    pub fn new() -> Self {
        DemoServer::default()
    }

    /// The tools it serves.
    pub fn tools() -> Vec<Tool> {
        let mut list: Vec<Value> = serde_json::from_str::<Value>(TOOLS_JSON)
            .ok()
            .and_then(|v| v.get("tools").cloned())
            .and_then(|t| t.as_array().cloned())
            .unwrap_or_default();
        list.push(json!({
            "name": "delete_records",
            "description": "Delete customer records.",
            "inputSchema": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}}, "required": ["ids"]},
            "annotations": {"destructiveHint": true}
        }));
        list.into_iter()
            .filter_map(|t| serde_json::from_value(t).ok())
            .collect()
    }

    fn call(
        &self,
        name: &str,
        args: &serde_json::Map<String, Value>,
    ) -> Result<CallToolResponse, McpError> {
        let s = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or("");
        match name {
            "read_file" => match FILES.iter().find(|(p, _)| *p == s("path")) {
                Some((_, body)) => text(*body),
                None => Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "no such file: {}",
                    s("path")
                ))])
                .into()),
            },
            "list_directory" => {
                let recursive = args
                    .get("recursive")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let names: Vec<&str> = FILES
                    .iter()
                    .map(|(p, _)| *p)
                    .filter(|p| recursive || !p.contains('/'))
                    .collect();
                text(format!(
                    "{} (received {})",
                    if names.is_empty() {
                        "reports/ notes/".to_owned()
                    } else {
                        names.join(" ")
                    },
                    Value::Object(args.clone())
                ))
            }
            "transfer_money" => {
                let n = self.transfers.fetch_add(1, Ordering::Relaxed) + 1;
                text(format!(
                    "transfer #{n} queued: {} {} cents to {} (demo: no money moves)",
                    args.get("amount").cloned().unwrap_or(Value::Null),
                    s("currency"),
                    s("to")
                ))
            }
            "fetch_url" => text(format!("(demo, offline) would fetch {}", s("url"))),
            "query_customers" => {
                let rows: Vec<String> = CUSTOMERS
                    .iter()
                    .map(|(id, name, email, phone, card)| {
                        format!("{id} | {name} | {email} | {phone} | {card}")
                    })
                    .collect();
                text(format!(
                    "id | name | email | phone | card\n{}",
                    rows.join("\n")
                ))
            }
            "delete_records" => text("deleted (demo: nothing was deleted)"),
            _ => Err(McpError::invalid_params(
                format!("unknown tool {name}"),
                None,
            )),
        }
    }
}

impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info.name = "airlock-demo-server".into();
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(DemoServer::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        DemoServer::tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        self.call(&request.name, &args)
    }
}
