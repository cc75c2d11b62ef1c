//! The `cross-rs` provider: `cross build` in a container that carries the
//! target's std and linker. It needs a container engine that actually
//! answers, not just a client binary on PATH.

use super::probe::HostTools;
use super::{Missing, Toolchain};
use crate::host::Host;
use crate::model::{LinkerKind, Platform, ToolchainKind};

pub const ENABLE: &str =
    "install and start Docker or Podman (cross-rs runs every build in a container), then `cargo install cross --locked`";

pub(super) fn resolve(
    platform: &Platform,
    _host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    let engine = tools
        .container_engine()
        .map_err(|why| Missing::new(why, Some(ENABLE.into())))?;
    let Some(cross) = tools.cross() else {
        return Err(Missing::new(
            format!("{engine} answers but `cross` is not on PATH"),
            Some("cargo install cross --locked".into()),
        ));
    };
    let Some(compiler) = tools.default_compiler() else {
        return Err(Missing::new(
            "no rustc on PATH (cross-rs uses the host's rustup toolchain)",
            Some("install Rust with rustup".into()),
        ));
    };
    let engine_name = engine
        .split_whitespace()
        .next()
        .unwrap_or("docker")
        .to_string();
    let mut details = std::collections::BTreeMap::new();
    details.insert("container-engine".into(), engine.clone());
    details.insert("linker-version".into(), "the cross-rs image's".into());
    Ok(Toolchain {
        kind: ToolchainKind::CrossRs,
        linker: LinkerKind::Gcc,
        target: platform.target.clone(),
        cargo: vec![cross.display().to_string()],
        build_subcommand: "build".into(),
        rustc: compiler.rustc.clone(),
        env: vec![("CROSS_CONTAINER_ENGINE".into(), engine_name)],
        cargo_args: Vec::new(),
        rustc_version: compiler.rustc_version.clone(),
        cargo_version: compiler.cargo_version.clone(),
        identity: compiler.identity.clone(),
        target_dir_name: format!("cross-rs-{}", platform.target),
        details,
        packaged: None,
    })
}
