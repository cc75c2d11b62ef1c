//! Linux guest images built from Debian packages: the kernel, busybox, the C
//! runtime (libc6, libgcc-s1) and the kernel modules the recipe lists,
//! assembled into an uncompressed initramfs beside the kernel.
//!
//! An image is keyed by content: the recipe, this builder's version and the
//! exact packages (name, version, SHA-256) the archive offered. A built image
//! is never rebuilt; a new package version makes a new image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cpio::CpioWriter;
use super::{guest, kmod};
use crate::apt::{self, AptState, PackageRecord};
use crate::cmd::Cmd;
use crate::digest::hex;
use crate::model::vm_image::{DebianSource, KernelImage};
use crate::model::VmImage;
use crate::paths::FileLock;

/// Bumped whenever the same packages would be assembled differently.
pub const BUILDER_VERSION: u32 = 1;

/// How long downloading an image's packages (a kernel is tens of MB) may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(1800);

/// Userland packages every guest carries beside its kernel.
const USERLAND: [&str; 3] = ["busybox-static", "libc6", "libgcc-s1"];

/// A built image on disk.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub meta: ImageMeta,
}

/// `image.json` beside the files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageMeta {
    pub id: String,
    pub key: String,
    pub kernel_release: String,
    pub packages: Vec<PackageRecord>,
    /// In load order.
    pub modules: Vec<String>,
    pub builtin_modules: Vec<String>,
    pub initrd_bytes: u64,
}

/// The packages an image would be built from, and the image's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resolved {
    pub key: String,
    pub packages: Vec<PackageRecord>,
}

fn debian(id: &str, image: &VmImage) -> Result<DebianSource> {
    image
        .debian
        .clone()
        .with_context(|| format!("image `{id}` is not built from Debian packages"))
}

fn images_root() -> PathBuf {
    crate::paths::cache_dir().join("vm").join("images")
}

/// The image's key from its recipe and the packages chosen.
fn key_of(image: &VmImage, packages: &[PackageRecord]) -> String {
    let inputs = serde_json::json!({
        "builder": BUILDER_VERSION,
        "init": guest::LINUX_INIT,
        "recipe": image.debian,
        "modules": image.guest_modules(),
        "packages": packages.iter().map(|p| (&p.package, &p.version, &p.sha256)).collect::<Vec<_>>(),
    });
    hex(&Sha256::digest(inputs.to_string().as_bytes()))
}

/// What the lists in the private apt state say the image would be made of.
fn resolve_with(apt: &AptState, image: &VmImage, source: &DebianSource) -> Result<Resolved> {
    let meta = format!("linux-image-{}", source.kernel_flavour);
    let records = apt.show(std::slice::from_ref(&meta))?;
    let depends = records[0].depends.clone().unwrap_or_default();
    // `linux-image-<flavour>` depends on the versioned kernel package first.
    let kernel = depends
        .split(',')
        .map(|d| {
            d.split('|')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .find(|d| d.starts_with("linux-image-"))
        .with_context(|| {
            format!("{meta} depends on no linux-image package (Depends: {depends})")
        })?;
    let mut names = vec![kernel];
    names.extend(USERLAND.iter().map(|s| s.to_string()));
    let mut packages = apt.show(&names)?;
    packages.sort_by(|a, b| a.package.cmp(&b.package));
    packages.dedup_by(|a, b| a.package == b.package);
    Ok(Resolved {
        key: key_of(image, &packages),
        packages,
    })
}

/// At plan time: the image's key if the package lists are already here,
/// without touching the network (`None` otherwise). Memoized by the lists' stamp.
pub fn resolve_offline(id: &str, image: &VmImage) -> Option<Resolved> {
    let source = image.debian.as_ref()?;
    let state = AptState::dir_for(&apt::cache_root(), &source.suite, &source.arch);
    if !state.join("lists").is_dir() {
        return None;
    }
    let apt = AptState::open(&apt::cache_root(), &source.suite, &source.arch).ok()?;
    if !apt.has_lists() {
        return None;
    }
    let memo = apt.dir.join(format!("resolved-{id}.json"));
    let stamp = format!(
        "{}|{}",
        apt.lists_stamp(),
        serde_json::to_string(source).ok()?
    );
    #[derive(Serialize, Deserialize)]
    struct Memo {
        stamp: String,
        resolved: Resolved,
    }
    if let Some(m) = std::fs::read_to_string(&memo)
        .ok()
        .and_then(|t| serde_json::from_str::<Memo>(&t).ok())
    {
        if m.stamp == stamp && m.resolved.key == key_of(image, &m.resolved.packages) {
            return Some(m.resolved);
        }
    }
    let resolved = resolve_with(&apt, image, source).ok()?;
    let memo_text = serde_json::to_string_pretty(&Memo {
        stamp,
        resolved: resolved.clone(),
    })
    .ok()?;
    let _ = crate::paths::write_atomic(&memo, memo_text.as_bytes());
    Some(resolved)
}

/// The built image with this key, if there is one.
pub fn find_built(id: &str, key: &str) -> Option<BuiltImage> {
    let dir = images_root().join(id).join(&key[..16]);
    let meta: ImageMeta =
        serde_json::from_str(&std::fs::read_to_string(dir.join("image.json")).ok()?).ok()?;
    (meta.key == key).then(|| BuiltImage {
        kernel: dir.join("kernel"),
        initrd: dir.join("initramfs.cpio"),
        dir,
        meta,
    })
}

/// Builds the image (or finds it built). `refresh` updates the package lists first.
pub fn build(
    id: &str,
    image: &VmImage,
    refresh: bool,
    progress: &dyn Fn(&str),
) -> Result<BuiltImage> {
    let source = debian(id, image)?;
    let apt = AptState::open(&apt::cache_root(), &source.suite, &source.arch)?;
    let apt_lock = apt.lock()?;
    if refresh || !apt.has_lists() {
        progress(&format!(
            "updating the {} {} package lists",
            source.suite, source.arch
        ));
        if let Some(warning) = apt.update(&apt_lock, apt::UPDATE_TIMEOUT)? {
            progress(&format!("warning: {warning}"));
        }
    }
    let mut resolved = resolve_with(&apt, image, &source)?;
    if let Some(built) = find_built(id, &resolved.key) {
        return Ok(built);
    }
    progress(&format!(
        "downloading {}",
        resolved
            .packages
            .iter()
            .map(|p| p.package.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let debs = match apt.download(&apt_lock, &resolved.packages, DOWNLOAD_TIMEOUT) {
        Ok(debs) => debs,
        Err(first) if !refresh => {
            // The archive moved on (a superseded version is gone): refresh once.
            progress(&format!(
                "download failed ({first:#}); updating the package lists"
            ));
            if let Some(warning) = apt.update(&apt_lock, apt::UPDATE_TIMEOUT)? {
                progress(&format!("warning: {warning}"));
            }
            resolved = resolve_with(&apt, image, &source)?;
            if let Some(built) = find_built(id, &resolved.key) {
                return Ok(built);
            }
            apt.download(&apt_lock, &resolved.packages, DOWNLOAD_TIMEOUT)?
        }
        Err(err) => return Err(err),
    };
    drop(apt_lock);
    let _lock = FileLock::acquire(&images_root().join(format!("{id}.lock")))?;
    if let Some(built) = find_built(id, &resolved.key) {
        return Ok(built);
    }
    progress(&format!("assembling image {id}"));
    assemble(id, image, &source, &resolved, &debs)
}

fn assemble(
    id: &str,
    image: &VmImage,
    source: &DebianSource,
    resolved: &Resolved,
    debs: &[PathBuf],
) -> Result<BuiltImage> {
    let root = images_root().join(id);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&root)
        .context("cannot create a build directory")?;
    let kernel_root = work.path().join("kernel-pkg");
    let user_root = work.path().join("userland-pkg");
    for (record, deb) in resolved.packages.iter().zip(debs) {
        let into = if record.package.starts_with("linux-image-") {
            &kernel_root
        } else {
            &user_root
        };
        apt::extract(deb, into)?;
    }

    let (release, modules_dir) = find_modules_dir(&kernel_root)?;
    let out = work.path().join("image");
    std::fs::create_dir_all(&out)?;
    let kernel_path = out.join("kernel");
    let packaged = ["vmlinuz", "vmlinux"]
        .iter()
        .map(|n| kernel_root.join("boot").join(format!("{n}-{release}")))
        .find(|p| p.is_file())
        .with_context(|| {
            format!("the kernel package has no boot/vmlinuz-{release} or boot/vmlinux-{release}")
        })?;
    match source.kernel_image {
        KernelImage::Vmlinuz => {
            std::fs::copy(&packaged, &kernel_path)
                .with_context(|| format!("cannot copy {}", packaged.display()))?;
        }
        KernelImage::Vmlinux => {
            let elf = unpack_vmlinux(&packaged)?;
            std::fs::write(&kernel_path, elf)?;
        }
    }

    let resolution = kmod::resolve(&modules_dir, &image.guest_modules())?;
    let mut tree = Tree::default();
    for dir in [
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/lib64",
        "usr/lib/modules",
        "usr/lib/modules/vhu",
        "dev",
        "proc",
        "sys",
        "tmp",
        "etc",
        "payload",
    ] {
        tree.dir(dir);
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        tree.entries
            .insert(link.into(), Entry::Symlink(target.into()));
    }
    let busybox = ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .map(|p| user_root.join(p))
        .find(|p| p.is_file())
        .context("busybox-static has no bin/busybox")?;
    tree.file("usr/bin/busybox", 0o755, std::fs::read(&busybox)?);
    add_runtime(&mut tree, &user_root)?;
    let mut order = String::new();
    for m in &resolution.modules {
        tree.file(
            &format!("usr/lib/modules/vhu/{}.ko", m.name),
            0o644,
            m.bytes.clone(),
        );
        order.push_str(&format!("{}.ko\n", m.name));
    }
    tree.file("etc/vhu-modules", 0o644, order.into_bytes());
    tree.file("init", 0o755, guest::LINUX_INIT.as_bytes().to_vec());

    let initrd_path = out.join("initramfs.cpio");
    let file = std::io::BufWriter::new(std::fs::File::create(&initrd_path)?);
    let mut cpio = CpioWriter::new(file);
    cpio.char_device("dev/console", 0o600, 5, 1)?;
    cpio.char_device("dev/null", 0o666, 1, 3)?;
    for (path, entry) in &tree.entries {
        match entry {
            Entry::Dir => cpio.dir(path, 0o755)?,
            Entry::File(mode, data) => cpio.file(path, *mode, data)?,
            Entry::Symlink(target) => cpio.symlink(path, target)?,
        }
    }
    cpio.finish()?;

    let meta = ImageMeta {
        id: id.to_string(),
        key: resolved.key.clone(),
        kernel_release: release,
        packages: resolved.packages.clone(),
        modules: resolution.modules.iter().map(|m| m.name.clone()).collect(),
        builtin_modules: resolution.builtin,
        initrd_bytes: std::fs::metadata(&initrd_path)?.len(),
    };
    std::fs::write(out.join("image.json"), serde_json::to_string_pretty(&meta)?)?;
    let dest = root.join(&resolved.key[..16]);
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    std::fs::rename(&out, &dest)
        .with_context(|| format!("cannot move the image to {}", dest.display()))?;
    find_built(id, &resolved.key)
        .with_context(|| format!("the image just built at {} cannot be read", dest.display()))
}

/// `lib/modules/<release>` (bookworm) or `usr/lib/modules/<release>` (merged /usr).
fn find_modules_dir(kernel_root: &Path) -> Result<(String, PathBuf)> {
    for base in ["lib/modules", "usr/lib/modules"] {
        let dir = kernel_root.join(base);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().join("kernel").is_dir() {
                    return Ok((e.file_name().to_string_lossy().into_owned(), e.path()));
                }
            }
        }
    }
    bail!("the kernel package has no lib/modules/<release>/kernel directory")
}

/// x86's bzImage carries the kernel ELF compressed; QEMU boots that ELF
/// through PVH without running the decompressor under emulation.
fn unpack_vmlinux(bzimage: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(bzimage)?;
    const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
    let dir = tempfile::tempdir()?;
    let mut start = 0;
    while let Some(i) = bytes[start..].windows(XZ.len()).position(|w| w == XZ) {
        let at = start + i;
        let tail = dir.path().join("tail.xz");
        std::fs::write(&tail, &bytes[at..])?;
        let out = Cmd::new("xz")
            .args(["-d", "-c", "-q", "--single-stream"])
            .arg(&tail)
            .run()?;
        if out.stdout.starts_with(b"\x7fELF") {
            return Ok(out.stdout);
        }
        start = at + 1;
    }
    bail!(
        "{} holds no xz-compressed ELF kernel (`kernel-image = \"vmlinux\"` needs an xz bzImage)",
        bzimage.display()
    )
}

#[derive(Default)]
struct Tree {
    entries: BTreeMap<String, Entry>,
}

enum Entry {
    Dir,
    File(u32, Vec<u8>),
    Symlink(String),
}

impl Tree {
    fn dir(&mut self, path: &str) {
        let mut at = String::new();
        for part in path.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            self.entries.entry(at.clone()).or_insert(Entry::Dir);
        }
    }

    fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entries
            .insert(path.to_string(), Entry::File(mode, data));
    }

    fn symlink(&mut self, path: &str, target: String) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entries
            .insert(path.to_string(), Entry::Symlink(target));
    }
}

/// The shared libraries and the dynamic loader, under a merged /usr.
fn add_runtime(tree: &mut Tree, root: &Path) -> Result<()> {
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let e = e?;
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let Some(mapped) = runtime_path(&rel) else {
                continue;
            };
            let kind = e.file_type()?;
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_symlink() {
                tree.symlink(
                    &mapped,
                    std::fs::read_link(&path)?.to_string_lossy().into_owned(),
                );
            } else if kind.is_file() && mapped.split('/').any(|c| c.contains(".so")) {
                use std::os::unix::fs::PermissionsExt;
                let mode = e.metadata()?.permissions().mode() & 0o777;
                tree.file(&mapped, mode, std::fs::read(&path)?);
            }
        }
    }
    Ok(())
}

/// Where a packaged path goes in the guest, or `None` to leave it out
/// (documentation, locales, gconv modules: nothing a test executable loads).
fn runtime_path(rel: &str) -> Option<String> {
    let mapped =
        if rel == "lib" || rel.starts_with("lib/") || rel == "lib64" || rel.starts_with("lib64/") {
            format!("usr/{rel}")
        } else if rel == "usr"
            || rel == "usr/lib"
            || rel.starts_with("usr/lib/")
            || rel == "usr/lib64"
            || rel.starts_with("usr/lib64/")
        {
            rel.to_string()
        } else {
            return None;
        };
    (!mapped.contains("/gconv") && !mapped.contains("/audit")).then_some(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_paths_land_under_a_merged_usr() {
        let cases = [
            "lib/x86_64-linux-gnu/libc.so.6",
            "lib64/ld-linux-x86-64.so.2",
            "usr/lib/riscv64-linux-gnu/libc.so.6",
            "usr/lib/x86_64-linux-gnu/gconv/UTF-16.so",
            "usr/share/doc/libc6/copyright",
            "bin/busybox",
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|c| format!("{c} -> {}", runtime_path(c).unwrap_or_else(|| "-".into())))
            .collect();
        expect_test::expect![[r#"
            lib/x86_64-linux-gnu/libc.so.6 -> usr/lib/x86_64-linux-gnu/libc.so.6
            lib64/ld-linux-x86-64.so.2 -> usr/lib64/ld-linux-x86-64.so.2
            usr/lib/riscv64-linux-gnu/libc.so.6 -> usr/lib/riscv64-linux-gnu/libc.so.6
            usr/lib/x86_64-linux-gnu/gconv/UTF-16.so -> -
            usr/share/doc/libc6/copyright -> -
            bin/busybox -> -"#]]
        .assert_eq(&got.join("\n"));
    }
}
