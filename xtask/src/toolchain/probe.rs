//! What this host has for building other targets — compilers and their std
//! sources, linkers, a container engine — behind one trait, so that the
//! choice between providers is a pure function of these facts and can be
//! tested with hand-written ones. [`HostProbe`] finds the real facts, each
//! on first use, once per run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::{versions, Missing};
use crate::cmd::Cmd;
use crate::host::which;

/// A Rust compiler with its cargo, as found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiler {
    pub rustc: PathBuf,
    pub cargo: PathBuf,
    /// Where it came from, for messages (`rustup default toolchain`, `/usr/bin (Debian)`).
    pub origin: String,
    /// `rustc -vV`.
    pub identity: String,
    /// `rustc 1.96.0 (ac68faa20 2026-05-25)`.
    pub rustc_version: String,
    pub cargo_version: String,
    pub sysroot: PathBuf,
    /// Targets whose std is installed in the sysroot (rustup's `rust-std` components).
    pub installed_std: Vec<String>,
    /// The std sources `-Zbuild-std` would use, verified to match, or why not.
    pub rust_src: Result<RustSrc, String>,
}

impl Compiler {
    /// `1.96.0` from `rustc -vV`.
    pub fn release(&self) -> &str {
        release_of(&self.identity)
    }
}

/// A `rust-src` tree matching its compiler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustSrc {
    pub path: PathBuf,
    /// How the match was established (`src/version says 1.96.0`).
    pub evidence: String,
}

/// Zig, reached through cargo-zigbuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zig {
    pub cargo_zigbuild: PathBuf,
    /// `cargo-zigbuild 0.24.1`.
    pub cargo_zigbuild_version: String,
    /// How cargo-zigbuild runs zig (`python3 -m ziglang`, `/usr/local/bin/zig`).
    pub zig_command: String,
    /// `0.17.0`.
    pub zig_version: String,
    /// Environment that makes cargo-zigbuild find this zig (a private Python, say).
    pub env: Vec<(String, String)>,
}

/// A Debian cross gcc (`aarch64-linux-gnu-gcc`) with its C library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gcc {
    pub path: PathBuf,
    /// `aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0`.
    pub version: String,
}

/// Everything provider resolution asks of the host.
pub trait HostTools: Sync {
    /// Where answers that only change with a toolchain are cached (`cargo -V`).
    fn cache_dir(&self) -> &Path;
    /// The default `rustc`/`cargo` on PATH (rustup's, usually).
    fn default_compiler(&self) -> Option<&Compiler>;
    /// Compilers that might build std from source, in order of preference.
    fn build_std_compilers(&self) -> &[Compiler];
    /// Whether rustup is here and ships std for `target` (for the enable hint).
    fn rustup_can_add(&self, target: &str) -> Option<bool>;
    fn zig(&self) -> Result<Zig, Missing>;
    /// `<gnu-triple>-gcc` on PATH that can link a program (its C library is installed).
    fn gcc(&self, gnu_triple: &str) -> Result<Gcc, String>;
    /// A container engine that answers (`docker`, `podman`), or why none.
    fn container_engine(&self) -> Result<String, String>;
    fn cross(&self) -> Option<PathBuf>;
    /// The Debian package (name, version) of the build compiler at
    /// `/usr/bin/rustc` (`rustc-web`, `1.96.0+dfsg1-1~deb12u2`), if dpkg knows it.
    fn distro_compiler_package(&self) -> Option<(String, String)>;
    /// A qemu-user emulator (`qemu-s390x-static`) on PATH.
    fn emulator(&self, name: &str) -> Option<PathBuf>;
}

/// The real host, probed lazily: a run that needs no zig never looks for it.
pub struct HostProbe {
    cache: PathBuf,
    default_compiler: OnceLock<Option<Compiler>>,
    build_std: OnceLock<Vec<Compiler>>,
    rustup_targets: OnceLock<Option<BTreeMap<String, bool>>>,
    zig: OnceLock<Result<Zig, Missing>>,
    gcc: Mutex<BTreeMap<String, Result<Gcc, String>>>,
    container: OnceLock<Result<String, String>>,
    distro_package: OnceLock<Option<(String, String)>>,
}

impl HostProbe {
    pub fn new(cache: PathBuf) -> HostProbe {
        HostProbe {
            cache,
            default_compiler: OnceLock::new(),
            build_std: OnceLock::new(),
            rustup_targets: OnceLock::new(),
            zig: OnceLock::new(),
            gcc: Mutex::new(BTreeMap::new()),
            container: OnceLock::new(),
            distro_package: OnceLock::new(),
        }
    }
}

/// The distribution's compiler (Debian's `rustc-web` puts 1.96 here), named
/// by path because a rustup proxy usually shadows it on PATH.
pub const DISTRO_RUSTC: &str = "/usr/bin/rustc";
pub const DISTRO_CARGO: &str = "/usr/bin/cargo";

impl HostTools for HostProbe {
    fn cache_dir(&self) -> &Path {
        &self.cache
    }

    fn default_compiler(&self) -> Option<&Compiler> {
        self.default_compiler
            .get_or_init(|| {
                let rustc = which("rustc")?;
                let cargo = std::env::var("CARGO")
                    .ok()
                    .filter(|c| !c.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| which("cargo"))?;
                probe_compiler(&rustc, &cargo, "the default toolchain on PATH", &self.cache)
            })
            .as_ref()
    }

    fn build_std_compilers(&self) -> &[Compiler] {
        self.build_std.get_or_init(|| {
            let mut out: Vec<Compiler> = Vec::new();
            if let Some(c) = self.default_compiler() {
                out.push(c.clone());
            }
            let distro = Path::new(DISTRO_RUSTC);
            if distro.is_file() {
                if let Some(c) = probe_compiler(
                    distro,
                    Path::new(DISTRO_CARGO),
                    "the distribution's (/usr/bin)",
                    &self.cache,
                ) {
                    // Without rustup, the default compiler is this one.
                    if !out.iter().any(|o| o.sysroot == c.sysroot) {
                        out.push(c);
                    }
                }
            }
            out
        })
    }

    fn rustup_can_add(&self, target: &str) -> Option<bool> {
        self.rustup_targets
            .get_or_init(|| {
                let rustup = which("rustup")?;
                let out = Cmd::new(rustup)
                    .args(["target", "list"])
                    .timeout(Duration::from_secs(30))
                    .run()
                    .ok()?
                    .ok()
                    .ok()?;
                Some(
                    out.stdout_str()
                        .lines()
                        .filter_map(|l| {
                            l.split_whitespace()
                                .next()
                                .map(|t| (t.to_string(), l.contains("(installed)")))
                        })
                        .collect(),
                )
            })
            .as_ref()
            .map(|targets| targets.contains_key(target))
    }

    fn zig(&self) -> Result<Zig, Missing> {
        self.zig.get_or_init(probe_zig).clone()
    }

    fn gcc(&self, gnu_triple: &str) -> Result<Gcc, String> {
        let mut cache = self.gcc.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(gnu_triple.to_string())
            .or_insert_with(|| probe_gcc(gnu_triple))
            .clone()
    }

    fn container_engine(&self) -> Result<String, String> {
        self.container.get_or_init(probe_container_engine).clone()
    }

    fn cross(&self) -> Option<PathBuf> {
        which("cross")
    }

    fn distro_compiler_package(&self) -> Option<(String, String)> {
        self.distro_package
            .get_or_init(|| probe_distro_package(Path::new(DISTRO_RUSTC)))
            .clone()
    }

    fn emulator(&self, name: &str) -> Option<PathBuf> {
        which(name)
    }
}

/// `dpkg-query -S` names the package owning `rustc`, `-W` its version.
fn probe_distro_package(rustc: &Path) -> Option<(String, String)> {
    if !rustc.is_file() {
        return None;
    }
    let owner = Cmd::new("dpkg-query")
        .arg("-S")
        .arg(rustc)
        .run()
        .ok()?
        .ok()
        .ok()?
        .stdout_str();
    let name = owner.split(':').next()?.trim().to_string();
    let version = Cmd::new("dpkg-query")
        .args(["-W", "-f", "${Version}", &name])
        .run()
        .ok()?
        .ok()
        .ok()?
        .stdout_str()
        .trim()
        .to_string();
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

fn probe_compiler(rustc: &Path, cargo: &Path, origin: &str, cache: &Path) -> Option<Compiler> {
    let (identity, rustc_version, cargo_version) =
        versions(rustc, &[cargo.display().to_string()], &[], cache).ok()?;
    let sysroot = PathBuf::from(
        Cmd::new(rustc)
            .args(["--print", "sysroot"])
            .run()
            .ok()?
            .ok()
            .ok()?
            .stdout_str()
            .trim(),
    );
    let installed_std = installed_std(&sysroot);
    let rust_src = check_rust_src(&sysroot, release_of(&identity));
    Some(Compiler {
        rustc: rustc.to_path_buf(),
        cargo: cargo.to_path_buf(),
        origin: origin.to_string(),
        identity,
        rustc_version,
        cargo_version,
        sysroot,
        installed_std,
        rust_src,
    })
}

pub(crate) fn release_of(identity: &str) -> &str {
    identity
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or("?")
}

/// `<sysroot>/lib/rustlib/<target>/lib` holding a `libstd-*.rlib`.
fn installed_std(sysroot: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sysroot.join("lib/rustlib")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_dir(e.path().join("lib")).is_ok_and(|libs| {
                libs.filter_map(|l| l.ok()).any(|l| {
                    let name = l.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("libstd-") && name.ends_with(".rlib")
                })
            })
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Is the `rust-src` tree beside this compiler the one it was built from?
/// A source tarball's tree (Debian's `rust-web-src`) carries `src/version`;
/// rustup's `rust-src` component is installed with its toolchain and listed
/// in the toolchain's `components`. Anything else cannot be verified, and a
/// std built from mismatched sources fails in ways that waste an hour.
pub fn check_rust_src(sysroot: &Path, release: &str) -> Result<RustSrc, String> {
    let src = sysroot.join("lib/rustlib/src/rust");
    if !src.join("library/std/Cargo.toml").is_file() {
        return Err(format!(
            "no rust-src at {} (library/std is missing)",
            src.display()
        ));
    }
    if let Ok(version) = std::fs::read_to_string(src.join("src/version")) {
        let version = version.trim();
        return if version == release {
            Ok(RustSrc {
                path: src,
                evidence: format!("src/version says {version}"),
            })
        } else {
            Err(format!(
                "rust-src at {} is {version}, the compiler is {release}",
                src.display()
            ))
        };
    }
    let components =
        std::fs::read_to_string(sysroot.join("lib/rustlib/components")).unwrap_or_default();
    if components.lines().any(|l| l.trim() == "rust-src") {
        return Ok(RustSrc {
            path: src,
            evidence: "rustup's rust-src component of this toolchain".into(),
        });
    }
    Err(format!("cannot tell which Rust version the rust-src at {} is (no src/version, not a rustup component)", src.display()))
}

fn probe_zig() -> Result<Zig, Missing> {
    let install = format!(
        "cargo install cargo-zigbuild --version {} --locked",
        crate::requirements::CARGO_ZIGBUILD_VERSION
    );
    let Some(cargo_zigbuild) = which("cargo-zigbuild") else {
        return Err(Missing::until_setup(
            "cargo-zigbuild is not on PATH",
            install,
        ));
    };
    let cargo_zigbuild_version = Cmd::new(&cargo_zigbuild)
        .arg("--version")
        .run()
        .ok()
        .and_then(|o| o.ok().ok())
        .map(|o| o.stdout_str().trim().to_string())
        .ok_or_else(|| {
            Missing::until_setup(
                format!("`{} --version` failed", cargo_zigbuild.display()),
                install.clone(),
            )
        })?;
    // cargo-zigbuild's own search order: Python's ziglang package, then `zig` on
    // PATH; then the private Python environment `cargo xtask setup` may have made.
    // (program, its leading arguments, environment that makes cargo-zigbuild choose it)
    type Candidate = (PathBuf, Vec<String>, Vec<(String, String)>);
    let mut candidates: Vec<Candidate> = Vec::new();
    let python = std::env::var("CARGO_ZIGBUILD_PYTHON_PATH").unwrap_or_else(|_| "python3".into());
    if let Some(py) = which(&python) {
        candidates.push((py, vec!["-m".into(), "ziglang".into()], Vec::new()));
    }
    let zig = std::env::var("CARGO_ZIGBUILD_ZIG_PATH").unwrap_or_else(|_| "zig".into());
    if let Some(z) = which(&zig) {
        candidates.push((z, Vec::new(), Vec::new()));
    }
    let venv_python = crate::requirements::zig_venv().join("bin/python3");
    if venv_python.is_file() {
        candidates.push((
            venv_python.clone(),
            vec!["-m".into(), "ziglang".into()],
            vec![(
                "CARGO_ZIGBUILD_PYTHON_PATH".into(),
                venv_python.display().to_string(),
            )],
        ));
    }
    for (program, args, env) in candidates {
        let Ok(out) = Cmd::new(&program)
            .args(&args)
            .arg("version")
            .timeout(Duration::from_secs(60))
            .run()
        else {
            continue;
        };
        let version = out.stdout_str().trim().to_string();
        if out.record.success()
            && version.split('.').count() >= 2
            && version.chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            let zig_command = std::iter::once(program.display().to_string())
                .chain(args)
                .collect::<Vec<_>>()
                .join(" ");
            return Ok(Zig {
                cargo_zigbuild,
                cargo_zigbuild_version,
                zig_command,
                zig_version: version,
                env,
            });
        }
    }
    Err(Missing::until_setup(
        "cargo-zigbuild finds no zig (neither `python3 -m ziglang` nor `zig` on PATH)",
        format!(
            "python3 -m pip install ziglang=={}",
            crate::requirements::ZIGLANG_VERSION
        ),
    ))
}

fn probe_gcc(gnu_triple: &str) -> Result<Gcc, String> {
    let program = format!("{gnu_triple}-gcc");
    let path = which(&program).ok_or_else(|| format!("{program} is not on PATH"))?;
    let version = crate::host::version_line(&path, &["--version"])
        .ok_or_else(|| format!("`{program} --version` failed"))?;
    // Without the cross C library the compiler runs but cannot link a program.
    let crt = Cmd::new(&path)
        .arg("-print-file-name=crt1.o")
        .run()
        .ok()
        .map(|o| o.stdout_str().trim().to_string())
        .unwrap_or_default();
    if !crt.starts_with('/') {
        return Err(format!(
            "{program} has no C library to link against (crt1.o not found)"
        ));
    }
    Ok(Gcc { path, version })
}

fn probe_container_engine() -> Result<String, String> {
    let mut seen = Vec::new();
    for engine in ["docker", "podman"] {
        let Some(path) = which(engine) else { continue };
        // A client binary proves nothing: `info` needs the daemon (or podman's runtime) to answer.
        match Cmd::new(&path)
            .args(["info", "--format", "{{.ServerVersion}}"])
            .timeout(Duration::from_secs(15))
            .run()
        {
            Ok(out) if out.record.success() => {
                let version = out.stdout_str().trim().to_string();
                return Ok(format!("{engine} {version}").trim().to_string());
            }
            Ok(out) => {
                let why = out
                    .record
                    .stderr_tail
                    .lines()
                    .last()
                    .unwrap_or("no answer")
                    .trim()
                    .to_string();
                seen.push(format!("`{engine} info` failed: {why}"));
            }
            Err(err) => seen.push(format!("`{engine} info`: {err:#}")),
        }
    }
    if seen.is_empty() {
        Err("no container engine (neither docker nor podman is on PATH)".into())
    } else {
        Err(format!("no working container engine ({})", seen.join("; ")))
    }
}

/// Hand-written host facts for resolution tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct FakeTools {
    pub default_compiler: Option<Compiler>,
    pub build_std: Vec<Compiler>,
    pub rustup_targets: Option<Vec<String>>,
    pub zig: Option<Zig>,
    pub gcc: BTreeMap<String, Gcc>,
    pub container: Option<String>,
    pub cross: Option<PathBuf>,
    pub distro_package: Option<(String, String)>,
    /// Emulators "on PATH", by name.
    pub emulators: BTreeMap<String, PathBuf>,
}

#[cfg(test)]
impl HostTools for FakeTools {
    fn cache_dir(&self) -> &Path {
        Path::new("/nonexistent/cache")
    }
    fn default_compiler(&self) -> Option<&Compiler> {
        self.default_compiler.as_ref()
    }
    fn build_std_compilers(&self) -> &[Compiler] {
        &self.build_std
    }
    fn rustup_can_add(&self, target: &str) -> Option<bool> {
        self.rustup_targets
            .as_ref()
            .map(|t| t.iter().any(|x| x == target))
    }
    fn zig(&self) -> Result<Zig, Missing> {
        self.zig.clone().ok_or_else(|| {
            Missing::new(
                "cargo-zigbuild is not on PATH",
                Some("cargo xtask setup".into()),
            )
        })
    }
    fn gcc(&self, gnu_triple: &str) -> Result<Gcc, String> {
        self.gcc
            .get(gnu_triple)
            .cloned()
            .ok_or_else(|| format!("{gnu_triple}-gcc is not on PATH"))
    }
    fn container_engine(&self) -> Result<String, String> {
        self.container
            .clone()
            .ok_or_else(|| "no container engine (neither docker nor podman is on PATH)".into())
    }
    fn cross(&self) -> Option<PathBuf> {
        self.cross.clone()
    }
    fn distro_compiler_package(&self) -> Option<(String, String)> {
        self.distro_package.clone()
    }
    fn emulator(&self, name: &str) -> Option<PathBuf> {
        self.emulators.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_src_is_verified_against_the_compiler() {
        let dir = tempfile::tempdir().unwrap();
        let sysroot = dir.path();
        let src = sysroot.join("lib/rustlib/src/rust");
        assert!(check_rust_src(sysroot, "1.96.0")
            .unwrap_err()
            .contains("no rust-src"));
        std::fs::create_dir_all(src.join("library/std")).unwrap();
        std::fs::write(src.join("library/std/Cargo.toml"), "").unwrap();
        assert!(check_rust_src(sysroot, "1.96.0")
            .unwrap_err()
            .starts_with("cannot tell which Rust version"));
        std::fs::write(
            sysroot.join("lib/rustlib/components"),
            "rustc-x86_64-unknown-linux-gnu\nrust-src\n",
        )
        .unwrap();
        assert_eq!(
            check_rust_src(sysroot, "1.96.0").unwrap().evidence,
            "rustup's rust-src component of this toolchain"
        );
        std::fs::create_dir_all(src.join("src")).unwrap();
        std::fs::write(src.join("src/version"), "1.95.0\n").unwrap();
        assert!(check_rust_src(sysroot, "1.96.0")
            .unwrap_err()
            .ends_with("is 1.95.0, the compiler is 1.96.0"));
        std::fs::write(src.join("src/version"), "1.96.0\n").unwrap();
        assert_eq!(
            check_rust_src(sysroot, "1.96.0").unwrap().evidence,
            "src/version says 1.96.0"
        );
    }

    #[test]
    fn installed_std_lists_targets_with_a_std_rlib() {
        let dir = tempfile::tempdir().unwrap();
        for (target, file) in [
            ("x86_64-unknown-linux-gnu", "libstd-abc.rlib"),
            ("aarch64-unknown-linux-gnu", "libcore-abc.rlib"),
        ] {
            let lib = dir.path().join("lib/rustlib").join(target).join("lib");
            std::fs::create_dir_all(&lib).unwrap();
            std::fs::write(lib.join(file), "").unwrap();
        }
        assert_eq!(installed_std(dir.path()), ["x86_64-unknown-linux-gnu"]);
    }
}
