//! An rmcp server behind the airlock, in one line: `.guarded(engine)`.
//!
//! The server is the demo's (`airlock_mcp::demo::DemoServer`); any `rmcp::ServerHandler` works
//! the same way. It speaks MCP over stdio:
//!
//! ```sh
//! AIRLOCK_CONFIG=examples/airlock.toml cargo run -p airlock-mcp --example guarded_server
//! ```
//!
//! The configuration is `$AIRLOCK_CONFIG` with the `AIRLOCK_*` variables on top
//! (`agent_airlock::config_from_env`); without `$AIRLOCK_CONFIG`, a policy that denies
//! `delete_*` and keeps files under `/srv/workspace`. The engine is the complete one the
//! configuration describes (`agent_airlock::engine`): the same checks, scanner, pins, rate store
//! and audit file as `airlock run`.

use std::sync::Arc;

use agent_airlock::{CallerContext, ConfigBuilder};
use airlock_mcp::demo::DemoServer;
use airlock_mcp::server::Guard;
use rmcp::ServiceExt;

const BUILT_IN: &str = "[policy]\ndeny = [\"delete_*\"]\n\n[filesystem]\nallowed_roots = [\"/srv/workspace\"]\nbase = \"/srv/workspace\"\nsymlinks = \"lexical\"\n";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = if std::env::var_os("AIRLOCK_CONFIG").is_some() {
        agent_airlock::config_from_env()?
    } else {
        ConfigBuilder::new()
            .file("built-in", BUILT_IN)
            .env(std::env::vars())
            .build()?
    };
    let engine = Arc::new(agent_airlock::engine(config)?);

    let server = DemoServer::new()
        .guarded(engine) // ← the airlock
        .caller(CallerContext::default().agent("guarded-example"))
        .serve(rmcp::transport::stdio())
        .await?;
    server.waiting().await?;
    Ok(())
}
