//! One file per subcommand.

pub mod check;
pub mod demo;
pub mod verify;
