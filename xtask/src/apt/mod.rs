//! Debian packages of any suite and architecture without touching the
//! host's dpkg: a private apt state per suite × architecture under the
//! shared cache (its own lists, archives, empty status file and sources),
//! driven by the host's `apt-get` and `apt-cache` (FACTS.md's recipe). The
//! VM lane builds guests from it, the qemu-user lane sysroots, platform data
//! reads Debian's packaged Rust from it; setup reads the host's own suite
//! versions with [`madison_suite_version`].
//!
//! The archive is never named here: a state's sources are the host's own
//! Debian entries (those of its release, signed by Debian's archive keyring),
//! with the release name replaced by the suite wanted (riscv64 is in trixie,
//! not bookworm). What apt says about the archive is kept only with the
//! archive's host taken out ([`redact_hosts`]).

mod closure;
mod sources;
mod state;
mod versions;

pub use closure::{closure, first_alternatives};
pub use sources::{
    backports_for_suite, derived_sources, host_codename, host_sources, parse_codename,
    parse_deb822, parse_one_line, redact_hosts, render_sources, sources_for_suite, sources_in,
    Source,
};
pub use state::{
    cache_root, extract, parse_records, AptLock, AptState, PackageRecord, UPDATE_TIMEOUT,
};
pub use versions::{madison_suite_version, parse_madison, upstream_version, MadisonEntry};
