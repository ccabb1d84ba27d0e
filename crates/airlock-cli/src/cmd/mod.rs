//! One file per subcommand.

pub mod audit;
pub mod check;
pub mod demo;
pub mod doctor;
pub mod pin;
pub mod replay;
pub mod run;
pub mod sandbox;
pub mod scan;
pub mod serve;
pub mod tools;
pub mod verify;
