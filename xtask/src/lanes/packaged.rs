//! Unpacks a packaged compiler and the std of a target architecture into
//! their private directory (`toolchain::packaged`), from the archive through
//! a private apt state, before the cell's cargo runs. Never installs: the
//! host's dpkg state is only read (to leave out libraries it already has).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::apt::{self, AptState};
use crate::cmd::Cmd;
use crate::paths::FileLock;
use crate::toolchain::packaged::PackagedSpec;

/// Dependencies left to the host: the C toolchain links (the host's own or
/// its cross gcc), never the unpacked one.
fn is_c_toolchain(name: &str) -> bool {
    name == "gcc"
        || name == "binutils"
        || name == "libc-dev"
        || name == "libc6-dev"
        || name == "c-compiler"
        || name == "clang"
        || name.starts_with("gcc-")
        || name.starts_with("binutils-")
}

/// Packages installed on this host for `arch`, which a compiler of this
/// architecture finds in the system's library directories.
pub(crate) fn installed(arch: &str) -> BTreeSet<String> {
    let out = Cmd::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${Package} ${Architecture} ${db:Status-Abbrev}\n",
        ])
        .run()
        .ok()
        .and_then(|o| o.ok().ok())
        .map(|o| o.stdout_str())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, a, status) = (f.next()?, f.next()?, f.next()?);
            (status.starts_with("ii") && (a == arch || a == "all")).then(|| name.to_string())
        })
        .collect()
}

/// Makes `spec`'s compiler and its target's std present; says what it used.
pub fn ensure(spec: &PackagedSpec, timeout: Duration, progress: &dyn Fn(&str)) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let parent = spec.root.parent().context("packaged root has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let _lock = FileLock::acquire(&parent.join(format!(
        "{}.lock",
        spec.root.file_name().unwrap_or_default().to_string_lossy()
    )))?;
    let mut used = Vec::new();
    if !spec.complete_marker().is_file() {
        used.push(unpack_compiler(spec, deadline, progress)?);
    }
    if !has_std(&spec.std_dir()) {
        used.push(unpack_std(spec, deadline, progress)?);
    }
    if spec.emulator.is_some() {
        write_wrapper(spec)?;
    }
    Ok(if used.is_empty() {
        format!("{} (unpacked before)", spec.label())
    } else {
        used.join("; ")
    })
}

fn has_std(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.filter_map(|e| e.ok()).any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("libstd-") && n.ends_with(".rlib")
        })
    })
}

fn state(
    spec: &PackagedSpec,
    arch: &str,
    deadline: Instant,
    progress: &dyn Fn(&str),
) -> Result<AptState> {
    let apt = AptState::open(&apt::cache_root(), &spec.suite, arch)?;
    if !apt.has_lists() {
        let lock = apt.lock()?;
        progress(&format!(
            "fetching Debian {} {arch} package lists",
            spec.suite
        ));
        if let Some(warning) =
            apt.update(&lock, deadline.saturating_duration_since(Instant::now()))?
        {
            progress(&format!("warning: {warning}"));
        }
    }
    Ok(apt)
}

/// Records of `roots` and their dependencies, refreshing the lists once if the archive moved on.
fn records(
    apt: &AptState,
    roots: &[String],
    stop: &dyn Fn(&str) -> bool,
    deadline: Instant,
) -> Result<Vec<apt::PackageRecord>> {
    match apt::closure(apt, roots, stop) {
        Ok((records, _)) => Ok(records),
        Err(_) => {
            let lock = apt.lock()?;
            apt.update(&lock, deadline.saturating_duration_since(Instant::now()))?;
            drop(lock);
            Ok(apt::closure(apt, roots, stop)?.0)
        }
    }
}

fn unpack_compiler(
    spec: &PackagedSpec,
    deadline: Instant,
    progress: &dyn Fn(&str),
) -> Result<String> {
    let apt = state(spec, &spec.build_arch, deadline, progress)?;
    // A native compiler finds what the host has installed; an emulated one
    // finds nothing of the host's, so its whole runtime is unpacked.
    let have = if spec.emulator.is_none() {
        installed(&spec.build_arch)
    } else {
        BTreeSet::new()
    };
    // Another compiler's packages (the default `rustc` that plain `cargo`
    // depends on) would overwrite this one's programs.
    // Its own shared std (`libstd-rust-web-1.85`: librustc_driver) is followed.
    let own_std = format!(
        "{}-{}",
        spec.compiler.replacen("rustc", "libstd-rust", 1),
        spec.rust
            .rsplit_once('.')
            .map_or(spec.rust.as_str(), |(mm, _)| mm)
    );
    let other_compiler = |name: &str| {
        name != own_std
            && ["rustc", "cargo", "libstd-rust"]
                .iter()
                .any(|p| name.starts_with(p))
    };
    // The compiler's own shared std (librustc_driver) always comes from the
    // archive, even when the host has that version installed: rustc finds
    // its sysroot from where librustc_driver was loaded.
    let stop = |name: &str| {
        is_c_toolchain(name) || (have.contains(name) && name != own_std) || other_compiler(name)
    };
    let mut roots = spec.compiler_packages();
    let records = match records(&apt, &roots, &stop, deadline) {
        Ok(r) => r,
        // Some architectures package the compiler without its cargo
        // (mips64el's rustc-web 1.70): their users have the default cargo.
        Err(err)
            if err
                .to_string()
                .contains(&format!("no {}:", spec.cargo_package())) =>
        {
            progress(&format!(
                "the archive has no {} {} for {}: using its default cargo",
                spec.cargo_package(),
                spec.version,
                spec.build_arch
            ));
            roots[1] = "cargo".into();
            records(&apt, &roots, &stop, deadline)?
        }
        Err(err) => return Err(err),
    };
    progress(&format!(
        "unpacking {} ({} packages, {})",
        spec.label(),
        records.len(),
        spec.build_arch
    ));
    let lock = apt.lock()?;
    let debs = apt.download(
        &lock,
        &records,
        deadline.saturating_duration_since(Instant::now()),
    )?;
    drop(lock);
    let parent = spec.root.parent().context("packaged root has no parent")?;
    let work = tempfile::tempdir_in(parent).context("cannot make a temporary directory")?;
    let root = work.path().join("root");
    for deb in &debs {
        apt::extract(deb, &root)?;
    }
    if spec.emulator.is_some() {
        crate::lanes::qemu_user::sysroot::make_self_contained(&root)?;
    }
    let manifest: Vec<String> = records.iter().map(|r| r.identity()).collect();
    std::fs::write(root.join(".manifest"), manifest.join("\n") + "\n")
        .context("cannot write the manifest")?;
    if spec.root.exists() {
        // A partial tree from an interrupted run: the std of a target may be there, the compiler not.
        std::fs::remove_dir_all(&spec.root)
            .with_context(|| format!("cannot remove {}", spec.root.display()))?;
    }
    std::fs::rename(&root, &spec.root)
        .with_context(|| format!("cannot move the compiler to {}", spec.root.display()))?;
    std::fs::write(spec.complete_marker(), "")
        .with_context(|| format!("cannot write {}", spec.complete_marker().display()))?;
    Ok(format!("{} ({} packages)", spec.label(), records.len()))
}

fn unpack_std(spec: &PackagedSpec, deadline: Instant, progress: &dyn Fn(&str)) -> Result<String> {
    if spec.target_arch == spec.build_arch {
        bail!(
            "{} has no std for {} at {}",
            spec.label(),
            spec.target,
            spec.std_dir().display()
        );
    }
    let apt = state(spec, &spec.target_arch, deadline, progress)?;
    let pin = format!("{}={}", spec.std_package(), spec.version);
    // Only the rlibs are needed for static linking; the shared std is left out.
    let records = records(&apt, std::slice::from_ref(&pin), &|_| true, deadline)?;
    progress(&format!("unpacking {}", spec.std_package_pin()));
    let lock = apt.lock()?;
    let debs = apt.download(
        &lock,
        &records,
        deadline.saturating_duration_since(Instant::now()),
    )?;
    drop(lock);
    let parent = spec.root.parent().context("packaged root has no parent")?;
    let work = tempfile::tempdir_in(parent).context("cannot make a temporary directory")?;
    for deb in &debs {
        apt::extract(deb, work.path())?;
    }
    let from = work.path().join("usr/lib/rustlib").join(&spec.target);
    if !has_std(&from.join("lib")) {
        bail!(
            "{} holds no std rlibs under usr/lib/rustlib/{}",
            spec.std_package_pin(),
            spec.target
        );
    }
    let to = spec.root.join("usr/lib/rustlib").join(&spec.target);
    std::fs::create_dir_all(to.parent().context("no parent")?)?;
    if to.exists() {
        std::fs::remove_dir_all(&to).with_context(|| format!("cannot remove {}", to.display()))?;
    }
    std::fs::rename(&from, &to).with_context(|| format!("cannot move std to {}", to.display()))?;
    Ok(spec.std_package_pin())
}

/// cargo runs `rustc` as a program: under emulation, a script that runs the emulator.
fn write_wrapper(spec: &PackagedSpec) -> Result<()> {
    let emulator = spec.emulator.as_deref().unwrap_or_default();
    let emu = crate::host::which(emulator).with_context(|| format!("{emulator} is not on PATH"))?;
    let text = format!(
        "#!/bin/sh\n# {}: {}\nexec '{}' -L '{}' '{}' \"$@\"\n",
        spec.label(),
        spec.how(),
        emu.display(),
        spec.root.display(),
        spec.root.join("usr/bin/rustc").display()
    );
    let path = spec.rustc_wrapper();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        crate::paths::write_atomic(&path, text.as_bytes())?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))?;
    Ok(())
}

/// How a packaged test cell's executables ran, for its provenance:
/// `packaged rustc-web 1.85.0+… built them; they ran under qemu-s390x-static
/// (user mode, Debian bookworm s390x sysroot)`.
pub fn how_tests_ran(spec: &PackagedSpec, runner: &crate::runner::RunnerSpec) -> String {
    use crate::runner::RunnerSpec;
    let place = match runner {
        RunnerSpec::Native => "natively on this host".to_string(),
        RunnerSpec::QemuUser(q) => format!(
            "under {} (user mode, Debian {} {} sysroot)",
            q.emulator
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| q.emulator.display().to_string()),
            q.suite,
            q.debian_arch
        ),
        RunnerSpec::Vm(vm) => format!("in the {} guest", vm.image_id),
        RunnerSpec::None => "nowhere (no runner)".to_string(),
    };
    format!("{} built them; they ran {place}", spec.label())
}
