//! `platforms/<os>.toml`: an OS family, its architectures and releases.
//!
//! A [`Platform`] is one OS × release × architecture, the unit the matrix and
//! the report are laid out by. Its id is `<os>-<release>-<arch>`.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use target_lexicon::Triple;

use super::diag::{parse_file, LoadError, LoadErrors};
use super::{toml_files, DataDirs, VmImage};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OsFile {
    /// Must equal the file's stem and the OS of every target triple in it.
    pub os: String,
    pub display: String,
    pub packages: PackageManager,
    pub arch: BTreeMap<String, ArchSpec>,
    pub release: Vec<ReleaseSpec>,
}

/// How packages are installed on a guest of this OS.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageManager {
    pub manager: PackageManagerKind,
    /// The install command; package names are appended.
    pub install: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum PackageManagerKind {
    #[serde(rename = "apt")]
    Apt,
    #[serde(rename = "pkg")]
    Pkg,
    #[serde(rename = "pkg_add")]
    PkgAdd,
    #[serde(rename = "pkgin")]
    Pkgin,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchSpec {
    pub target: String,
    /// Toolchain providers in order of preference.
    pub toolchains: Vec<ToolchainKind>,
    /// Linker providers in order of preference.
    pub linkers: Vec<LinkerKind>,
    /// Debian's name for the architecture (Linux only): sysroots and guest kernels.
    #[serde(default)]
    pub debian_arch: Option<String>,
    /// The qemu-user emulator that runs this architecture's executables (Linux only).
    #[serde(default)]
    pub qemu_user: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReleaseSpec {
    /// Short release name used in platform ids (`14.3`, `debian12`).
    pub name: String,
    pub display: String,
    /// The architectures this release covers; keys must be declared under `[arch]`.
    pub arches: BTreeMap<String, ReleaseArch>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReleaseArch {
    /// Key of an image in `vm-images/`, for the VM lane.
    #[serde(default)]
    pub vm_image: Option<String>,
    /// Toolchain providers for this release's platform of the architecture,
    /// in place of the architecture's list (a release whose own packaged
    /// compiler runs on this host builds with it: `packaged` first).
    #[serde(default)]
    pub toolchains: Option<Vec<ToolchainKind>>,
}

/// Where a toolchain for a target comes from.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ToolchainKind {
    /// The host's default rustup toolchain, for the host's own target.
    Host,
    /// A rustup toolchain that has this target's standard library installed.
    RustupTarget,
    /// std built from source (`-Zbuild-std`) by a compiler with a matching `rust-src`.
    BuildStd,
    /// cross-rs, in a container engine.
    CrossRs,
    /// The OS's own packaged compiler and that architecture's packaged std
    /// (Debian's `rustc-web`/`rustc`), unpacked privately; the packaged lane.
    Packaged,
    /// A packaged std of the target architecture matching the host's
    /// packaged build compiler exactly, instead of building std from source.
    PackagedStd,
}

impl ToolchainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolchainKind::Host => "host",
            ToolchainKind::RustupTarget => "rustup-target",
            ToolchainKind::BuildStd => "build-std",
            ToolchainKind::CrossRs => "cross-rs",
            ToolchainKind::Packaged => "packaged",
            ToolchainKind::PackagedStd => "packaged-std",
        }
    }
}

/// What links executables for a target.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum LinkerKind {
    /// The host's own C compiler, for the host's target.
    Native,
    /// A Debian cross gcc (`<gnu-triple>-gcc`).
    Gcc,
    /// Zig's `cc`, through cargo-zigbuild.
    Zig,
}

impl LinkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkerKind::Native => "native",
            LinkerKind::Gcc => "gcc",
            LinkerKind::Zig => "zig",
        }
    }
}

/// One OS × release × architecture.
#[derive(Debug, Clone, Serialize)]
pub struct Platform {
    pub id: String,
    pub os: String,
    pub os_display: String,
    pub release: String,
    pub release_display: String,
    pub arch: String,
    pub target: String,
    pub toolchains: Vec<ToolchainKind>,
    pub linkers: Vec<LinkerKind>,
    pub debian_arch: Option<String>,
    pub qemu_user: Option<String>,
    pub vm_image: Option<String>,
    pub packages: PackageManager,
    /// The file it came from, for messages.
    pub source: String,
}

impl Platform {
    pub fn triple(&self) -> Triple {
        Triple::from_str(&self.target).expect("validated at load")
    }
}

pub(super) fn load_dir(
    dirs: &DataDirs,
    vm_images: &BTreeMap<String, VmImage>,
    errors: &mut LoadErrors,
) -> (Vec<OsFile>, Vec<Platform>) {
    let mut oses = Vec::new();
    let mut platforms: Vec<Platform> = Vec::new();
    for path in toml_files(dirs, &dirs.platforms, &shown(dirs, &dirs.platforms), errors) {
        let file = shown(dirs, &path);
        let os: OsFile = match parse_file(dirs, &path, &file) {
            Ok(os) => os,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        let before = errors.0.len();
        check_os_file(&os, &path, &file, vm_images, errors);
        if errors.0.len() != before {
            continue;
        }
        for (i, release) in os.release.iter().enumerate() {
            for (arch, rel_arch) in &release.arches {
                let spec = &os.arch[arch];
                let id = format!("{}-{}-{}", os.os, release.name, arch);
                if let Some(other) = platforms.iter().find(|p| p.id == id) {
                    errors.push(LoadError::key(
                        &file,
                        format!("release[{i}].arches.{arch}"),
                        format!("platform `{id}` is already defined in {}", other.source),
                    ));
                    continue;
                }
                platforms.push(Platform {
                    id,
                    os: os.os.clone(),
                    os_display: os.display.clone(),
                    release: release.name.clone(),
                    release_display: release.display.clone(),
                    arch: arch.clone(),
                    target: spec.target.clone(),
                    toolchains: rel_arch
                        .toolchains
                        .clone()
                        .unwrap_or_else(|| spec.toolchains.clone()),
                    linkers: spec.linkers.clone(),
                    debian_arch: spec.debian_arch.clone(),
                    qemu_user: spec.qemu_user.clone(),
                    vm_image: rel_arch.vm_image.clone(),
                    packages: os.packages.clone(),
                    source: file.clone(),
                });
            }
        }
        oses.push(os);
    }
    (oses, platforms)
}

fn check_os_file(
    os: &OsFile,
    path: &std::path::Path,
    file: &str,
    vm_images: &BTreeMap<String, VmImage>,
    errors: &mut LoadErrors,
) {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if os.os != stem {
        errors.push(LoadError::key(
            file,
            "os",
            format!("is `{}` but the file is named `{stem}.toml`", os.os),
        ));
    }
    if os.packages.install.is_empty() {
        errors.push(LoadError::key(
            file,
            "packages.install",
            "must name the install command",
        ));
    }
    for (arch, spec) in &os.arch {
        let key = |k: &str| format!("arch.{arch}.{k}");
        match Triple::from_str(&spec.target) {
            Err(err) => errors.push(LoadError::key(
                file,
                key("target"),
                format!("`{}` is not a target triple: {err}", spec.target),
            )),
            Ok(triple) => {
                let triple_os = triple.operating_system.to_string();
                if triple_os != os.os {
                    errors.push(LoadError::key(
                        file,
                        key("target"),
                        format!("`{}` is a {triple_os} target, not {}", spec.target, os.os),
                    ));
                }
                let triple_arch = triple.architecture.to_string();
                if !triple_arch.starts_with(arch.as_str()) {
                    errors.push(LoadError::key(
                        file,
                        key("target"),
                        format!("`{}` is a {triple_arch} target, not {arch}", spec.target),
                    ));
                }
            }
        }
        if spec.toolchains.is_empty() {
            errors.push(LoadError::key(
                file,
                key("toolchains"),
                "must list at least one toolchain provider",
            ));
        }
        if os.os != "linux" {
            for (k, v) in [
                ("debian-arch", &spec.debian_arch),
                ("qemu-user", &spec.qemu_user),
            ] {
                if v.is_some() {
                    errors.push(LoadError::key(
                        file,
                        key(k),
                        "applies to Linux targets only",
                    ));
                }
            }
        } else if spec.qemu_user.is_some() && spec.debian_arch.is_none() {
            errors.push(LoadError::key(
                file,
                key("debian-arch"),
                "is required with `qemu-user` (the sysroot comes from that architecture's Debian packages)",
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, release) in os.release.iter().enumerate() {
        if !seen.insert(release.name.as_str()) {
            errors.push(LoadError::key(
                file,
                format!("release[{i}].name"),
                format!("`{}` is defined twice", release.name),
            ));
        }
        if release.name.is_empty()
            || release
                .name
                .contains(|c: char| c.is_whitespace() || c == '/')
        {
            errors.push(LoadError::key(
                file,
                format!("release[{i}].name"),
                "must be non-empty, without spaces or `/`",
            ));
        }
        if release.arches.is_empty() {
            errors.push(LoadError::key(
                file,
                format!("release[{i}].arches"),
                "must list at least one architecture",
            ));
        }
        for (arch, rel_arch) in &release.arches {
            if !os.arch.contains_key(arch) {
                errors.push(LoadError::key(
                    file,
                    format!("release[{i}].arches.{arch}"),
                    format!("architecture `{arch}` is not declared under [arch]"),
                ));
            }
            if rel_arch.toolchains.as_ref().is_some_and(Vec::is_empty) {
                errors.push(LoadError::key(
                    file,
                    format!("release[{i}].arches.{arch}.toolchains"),
                    "must list at least one toolchain provider (or be left out, for the architecture's list)",
                ));
            }
            if let Some(image) = &rel_arch.vm_image {
                if !vm_images.contains_key(image) {
                    errors.push(LoadError::key(
                        file,
                        format!("release[{i}].arches.{arch}.vm-image"),
                        format!("no image `{image}` in vm-images/"),
                    ));
                }
            }
        }
    }
}

pub(super) fn shown(dirs: &DataDirs, path: &std::path::Path) -> String {
    path.strip_prefix(&dirs.root)
        .unwrap_or(path)
        .display()
        .to_string()
}
