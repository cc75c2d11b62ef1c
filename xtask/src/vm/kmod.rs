//! Which kernel modules a Linux guest loads, in what order. Debian's kernel
//! packages ship no `modules.dep` (depmod runs at install time), so each
//! module's dependencies are read from its own `.modinfo` (`depends=`).
//! Modules may be compressed (`.ko.xz`, `.ko.zst`, `.ko.gz`): they are
//! unpacked here, since busybox `insmod` does not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;

/// A module to load, its dependencies before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// `virtio_blk` (dashes in file names become underscores, as the kernel does).
    pub name: String,
    /// Relative to the modules directory (`kernel/drivers/block/virtio_blk.ko`).
    pub path: String,
    /// The uncompressed module.
    pub bytes: Vec<u8>,
}

/// What [`resolve`] found.
#[derive(Debug, Default)]
pub struct Resolution {
    /// In load order.
    pub modules: Vec<Module>,
    /// Wanted modules the kernel has built in.
    pub builtin: Vec<String>,
}

/// Resolves `wanted` and their dependencies in `modules_dir` (`lib/modules/<release>`).
pub fn resolve(modules_dir: &Path, wanted: &[String]) -> Result<Resolution> {
    let files = index(modules_dir)?;
    let builtin = builtin_names(modules_dir);
    let mut resolution = Resolution::default();
    let mut done: BTreeSet<String> = BTreeSet::new();
    for name in wanted {
        let name = normalize(name);
        if !files.contains_key(&name) {
            if builtin.contains(&name) {
                resolution.builtin.push(name);
                continue;
            }
            bail!(
                "kernel module `{name}` is neither a module file under {} nor built into the kernel (modules.builtin)",
                modules_dir.display()
            );
        }
        visit(
            &name,
            &files,
            modules_dir,
            &mut done,
            &mut Vec::new(),
            &mut resolution.modules,
        )?;
    }
    Ok(resolution)
}

fn visit(
    name: &str,
    files: &BTreeMap<String, PathBuf>,
    modules_dir: &Path,
    done: &mut BTreeSet<String>,
    stack: &mut Vec<String>,
    out: &mut Vec<Module>,
) -> Result<()> {
    if done.contains(name) {
        return Ok(());
    }
    if stack.iter().any(|s| s == name) {
        bail!(
            "kernel modules depend on each other in a cycle: {} -> {name}",
            stack.join(" -> ")
        );
    }
    let path = files.get(name).with_context(|| {
        format!(
            "kernel module `{}` needs `{name}`, which is not under {}",
            stack.last().map(String::as_str).unwrap_or("?"),
            modules_dir.display()
        )
    })?;
    let bytes = read_module(path)?;
    stack.push(name.to_string());
    for dep in depends(&bytes) {
        visit(&dep, files, modules_dir, done, stack, out)?;
    }
    stack.pop();
    done.insert(name.to_string());
    let rel = path
        .strip_prefix(modules_dir)
        .unwrap_or(path)
        .display()
        .to_string();
    out.push(Module {
        name: name.to_string(),
        path: rel,
        bytes,
    });
    Ok(())
}

/// Module name → file, for every module file under `modules_dir`.
fn index(modules_dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![modules_dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                todo.push(path);
            } else if let Some(name) = module_name(&path) {
                files.insert(name, path);
            }
        }
    }
    Ok(files)
}

fn module_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    Some(normalize(stem))
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn builtin_names(modules_dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(modules_dir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| module_name(Path::new(l.trim())))
        .collect()
}

fn read_module(path: &Path) -> Result<Vec<u8>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let tool = if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    };
    let out = Cmd::new(tool)
        .args(["-d", "-c"])
        .arg(path)
        .run()?
        .ok()
        .with_context(|| format!("cannot unpack {}", path.display()))?;
    Ok(out.stdout)
}

/// The `depends=` entry of a module's `.modinfo` (NUL-separated `key=value` strings).
pub fn depends(module: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"depends=";
    let mut at = 0;
    while let Some(i) = find(&module[at..], KEY) {
        let start = at + i;
        if start == 0 || module[start - 1] == 0 {
            let value = &module[start + KEY.len()..];
            let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
            return String::from_utf8_lossy(&value[..end])
                .split(',')
                .filter(|s| !s.is_empty())
                .map(normalize)
                .collect();
        }
        at = start + 1;
    }
    Vec::new()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ko(name: &str, deps: &str) -> Vec<u8> {
        // What matters of a module here: its .modinfo strings among other bytes.
        format!("\x7fELF junk-depends=fake\0license=GPL\0depends={deps}\0name={name}\0vermagic=6.1.0 SMP\0").into_bytes()
    }

    #[test]
    fn orders_dependencies_first_and_skips_builtins() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str, bytes: Vec<u8>| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        put("kernel/drivers/virtio/virtio.ko", ko("virtio", ""));
        put(
            "kernel/drivers/virtio/virtio_ring.ko",
            ko("virtio_ring", ""),
        );
        put(
            "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
            ko("virtio_pci_modern_dev", ""),
        );
        put(
            "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
            ko("virtio_pci_legacy_dev", ""),
        );
        put(
            "kernel/drivers/virtio/virtio_pci.ko",
            ko(
                "virtio_pci",
                "virtio_pci_modern_dev,virtio_ring,virtio,virtio_pci_legacy_dev",
            ),
        );
        put(
            "kernel/drivers/block/virtio_blk.ko",
            ko("virtio_blk", "virtio,virtio_ring"),
        );
        put(
            "kernel/drivers/char/hw_random/virtio-rng.ko",
            ko("virtio_rng", "virtio,virtio_ring"),
        );
        put(
            "modules.builtin",
            b"kernel/drivers/s390/virtio/virtio_ccw.ko\n".to_vec(),
        );
        let wanted: Vec<String> = ["virtio_ccw", "virtio_pci", "virtio_blk", "virtio-rng"]
            .map(String::from)
            .to_vec();
        let got = resolve(root, &wanted).unwrap();
        let order: Vec<&str> = got.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "virtio_pci_modern_dev",
                "virtio_ring",
                "virtio",
                "virtio_pci_legacy_dev",
                "virtio_pci",
                "virtio_blk",
                "virtio_rng"
            ]
        );
        assert_eq!(got.builtin, ["virtio_ccw"]);
        let err = resolve(root, &["nope".to_string()]).unwrap_err();
        assert!(
            err.to_string().contains("`nope` is neither a module file"),
            "{err}"
        );
        put("kernel/x.ko", ko("x", "missing_dep"));
        let err = resolve(root, &["x".to_string()]).unwrap_err();
        assert!(err.to_string().contains("`x` needs `missing_dep`"), "{err}");
    }

    #[test]
    fn reads_depends_only_from_a_modinfo_entry() {
        assert_eq!(depends(&ko("a", "b,c")), ["b", "c"]);
        assert_eq!(depends(&ko("a", "")), Vec::<String>::new());
        assert_eq!(depends(b"xdepends=nope\0"), Vec::<String>::new());
    }
}
