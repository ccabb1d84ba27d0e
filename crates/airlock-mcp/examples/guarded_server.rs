//! An rmcp server behind the airlock, in one line: `.guarded(engine)`.
//!
//! The server is the demo's (`airlock_mcp::demo::DemoServer`); any `rmcp::ServerHandler` works
//! the same way. It speaks MCP over stdio:
//!
//! ```sh
//! cargo run -p airlock-mcp --example guarded_server
//! ```
//!
//! The configuration is `$AIRLOCK_CONFIG` if set, else a policy that denies `delete_*`; the
//! `AIRLOCK_*` variables apply on top.

use std::sync::Arc;

use airlock_core::{CallerContext, ConfigBuilder, Engine};
use airlock_mcp::demo::DemoServer;
use airlock_mcp::server::Guard;
use rmcp::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (name, text) = match std::env::var("AIRLOCK_CONFIG") {
        Ok(path) => (path.clone(), std::fs::read_to_string(path)?),
        Err(_) => (
            "built-in".into(),
            "[policy]\ndeny = [\"delete_*\"]\n".into(),
        ),
    };
    let config = ConfigBuilder::new()
        .file(name, text)
        .env(std::env::vars())
        .build()?;
    let engine = Arc::new(Engine::builder().config(config).build()?);

    let server = DemoServer::new()
        .guarded(engine) // ← the airlock
        .caller(CallerContext::default().agent("guarded-example"))
        .serve(rmcp::transport::stdio())
        .await?;
    server.waiting().await?;
    Ok(())
}
