//! The `rustup-target` provider: the default rustup toolchain, for a target
//! whose standard library rustup has installed beside it (`rustup target add`).

use super::linker;
use super::probe::HostTools;
use super::{Missing, Toolchain};
use crate::host::Host;
use crate::model::{Platform, ToolchainKind};

pub(super) fn resolve(
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    let target = &platform.target;
    let Some(compiler) = tools.default_compiler() else {
        return Err(Missing::new(
            "no rustc on PATH",
            Some("install Rust with rustup".into()),
        ));
    };
    if !compiler.installed_std.iter().any(|t| t == target) {
        let (why, enable) = match tools.rustup_can_add(target) {
            Some(true) => ("", Some(format!("rustup target add {target}"))),
            Some(false) => ("; rustup ships no std for it", None),
            None => ("", None),
        };
        return Err(Missing::new(
            format!("{} has no std for {target}{why}", compiler.rustc_version),
            enable,
        ));
    }
    let link = linker::resolve(platform, host, tools)?;
    let mut details = link.details.clone();
    details.insert(
        "std".into(),
        format!("installed by rustup in {}", compiler.sysroot.display()),
    );
    let run = link.cargo_for(compiler, &[]);
    Ok(Toolchain {
        kind: ToolchainKind::RustupTarget,
        linker: link.kind,
        target: target.clone(),
        cargo: run.cargo,
        build_subcommand: run.build_subcommand,
        rustc: compiler.rustc.clone(),
        env: run.env,
        cargo_args: Vec::new(),
        rustc_version: compiler.rustc_version.clone(),
        cargo_version: compiler.cargo_version.clone(),
        identity: compiler.identity.clone(),
        target_dir_name: format!("rustup-{}-{target}", link.kind.as_str()),
        details,
        packaged: None,
    })
}
