//! The `host` provider: the default rustup toolchain, for the host's own target.

use std::path::PathBuf;

use super::{versions, Missing, Toolchain};
use crate::host::{which, Host};
use crate::model::{LinkerKind, Platform, ToolchainKind};

pub(super) fn resolve(
    platform: &Platform,
    host: &Host,
    cache: &std::path::Path,
) -> Result<Toolchain, Missing> {
    if platform.target != host.triple {
        return Err(Missing::new(
            format!("only builds for the host's own target ({})", host.triple),
            None,
        ));
    }
    let cargo = std::env::var("CARGO")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cargo".into());
    let rustc = which("rustc").unwrap_or_else(|| PathBuf::from("rustc"));
    let (identity, rustc_version, cargo_version) =
        versions(&rustc, std::slice::from_ref(&cargo), &[], cache).map_err(|err| {
            Missing::new(
                format!("cannot run the host toolchain: {err:#}"),
                Some("install Rust with rustup".into()),
            )
        })?;
    let linker = platform
        .linkers
        .first()
        .copied()
        .unwrap_or(LinkerKind::Native);
    Ok(Toolchain {
        kind: ToolchainKind::Host,
        linker,
        target: platform.target.clone(),
        cargo: vec![cargo],
        build_subcommand: "build".into(),
        rustc,
        env: Vec::new(),
        cargo_args: Vec::new(),
        target_dir_name: "host".into(),
        rustc_version,
        cargo_version,
        identity,
        details: Default::default(),
        packaged: None,
    })
}
