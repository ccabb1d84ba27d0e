//! A test fixture: an rmcp handler behind the airlock whose tool list moves on, over stdio, so
//! clients nobody here wrote (the official Python SDK) can be shown the airlock's own
//! `notifications/tools/list_changed` through the library door.
//!
//! ```sh
//! cargo run -p airlock-mcp --example paged_guarded -- pages.json
//! ```
//!
//! `pages.json` is a list of tool lists: the n-th `tools/list` the handler answers (the
//! client's or the airlock's own) gets the n-th, the last one from then on. Every call answers
//! `ran`. Pinning is off, so a tool whose description turns poisoned is refused as poisoned.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_airlock::ConfigBuilder;
use airlock_mcp::server::Guard;
use rmcp::model::*;
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};

struct Paged {
    pages: Vec<Vec<Tool>>,
    listed: AtomicUsize,
}

impl ServerHandler for Paged {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let n = self.listed.fetch_add(1, Ordering::SeqCst);
        let page = self.pages.get(n).or(self.pages.last()).cloned();
        Ok(ListToolsResult::with_all_items(page.unwrap_or_default()))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text("ran")]).into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: paged_guarded PAGES.json")?;
    let pages: Vec<Vec<Tool>> = serde_json::from_slice(&std::fs::read(&path)?)?;
    let config = ConfigBuilder::new()
        .file("built-in", "[pinning]\nmode = \"off\"\n")
        .build()?;
    let engine = Arc::new(agent_airlock::engine(config)?);
    let paged = Paged {
        pages,
        listed: AtomicUsize::new(0),
    };
    let server = paged
        .guarded(engine)
        .serve(rmcp::transport::stdio())
        .await?;
    server.waiting().await?;
    Ok(())
}
