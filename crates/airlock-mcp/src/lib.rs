//! # airlock-mcp — agent-airlock in front of MCP servers
//!
//! The transports around the [`airlock_core`] engine. Today: the stdio proxy ([`stdio`]),
//! which `airlock run -- <server command…>` runs in front of any MCP server. Every `tools/call`
//! goes through the engine's checks; refusals come back as tool results the model can act on.
//!
//! ```no_run
//! use std::sync::Arc;
//! use airlock_core::CallerContext;
//! use airlock_mcp::stdio::StdioProxy;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The complete engine the configuration describes ($AIRLOCK_CONFIG, AIRLOCK_* variables).
//! let engine = Arc::new(agent_airlock::engine(agent_airlock::config_from_env()?)?);
//! let mut server = tokio::process::Command::new("my-mcp-server");
//! let status = StdioProxy::new(engine, CallerContext::default().agent("desktop"))
//!     .run(server, tokio::io::stdin(), tokio::io::stdout())
//!     .await?;
//! # let _ = status; Ok(()) }
//! ```
//!
//! Cargo features: none yet.

pub mod auth;
pub mod demo;
mod framing;
pub mod http;
pub mod lifecycle;
mod process;
pub mod protocol;
pub mod roots;
pub mod server;
pub mod stdio;

pub use lifecycle::{Admission, CallRequest, Lifecycle, REFUSAL_META, Ticket};
pub use process::stop_signal;
