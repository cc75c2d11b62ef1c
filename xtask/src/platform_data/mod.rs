//! Rust on each platform, from outside this host: upstream's tier for each
//! target (platform-support.md and rustc's own metadata), the Rust each OS
//! release packages (Debian through apt; FreeBSD, OpenBSD and NetBSD package
//! indexes; Repology as a cross-check), and the MSRV policy built on them.
//!
//! Release and end-of-life dates of each OS release come from endoflife.date
//! (`endoflife.rs`). Every HTTP fetcher has one shape, `source::Source`.
//!
//! Fetchers are library code tested against local servers; `platforms.rs`
//! and `msrv.rs` are the subcommands. What they learn is written to
//! `platforms/rust/status.toml` (see `crate::model::rust_status`).

pub mod debian;
pub mod endoflife;
pub mod freebsd;
pub mod github;
pub mod http;
pub mod msrv;
pub mod netbsd;
pub mod openbsd;
pub mod platform_support;
pub mod refresh;
pub mod repology;
pub mod source;
pub mod status;
pub mod tiers;
