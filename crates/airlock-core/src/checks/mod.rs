//! The built-in checks, one module each. A new check copies the shape of [`ghost_args`]:
//! a `//!` paragraph (what it guards against, what it does not cover, its phase), one type that
//! implements [`crate::Check`], a config section of the same name, a deny-code prefix of the
//! same name, and a table of allowed and refused cases beside it.

mod approval;
mod breaker;
mod budget;
mod capabilities;
pub mod ghost_args;
pub mod injection;
mod rate_limit;
mod session_limits;
mod time_window;
mod tool_access;
pub(crate) mod validation;

pub use approval::{
    Approval, ApprovalAsk, ApprovalOutcome, ApprovalPath, ApprovalRequest, ApprovalScope, Approved,
    Approver, PersonAnswer,
};
pub use breaker::Breaker;
pub use budget::Budget;
pub use capabilities::Capabilities;
pub use ghost_args::{GhostArgs, UnknownArgs};
pub use injection::Injection;
pub use rate_limit::RateLimit;
pub use session_limits::SessionLimits;
pub use time_window::TimeWindow;
pub use tool_access::ToolAccess;
pub use validation::Validation;
