//! The built-in checks, one module each. A new check copies the shape of [`ghost_args`]:
//! a `//!` paragraph (what it guards against, what it does not cover, its phase), one type that
//! implements [`crate::Check`], a config section of the same name, a deny-code prefix of the
//! same name, and a table of allowed and refused cases beside it.

pub mod approval;
pub mod capabilities;
pub mod ghost_args;
pub mod rate_limit;
pub mod session_limits;
pub mod time_window;
pub mod tool_access;
pub mod validation;

pub use approval::{Approval, ApprovalOutcome, ApprovalRequest, Approver};
pub use capabilities::Capabilities;
pub use ghost_args::{GhostArgs, UnknownArgs};
pub use rate_limit::RateLimit;
pub use session_limits::SessionLimits;
pub use time_window::TimeWindow;
pub use tool_access::ToolAccess;
pub use validation::Validation;
