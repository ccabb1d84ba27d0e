//! # airlock-core — the agent-airlock engine
//!
//! Decides, for every MCP `tools/call`, whether it may run — before it runs — and answers every
//! refusal with a self-healing error: what was wrong and how to fix it. No transport, no I/O:
//! time comes in through [`Clock`], audit records go out through [`AuditSink`], configuration
//! comes in as text and variables ([`ConfigBuilder`]).
//!
//! ## The pipeline
//!
//! ```text
//!            ┌──────── intake ────────┐  ┌──────────── checks, fixed phases ─────────────┐
//!  Call ───► │ tool known?            │─►│ admit ─► normalise ─► validate ─► guard ─► spend│──► record ──► Decision
//!            │ args JSON, object,     │  │          ghost_args   validation               │    (audit,
//!            │ ≤ max_bytes, ≤ depth   │  │  first refusal wins; a broken check refuses   │    written
//!            └────────────────────────┘  └────────────────────────────────────────────────┘    first)
//! ```
//!
//! Phases are fixed ([`Phase`]); configuration orders checks only within a phase. Nothing that
//! spends (rate limits, budgets) runs before validation, so a malformed call costs nothing.
//! After an allowed call the transport forwards it (maybe sandboxed) and cleans the result;
//! those stages live in the transport crates.
//!
//! ## Example
//!
//! ```
//! use airlock_core::{Call, ConfigBuilder, Engine, ToolDef, UnknownArgs};
//! use serde_json::json;
//!
//! let transfer = ToolDef::new("transfer", json!({
//!     "type": "object",
//!     "properties": {"to": {"type": "string"}, "amount": {"type": "integer"}},
//!     "required": ["to", "amount"]
//! }));
//! // The core alone: the sections other crates serve (paths and URLs in arguments, result
//! // masking) are turned off here, or the build refuses. `agent_airlock::engine(config)`
//! // (crate agent-airlock) builds the complete engine from any configuration.
//! let config = ConfigBuilder::new()
//!     .unknown_args(UnknownArgs::Block)
//!     .file("core-only.toml", "[filesystem]\nenabled = false\n[network]\nenabled = false\n[sanitize]\nenabled = false\n")
//!     .build()?;
//! let engine = Engine::builder().config(config).tools([transfer]).build()?;
//!
//! let decision = engine.check(Call::new("transfer", json!({"to": "bob", "amount": "5"})));
//! let refusal = decision.refusal().expect("\"5\" is not an integer");
//! assert_eq!(refusal.block_reason().as_str(), "validation_error");
//! assert!(refusal.render_text().contains("send 5, not \"5\""));
//!
//! assert!(engine.check(Call::new("transfer", json!({"to": "bob", "amount": 5}))).is_allowed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Cargo features
//!
//! None yet: the core builds with the default features of its few dependencies.

pub mod audit;
pub mod audit_chain;
pub mod breaker;
pub mod budget;
mod call;
pub mod checks;
pub mod clean;
mod clock;
pub mod config;
mod engine;
pub mod field_path;
mod fnv;
pub mod json_error;
pub mod limits;
pub mod pins;
pub mod pipeline;
pub mod poison;
pub mod policy;
pub mod program;
pub mod refusal;
mod schema;
mod sessions;
mod suggest;

pub use audit::{AuditEvent, AuditSink, JsonlSink, MemorySink, Redactor};
pub use call::{Arguments, Call, CallerContext, ToolDef};
pub use checks::{GhostArgs, UnknownArgs, Validation};
pub use clean::{CleanContext, CleanError, CleanReport, ResultCleaner, TextKind};
pub use clock::{Clock, FixedClock, SystemClock};
pub use config::{Config, ConfigBuilder, ConfigError, Origin, Settings};
pub use engine::{Allowed, Catalog, Decision, Engine, EngineBuilder, EngineError, Refused};
pub use pipeline::{CallState, Change, Check, CheckError, Outcome, Phase, Pipeline, Verdict};
pub use refusal::{BlockReason, DenyCode, Fault, FieldError, Refusal, Retry};
pub use sessions::{SessionState, session_key};
