//! Unpacks a packaged compiler and the std of a target architecture into
//! their private directory (`toolchain::packaged`), from the archive through
//! a private apt state, before the cell's cargo runs. Never installs: the
//! host's dpkg state is only read (to leave out libraries it already has).
//!
//! A compiler of a newer Debian release than the host's asks for a newer
//! glibc than the host has: its root then holds that release's whole runtime,
//! `libc6` included, and it runs through the root's own dynamic loader
//! (`<loader> --library-path <root's lib dirs> <program>`) from scripts
//! beside the root, so that nothing it starts (build scripts, the host's
//! linker, proc-macro builds) inherits its libraries.

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
    let own_libc = if spec.wrapped() {
        own_libc(spec, deadline, progress)?
    } else {
        None
    };
    let mut used = Vec::new();
    if !spec.complete_marker().is_file() || (own_libc.is_some() && !own_libc_marker(spec).is_file())
    {
        used.push(unpack_compiler(
            spec,
            own_libc.as_deref(),
            deadline,
            progress,
        )?);
    }
    if !has_std(&spec.std_dir()) {
        used.push(unpack_std(spec, deadline, progress)?);
    }
    if spec.emulator.is_some() {
        write_wrapper(spec)?;
    }
    if spec.wrapped() {
        write_wrappers(spec, own_libc.as_deref())?;
    }
    let mut out = if used.is_empty() {
        format!("{} (unpacked before)", spec.label())
    } else {
        used.join("; ")
    };
    if let Some(libc) = &own_libc {
        out.push_str(&format!("; {}", runs_with_own_libc(spec, libc)));
    }
    Ok(out)
}

/// Whether `spec`'s compiler, unpacked and wrapped, needs nothing more from [`ensure`].
pub fn is_ready(spec: &PackagedSpec) -> bool {
    spec.complete_marker().is_file()
        && spec.std_dir().is_dir()
        && (!spec.wrapped() || (spec.cargo_wrapper().is_file() && spec.rustc_wrapper().is_file()))
}

/// `with trixie's libc6 2.41-12 through its loader`: how a wrapped compiler runs.
fn runs_with_own_libc(spec: &PackagedSpec, libc6: &str) -> String {
    format!(
        "{} ran with {}'s libc6 {libc6} through its loader (this host's glibc is older)",
        spec.compiler, spec.suite
    )
}

/// Present in a root unpacked with its release's own C library; holds that `libc6`'s version.
fn own_libc_marker(spec: &PackagedSpec) -> std::path::PathBuf {
    spec.root.join(".own-libc")
}

/// The version of `spec`'s release's `libc6` when its compiler needs it
/// (newer than the host's glibc), else `None`. Decided once: a complete
/// root with its scripts keeps the decision (the marker says which).
fn own_libc(
    spec: &PackagedSpec,
    deadline: Instant,
    progress: &dyn Fn(&str),
) -> Result<Option<String>> {
    let marker = own_libc_marker(spec);
    if spec.complete_marker().is_file() {
        if let Ok(version) = std::fs::read_to_string(&marker) {
            return Ok(Some(version.trim().to_string()));
        }
        if spec.cargo_wrapper().is_file() && spec.rustc_wrapper().is_file() {
            return Ok(None);
        }
    }
    let host = host_glibc()?;
    let apt = state(spec, &spec.build_arch, deadline, progress)?;
    let libc6 = apt
        .show(&["libc6".to_string()])?
        .into_iter()
        .next()
        .with_context(|| format!("Debian {} {} has no libc6", spec.suite, spec.build_arch))?;
    Ok(crate::toolchain::packaged::needs_own_libc(&host, &libc6.version).then_some(libc6.version))
}

/// The host's glibc version (`2.36`), as `getconf GNU_LIBC_VERSION` says.
fn host_glibc() -> Result<String> {
    let out = Cmd::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .run()?
        .ok()
        .context("`getconf GNU_LIBC_VERSION` failed")?
        .stdout_str();
    out.trim()
        .strip_prefix("glibc ")
        .map(str::to_string)
        .with_context(|| format!("`getconf GNU_LIBC_VERSION` printed `{}`", out.trim()))
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

/// Unpacks the compiler; with `own_libc` (the release's `libc6` version),
/// its whole runtime, C library included, as for an emulated one.
fn unpack_compiler(
    spec: &PackagedSpec,
    own_libc: Option<&str>,
    deadline: Instant,
    progress: &dyn Fn(&str),
) -> Result<String> {
    let apt = state(spec, &spec.build_arch, deadline, progress)?;
    // A native compiler finds what the host has installed; an emulated one,
    // or one on its own C library, finds nothing of the host's, so its whole
    // runtime is unpacked.
    let have = if spec.emulator.is_none() && own_libc.is_none() {
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
    if let Some(libc6) = own_libc {
        roots.push(format!("libc6={libc6}"));
    }
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
    if spec.emulator.is_some() || own_libc.is_some() {
        crate::lanes::qemu_user::sysroot::make_self_contained(&root)?;
    }
    if let Some(libc6) = own_libc {
        std::fs::write(root.join(".own-libc"), format!("{libc6}\n"))
            .context("cannot write the own-libc marker")?;
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
    write_script(&spec.rustc_wrapper(), &text)
}

/// How a wrapped compiler's programs start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launch {
    /// The host's loader and C library, the root's other libraries first.
    LibraryPath(String),
    /// The root's own loader, with only the root's library directories.
    Loader {
        loader: std::path::PathBuf,
        library_path: String,
    },
}

/// The script that runs `program` as `launch` says, passing its whole
/// environment and arguments through. `cargo` is the cargo
/// script itself: started through a loader, cargo would take the loader for
/// itself (`$CARGO` for build scripts), so it is told.
pub(crate) fn wrapper_script(
    comment: &str,
    program: &Path,
    launch: &Launch,
    cargo: Option<&Path>,
) -> Result<String> {
    fn quoted(s: &str) -> Result<String> {
        if s.contains('\'') {
            bail!("cannot quote `{s}` for a wrapper script");
        }
        Ok(format!("'{s}'"))
    }
    // bash, not sh: dash drops environment variables whose names are not
    // shell names, and cargo hands rustc `CARGO_BIN_EXE_<bin-name>`.
    let mut text = format!("#!/bin/bash\n# {comment}\n");
    if let Some(cargo) = cargo {
        text.push_str(&format!(
            "CARGO={}\nexport CARGO\n",
            quoted(&cargo.display().to_string())?
        ));
    }
    let program = quoted(&program.display().to_string())?;
    match launch {
        Launch::LibraryPath(libs) => text.push_str(&format!(
            "LD_LIBRARY_PATH={}\nexport LD_LIBRARY_PATH\nexec {program} \"$@\"\n",
            quoted(libs)?
        )),
        Launch::Loader {
            loader,
            library_path,
        } => text.push_str(&format!(
            "exec {} --library-path {} {program} \"$@\"\n",
            quoted(&loader.display().to_string())?,
            quoted(library_path)?
        )),
    }
    Ok(text)
}

/// The multiarch directory (`x86_64-linux-gnu`) under the root's `usr/lib`
/// that holds the compiler's `librustc_driver`.
fn multiarch_of(root: &Path) -> Result<String> {
    let lib = root.join("usr/lib");
    std::fs::read_dir(&lib)
        .with_context(|| format!("cannot read {}", lib.display()))?
        .filter_map(|e| e.ok())
        .find(|e| {
            std::fs::read_dir(e.path()).is_ok_and(|d| {
                d.filter_map(|f| f.ok()).any(|f| {
                    f.file_name()
                        .to_string_lossy()
                        .starts_with("librustc_driver-")
                })
            })
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .with_context(|| format!("no librustc_driver under {}", lib.display()))
}

/// Writes the cargo and rustc scripts of a wrapped compiler: through the
/// root's loader when it has its own C library (`own_libc`), else with its
/// library directories first on the host's loader.
fn write_wrappers(spec: &PackagedSpec, own_libc: Option<&str>) -> Result<()> {
    let multiarch = multiarch_of(&spec.root)?;
    let libs = spec.library_path(&multiarch);
    let cargo = spec.root.join("usr/bin/cargo");
    let (launch, how) = match own_libc {
        Some(libc6) => {
            let interp = crate::elf::Identity::read(&cargo)?
                .interpreter
                .with_context(|| format!("{} names no dynamic loader", cargo.display()))?;
            let loader = spec.root.join(interp.trim_start_matches('/'));
            if !loader.is_file() {
                bail!(
                    "{} has no dynamic loader at {}",
                    spec.root.display(),
                    loader.display()
                );
            }
            (
                Launch::Loader {
                    loader,
                    library_path: libs,
                },
                runs_with_own_libc(spec, libc6),
            )
        }
        None => (Launch::LibraryPath(libs), spec.how()),
    };
    let comment = format!("{}: {how}", spec.label());
    let scripts = [
        (
            spec.cargo_wrapper(),
            wrapper_script(&comment, &cargo, &launch, Some(&spec.cargo_wrapper()))?,
        ),
        (
            spec.rustc_wrapper(),
            wrapper_script(&comment, &spec.root.join("usr/bin/rustc"), &launch, None)?,
        ),
    ];
    for (path, text) in scripts {
        write_script(&path, &text)?;
    }
    Ok(())
}

/// Writes an executable script, unless it already says exactly this.
fn write_script(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        crate::paths::write_atomic(path, text.as_bytes())?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn a_wrapper_runs_the_program_through_the_roots_loader() {
        let root =
            PathBuf::from("/cache/packaged-rust/trixie/rustc-web-1.96.0+dfsg1-1~deb13u1+b1-amd64");
        let launch = Launch::Loader {
            loader: root.join("lib64/ld-linux-x86-64.so.2"),
            library_path: format!(
                "{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
                root.display()
            ),
        };
        let cargo_script = PathBuf::from(format!("{}.cargo", root.display()));
        let text = wrapper_script(
            "packaged rustc-web 1.96.0+dfsg1-1~deb13u1+b1: with trixie's libc6",
            &root.join("usr/bin/cargo"),
            &launch,
            Some(&cargo_script),
        )
        .unwrap();
        let r = root.display();
        assert_eq!(
            text,
            format!(
                "#!/bin/bash\n\
                 # packaged rustc-web 1.96.0+dfsg1-1~deb13u1+b1: with trixie's libc6\n\
                 CARGO='{r}.cargo'\n\
                 export CARGO\n\
                 exec '{r}/lib64/ld-linux-x86-64.so.2' --library-path \
                 '{r}/usr/lib/x86_64-linux-gnu:{r}/lib/x86_64-linux-gnu' \
                 '{r}/usr/bin/cargo' \"$@\"\n"
            )
        );
        // rustc's script names no cargo.
        let rustc = wrapper_script("c", &root.join("usr/bin/rustc"), &launch, None).unwrap();
        assert!(!rustc.contains("CARGO="), "{rustc}");
        assert!(
            rustc.ends_with(&format!("'{r}/usr/bin/rustc' \"$@\"\n")),
            "{rustc}"
        );
    }

    #[test]
    fn a_wrapper_on_the_hosts_loader_sets_only_the_library_path() {
        let text = wrapper_script(
            "c",
            Path::new("/r/usr/bin/rustc"),
            &Launch::LibraryPath("/r/usr/lib/x86_64-linux-gnu".into()),
            None,
        )
        .unwrap();
        assert_eq!(
            text,
            "#!/bin/bash\n# c\nLD_LIBRARY_PATH='/r/usr/lib/x86_64-linux-gnu'\nexport LD_LIBRARY_PATH\nexec '/r/usr/bin/rustc' \"$@\"\n"
        );
        // A path the script could not quote is refused, not mangled.
        assert!(wrapper_script(
            "c",
            Path::new("/it's/rustc"),
            &Launch::LibraryPath(String::new()),
            None
        )
        .is_err());
    }

    #[test]
    fn a_wrapper_passes_cargos_hyphenated_variables_to_the_compiler() {
        // cargo hands rustc `CARGO_BIN_EXE_<bin-name>`; dash would drop it.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("env.sh");
        let text = wrapper_script(
            "c",
            Path::new("/usr/bin/env"),
            &Launch::LibraryPath(String::new()),
            None,
        )
        .unwrap();
        write_script(&script, &text).unwrap();
        let out = Cmd::new(script.display().to_string())
            .env("CARGO_BIN_EXE_vhost-user-net", "/bin/x")
            .run()
            .unwrap()
            .ok()
            .unwrap()
            .stdout_str();
        assert!(out.contains("CARGO_BIN_EXE_vhost-user-net=/bin/x"), "{out}");
    }
}
