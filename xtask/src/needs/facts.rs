//! The host's state as far as the setup steps care: installed Debian
//! packages, the suite's versions of held packages, Python and its modules,
//! `cargo install`ed binaries. Probed once per `setup`/`doctor` run.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::apt::{host_codename, madison_suite_version};
use crate::cmd::Cmd;
use crate::host::which;
use crate::requirements::{zig_venv, AptPackage, Requirement, SetupStep};

/// The host's state, as far as the steps care.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub root: bool,
    /// The host's Debian suite (`bookworm`).
    pub suite: Option<String>,
    /// apt's package lists exist and were fetched within a day.
    pub apt_lists_fresh: bool,
    /// Installed Debian packages and their versions (only those the steps name).
    pub installed: BTreeMap<String, String>,
    /// For packages held to the suite's version: that version (`apt-cache madison`).
    pub suite_versions: BTreeMap<String, String>,
    /// `None` without python3.
    pub python: Option<PythonFacts>,
    /// Python modules found with their versions (`ziglang` → `0.17.0`).
    pub python_modules: BTreeMap<String, String>,
    /// `cargo install`ed binaries found, with their `--version` line.
    pub binaries: BTreeMap<String, String>,
    /// Markers of `Requirement::Xtask` steps that exist.
    pub unpacked: std::collections::BTreeSet<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PythonFacts {
    /// `python3 -m pip install` would work (pip present, not externally managed, writable).
    pub pip_usable: bool,
    /// `python3 -m venv` would work.
    pub venv_usable: bool,
}

impl Facts {
    /// Looks at this host for what `steps` name.
    pub fn probe(steps: &[SetupStep]) -> Facts {
        let mut facts = Facts {
            // SAFETY: geteuid has no preconditions and cannot fail.
            root: unsafe { libc::geteuid() } == 0,
            suite: host_codename().ok(),
            apt_lists_fresh: apt_lists_fresh(),
            ..Facts::default()
        };
        let mut apt: Vec<&AptPackage> = Vec::new();
        for step in steps {
            match &step.requirement {
                Requirement::Apt(packages) => apt.extend(packages),
                Requirement::Pip { module, .. } => {
                    facts.python = probe_python();
                    if let Some(v) = python_module_version(module) {
                        facts.python_modules.insert(module.to_string(), v);
                    }
                }
                Requirement::Tool {
                    installer,
                    package,
                    version,
                    bin,
                } => {
                    let path = crate::requirements::tool_path(*installer, package, version, bin);
                    if path.exists() {
                        facts
                            .binaries
                            .insert(path.display().to_string(), version.to_string());
                    }
                    match installer {
                        crate::requirements::Installer::Npm => {
                            if let Some(npm) = which("npm") {
                                facts
                                    .binaries
                                    .insert("npm".into(), npm.display().to_string());
                            }
                        }
                        crate::requirements::Installer::Pip => facts.python = probe_python(),
                    }
                }
                Requirement::Xtask { marker, .. } => {
                    if marker.is_file() {
                        facts.unpacked.insert(marker.clone());
                    }
                }
                Requirement::CargoInstall { krate, .. } => {
                    if let Some(path) = which(krate) {
                        let version = crate::host::version_line(path, &["--version"]);
                        facts
                            .binaries
                            .insert(krate.to_string(), version.unwrap_or_default());
                    }
                }
            }
        }
        // The venv route may add these.
        let names: Vec<&str> = apt
            .iter()
            .map(|p| p.name.as_str())
            .chain(["python3", "python3-venv"])
            .collect();
        facts.installed = dpkg_installed(&names);
        let pinned: Vec<&str> = apt
            .iter()
            .filter(|p| p.at_suite_version)
            .map(|p| p.name.as_str())
            .collect();
        if let (Some(suite), false) = (&facts.suite, pinned.is_empty()) {
            if let Ok(out) = Cmd::new("apt-cache").arg("madison").args(&pinned).run() {
                let text = out.stdout_str();
                for name in pinned {
                    if let Some(v) = madison_suite_version(&text, name, suite) {
                        facts.suite_versions.insert(name.to_string(), v);
                    }
                }
            }
        }
        facts
    }
}

fn apt_lists_fresh() -> bool {
    let Ok(entries) = std::fs::read_dir("/var/lib/apt/lists") else {
        return false;
    };
    let mut newest: Option<SystemTime> = None;
    let mut packages = false;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        packages |= name.contains("_Packages");
        if name.ends_with("Release") {
            if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(Some(modified));
            }
        }
    }
    packages
        && newest
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < Duration::from_secs(24 * 3600))
}

/// `dpkg-query -W`: the installed version of each of `names` that is installed.
fn dpkg_installed(names: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // dpkg-query exits 1 when some name is unknown, and still lists the others.
    let Ok(found) = Cmd::new("dpkg-query")
        .args(["-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n"])
        .args(names)
        .run()
    else {
        return out;
    };
    for line in found.stdout_str().lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() == 3 && cols[2].starts_with("ii") {
            out.insert(cols[0].to_string(), cols[1].to_string());
        }
    }
    out
}

fn probe_python() -> Option<PythonFacts> {
    let python = which("python3")?;
    // One small program instead of four spawns; every answer is a line of 0/1.
    let script = "import importlib.util as u, os, sysconfig\n\
                  managed = os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED'))\n\
                  writable = os.access(sysconfig.get_path('purelib'), os.W_OK)\n\
                  print(int(u.find_spec('pip') is not None and not managed and writable))\n\
                  print(int(u.find_spec('venv') is not None and u.find_spec('ensurepip') is not None))\n";
    let out = Cmd::new(python)
        .args(["-c", script])
        .run()
        .ok()?
        .ok()
        .ok()?
        .stdout_str();
    let mut answers = out.lines().map(|l| l.trim() == "1");
    Some(PythonFacts {
        pip_usable: answers.next().unwrap_or(false),
        venv_usable: answers.next().unwrap_or(false),
    })
}

/// `python3 -m <module> version` (then the private venv's python), as ziglang answers.
fn python_module_version(module: &str) -> Option<String> {
    let venv_python = zig_venv().join("bin/python3");
    let candidates = [
        which("python3"),
        venv_python.is_file().then_some(venv_python),
    ];
    candidates.into_iter().flatten().find_map(|python| {
        let out = Cmd::new(python)
            .args(["-m", module, "version"])
            .timeout(Duration::from_secs(60))
            .run()
            .ok()?;
        out.record
            .success()
            .then(|| out.stdout_str().trim().to_string())
            .filter(|v| !v.is_empty())
    })
}
