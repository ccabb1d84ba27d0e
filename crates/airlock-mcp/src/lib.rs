//! # airlock-mcp — agent-airlock in front of MCP servers
//!
//! The doors around the [`airlock_core`] engine, all driving one call lifecycle
//! ([`lifecycle`]), so a call is decided, forwarded, recorded and cleaned the same way whichever
//! door it comes through:
//!
//! * [`stdio`] — the stdio proxy `airlock run -- <server command…>` puts in front of any MCP
//!   server (a raw line relay: everything it does not touch passes byte for byte);
//! * [`http`] — the Streamable-HTTP gateway `airlock serve` (Host/Origin checks, API keys and
//!   JWTs, sessions, a child process or an HTTP upstream behind each);
//! * [`server`] — an rmcp `ServerHandler` behind the airlock in one line
//!   (`handler.guarded(engine)`).
//!
//! What the airlock writes itself follows the protocol version in force ([`protocol`]: 2024-11-05
//! to 2026-07-28). Logs go through `tracing` (the `airlock` binary prints them to stderr).
//!
//! ```no_run
//! use std::sync::Arc;
//! use airlock_core::CallerContext;
//! use airlock_mcp::stdio::StdioProxy;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The complete engine the configuration describes ($AIRLOCK_CONFIG, AIRLOCK_* variables).
//! let engine = Arc::new(agent_airlock::engine(agent_airlock::config_from_env()?)?);
//! let server = tokio::process::Command::new("my-mcp-server");
//! let status = StdioProxy::new(engine, CallerContext::default().agent("desktop"))
//!     .run(server, tokio::io::stdin(), tokio::io::stdout())
//!     .await?;
//! # let _ = status; Ok(()) }
//! ```
//!
//! Cargo features: none.

mod approval;
pub mod auth;
pub mod demo;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod lifecycle;
pub mod messages;
pub mod metrics;
mod process;
pub mod protocol;
pub mod roots;
pub mod server;
pub mod stdio;
pub mod telemetry;

pub use lifecycle::{Admission, CallRequest, FromServer, Lifecycle, REFUSAL_META, Ticket};
pub use process::stop_signal;

/// Make *ring* the process's TLS provider for the clients the airlock opens (the HTTP gateway's
/// upstream, the OTLP exporter), unless one is set already. *ring* is the smaller build of the
/// two providers rustls ships; rustls 0.23.48 deprecated it because it lacks the post-quantum
/// key exchanges. Moving to aws-lc-rs is what lifts the allowance below.
pub(crate) fn install_tls_provider() {
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
}
