//! What remains to install, as a pure function of the steps and the host's
//! facts ([`plan`]), and the run that prints every line and executes the
//! actions (or, without root, prints the commands that need it).

use std::collections::BTreeMap;

use anyhow::Result;

use super::Facts;
use crate::apt::upstream_version;
use crate::cmd::{shell_quote, Cmd};
use crate::exit;
use crate::model::DataDirs;
use crate::requirements::{zig_venv, AptPackage, Requirement, SetupStep};

/// One line of the plan: something already there, a remark, or an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Ok { needed_by: String, what: String },
    Note(String),
    Run(Action),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub needed_by: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub root: bool,
}

impl Action {
    pub fn command_line(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .chain(self.argv.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn is_apt_update(&self) -> bool {
        self.argv
            .iter()
            .map(String::as_str)
            .eq(["apt-get", "update"])
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Ok { needed_by, what } => write!(f, "ok    [{needed_by}] {what}"),
            Line::Note(text) => write!(f, "note  {text}"),
            Line::Run(a) => write!(
                f,
                "{}  [{}] {}",
                if a.root { "root" } else { "run " },
                a.needed_by,
                a.command_line()
            ),
        }
    }
}

/// What remains to be done, given the host's state. Pure: the same steps and
/// facts always give the same lines.
pub fn plan(steps: &[SetupStep], facts: &Facts) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut post_apt: Vec<Line> = Vec::new();
    // Debian packages: one `apt-get install` for everything missing.
    let mut apt: Vec<(String, AptPackage)> = Vec::new();
    let add_apt = |needed_by: &str, pkg: &AptPackage, apt: &mut Vec<(String, AptPackage)>| match apt
        .iter_mut()
        .find(|(_, p)| p.name == pkg.name)
    {
        Some((who, _)) if !who.split(", ").any(|w| w == needed_by) => {
            who.push_str(", ");
            who.push_str(needed_by);
        }
        Some(_) => {}
        None => apt.push((needed_by.to_string(), pkg.clone())),
    };
    for step in steps {
        match &step.requirement {
            Requirement::Apt(packages) => packages.iter().for_each(|p| add_apt(step.needed_by, p, &mut apt)),
            Requirement::Pip { module, package, version } => match facts.python_modules.get(*module) {
                Some(found) if found == version => lines.push(Line::Ok {
                    needed_by: step.needed_by.into(),
                    what: format!("{package} {found} (python3 -m {module})"),
                }),
                Some(found) => lines.push(Line::Ok {
                    needed_by: step.needed_by.into(),
                    what: format!("{package} {found} (python3 -m {module}; the project verified {version}, keeping yours)"),
                }),
                None => {
                    let spec = format!("{package}=={version}");
                    let python = facts.python.unwrap_or_default();
                    if python.pip_usable {
                        post_apt.push(action(step.needed_by, &["python3", "-m", "pip", "install", &spec], false));
                    } else {
                        if !python.venv_usable {
                            for name in ["python3", "python3-venv"] {
                                add_apt(step.needed_by, &AptPackage::any(name), &mut apt);
                            }
                        }
                        let venv = zig_venv();
                        let venv_python = venv.join("bin/python3").display().to_string();
                        post_apt.push(action(step.needed_by, &["python3", "-m", "venv", &venv.display().to_string()], false));
                        post_apt.push(action(step.needed_by, &[&venv_python, "-m", "pip", "install", &spec], false));
                    }
                }
            },
            Requirement::Tool { installer, package, version, bin } => {
                let path = crate::requirements::tool_path(*installer, package, version, bin);
                let dir = crate::requirements::tool_dir(package, version).display().to_string();
                if facts.binaries.contains_key(&path.display().to_string()) {
                    lines.push(Line::Ok { needed_by: step.needed_by.into(), what: format!("{package} {version} ({})", path.display()) });
                    continue;
                }
                match installer {
                    crate::requirements::Installer::Npm => {
                        if !facts.binaries.contains_key("npm") {
                            add_apt(step.needed_by, &AptPackage::any("npm"), &mut apt);
                        }
                        let spec = format!("{package}@{version}");
                        post_apt.push(action(step.needed_by, &["npm", "install", "--prefix", &dir, "--no-save", "--no-audit", "--no-fund", &spec], false));
                    }
                    crate::requirements::Installer::Pip => {
                        if !facts.python.unwrap_or_default().venv_usable {
                            for name in ["python3", "python3-venv"] {
                                add_apt(step.needed_by, &AptPackage::any(name), &mut apt);
                            }
                        }
                        let spec = format!("{package}=={version}");
                        let python = format!("{dir}/bin/python3");
                        post_apt.push(action(step.needed_by, &["python3", "-m", "venv", &dir], false));
                        post_apt.push(action(step.needed_by, &[&python, "-m", "pip", "install", &spec], false));
                    }
                }
            }
            Requirement::Xtask { what, marker, args } => {
                if facts.unpacked.contains(marker) {
                    lines.push(Line::Ok {
                        needed_by: step.needed_by.into(),
                        what: format!("{what}, unpacked"),
                    });
                } else {
                    let argv: Vec<&str> = ["cargo", "xtask"].into_iter().chain(args.iter().copied()).collect();
                    post_apt.push(action(step.needed_by, &argv, false));
                }
            }
            Requirement::CargoInstall { krate, version } => match facts.binaries.get(*krate) {
                Some(found) if found.split_whitespace().any(|w| w.trim_start_matches('v') == *version) => {
                    lines.push(Line::Ok { needed_by: step.needed_by.into(), what: found.clone() })
                }
                Some(found) => lines.push(Line::Ok {
                    needed_by: step.needed_by.into(),
                    what: format!("{found} (the project verified {version}, keeping yours)"),
                }),
                None => post_apt.push(action(step.needed_by, &["cargo", "install", krate, "--version", version, "--locked"], false)),
            },
        }
    }

    let suite = facts.suite.as_deref().unwrap_or("the host's suite");
    let mut install: Vec<String> = Vec::new();
    let mut needed_by: Vec<String> = Vec::new();
    let mut downgrade = false;
    let mut unknown_pin = false;
    let mut ok_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (who, pkg) in &apt {
        let installed = facts.installed.get(&pkg.name);
        let pinned = pkg
            .at_suite_version
            .then(|| facts.suite_versions.get(&pkg.name))
            .flatten();
        let wanted = match (installed, pkg.at_suite_version, pinned) {
            (Some(v), false, _) => {
                ok_by
                    .entry(who.clone())
                    .or_default()
                    .push(format!("{} {v}", pkg.name));
                continue;
            }
            (Some(v), true, Some(p)) if upstream_version(v) == upstream_version(p) => {
                ok_by
                    .entry(who.clone())
                    .or_default()
                    .push(format!("{} {v}", pkg.name));
                continue;
            }
            (Some(v), true, None) if facts.apt_lists_fresh => {
                lines.push(Line::Note(format!(
                    "apt-cache madison lists no {suite} version of {} ({v} installed); left as is",
                    pkg.name
                )));
                continue;
            }
            (Some(_), true, Some(p)) => {
                downgrade = true;
                format!("{}={p}", pkg.name)
            }
            (None, true, Some(p)) => format!("{}={p}", pkg.name),
            (_, true, None) => {
                unknown_pin = true;
                pkg.name.clone()
            }
            (None, false, _) => pkg.name.clone(),
        };
        install.push(wanted);
        for w in who.split(", ") {
            if !needed_by.iter().any(|n| n == w) {
                needed_by.push(w.to_string());
            }
        }
    }
    let mut apt_lines: Vec<Line> = ok_by
        .into_iter()
        .map(|(who, pkgs)| Line::Ok {
            needed_by: who,
            what: format!("{} installed", pkgs.join(", ")),
        })
        .collect();
    if !install.is_empty() {
        let who = needed_by.join(", ");
        if !facts.apt_lists_fresh {
            apt_lines.push(action(&who, &["apt-get", "update"], true));
        }
        if unknown_pin {
            apt_lines.push(Line::Note(format!(
                "some packages are held to the {suite} version, which `apt-cache madison` tells after `apt-get update`"
            )));
        }
        let mut argv = vec!["apt-get", "install", "-y", "--no-install-recommends"];
        if downgrade {
            argv.push("--allow-downgrades");
        }
        let Line::Run(mut install_action) = action(&who, &argv, true) else {
            unreachable!("action() makes a Run line")
        };
        install_action.argv.extend(install);
        install_action
            .env
            .push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
        apt_lines.push(Line::Run(install_action));
    }
    apt_lines.extend(lines);
    apt_lines.extend(post_apt);
    apt_lines
}

fn action(needed_by: &str, argv: &[&str], root: bool) -> Line {
    Line::Run(Action {
        needed_by: needed_by.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        root,
    })
}

/// `cargo xtask setup`'s work: plans, then runs what the host lacks.
pub fn run(dirs: &DataDirs, dry_run: bool) -> Result<u8> {
    let model = crate::model::load(dirs)?;
    let steps = super::all_steps(&model);
    let mut facts = Facts::probe(&steps);
    let mut lines = plan(&steps, &facts);
    if dry_run {
        println!("cargo xtask setup --dry-run: nothing is changed");
        for line in &lines {
            println!("{line}");
        }
        super::packaged::run(&model, true)?;
        return Ok(exit::OK);
    }
    if facts.root {
        if let Some(Line::Run(update)) = lines
            .iter()
            .find(|l| matches!(l, Line::Run(a) if a.is_apt_update()))
        {
            println!("{}", Line::Run(update.clone()));
            execute(update)?;
            // Versions held to the suite are known only now.
            facts = Facts::probe(&steps);
            lines = plan(&steps, &facts);
        }
    }
    let mut for_root = Vec::new();
    for line in &lines {
        match line {
            Line::Run(action) if action.root && !facts.root => {
                println!("{line}   (not run: needs root)");
                for_root.push(action.command_line());
            }
            Line::Run(action) => {
                println!("{line}");
                execute(action)?;
            }
            other => println!("{other}"),
        }
    }
    if !for_root.is_empty() {
        println!(
            "\nas root (or with sudo), run:\n{}",
            for_root
                .iter()
                .map(|c| format!("  {c}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        return Ok(exit::ENVIRONMENT);
    }
    super::packaged::run(&model, false)?;
    println!("setup: everything the lanes need is in place");
    Ok(exit::OK)
}

fn execute(action: &Action) -> Result<()> {
    let mut argv = action.argv.clone();
    if argv[0] == "cargo" {
        // The cargo that runs this xtask, not whichever is first on PATH.
        if let Some(cargo) = std::env::var_os("CARGO") {
            argv[0] = cargo.to_string_lossy().into_owned();
        }
    }
    let record = Cmd::new(&argv[0])
        .args(&argv[1..])
        .envs(&action.env)
        .run_inherited()?;
    if !record.success() {
        anyhow::bail!("`{}` failed ({})", action.command_line(), record.describe());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::PythonFacts;

    fn steps() -> Vec<SetupStep> {
        let model = crate::model::load(&DataDirs::under(&crate::repo_root())).unwrap();
        super::super::steps(&model)
    }

    fn render(lines: &[Line]) -> String {
        let venv = zig_venv().display().to_string();
        lines
            .iter()
            .map(|l| l.to_string().replace(&venv, "<cache>/ziglang-venv"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn suite_versions() -> BTreeMap<String, String> {
        ["qemu-utils", "qemu-system-common"]
            .iter()
            .map(|p| (p.to_string(), "1:7.2+dfsg-7+deb12u18+b3".to_string()))
            .collect()
    }

    #[test]
    fn fresh_machine_with_the_qemu_backport() {
        let facts = Facts {
            root: true,
            suite: Some("bookworm".into()),
            apt_lists_fresh: false,
            installed: [
                ("qemu-utils", "1:10.0.2+ds-1~bpo12+1"),
                ("python3", "3.11.2-1+b1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            suite_versions: suite_versions(),
            python: Some(PythonFacts {
                pip_usable: false,
                venv_usable: true,
            }),
            ..Facts::default()
        };
        expect_test::expect![[r#"
            root  [build-std, gcc, qemu-user, vm, vm-tests, report] apt-get update
            root  [build-std, gcc, qemu-user, vm, vm-tests, report] DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --allow-downgrades rustc-web cargo-web rust-web-src gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-i686-linux-gnu libc6-dev-i386-cross gcc-mips64el-linux-gnuabi64 libc6-dev-mips64el-cross gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross gcc-s390x-linux-gnu libc6-dev-s390x-cross gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-user-static qemu-utils=1:7.2+dfsg-7+deb12u18+b3 qemu-system-common=1:7.2+dfsg-7+deb12u18+b3 qemu-system-x86 qemu-system-arm qemu-system-mips qemu-system-ppc qemu-system-misc qemu-efi-aarch64 dpkg xz-utils zstd curl busybox-static cpio chromium
            run   [zig] python3 -m venv <cache>/ziglang-venv
            run   [zig] <cache>/ziglang-venv/bin/python3 -m pip install ziglang==0.17.0
            run   [zig] cargo install cargo-zigbuild --version 0.24.1 --locked
            run   [vm-tests] cargo xtask vm-images qemu-backport"#]].assert_eq(&render(&plan(&steps(), &facts)));
    }

    #[test]
    fn everything_present_is_a_no_op() {
        let all: BTreeMap<String, String> = steps()
            .iter()
            .flat_map(|s| match &s.requirement {
                Requirement::Apt(p) => p.iter().map(|p| p.name.clone()).collect(),
                _ => vec![],
            })
            .map(|name| {
                let v = if name.starts_with("qemu") {
                    "1:7.2+dfsg-7+deb12u19"
                } else {
                    "1.0-1"
                };
                (name, v.to_string())
            })
            .collect();
        let facts = Facts {
            root: false,
            suite: Some("bookworm".into()),
            apt_lists_fresh: true,
            installed: all,
            suite_versions: suite_versions(),
            python: Some(PythonFacts {
                pip_usable: true,
                venv_usable: true,
            }),
            python_modules: [("ziglang".to_string(), "0.17.0".to_string())].into(),
            binaries: [(
                "cargo-zigbuild".to_string(),
                "cargo-zigbuild 0.24.1".to_string(),
            )]
            .into(),
            unpacked: [crate::vm::backport::marker()].into(),
        };
        let lines = plan(&steps(), &facts);
        assert!(
            lines.iter().all(|l| matches!(l, Line::Ok { .. })),
            "{}",
            render(&lines)
        );
        expect_test::expect![[r#"
            ok    [build-std] rustc-web 1.0-1, cargo-web 1.0-1, rust-web-src 1.0-1 installed
            ok    [gcc] gcc-aarch64-linux-gnu 1.0-1, libc6-dev-arm64-cross 1.0-1, gcc-arm-linux-gnueabihf 1.0-1, libc6-dev-armhf-cross 1.0-1, gcc-i686-linux-gnu 1.0-1, libc6-dev-i386-cross 1.0-1, gcc-mips64el-linux-gnuabi64 1.0-1, libc6-dev-mips64el-cross 1.0-1, gcc-powerpc64le-linux-gnu 1.0-1, libc6-dev-ppc64el-cross 1.0-1, gcc-s390x-linux-gnu 1.0-1, libc6-dev-s390x-cross 1.0-1, gcc-riscv64-linux-gnu 1.0-1, libc6-dev-riscv64-cross 1.0-1 installed
            ok    [qemu-user] qemu-user-static 1:7.2+dfsg-7+deb12u19 installed
            ok    [report] chromium 1.0-1 installed
            ok    [vm] qemu-utils 1:7.2+dfsg-7+deb12u19, qemu-system-common 1:7.2+dfsg-7+deb12u19, qemu-system-x86 1:7.2+dfsg-7+deb12u19, qemu-system-arm 1:7.2+dfsg-7+deb12u19, qemu-system-mips 1:7.2+dfsg-7+deb12u19, qemu-system-ppc 1:7.2+dfsg-7+deb12u19, qemu-system-misc 1:7.2+dfsg-7+deb12u19, qemu-efi-aarch64 1:7.2+dfsg-7+deb12u19, dpkg 1.0-1, xz-utils 1.0-1, zstd 1.0-1, curl 1.0-1 installed
            ok    [vm-tests] busybox-static 1.0-1, cpio 1.0-1 installed
            ok    [zig] ziglang 0.17.0 (python3 -m ziglang)
            ok    [zig] cargo-zigbuild 0.24.1
            ok    [vm-tests] qemu-system-x86_64 from backports, unpacked"#]].assert_eq(&render(&lines));
    }

    #[test]
    fn without_root_only_apt_needs_root() {
        let facts = Facts {
            root: false,
            suite: Some("bookworm".into()),
            apt_lists_fresh: true,
            suite_versions: suite_versions(),
            python: Some(PythonFacts {
                pip_usable: true,
                venv_usable: true,
            }),
            python_modules: [("ziglang".to_string(), "0.16.0".to_string())].into(),
            ..Facts::default()
        };
        let lines = plan(&steps(), &facts);
        let roots: Vec<bool> = lines
            .iter()
            .filter_map(|l| {
                if let Line::Run(a) = l {
                    Some(a.root)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(roots, [true, false, false], "{}", render(&lines));
        expect_test::expect![[r#"
            root  [build-std, gcc, qemu-user, vm, vm-tests, report] DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rustc-web cargo-web rust-web-src gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-i686-linux-gnu libc6-dev-i386-cross gcc-mips64el-linux-gnuabi64 libc6-dev-mips64el-cross gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross gcc-s390x-linux-gnu libc6-dev-s390x-cross gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-user-static qemu-utils=1:7.2+dfsg-7+deb12u18+b3 qemu-system-common=1:7.2+dfsg-7+deb12u18+b3 qemu-system-x86 qemu-system-arm qemu-system-mips qemu-system-ppc qemu-system-misc qemu-efi-aarch64 dpkg xz-utils zstd curl busybox-static cpio chromium
            ok    [zig] ziglang 0.16.0 (python3 -m ziglang; the project verified 0.17.0, keeping yours)
            run   [zig] cargo install cargo-zigbuild --version 0.24.1 --locked
            run   [vm-tests] cargo xtask vm-images qemu-backport"#]].assert_eq(&render(&lines));
    }
}
