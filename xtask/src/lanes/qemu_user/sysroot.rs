//! The qemu-user lane's sysroot: that architecture's Debian packages (its
//! dynamic loader and C library) fetched through a private apt state,
//! unpacked and made self-contained, once per suite and architecture.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::apt::{self, AptState};
use crate::runner::qemu_user::QemuUserSpec;

/// Makes the sysroot if it is not there yet: the packages downloaded through
/// the suite × architecture's private apt state, unpacked, a manifest of what
/// went in. Built in a temporary directory and renamed, so a half-made
/// sysroot is never used.
pub fn ensure_sysroot(
    spec: &QemuUserSpec,
    timeout: Duration,
    progress: &dyn Fn(&str),
) -> Result<String> {
    let base = spec
        .sysroot
        .parent()
        .context("sysroot has no parent")?
        .to_path_buf();
    let manifest = base.join("manifest.txt");
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        return Ok(text.trim().lines().collect::<Vec<_>>().join(", "));
    }
    let deadline = std::time::Instant::now() + timeout;
    let apt = AptState::open(&apt::cache_root(), &spec.suite, &spec.debian_arch)?;
    let lock = apt.lock()?;
    progress(&format!(
        "fetching Debian {} {} package lists",
        spec.suite, spec.debian_arch
    ));
    if let Some(warning) = apt.update(&lock, timeout)? {
        progress(&format!("warning: {warning}"));
    }
    progress(&format!(
        "downloading {} ({})",
        spec.packages.join(", "),
        spec.debian_arch
    ));
    let records = apt.show(&spec.packages)?;
    let remaining = deadline.saturating_duration_since(std::time::Instant::now());
    let debs = apt.download(&lock, &records, remaining)?;
    drop(lock);
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let work =
        tempfile::tempdir_in(&base).context("cannot make a temporary directory for the sysroot")?;
    let root = work.path().join("root");
    let mut lines = Vec::new();
    for (record, deb) in records.iter().zip(&debs) {
        apt::extract(deb, &root)?;
        lines.push(record.identity());
    }
    make_self_contained(&root)?;
    match std::fs::rename(&root, &spec.sysroot) {
        Ok(()) => {}
        // Another run made it meanwhile: theirs is as good as ours.
        Err(_) if spec.sysroot.is_dir() => {}
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot move the sysroot to {}", spec.sysroot.display()))
        }
    }
    crate::paths::write_atomic(&manifest, format!("{}\n", lines.join("\n")).as_bytes())?;
    Ok(lines.join(", "))
}

/// Makes an unpacked tree usable as `qemu -L` prefix. The emulator maps the
/// guest's paths into the prefix, but the kernel follows symlinks itself:
/// an absolute link (`/lib64/ld64.so.2 -> /lib/powerpc64le-linux-gnu/ld64.so.2`)
/// would lead out to the host, so it is made relative; and merged-/usr
/// suites (trixie) ship `/usr/lib` only, so `/lib` and friends become links
/// into `usr/` as on an installed system.
pub fn make_self_contained(root: &Path) -> Result<()> {
    for dir in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let (top, usr) = (root.join(dir), root.join("usr").join(dir));
        if usr.is_dir() && std::fs::symlink_metadata(&top).is_err() {
            std::os::unix::fs::symlink(Path::new("usr").join(dir), &top)
                .with_context(|| format!("cannot link {}", top.display()))?;
        }
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)?;
                if let Ok(inside) = target.strip_prefix("/") {
                    let depth = path
                        .strip_prefix(root)
                        .map(|p| p.components().count() - 1)
                        .unwrap_or(0);
                    let relative: PathBuf = std::iter::repeat_n(Path::new(".."), depth)
                        .collect::<PathBuf>()
                        .join(inside);
                    std::fs::remove_file(&path)?;
                    std::os::unix::fs::symlink(&relative, &path)
                        .with_context(|| format!("cannot relink {}", path.display()))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysroot_links_stay_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("lib/powerpc64le-linux-gnu")).unwrap();
        std::fs::write(root.join("lib/powerpc64le-linux-gnu/ld64.so.2"), "loader").unwrap();
        std::fs::create_dir_all(root.join("lib64")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/powerpc64le-linux-gnu/ld64.so.2",
            root.join("lib64/ld64.so.2"),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("usr/lib/riscv64-linux-gnu")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        make_self_contained(root).unwrap();
        assert_eq!(
            std::fs::read_link(root.join("lib64/ld64.so.2")).unwrap(),
            Path::new("../lib/powerpc64le-linux-gnu/ld64.so.2")
        );
        assert_eq!(
            std::fs::read_to_string(root.join("lib64/ld64.so.2")).unwrap(),
            "loader"
        );
        // `lib` exists as a directory already; `bin` comes from merged /usr.
        assert!(std::fs::symlink_metadata(root.join("lib"))
            .unwrap()
            .is_dir());
        assert_eq!(
            std::fs::read_link(root.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        // Idempotent.
        make_self_contained(root).unwrap();
        assert_eq!(
            std::fs::read_link(root.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
    }
}
