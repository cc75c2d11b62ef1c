//! The `packaged` and `packaged-std` providers: the compiler a Linux
//! distribution packages, and the standard library it packages for each
//! architecture, unpacked from the archive into a private directory per
//! compiler version (never installed: the host's dpkg is not touched).
//!
//! - `packaged` (the packaged lane) builds with exactly the compiler the
//!   platform's OS release packages for that architecture — the newest one
//!   the MSRV policy counts, as `platforms/rust/status.toml` records it —
//!   against that architecture's `libstd-rust-…-dev` of the same version as
//!   the sysroot. Where the archive has no build of that version for the
//!   host's architecture (Debian 12's mips64el `rustc-web` 1.70), that
//!   architecture's own compiler runs under qemu-user.
//! - `packaged-std` (the cross lane) keeps the host's packaged build
//!   compiler (`/usr/bin/rustc`, Debian's `rustc-web`) and takes the target's
//!   std from the archive when a package of exactly that version exists,
//!   instead of building std from source.
//!
//! Resolution is pure: it reads the data and names paths in the cache. The
//! lane unpacks the packages when the cell runs (`lanes::packaged`), and
//! `cargo xtask setup` does it ahead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::linker;
use super::probe::{Compiler, HostTools};
use super::{Missing, Toolchain};
use crate::host::Host;
use crate::model::rust_status::PackagedRust;
use crate::model::{LinkerKind, Model, Platform, ToolchainKind};

/// One packaged compiler of one Debian suite and architecture, with the std
/// of the architecture it builds for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackagedSpec {
    /// The apt suite (its `-updates` and `-security` pockets included): `bookworm`.
    pub suite: String,
    /// `rustc-web` or `rustc`.
    pub compiler: String,
    /// The exact Debian version: `1.85.0+dfsg3-1~deb12u3`.
    pub version: String,
    /// The Rust release: `1.85.0`.
    pub rust: String,
    /// The Debian architecture whose compiler runs (`amd64`, or the target's own).
    pub build_arch: String,
    /// The Debian architecture of the std used as the sysroot.
    pub target_arch: String,
    pub target: String,
    /// The qemu-user emulator that runs a foreign architecture's compiler.
    pub emulator: Option<String>,
    /// Where the compiler packages are unpacked; the sysroot is `<root>/usr`.
    pub root: PathBuf,
}

impl PackagedSpec {
    /// `cargo-web` beside `rustc-web`, `cargo` beside `rustc`.
    pub fn cargo_package(&self) -> String {
        self.compiler.replacen("rustc", "cargo", 1)
    }

    /// `libstd-rust-web-dev` beside `rustc-web`, `libstd-rust-dev` beside `rustc`.
    pub fn std_package(&self) -> String {
        format!("{}-dev", self.compiler.replacen("rustc", "libstd-rust", 1))
    }

    /// `packaged rustc-web 1.85.0+dfsg3-1~deb12u3`: what the report calls the cell's compiler.
    pub fn label(&self) -> String {
        format!("packaged {} {}", self.compiler, self.version)
    }

    /// How the cell was built, for its provenance.
    pub fn how(&self) -> String {
        match &self.emulator {
            Some(emulator) => format!(
                "{}'s own {} under {emulator} (the archive has no build of {} for this host's architecture)",
                self.build_arch, self.compiler, self.version
            ),
            None if self.wrapped() => format!(
                "{}:{} on this host from scripts beside its root (on {}'s own libc6 when this host's glibc is older), with {}:{} as the sysroot",
                self.compiler,
                self.build_arch,
                self.suite,
                self.std_package(),
                self.target_arch
            ),
            None => format!(
                "{}:{} on this host, with {}:{} as the sysroot",
                self.compiler,
                self.build_arch,
                self.std_package(),
                self.target_arch
            ),
        }
    }

    /// The compiler's packages, each `name=version`, for the build architecture.
    pub fn compiler_packages(&self) -> Vec<String> {
        [
            self.compiler.clone(),
            self.cargo_package(),
            self.std_package(),
        ]
        .iter()
        .map(|p| format!("{p}={}", self.version))
        .collect()
    }

    /// The std of the target architecture (`libstd-rust-web-dev:armhf=1.85.0+…`).
    pub fn std_package_pin(&self) -> String {
        format!(
            "{}:{}={}",
            self.std_package(),
            self.target_arch,
            self.version
        )
    }

    /// Present once the compiler packages are unpacked.
    pub fn complete_marker(&self) -> PathBuf {
        self.root.join(".complete")
    }

    /// Where the target's std lands; present once it is unpacked.
    pub fn std_dir(&self) -> PathBuf {
        self.root
            .join("usr/lib/rustlib")
            .join(&self.target)
            .join("lib")
    }

    /// The script cargo runs as `rustc` when the compiler is emulated or wrapped.
    pub fn rustc_wrapper(&self) -> PathBuf {
        PathBuf::from(format!("{}.rustc", self.root.display()))
    }

    /// The script that runs as `cargo` when the compiler is wrapped.
    pub fn cargo_wrapper(&self) -> PathBuf {
        PathBuf::from(format!("{}.cargo", self.root.display()))
    }

    /// A native compiler of another Debian release than the host's runs
    /// through scripts beside its root ([`Self::cargo_wrapper`],
    /// [`Self::rustc_wrapper`]): they find its libraries, and run it with
    /// that release's own C library when the host's is older
    /// (`lanes::packaged`). The host's own release runs it directly.
    pub fn wrapped(&self) -> bool {
        self.emulator.is_none() && host_suite().is_some_and(|h| h != self.suite)
    }

    /// The compiler's own libraries (LLVM, `librustc_driver`), for the dynamic loader.
    pub fn library_path(&self, multiarch: &str) -> String {
        format!(
            "{}:{}",
            self.root.join("usr/lib").join(multiarch).display(),
            self.root.join("lib").join(multiarch).display()
        )
    }
}

/// The host's Debian release name, read once (`None` off Debian).
fn host_suite() -> Option<&'static str> {
    static SUITE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SUITE
        .get_or_init(|| crate::apt::host_codename().ok())
        .as_deref()
}

/// Whether a compiler of a release whose `libc6` is `suite_libc6` (a Debian
/// version, `2.41-12`) needs that C library rather than the host's glibc
/// (`2.36`): only when it is newer, as its programs ask for symbol versions
/// the host's lacks. An unreadable version counts as not newer.
pub fn needs_own_libc(host_glibc: &str, suite_libc6: &str) -> bool {
    fn parts(v: &str) -> Option<Vec<u64>> {
        v.split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u64>>>()
            .filter(|p| !p.is_empty())
    }
    let upstream = crate::apt::upstream_version(suite_libc6);
    match (parts(host_glibc.trim()), parts(upstream)) {
        (Some(host), Some(suite)) => suite > host,
        _ => false,
    }
}

/// `bookworm-security` → `bookworm`: the apt state of a suite holds its pockets.
pub fn suite_of(channel: &str) -> &str {
    ["-security", "-updates", "-backports"]
        .iter()
        .find_map(|p| channel.strip_suffix(p))
        .unwrap_or(channel)
}

/// Where compilers are unpacked: `<cache>/packaged-rust/<suite>/<compiler>-<version>-<arch>`.
pub fn root_for(cache: &Path, suite: &str, compiler: &str, version: &str, arch: &str) -> PathBuf {
    cache
        .join("packaged-rust")
        .join(suite)
        .join(format!("{compiler}-{version}-{arch}"))
}

/// The platform of the same OS release that this host is (its Debian architecture).
fn host_platform<'a>(model: &'a Model, platform: &Platform, host: &Host) -> Option<&'a Platform> {
    model
        .platforms
        .iter()
        .find(|p| p.os == platform.os && p.release == platform.release && p.target == host.triple)
}

/// The Debian architecture of this host, as any Linux platform for its triple names it.
fn host_debian_arch(model: &Model, host: &Host) -> Option<String> {
    model
        .platforms
        .iter()
        .find(|p| p.target == host.triple)
        .and_then(|p| p.debian_arch.clone())
}

/// What `platform`'s packaged lane builds with: the newest compiler its OS
/// release packages for its architecture that the MSRV policy counts.
pub fn choose(model: &Model, platform: &Platform, host: &Host) -> Result<PackagedSpec, Missing> {
    choose_in(model, platform, host, &crate::paths::cache_dir())
}

pub(crate) fn choose_in(
    model: &Model,
    platform: &Platform,
    host: &Host,
    cache: &Path,
) -> Result<PackagedSpec, Missing> {
    let Some(target_arch) = platform.debian_arch.clone() else {
        return Err(Missing::new(
            format!(
                "{}'s own Rust is installed inside its guest ({}); {}",
                platform.os_display,
                in_guest_recipe(model, platform),
                model
                    .rust_status
                    .platform
                    .get(&platform.id)
                    .and_then(|e| e.error.clone())
                    .map(|e| format!("its package index: {e}"))
                    .unwrap_or_else(|| "this host cannot run that guest lane".into())
            ),
            None,
        ));
    };
    let best = best_for(model, platform)?;
    let host_arch = host_debian_arch(model, host).ok_or_else(|| {
        Missing::new(
            format!(
                "no platform in platforms/ names this host's ({}) Debian architecture",
                host.triple
            ),
            None,
        )
    })?;
    let host_has = platform.target == host.triple
        || host_platform(model, platform, host)
            .and_then(|h| model.rust_status.platform.get(&h.id))
            .is_some_and(|e| {
                e.package
                    .iter()
                    .any(|p| p.name == best.name && p.version == best.version)
            });
    let (build_arch, emulator) = if host_has {
        (host_arch, None)
    } else {
        match &platform.qemu_user {
            Some(q) => (target_arch.clone(), Some(q.clone())),
            None => {
                return Err(Missing::new(
                    format!(
                        "the archive has no {host_arch} build of {} {}, and {} names no qemu-user to run {target_arch}'s own",
                        best.name, best.version, platform.source
                    ),
                    None,
                ))
            }
        }
    };
    let suite = suite_of(&best.channel).to_string();
    Ok(PackagedSpec {
        root: root_for(cache, &suite, &best.name, &best.version, &build_arch),
        suite,
        compiler: best.name.clone(),
        version: best.version.clone(),
        rust: best.rust.to_string(),
        build_arch,
        target_arch,
        target: platform.target.clone(),
        emulator,
    })
}

/// The newest packaged compiler the policy counts for `platform`, or why none.
fn best_for(model: &Model, platform: &Platform) -> Result<PackagedRust, Missing> {
    let status_file = "platforms/rust/status.toml";
    let entry = model
        .rust_status
        .platform
        .get(&platform.id)
        .filter(|e| e.checked.is_some())
        .ok_or_else(|| {
            Missing::new(
                format!("{status_file} records no packaged Rust for {}", platform.id),
                Some("cargo xtask platforms refresh --only debian".into()),
            )
        })?;
    let rule = model
        .msrv_policy
        .as_ref()
        .and_then(|p| p.os.get(&platform.os));
    crate::platform_data::msrv::best_package(&entry.package, rule)
        .cloned()
        .map_err(|why| Missing::new(format!("{}: {why}", platform.id), None))
}

/// How a BSD guest installs its own Rust, from `vm-images/` (or the OS's usual command).
fn in_guest_recipe(model: &Model, platform: &Platform) -> String {
    platform
        .vm_image
        .as_ref()
        .and_then(|id| model.vm_images.get(id))
        .and_then(|image| image.packaged_rust.as_ref())
        .map(|r| format!("`{}`, {}", r.install.join(" "), r.source))
        .unwrap_or_else(|| "no recipe in vm-images/".into())
}

/// The `packaged-std` choice: this host's packaged build compiler, with the
/// target's std of exactly its version when the archive has one.
pub fn choose_std(
    model: &Model,
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<PackagedSpec, Missing> {
    let Some(target_arch) = platform.debian_arch.clone() else {
        return Err(Missing::new(
            "only Debian architectures have packaged std",
            None,
        ));
    };
    let Some((name, version)) = tools.distro_compiler_package() else {
        return Err(Missing::until_setup(
            "no packaged build compiler is installed (Debian's rustc-web)",
            format!(
                "apt-get install --no-install-recommends {}",
                super::build_std::DEBIAN_PACKAGES.join(" ")
            ),
        ));
    };
    let host_arch = host_debian_arch(model, host).ok_or_else(|| {
        Missing::new(
            format!(
                "no platform in platforms/ names this host's ({}) Debian architecture",
                host.triple
            ),
            None,
        )
    })?;
    let listed: Vec<&PackagedRust> = model
        .platforms
        .iter()
        .filter(|p| p.target == platform.target && p.os == platform.os)
        .filter_map(|p| model.rust_status.platform.get(&p.id))
        .flat_map(|e| &e.package)
        .collect();
    let Some(found) = listed
        .iter()
        .find(|p| p.name == name && p.version == version)
    else {
        let spec_std = format!("{}-dev", name.replacen("rustc", "libstd-rust", 1));
        let mut known: Vec<String> = listed
            .iter()
            .filter(|p| p.name == name)
            .map(|p| format!("{} ({})", p.version, p.channel))
            .collect();
        known.sort();
        known.dedup();
        return Err(Missing::new(
            format!(
                "the archive has no {spec_std}:{target_arch} {version} to match this host's {name} {version} (platforms/rust/status.toml: {})",
                if known.is_empty() {
                    format!("no {name} for {target_arch}")
                } else {
                    format!("{target_arch} has {name} {}", known.join(", "))
                }
            ),
            None,
        ));
    };
    let suite = suite_of(&found.channel).to_string();
    Ok(PackagedSpec {
        root: root_for(
            &crate::paths::cache_dir(),
            &suite,
            &name,
            &version,
            &host_arch,
        ),
        suite,
        compiler: name,
        version,
        rust: found.rust.to_string(),
        build_arch: host_arch,
        target_arch,
        target: platform.target.clone(),
        emulator: None,
    })
}

/// The toolchain of a packaged choice: cargo and rustc from the private
/// root, the target's packaged std as the sysroot, the platform's linker
/// (an emulated compiler links with the host's cross gcc).
pub fn toolchain(
    spec: &PackagedSpec,
    kind: ToolchainKind,
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<Toolchain, Missing> {
    let rustc = spec.root.join("usr/bin/rustc");
    let cargo = spec.root.join("usr/bin/cargo");
    let mut details = BTreeMap::new();
    let (cargo_cmd, build_subcommand, env, linker_kind, rustc_path) = match &spec.emulator {
        None => {
            let link = linker::resolve(platform, host, tools)?;
            details.extend(link.details.clone());
            let compiler = Compiler {
                rustc: rustc.clone(),
                cargo: cargo.clone(),
                origin: spec.label(),
                identity: String::new(),
                rustc_version: String::new(),
                cargo_version: String::new(),
                sysroot: spec.root.join("usr"),
                installed_std: Vec::new(),
                rust_src: Err(String::new()),
            };
            if spec.wrapped() {
                // The scripts find the libraries; cargo's children (build
                // scripts, the linker) get none of them.
                let compiler = Compiler {
                    rustc: spec.rustc_wrapper(),
                    cargo: spec.cargo_wrapper(),
                    ..compiler
                };
                let run = link.cargo_for(&compiler, &[]);
                (
                    run.cargo,
                    run.build_subcommand,
                    run.env,
                    link.kind,
                    spec.rustc_wrapper(),
                )
            } else {
                let multiarch = linker::gnu_triple(&host_triple(host)?);
                let libs = spec.library_path(&multiarch);
                let run = link.cargo_for(&compiler, &[("LD_LIBRARY_PATH", libs.as_str())]);
                (run.cargo, run.build_subcommand, run.env, link.kind, rustc)
            }
        }
        Some(emulator) => {
            let gnu = linker::gnu_triple(&platform.triple());
            let gcc = tools.gcc(&gnu).map_err(|why| {
                Missing::until_setup(
                    why,
                    format!(
                        "apt-get install --no-install-recommends {}",
                        linker::gcc_packages(platform).join(" ")
                    ),
                )
            })?;
            let emu = tools.emulator(emulator).ok_or_else(|| {
                Missing::until_setup(
                    format!("{emulator} is not on PATH"),
                    "apt-get install --no-install-recommends qemu-user-static",
                )
            })?;
            details.insert("linker-version".into(), gcc.version.clone());
            let wrapper = spec.rustc_wrapper();
            // The emulated compiler is this architecture's host compiler: its
            // build scripts and its target link with the same cross gcc.
            let env = vec![
                ("RUSTC".to_string(), wrapper.display().to_string()),
                (
                    linker::linker_env_var(&platform.target),
                    gcc.path.display().to_string(),
                ),
            ];
            let cargo_cmd = vec![
                emu.display().to_string(),
                "-L".into(),
                spec.root.display().to_string(),
                cargo.display().to_string(),
            ];
            (cargo_cmd, "build".into(), env, LinkerKind::Gcc, wrapper)
        }
    };
    details.insert("packaged".into(), spec.label());
    details.insert("packaged-how".into(), spec.how());
    details.insert(
        "std".into(),
        format!(
            "prebuilt: {}:{} {} (Debian {}), no build-std",
            spec.std_package(),
            spec.target_arch,
            spec.version,
            spec.suite
        ),
    );
    Ok(Toolchain {
        kind,
        linker: linker_kind,
        target: spec.target.clone(),
        cargo: cargo_cmd,
        build_subcommand,
        rustc: rustc_path,
        env,
        cargo_args: Vec::new(),
        rustc_version: format!(
            "rustc {} (Debian {} {})",
            spec.rust, spec.compiler, spec.version
        ),
        cargo_version: format!(
            "cargo {} (Debian {} {})",
            spec.rust,
            spec.cargo_package(),
            spec.version
        ),
        identity: format!(
            "{}:{} {}; std {}:{} {}",
            spec.compiler,
            spec.build_arch,
            spec.version,
            spec.std_package(),
            spec.target_arch,
            spec.version
        ),
        target_dir_name: format!(
            "packaged-{}-{}-{}-{}-{}",
            spec.compiler,
            spec.version,
            spec.build_arch,
            linker_kind.as_str(),
            spec.target
        ),
        details,
        packaged: Some(spec.clone()),
    })
}

fn host_triple(host: &Host) -> Result<target_lexicon::Triple, Missing> {
    host.triple
        .parse()
        .map_err(|e| Missing::new(format!("bad host triple {}: {e}", host.triple), None))
}

/// A packaged compiler of `platform`'s OS release (one of the packages
/// status.toml records for it) building for `platform`'s own target; for
/// `msrv --verify`, which picks the compiler by version, not by policy.
pub fn spec_for_package(
    platform: &Platform,
    package: &PackagedRust,
    build_arch: &str,
    emulator: Option<String>,
) -> Option<PackagedSpec> {
    let target_arch = platform.debian_arch.clone()?;
    let suite = suite_of(&package.channel).to_string();
    Some(PackagedSpec {
        root: root_for(
            &crate::paths::cache_dir(),
            &suite,
            &package.name,
            &package.version,
            build_arch,
        ),
        suite,
        compiler: package.name.clone(),
        version: package.version.clone(),
        rust: package.rust.to_string(),
        build_arch: build_arch.to_string(),
        target_arch,
        target: platform.target.clone(),
        emulator,
    })
}

#[cfg(test)]
#[path = "packaged_tests.rs"]
mod tests;
