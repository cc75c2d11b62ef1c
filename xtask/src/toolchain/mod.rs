//! Toolchain providers: where the compiler, standard library and linker for a
//! cell's target come from, chosen per cell by resolution and recorded in its
//! provenance.
//!
//! A platform lists providers in order of preference (`toolchains`,
//! `linkers` in `platforms/`); [`resolve`] takes the first this host has. When
//! none is there, the cell is unavailable, and the reasons of every provider
//! tried, with the step that would enable the first, go into the cell.

mod build_std;
mod cross_rs;
mod host;
pub mod linker;
pub mod msrv;
pub mod packaged;
pub mod probe;
mod rustup_target;
mod tier;

pub use build_std::{BUILD_STD, DEBIAN_PACKAGES as BUILD_STD_DEBIAN_PACKAGES};
pub use probe::{HostProbe, HostTools};
pub use tier::{query_tier, TierCache};

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::cmd::Cmd;
use crate::host::Host;
use crate::model::{LinkerKind, Platform, ToolchainKind};
use crate::requirements::EnableHint;
use crate::results::Tier;

/// A resolved toolchain: everything needed to run cargo for one target.
#[derive(Debug, Clone, Serialize)]
pub struct Toolchain {
    pub kind: ToolchainKind,
    pub linker: LinkerKind,
    pub target: String,
    /// The cargo program and any leading arguments before the subcommand's own
    /// (`cargo`, or `cargo-zigbuild` whose subcommands are `zigbuild`…).
    pub cargo: Vec<String>,
    /// The subcommand that builds: `build` or, with cargo-zigbuild, `zigbuild`.
    pub build_subcommand: String,
    pub rustc: PathBuf,
    /// Environment for cargo (RUSTC, RUSTC_BOOTSTRAP, linker variables…).
    pub env: Vec<(String, String)>,
    /// Arguments added to every cargo invocation (`-Zbuild-std=…`).
    pub cargo_args: Vec<String>,
    /// `rustc 1.95.0 (59807616e 2026-04-14)`.
    pub rustc_version: String,
    /// `cargo 1.95.0 (…)`.
    pub cargo_version: String,
    /// `rustc -vV`, part of every fingerprint.
    pub identity: String,
    /// Directory name under `target/matrix/build/` for this toolchain's
    /// artifacts: one per provider, linker and target, stable between runs so
    /// that a std built from source is built once.
    pub target_dir_name: String,
    /// Provenance facts: linker and its version, where std comes from.
    pub details: BTreeMap<String, String>,
    /// The packaged compiler and std the lane unpacks before building
    /// (`packaged`, `packaged-std`); absent for every other provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaged: Option<packaged::PackagedSpec>,
}

impl Toolchain {
    /// `host (rustc 1.95.0 …)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.kind.as_str(), self.rustc_version)
    }

    /// Asks this toolchain's compiler for its view of the target's support tier.
    pub fn tier(&self, cache: &mut TierCache) -> Option<Tier> {
        cache.get(&self.rustc, &self.rustc_version, &self.target)
    }
}

/// Why a provider cannot serve a target here, and what would change that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub reason: String,
    /// A command or step; `None` when nothing on this host can (the target is not the host's, say).
    pub enable: Option<EnableHint>,
}

impl Missing {
    /// Unavailable; `enable`, if any, is a step `cargo xtask setup` does not take.
    pub fn new(reason: impl Into<String>, enable: Option<String>) -> Missing {
        Missing {
            reason: reason.into(),
            enable: enable.map(EnableHint::Command),
        }
    }

    /// Unavailable until `cargo xtask setup` (or `command`) installs what is missing.
    pub fn until_setup(reason: impl Into<String>, command: impl Into<String>) -> Missing {
        Missing {
            reason: reason.into(),
            enable: Some(EnableHint::setup(command)),
        }
    }
}

/// Resolves the first provider this host has for `platform`, or says why none.
/// Without the model's packaged-Rust data, `packaged-std` is never chosen.
pub fn resolve(
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    resolve_with(platform, host, tools, None)
}

/// [`resolve`], with `platforms/rust/status.toml` to find packaged std.
pub fn resolve_in(
    model: &crate::model::Model,
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    resolve_with(platform, host, tools, Some(model))
}

/// The packaged lane's toolchain for `platform`: the compiler its OS packages.
pub fn resolve_packaged(
    model: &crate::model::Model,
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    let spec = packaged::choose(model, platform, host)?;
    packaged::toolchain(&spec, ToolchainKind::Packaged, platform, host, tools)
}

fn resolve_with(
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
    model: Option<&crate::model::Model>,
) -> Result<Toolchain, Missing> {
    let mut missing = Vec::new();
    for &kind in &platform.toolchains {
        let attempt = match kind {
            ToolchainKind::Host => host::resolve(platform, host, tools.cache_dir()),
            ToolchainKind::RustupTarget => rustup_target::resolve(platform, host, tools),
            ToolchainKind::BuildStd => build_std::resolve(platform, host, tools),
            ToolchainKind::CrossRs => cross_rs::resolve(platform, host, tools),
            ToolchainKind::PackagedStd => match model {
                Some(model) => {
                    packaged::choose_std(model, platform, host, tools).and_then(|spec| {
                        packaged::toolchain(
                            &spec,
                            ToolchainKind::PackagedStd,
                            platform,
                            host,
                            tools,
                        )
                    })
                }
                None => Err(Missing::new("needs platforms/rust/status.toml", None)),
            },
            ToolchainKind::Packaged => match model {
                Some(model) => release_compiler(model, platform, host, tools),
                None => Err(Missing::new("needs platforms/rust/status.toml", None)),
            },
        };
        match attempt {
            Ok(toolchain) => return Ok(toolchain),
            Err(why) => missing.push((kind, why)),
        }
    }
    let reason = missing
        .iter()
        .map(|(kind, why)| format!("{}: {}", kind.as_str(), why.reason))
        .collect::<Vec<_>>()
        .join("; ");
    let enable = missing.iter().find_map(|(_, why)| why.enable.clone());
    Err(Missing {
        reason: format!("no toolchain for {}: {reason}", platform.target),
        enable,
    })
}

/// `packaged` in a platform's list: the release's own packaged compiler
/// builds the cross lane's cells too, when it runs on this host natively (an
/// emulated compiler is the packaged lane's alone). Both lanes then share
/// one compiler identity and build directory, so the packaged lane's test
/// cells take the cross lane's runs ([`crate::plan::share_results`]).
fn release_compiler(
    model: &crate::model::Model,
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    let toolchain = resolve_packaged(model, platform, host, tools)?;
    match toolchain.packaged.as_ref() {
        Some(
            spec @ packaged::PackagedSpec {
                emulator: Some(emulator),
                ..
            },
        ) => Err(Missing::new(
            format!(
                "{} {} runs only under {emulator} here (the packaged lane builds with it)",
                spec.compiler, spec.version
            ),
            None,
        )),
        _ => Ok(toolchain),
    }
}

/// The `cross-rs` provider alone, for `--lane cross-rs`: says why not when
/// the platform does not list it or this host cannot run it.
pub fn resolve_cross_rs(
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    if !platform.toolchains.contains(&ToolchainKind::CrossRs) {
        return Err(Missing::new(
            format!(
                "{} does not list cross-rs for {}",
                platform.source, platform.arch
            ),
            None,
        ));
    }
    cross_rs::resolve(platform, host, tools).map_err(|m| Missing {
        reason: format!("cross-rs: {}", m.reason),
        enable: m.enable,
    })
}

/// `rustc -vV`, `rustc -V` and `cargo -V` of a toolchain, for provenance and
/// fingerprints. The cargo answer is cached by the compiler's identity and
/// cargo's path, so an unchanged rerun spawns no cargo at all.
pub(crate) fn versions(
    rustc: &std::path::Path,
    cargo: &[String],
    env: &[(String, String)],
    cache: &std::path::Path,
) -> Result<(String, String, String)> {
    let vv = Cmd::new(rustc)
        .arg("-vV")
        .envs(env)
        .run()?
        .ok()?
        .stdout_str();
    let release = vv
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or("?");
    let commit = vv
        .lines()
        .find_map(|l| l.strip_prefix("commit-hash: "))
        .map(|c| &c[..c.len().min(9)]);
    let date = vv.lines().find_map(|l| l.strip_prefix("commit-date: "));
    let rustc_version = match (commit, date) {
        (Some(c), Some(d)) if c != "unknown" => format!("rustc {release} ({c} {d})"),
        _ => format!("rustc {release}"),
    };
    let key = format!(
        "{}|{}|{}",
        cargo.join(" "),
        env.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        vv
    );
    let cache_path = cache.join("cargo-versions.json");
    let mut cache: BTreeMap<String, String> = std::fs::read_to_string(&cache_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let cargo_version = match cache.get(&key) {
        Some(v) => v.clone(),
        None => {
            let v = Cmd::new(&cargo[0])
                .args(&cargo[1..])
                .arg("-V")
                .envs(env)
                .run()?
                .ok()?
                .stdout_str()
                .trim()
                .to_string();
            cache.insert(key, v.clone());
            let _ = crate::paths::write_atomic(
                &cache_path,
                serde_json::to_string_pretty(&cache)?.as_bytes(),
            );
            v
        }
    };
    Ok((vv, rustc_version, cargo_version))
}

/// What the providers and linkers the platforms list need installed.
pub fn setup_steps(model: &crate::model::Model) -> Vec<crate::requirements::SetupStep> {
    use crate::requirements::{Requirement, SetupStep};
    let lists = |kind: ToolchainKind| model.platforms.iter().any(|p| p.toolchains.contains(&kind));
    let links = |kind: LinkerKind| model.platforms.iter().any(|p| p.linkers.contains(&kind));
    let mut out = Vec::new();
    if lists(ToolchainKind::BuildStd) {
        out.push(SetupStep::new(
            "build-std",
            Requirement::apt(&build_std::DEBIAN_PACKAGES),
        ));
    }
    if links(LinkerKind::Gcc) {
        let mut packages: Vec<String> = Vec::new();
        for p in model
            .platforms
            .iter()
            .filter(|p| p.linkers.contains(&LinkerKind::Gcc))
        {
            for name in linker::gcc_packages(p) {
                if !packages.contains(&name) {
                    packages.push(name);
                }
            }
        }
        let names: Vec<&str> = packages.iter().map(String::as_str).collect();
        out.push(SetupStep::new("gcc", Requirement::apt(&names)));
    }
    if links(LinkerKind::Zig) {
        out.push(SetupStep::new(
            "zig",
            Requirement::Pip {
                module: "ziglang",
                package: "ziglang",
                version: crate::requirements::ZIGLANG_VERSION,
            },
        ));
        out.push(SetupStep::new(
            "zig",
            Requirement::CargoInstall {
                krate: "cargo-zigbuild",
                version: crate::requirements::CARGO_ZIGBUILD_VERSION,
            },
        ));
    }
    out
}

/// `cargo xtask doctor`'s view of the providers: does each one work here, and how to get it.
pub fn prerequisites(
    model: &crate::model::Model,
    tools: &dyn HostTools,
) -> Vec<crate::requirements::Prereq> {
    use crate::requirements::Prereq;
    let mut out = Vec::new();
    let apt = |names: &[String]| {
        format!(
            "apt-get install --no-install-recommends {}",
            names.join(" ")
        )
    };
    if model
        .platforms
        .iter()
        .any(|p| p.toolchains.contains(&ToolchainKind::BuildStd))
    {
        let compilers = tools.build_std_compilers();
        let found = compilers
            .iter()
            .find_map(|c| {
                c.rust_src.as_ref().ok().map(|s| {
                    format!(
                        "{} at {}; {}",
                        c.rustc_version,
                        c.rustc.display(),
                        s.evidence
                    )
                })
            })
            .ok_or_else(|| {
                let tried: Vec<String> = compilers
                    .iter()
                    .map(|c| {
                        format!(
                            "{}: {}",
                            c.rustc.display(),
                            c.rust_src.as_ref().err().cloned().unwrap_or_default()
                        )
                    })
                    .collect();
                if tried.is_empty() {
                    "no compiler found".to_string()
                } else {
                    tried.join("; ")
                }
            });
        let names: Vec<String> = build_std::DEBIAN_PACKAGES
            .iter()
            .map(|s| s.to_string())
            .collect();
        out.push(Prereq {
            lane: "cross",
            name: "build-std: compiler + matching rust-src".into(),
            found,
            install: apt(&names),
            covers: names,
        });
    }
    if model
        .platforms
        .iter()
        .any(|p| p.linkers.contains(&LinkerKind::Zig))
    {
        let (found, install) = match tools.zig() {
            Ok(z) => (
                Ok(format!(
                    "zig {} ({}) via {}",
                    z.zig_version, z.zig_command, z.cargo_zigbuild_version
                )),
                String::new(),
            ),
            Err(m) => (
                Err(m.reason),
                m.enable.map(|e| e.to_string()).unwrap_or_default(),
            ),
        };
        let install = if install.is_empty() {
            format!(
                "python3 -m pip install ziglang=={}; cargo install cargo-zigbuild --version {} --locked",
                crate::requirements::ZIGLANG_VERSION,
                crate::requirements::CARGO_ZIGBUILD_VERSION
            )
        } else {
            install
        };
        let covers = vec!["ziglang".into(), "cargo-zigbuild".into()];
        out.push(Prereq {
            lane: "cross",
            name: "linker: zig via cargo-zigbuild".into(),
            found,
            install,
            covers,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in model
        .platforms
        .iter()
        .filter(|p| p.linkers.contains(&LinkerKind::Gcc))
    {
        let Ok(triple) = p.target.parse::<target_lexicon::Triple>() else {
            continue;
        };
        let gnu = linker::gnu_triple(&triple);
        if !seen.insert(gnu.clone()) {
            continue;
        }
        out.push(Prereq {
            lane: "cross",
            name: format!("linker: {gnu}-gcc"),
            found: tools.gcc(&gnu).map(|g| g.version),
            install: apt(&linker::gcc_packages(p)),
            covers: linker::gcc_packages(p),
        });
    }
    if model
        .platforms
        .iter()
        .any(|p| p.toolchains.contains(&ToolchainKind::CrossRs))
    {
        out.push(Prereq {
            lane: "cross-rs",
            name: "container engine".into(),
            found: tools.container_engine(),
            install: cross_rs::ENABLE.into(),
            covers: Vec::new(),
        });
        out.push(Prereq {
            lane: "cross-rs",
            name: "cross".into(),
            found: tools
                .cross()
                .map(|p| p.display().to_string())
                .ok_or_else(|| "not found on PATH".to_string()),
            install: "cargo install cross --locked".into(),
            covers: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
