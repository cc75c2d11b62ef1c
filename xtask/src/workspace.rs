//! The cargo workspace under test, discovered with cargo_metadata, and the
//! digest of its sources that fingerprints depend on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::cmd::Cmd;
use crate::digest::hex;

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// The root directory's name: shown in reports.
    pub name: String,
    pub target_dir: PathBuf,
    /// Workspace members, sorted by name.
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Package {
    pub name: String,
    pub manifest_dir: PathBuf,
    /// Names of binary targets (`[[bin]]`).
    pub bins: Vec<String>,
    /// Whether any target has tests.
    pub has_tests: bool,
    /// Workspace members this one depends on by path.
    pub path_deps: Vec<String>,
    pub rust_version: Option<String>,
    /// Its targets, build scripts and targets with `required-features` aside.
    pub targets: Vec<PackageTarget>,
}

/// One target of a workspace package, as far as the matrix asks about it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PackageTarget {
    /// Its root source file: what cargo's messages name it by.
    pub src_path: PathBuf,
    pub bin: bool,
    /// Built by `--tests`.
    pub test: bool,
}

impl Workspace {
    /// Loads the workspace whose root manifest is `manifest` (or is in that directory).
    /// The answer is cached by the digest of every manifest and the lockfile,
    /// so an unchanged workspace is read without running cargo.
    pub fn load(path: &Path) -> Result<Workspace> {
        let manifest = if path.is_dir() {
            path.join("Cargo.toml")
        } else {
            path.to_path_buf()
        };
        let manifest = manifest
            .canonicalize()
            .with_context(|| format!("no Cargo.toml at {}", manifest.display()))?;
        let root = manifest
            .parent()
            .context("manifest has no directory")?
            .to_path_buf();
        let key = manifests_digest(&root)?;
        let cache_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("matrix")
            .join("cache");
        // `v2`: packages carry their targets.
        let cache = cache_dir.join(format!("metadata-v2-{}.json", &key[..16]));
        if let Ok(text) = std::fs::read_to_string(&cache) {
            if let Ok(cached) = serde_json::from_str::<Cached>(&text) {
                return Ok(cached.into_workspace(root));
            }
        }
        let out = Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--manifest-path",
            ])
            .arg(&manifest)
            .run()?
            .ok()
            .context("cannot read the workspace's metadata")?;
        let meta: cargo_metadata::Metadata =
            serde_json::from_slice(&out.stdout).context("cannot parse `cargo metadata` output")?;
        let member_names: BTreeSet<String> = meta
            .workspace_packages()
            .iter()
            .map(|p| p.name.to_string())
            .collect();
        let mut packages: Vec<Package> = meta
            .workspace_packages()
            .iter()
            .map(|p| Package {
                name: p.name.to_string(),
                manifest_dir: p
                    .manifest_path
                    .parent()
                    .map(|d| d.as_std_path().to_path_buf())
                    .unwrap_or_default(),
                bins: p
                    .targets
                    .iter()
                    .filter(|t| t.is_bin())
                    .map(|t| t.name.clone())
                    .collect(),
                has_tests: p.targets.iter().any(|t| t.test),
                path_deps: p
                    .dependencies
                    .iter()
                    .filter(|d| d.path.is_some() && member_names.contains(&d.name))
                    .map(|d| d.name.clone())
                    .collect(),
                rust_version: p.rust_version.as_ref().map(|v| v.to_string()),
                targets: p
                    .targets
                    .iter()
                    // Build scripts, and targets that only some features build.
                    .filter(|t| !t.is_custom_build() && t.required_features.is_empty())
                    .map(|t| PackageTarget {
                        src_path: t.src_path.as_std_path().to_path_buf(),
                        bin: t.is_bin(),
                        test: t.test,
                    })
                    .collect(),
            })
            .collect();
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        let name = meta
            .workspace_metadata
            .pointer("/matrix/name")
            .and_then(|n| n.as_str())
            .map(str::to_string);
        let cached = Cached {
            target_dir: meta.target_directory.as_std_path().to_path_buf(),
            packages,
            name,
        };
        if std::fs::create_dir_all(&cache_dir).is_ok() {
            let _ = crate::paths::write_atomic(&cache, serde_json::to_string(&cached)?.as_bytes());
        }
        Ok(cached.into_workspace(root))
    }

    pub fn package(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// `packages` and every workspace member they depend on by path.
    pub fn closure(&self, packages: &[String]) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = packages.to_vec();
        while let Some(name) = todo.pop() {
            if seen.insert(name.clone()) {
                if let Some(p) = self.package(&name) {
                    todo.extend(p.path_deps.iter().cloned());
                }
            }
        }
        seen
    }

    /// `crate `newapi` (newapi/src/lib.rs): newapi/src/lib.rs:5: …`: a
    /// compiler error with the member whose directory holds its file (the
    /// innermost), as `msrv --verify` and the matrix's MSRV cells name it.
    pub fn describe_error(&self, error: &crate::results::Diagnostic) -> String {
        let Some(file) = &error.file else {
            return format!("the workspace: {}", error.short());
        };
        let path = self.root.join(file);
        let member = self
            .packages
            .iter()
            .filter(|p| path.starts_with(&p.manifest_dir))
            .max_by_key(|p| p.manifest_dir.as_os_str().len())
            .map(|p| format!("crate `{}` ({file})", p.name))
            .unwrap_or_else(|| file.clone());
        format!("{member}: {}", error.short())
    }

    /// The matrix's own output directory.
    pub fn matrix_dir(&self) -> PathBuf {
        self.target_dir.join("matrix")
    }

    /// Digest of what a build of `packages` reads: their sources (and their
    /// path dependencies'), the root manifest, the lockfile and cargo config.
    pub fn source_digest(&self, packages: &[String]) -> Result<String> {
        let mut files: BTreeMap<PathBuf, ()> = BTreeMap::new();
        for name in self.closure(packages) {
            if let Some(p) = self.package(&name) {
                for file in walk(&p.manifest_dir, &self.target_dir)? {
                    files.insert(file, ());
                }
            }
        }
        for extra in [
            "Cargo.toml",
            "Cargo.lock",
            ".cargo/config.toml",
            "rust-toolchain.toml",
            "rust-toolchain",
        ] {
            let path = self.root.join(extra);
            if path.is_file() {
                files.insert(path, ());
            }
        }
        let mut hasher = Sha256::new();
        for path in files.keys() {
            let rel = path.strip_prefix(&self.root).unwrap_or(path);
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update([0]);
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        Ok(hex(&hasher.finalize()))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cached {
    target_dir: PathBuf,
    packages: Vec<Package>,
    /// `[workspace.metadata.matrix] name`, the report's title.
    #[serde(default)]
    name: Option<String>,
}

impl Cached {
    fn into_workspace(self, root: PathBuf) -> Workspace {
        let name = self
            .name
            .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "workspace".into());
        Workspace {
            root,
            name,
            target_dir: self.target_dir,
            packages: self.packages,
        }
    }
}

/// Files under `dir` that git would consider (ignore rules honoured), minus the target directory.
fn walk(dir: &Path, target_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let target_dir = target_dir.to_path_buf();
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .require_git(false)
        .filter_entry(move |e| {
            e.path() != target_dir && e.file_name() != ".git" && e.file_name() != "target"
        })
        .build();
    for entry in walker {
        let entry = entry.with_context(|| format!("cannot walk {}", dir.display()))?;
        if entry.file_type().is_some_and(|t| t.is_file()) {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Digest of every Cargo.toml in the workspace tree and the lockfile: the key of the metadata cache.
fn manifests_digest(root: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut files: Vec<PathBuf> = walk(root, &root.join("target"))?
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n == "Cargo.toml" || n == "Cargo.lock")
        })
        .collect();
    files.sort();
    for path in files {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&path).unwrap_or_default());
    }
    hasher.update(std::env::var("CARGO_TARGET_DIR").unwrap_or_default());
    Ok(hex(&hasher.finalize()))
}
