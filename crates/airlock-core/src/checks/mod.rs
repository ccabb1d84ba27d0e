//! The built-in checks, one module each. A new check copies the shape of [`ghost_args`]:
//! a `//!` paragraph (what it guards against, what it does not cover, its phase), one type that
//! implements [`crate::Check`], a config section of the same name, a deny-code prefix of the
//! same name, and a table of allowed and refused cases beside it.

pub mod ghost_args;
pub mod validation;

pub use ghost_args::{GhostArgs, UnknownArgs};
pub use validation::Validation;
