//! # airlock-guard — argument guards for agent-airlock
//!
//! The *guard* phase of the pipeline: values in a call's arguments that name files or network
//! endpoints are found ([`find`]: by schema `format`, parameter name or shape, at any depth)
//! and checked against policy before the tool runs — paths against `[filesystem]` ([`path`]:
//! roots by whole components, deny lists, symlinks resolved, traversal and encodings undone),
//! URLs and hosts against `[network]` ([`endpoint`]: schemes, host globs, ports, internal and
//! metadata addresses in every spelling). [`check`] puts them into the engine — as one
//! `argument_guards` check ([`Guards`], one walk over the arguments) or as the separate
//! `filesystem` and `network` checks — with per-tool and per-tenant policies.
//!
//! ```text
//!  admit ─► normalise ─► validate ─► guard ─► spend ─► forward ─► clean ─► record
//!                                      ▲
//!                                      └── this crate: filesystem (paths), network (URLs, hosts)
//! ```
//!
//! The endpoint policy does no I/O (an optional DNS check is done by the `network` check, with
//! a timeout, and its answers come back as plain data through
//! [`endpoint::EndpointPolicy::check_resolved`]); the path policy reads the disk only to
//! resolve symlinks (`symlinks = "lexical"` turns that off).
//!
//! ## Example
//!
//! ```
//! use airlock_guard::endpoint::{AddressClass, EndpointError, EndpointPolicy, Host};
//!
//! let policy = EndpointPolicy::default();
//! policy.validate()?;
//!
//! let endpoint = policy.check("https://API.Example.com./v1/items")?;
//! assert_eq!(endpoint.host, Host::Name("api.example.com".into()));
//! assert_eq!(endpoint.port, Some(443));
//!
//! // 0x7f.1 is 127.0.0.1 to a WHATWG parser, and to most HTTP clients.
//! let refused = policy.check("http://0x7f.1/admin").unwrap_err();
//! assert!(matches!(
//!     refused,
//!     EndpointError::ForbiddenAddress { class: AddressClass::Loopback, .. }
//! ));
//! assert_eq!(refused.kind(), "forbidden_address");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Cargo features
//!
//! None.

pub mod check;
pub mod endpoint;
pub mod find;
pub mod path;

pub use check::{Filesystem, Guards, Network};
