//! The `build-std` provider: std compiled from source for any target
//! (`-Zbuild-std`, unlocked on a stable compiler by `RUSTC_BOOTSTRAP=1`) by a
//! compiler whose `rust-src` tree is verified to be its own.
//!
//! Each target gets its own target directory, kept between runs, so std is
//! built once per compiler and target and then reused like any dependency.

use super::linker;
use super::probe::HostTools;
use super::{Missing, Toolchain};
use crate::host::Host;
use crate::model::{Platform, ToolchainKind};

/// The std crates built; `panic_abort` lets `-C panic=abort` profiles link too.
pub const BUILD_STD: &str = "std,panic_abort";

/// The Debian packages that provide a compiler with matching std sources.
pub const DEBIAN_PACKAGES: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];

pub(super) fn resolve(
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    let target = &platform.target;
    let compilers = tools.build_std_compilers();
    let Some((compiler, src)) = compilers
        .iter()
        .find_map(|c| c.rust_src.as_ref().ok().map(|s| (c, s)))
    else {
        let tried = if compilers.is_empty() {
            "no compiler found".to_string()
        } else {
            compilers
                .iter()
                .map(|c| {
                    format!(
                        "{} at {}: {}",
                        c.rustc_version,
                        c.rustc.display(),
                        c.rust_src.as_ref().err().map_or("", |e| e.as_str())
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(Missing::until_setup(
            format!("no compiler with matching std sources ({tried})"),
            format!(
                "apt-get install --no-install-recommends {}",
                DEBIAN_PACKAGES.join(" ")
            ),
        ));
    };
    let link = linker::resolve(platform, host, tools)?;
    let mut details = link.details.clone();
    details.insert(
        "std".into(),
        format!(
            "built from source ({BUILD_STD}) from {} ({})",
            src.path.display(),
            src.evidence
        ),
    );
    let run = link.cargo_for(compiler, &[("RUSTC_BOOTSTRAP", "1")]);
    Ok(Toolchain {
        kind: ToolchainKind::BuildStd,
        linker: link.kind,
        target: target.clone(),
        cargo: run.cargo,
        build_subcommand: run.build_subcommand,
        rustc: compiler.rustc.clone(),
        env: run.env,
        cargo_args: vec![format!("-Zbuild-std={BUILD_STD}")],
        rustc_version: compiler.rustc_version.clone(),
        cargo_version: compiler.cargo_version.clone(),
        identity: compiler.identity.clone(),
        target_dir_name: format!("build-std-{}-{target}", link.kind.as_str()),
        details,
        packaged: None,
    })
}
