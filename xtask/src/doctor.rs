//! `cargo xtask doctor`: each lane's prerequisites on this host, found or
//! missing, with the exact command that installs what is missing.

use anyhow::Result;

use crate::cmd::Cmd;
use crate::exit;
use crate::host::which;

/// List every lane's prerequisites on this host and how to install what is missing.
///
/// Exit status 0 when everything is present, 3 when something is missing
/// (cells that need it will be reported unavailable, not failed).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this lane's prerequisites.
    #[arg(long)]
    pub lane: Option<String>,
}

/// One thing a lane needs.
#[derive(Debug, Clone)]
pub struct Prereq {
    pub lane: &'static str,
    pub name: String,
    /// What was found (a version or a path), or why not.
    pub found: Result<String, String>,
    /// The command that installs it.
    pub install: String,
    /// The setup requirements (Debian, pip or cargo package names) this
    /// check stands for: doctor does not list them a second time.
    pub covers: Vec<String>,
}

impl Prereq {
    /// A program on PATH, described by the first line of `<program> <version_arg>`.
    pub fn program(
        lane: &'static str,
        program: &str,
        version_arg: &[&str],
        install: &str,
    ) -> Prereq {
        let found = match which(program) {
            None => Err("not found on PATH".to_string()),
            Some(path) => {
                let out = Cmd::new(&path).args(version_arg).run();
                match out {
                    Ok(out) => {
                        let text = if out.stdout.is_empty() {
                            String::from_utf8_lossy(&out.stderr).into_owned()
                        } else {
                            out.stdout_str()
                        };
                        Ok(text.lines().next().unwrap_or("").trim().to_string())
                    }
                    Err(err) => Err(format!("{err:#}")),
                }
            }
        };
        Prereq {
            lane,
            name: program.to_string(),
            found,
            install: install.to_string(),
            covers: Vec::new(),
        }
    }

    /// The same check, standing for these setup requirements.
    pub fn covering(mut self, packages: &[&str]) -> Prereq {
        self.covers.extend(packages.iter().map(|p| p.to_string()));
        self
    }
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
        let steps = crate::setup::steps(&model);
        let setup = crate::setup::prerequisites(&steps, &crate::setup::Facts::probe(&steps));
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

/// Lanes only reached when every provider listed before them is missing:
/// reported, but their absence is not a failure of the environment.
pub const FALLBACK_LANES: [&str; 1] = ["cross-rs"];

pub fn run(args: Args) -> Result<u8> {
    let all = prerequisites();
    // A program two lanes need (apt-get) is shown once, under the first.
    let mut seen = std::collections::BTreeSet::new();
    let shown: Vec<&Prereq> = all
        .iter()
        .filter(|p| args.lane.as_deref().is_none_or(|l| l == p.lane))
        .filter(|p| seen.insert(p.name.as_str()))
        .collect();
    if shown.is_empty() {
        return Err(crate::BadInput(format!(
            "no lane `{}`; lanes: {}",
            args.lane.unwrap_or_default(),
            all.iter()
                .map(|p| p.lane)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let width = shown.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut missing = 0;
    for p in &shown {
        match &p.found {
            Ok(what) => println!("{:<9} {:<width$}  ok       {what}", p.lane, p.name),
            // A fallback's absence costs nothing while the providers listed before it work.
            Err(why) if FALLBACK_LANES.contains(&p.lane) => {
                println!("{:<9} {:<width$}  absent   {why}\n{:<9} {:<width$}           (a fallback, not counted) enable: {}", p.lane, p.name, "", "", p.install);
            }
            Err(why) => {
                missing += 1;
                println!(
                    "{:<9} {:<width$}  MISSING  {why}\n{:<9} {:<width$}           install: {}",
                    p.lane, p.name, "", "", p.install
                );
            }
        }
    }
    if missing > 0 {
        println!("\n{missing} missing; `cargo xtask setup` installs what this project's lanes need on Debian.");
        Ok(exit::ENVIRONMENT)
    } else {
        Ok(exit::OK)
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
        let steps = crate::setup::steps(&model);
        let setup = crate::setup::prerequisites(&steps, &crate::setup::Facts::default());
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
            report apt: chromium"#]]
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
