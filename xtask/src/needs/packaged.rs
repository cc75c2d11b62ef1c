//! The packaged compilers and std the `packaged` lane and the `packaged-std`
//! provider use, unpacked by `cargo xtask setup` ahead of the cells: exactly
//! the versions `platforms/rust/status.toml` records (the cells would unpack
//! them on first use too). Idempotent: what is unpacked stays.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;

use crate::host::Host;
use crate::model::{Model, ToolchainKind};
use crate::toolchain::packaged::{self, PackagedSpec};
use crate::toolchain::{HostProbe, HostTools};

/// Every packaged compiler × target the platforms need, once each.
pub fn specs(model: &Model, host: &Host, tools: &dyn HostTools) -> Vec<PackagedSpec> {
    let mut out: Vec<PackagedSpec> = Vec::new();
    let mut seen = BTreeSet::new();
    for p in &model.platforms {
        let mut wanted = Vec::new();
        if model.matrix.packaged_lane {
            wanted.extend(packaged::choose(model, p, host).ok());
        }
        if p.toolchains.contains(&ToolchainKind::PackagedStd) {
            wanted.extend(packaged::choose_std(model, p, host, tools).ok());
        }
        for spec in wanted {
            if seen.insert((spec.root.clone(), spec.target.clone())) {
                out.push(spec);
            }
        }
    }
    out
}

/// Unpacks each (or, with `dry_run`, lists them).
pub fn run(model: &Model, dry_run: bool) -> Result<()> {
    let host = Host::probe()?;
    let tools = HostProbe::new(crate::paths::cache_dir().join("toolchains"));
    for spec in specs(model, &host, &tools) {
        let what = format!("{} for {} ({})", spec.label(), spec.target, spec.how());
        let ready = crate::lanes::packaged::is_ready(&spec);
        if ready {
            println!("ok    [packaged] {what}");
        } else if dry_run {
            println!(
                "note  [packaged] would unpack {what} into {}",
                spec.root.display()
            );
        } else {
            println!("note  [packaged] unpacking {what}");
            crate::lanes::packaged::ensure(&spec, Duration::from_secs(3600), &|msg: &str| {
                println!("note  [packaged]   {msg}")
            })?;
        }
    }
    Ok(())
}
