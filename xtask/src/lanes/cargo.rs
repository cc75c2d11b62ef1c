//! Cargo invocations shared by every lane: `check` and `build` with JSON
//! messages, read into artifacts and the first compiler error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use cargo_metadata::Message;

use crate::cmd::{tail, Cmd, CommandRecord};
use crate::results::Diagnostic;
use crate::toolchain::Toolchain;
use crate::workspace::Workspace;

/// An executable cargo produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Executable {
    pub package: String,
    /// The cargo target's name (`lib` targets are named after the crate).
    pub name: String,
    /// `test` (a test harness) or `bin`.
    pub kind: ExeKind,
    pub path: PathBuf,
    pub manifest_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExeKind {
    Test,
    Bin,
}

impl ExeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExeKind::Test => "test",
            ExeKind::Bin => "bin",
        }
    }
}

/// What one cargo run produced.
#[derive(Debug)]
pub struct CargoRun {
    pub record: CommandRecord,
    pub executables: Vec<Executable>,
    pub first_error: Option<Diagnostic>,
    /// The end of the compiler's rendered errors, or of stderr.
    pub error_tail: Option<String>,
    /// Per workspace package: its first compiler error (cargo's JSON
    /// messages say which package each came from).
    pub package_errors: BTreeMap<String, Diagnostic>,
    /// Workspace packages for which every target the stage builds (all of
    /// them for `check --all-targets`; binaries and tested targets for
    /// `build --tests --bins`) produced an artifact. A target counts once
    /// any of its units did (a library whose own unit tests failed to build
    /// while the library did still counts).
    pub compiled: BTreeSet<String>,
}

impl CargoRun {
    pub fn success(&self) -> bool {
        self.record.success()
    }
}

pub enum CargoStage {
    /// `check --all-targets`: every target, tests included, type-checked.
    Check,
    /// `build --tests --bins`: test executables and binaries linked.
    Build,
}

/// The directory a toolchain's builds go to: one per toolchain, reused between runs.
pub fn target_dir(workspace: &Workspace, toolchain: &Toolchain) -> PathBuf {
    workspace
        .matrix_dir()
        .join("build")
        .join(&toolchain.target_dir_name)
}

pub fn run(
    stage: CargoStage,
    workspace: &Workspace,
    toolchain: &Toolchain,
    packages: &[String],
    timeout: Duration,
    on_progress: &mut dyn FnMut(&str),
) -> Result<CargoRun> {
    let target_dir = target_dir(workspace, toolchain);
    let (subcommand, stage_args): (&str, &[&str]) = match stage {
        CargoStage::Check => ("check", &["--all-targets"]),
        CargoStage::Build => (toolchain.build_subcommand.as_str(), &["--tests", "--bins"]),
    };
    let mut cmd = Cmd::new(&toolchain.cargo[0])
        .args(&toolchain.cargo[1..])
        .arg(subcommand)
        .args(stage_args)
        .args(["--message-format", "json", "--target", &toolchain.target])
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(workspace.root.join("Cargo.toml"))
        .args(&toolchain.cargo_args)
        .envs(&toolchain.env)
        // Line tables keep panics' and backtraces' file:line while making
        // executables (std included, under build-std) about three times
        // smaller: a cell's payload has to fit in a guest's memory. A cargo
        // older than 1.71 (a packaged one) knows only the numeric levels.
        .env(
            "CARGO_PROFILE_DEV_DEBUG",
            debug_level(&toolchain.cargo_version),
        )
        .env("CARGO_TERM_COLOR", "never")
        .cwd(&workspace.root)
        .timeout(timeout);
    for p in packages {
        cmd = cmd.arg("--package").arg(p);
    }
    if keeps_going(&toolchain.cargo_version) {
        // Every package on its own: one that does not compile stops only
        // what depends on it, so each package gets its own true status.
        cmd = cmd.arg("--keep-going");
    }
    let mut package_errors: BTreeMap<String, Diagnostic> = BTreeMap::new();
    // Per workspace package, the targets that produced an artifact.
    let mut built: BTreeMap<String, BTreeSet<PathBuf>> = BTreeMap::new();
    // The workspace package a message is about: by cargo's package id.
    let owner = |id: &cargo_metadata::PackageId| -> Option<String> {
        let dir = package_dir(&id.repr)?;
        workspace
            .packages
            .iter()
            .find(|p| p.manifest_dir == dir)
            .map(|p| p.name.clone())
    };
    let mut executables = Vec::new();
    let mut first_error: Option<Diagnostic> = None;
    let mut rendered_errors = String::new();
    let finished = cmd.run_streaming(&mut |line| {
        let Ok(message) = serde_json::from_str::<Message>(line) else {
            return;
        };
        match message {
            Message::CompilerArtifact(artifact) => {
                if let Some(p) = owner(&artifact.package_id) {
                    built
                        .entry(p)
                        .or_default()
                        .insert(artifact.target.src_path.as_std_path().to_path_buf());
                }
                if !artifact.fresh {
                    on_progress(&format!("compiled {}", artifact.target.name));
                }
                let Some(exe) = artifact.executable else {
                    return;
                };
                let manifest_dir = artifact
                    .manifest_path
                    .parent()
                    .map(|p| p.as_std_path().to_path_buf())
                    .unwrap_or_default();
                let package = workspace
                    .packages
                    .iter()
                    .find(|p| p.manifest_dir == manifest_dir)
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| artifact.target.name.clone());
                let kind = if artifact.profile.test {
                    ExeKind::Test
                } else {
                    ExeKind::Bin
                };
                if kind == ExeKind::Bin && !artifact.target.is_bin() {
                    return;
                }
                executables.push(Executable {
                    package,
                    name: artifact.target.name.clone(),
                    kind,
                    path: exe.into_std_path_buf(),
                    manifest_dir,
                });
            }
            Message::CompilerMessage(msg) => {
                if msg.message.level != cargo_metadata::diagnostic::DiagnosticLevel::Error {
                    return;
                }
                let rendered = msg.message.rendered.as_deref().map(strip_ansi);
                if let Some(r) = &rendered {
                    rendered_errors.push_str(r);
                }
                let span = msg.message.spans.iter().find(|s| s.is_primary);
                let diagnostic = Diagnostic {
                    file: span.map(|s| relative(&s.file_name, &workspace.root)),
                    line: span.map(|s| s.line_start as u32),
                    message: msg.message.message.clone(),
                    rendered,
                };
                if let Some(p) = owner(&msg.package_id) {
                    package_errors
                        .entry(p)
                        .or_insert_with(|| diagnostic.clone());
                }
                if first_error.is_none() {
                    first_error = Some(diagnostic);
                }
            }
            _ => {}
        }
    })?;
    executables.sort_by(|a, b| {
        (&a.package, a.kind.as_str(), &a.name).cmp(&(&b.package, b.kind.as_str(), &b.name))
    });
    executables.dedup_by(|a, b| a.path == b.path);
    let compiled = workspace
        .packages
        .iter()
        .filter(|p| {
            let done = built.get(&p.name);
            p.targets
                .iter()
                .filter(|t| match stage {
                    CargoStage::Check => true,
                    CargoStage::Build => t.bin || t.test,
                })
                .all(|t| done.is_some_and(|d| d.contains(&t.src_path)))
        })
        .map(|p| p.name.clone())
        .collect();
    let stderr = strip_ansi(&String::from_utf8_lossy(&finished.stderr));
    if first_error.is_none() && !finished.record.success() {
        // Errors cargo reports itself (resolution, a failing build script…) come on stderr.
        first_error = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .map(|l| Diagnostic {
                file: None,
                line: None,
                message: l.trim_start_matches("error:").trim().to_string(),
                rendered: None,
            });
    }
    let error_tail = (!finished.record.success()).then(|| {
        if rendered_errors.trim().is_empty() {
            tail(&stderr, 40, 6000)
        } else {
            tail(&rendered_errors, 60, 8000)
        }
    });
    Ok(CargoRun {
        record: finished.record,
        executables,
        first_error,
        error_tail,
        package_errors,
        compiled,
    })
}

/// The directory of a path package from cargo's package id, in either of
/// its spellings: `path+file:///ws/good#0.1.0` (cargo 1.77 and newer, with
/// `#name@version` when the directory is named otherwise) and
/// `good 0.1.0 (path+file:///ws/good)` (older cargos, packaged ones among
/// them). `None` for a package from elsewhere (a registry, git).
fn package_dir(id: &str) -> Option<PathBuf> {
    let url = &id[id.find("path+file://")? + "path+file://".len()..];
    let end = url.find(['#', ')']).unwrap_or(url.len());
    let mut bytes = Vec::new();
    let mut raw = url[..end].bytes();
    while let Some(b) = raw.next() {
        // Percent-escapes (a space in a path, say).
        let escaped = (b == b'%')
            .then(|| {
                let hex = [raw.next()?, raw.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()
            })
            .flatten();
        bytes.push(escaped.unwrap_or(b));
    }
    use std::os::unix::ffi::OsStringExt;
    Some(std::ffi::OsString::from_vec(bytes).into())
}

/// Does this cargo (`cargo 1.96.0 (…)`) take `--keep-going` (stable since 1.74)?
fn keeps_going(cargo_version: &str) -> bool {
    cargo_minor(cargo_version) >= Some(74)
}

/// The dev profile's debug level: line tables only, by name, unless cargo
/// is known to be older than 1.71 (which knows only the numeric levels).
fn debug_level(cargo_version: &str) -> &'static str {
    match cargo_minor(cargo_version) {
        Some(minor) if minor < 71 => "1",
        _ => "line-tables-only",
    }
}

/// The minor version of a `cargo 1.NN.x (…)` line; `None` when it is not one.
fn cargo_minor(cargo_version: &str) -> Option<u32> {
    let version = cargo_version.split_whitespace().nth(1).unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    match (parts.next(), parts.next()) {
        (Some(1), Some(minor)) => Some(minor),
        _ => None,
    }
}

impl CargoRun {
    /// Each package's own status after this run, with the reason when it
    /// did not pass: its own first error, or that it was never compiled
    /// because something it depends on failed.
    pub fn package_status(&self, package: &str) -> (crate::results::Status, Option<String>) {
        use crate::results::Status;
        if self.success() {
            return (Status::Pass, None);
        }
        if let Some(d) = self.package_errors.get(package) {
            return (Status::Fail, Some(d.short()));
        }
        if self.record.timed_out {
            return (Status::Timeout, None);
        }
        if self.package_errors.is_empty() {
            // Cargo failed before any compiler spoke (resolution, a build
            // script): nothing says which package, so none is cleared.
            return (Status::Fail, self.first_error.as_ref().map(|d| d.short()));
        }
        if self.compiled.contains(package) {
            (Status::Pass, None)
        } else {
            let culprits: Vec<&str> = self.package_errors.keys().map(String::as_str).collect();
            (
                Status::Fail,
                Some(format!(
                    "not compiled: it needs {}, which failed",
                    culprits.join(", ")
                )),
            )
        }
    }
}

fn relative(file: &str, root: &Path) -> String {
    Path::new(file)
        .strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.to_string())
}

/// Removes ANSI colour sequences (rendered diagnostics carry them).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn package_ids_name_their_directory_in_both_spellings() {
        for (id, dir) in [
            ("path+file:///ws/good#0.1.0", Some("/ws/good")),
            ("path+file:///ws/a%20b#needs@0.1.0", Some("/ws/a b")),
            ("good 0.1.0 (path+file:///ws/good)", Some("/ws/good")),
            ("registry+https://example.invalid/index#libc@0.2.150", None),
        ] {
            assert_eq!(
                super::package_dir(id),
                dir.map(std::path::PathBuf::from),
                "{id}"
            );
        }
    }
}
