//! The compilers that prove a workspace's `rust-version`, resolved once for
//! `cargo xtask msrv --verify` and for the matrix's `msrv-floor` and
//! `msrv-declared` cells: the oldest packaged compiler the MSRV policy
//! counts (on the platform that packages it), and a packaged compiler of
//! exactly the declared `rust-version` that runs on this host.

use crate::host::Host;
use crate::model::rust_status::PackagedRust;
use crate::model::{Lane, Model, RustVersion, ToolchainKind};
use crate::platform_data::msrv::Outcome;

use super::{packaged, HostTools, Missing, Toolchain};

/// One compiler of the MSRV check.
#[derive(Debug, Clone)]
pub struct MsrvCheck {
    /// `msrv-floor` or `msrv-declared`: which of the two it is.
    pub lane: Lane,
    /// The platform whose packaged compiler it is (where the cell belongs).
    pub platform: String,
    /// Why this compiler (`the oldest packaged Rust the policy counts (1.70 on …)`).
    pub why: String,
    pub toolchain: Result<Toolchain, Missing>,
}

/// The check's compilers for `outcome` (the policy's floor and the
/// workspace's declared `rust-version`), in that order; a check with no
/// platform to run on (no floor, no `rust-version`, no platform of this
/// host's target) is left out.
pub fn checks(
    model: &Model,
    outcome: &Outcome,
    host: &Host,
    tools: &dyn HostTools,
) -> Vec<MsrvCheck> {
    let mut out = Vec::new();
    if let Some((floor, platforms)) = &outcome.floor {
        let id = &platforms[0];
        if let Some(platform) = model.platforms.iter().find(|p| &p.id == id) {
            out.push(MsrvCheck {
                lane: Lane::MsrvFloor,
                platform: id.clone(),
                why: format!(
                    "the oldest packaged Rust the policy counts ({} on {id})",
                    floor.short()
                ),
                toolchain: super::resolve_packaged(model, platform, host, tools),
            });
        }
    }
    if let Some(declared) = outcome.workspace {
        if let Some((platform, toolchain)) = exact_compiler(model, declared, host, tools) {
            out.push(MsrvCheck {
                lane: Lane::MsrvDeclared,
                platform,
                why: format!("exactly the declared rust-version {}", declared.short()),
                toolchain,
            });
        }
    }
    out
}

/// A packaged compiler of exactly `declared` (major.minor) that runs on this
/// host, from any release of this host's OS in platforms/, with the platform
/// it comes from; when none has one, why, on the first platform of this
/// host's target. `None` when platforms/ has no platform of this host's target.
fn exact_compiler(
    model: &Model,
    declared: RustVersion,
    host: &Host,
    tools: &dyn HostTools,
) -> Option<(String, Result<Toolchain, Missing>)> {
    let mut seen = Vec::new();
    let natives: Vec<_> = model
        .platforms
        .iter()
        .filter(|p| p.target == host.triple)
        .collect();
    for platform in &natives {
        let Some(entry) = model.rust_status.platform.get(&platform.id) else {
            continue;
        };
        let mut packages: Vec<&PackagedRust> = entry.package.iter().collect();
        packages.sort_by_key(|p| std::cmp::Reverse(p.rust));
        for package in packages {
            seen.push(format!("{} {}", package.name, package.version));
            if package.rust.short() != declared.short() {
                continue;
            }
            let arch = platform.debian_arch.clone().unwrap_or_default();
            let Some(spec) = packaged::spec_for_package(platform, package, &arch, None) else {
                continue;
            };
            return Some((
                platform.id.clone(),
                packaged::toolchain(&spec, ToolchainKind::Packaged, platform, host, tools),
            ));
        }
    }
    let first = natives.first()?;
    Some((
        first.id.clone(),
        Err(Missing::new(
            format!(
                "the archive has no compiler of exactly {} for this host (status.toml records {})",
                declared.short(),
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(", ")
                }
            ),
            None,
        )),
    ))
}
