//! The project's data — `platforms/`, `matrix/matrix.toml`, `vm-images/` — parsed and checked.
//!
//! Loading is pure: it reads files, never probes the host, and reports every
//! problem it finds with the file and the key at fault, before anything runs.

mod diag;
pub mod lifecycle;
pub mod matrix;
pub mod msrv_policy;
pub mod platform;
pub mod rust_status;
pub mod rust_version;
pub mod std_support;
pub mod vm_image;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use diag::{parse_str, LoadError, LoadErrors};
pub use matrix::{Exclusion, ExpectedFailure, Lane, MatrixFile, Stage};
pub use msrv_policy::MsrvPolicy;
pub use platform::{LinkerKind, OsFile, Platform, ToolchainKind};
pub use rust_status::RustStatusFile;
pub use rust_version::RustVersion;
pub use std_support::StdSupport;
pub use vm_image::VmImage;

/// Where the data lives. Paths in error messages are shown relative to `root`;
/// a file that cannot be read is named by its absolute path and by how the
/// directory was found (`found_by`).
#[derive(Debug, Clone)]
pub struct DataDirs {
    pub root: PathBuf,
    pub platforms: PathBuf,
    pub matrix: PathBuf,
    pub vm_images: PathBuf,
    /// How `root` was chosen (`--data`, the checkout this xtask was built from).
    pub found_by: String,
    /// `matrix` came from `--matrix`, not from under `root`.
    pub matrix_from_flag: bool,
}

impl DataDirs {
    /// `platforms/rust/`: Rust facts per platform (generated) and the MSRV
    /// policy (by hand). A subdirectory, so that it is not read as an OS file.
    pub fn rust_dir(&self) -> PathBuf {
        self.platforms.join("rust")
    }

    pub fn rust_status(&self) -> PathBuf {
        self.rust_dir().join("status.toml")
    }

    /// `platforms/lifecycle/releases.toml`: release and end-of-life dates (generated).
    pub fn lifecycle(&self) -> PathBuf {
        self.platforms.join("lifecycle").join("releases.toml")
    }

    pub fn msrv_policy(&self) -> PathBuf {
        self.rust_dir().join("msrv-policy.toml")
    }

    /// The standard layout under a repository root.
    pub fn under(root: &Path) -> DataDirs {
        DataDirs {
            root: root.to_path_buf(),
            platforms: root.join("platforms"),
            matrix: root.join("matrix").join("matrix.toml"),
            vm_images: root.join("vm-images"),
            found_by: "given to the loader".to_string(),
            matrix_from_flag: false,
        }
    }

    /// The directories one invocation uses: `--data` (else the checkout this
    /// xtask was built from), with `--matrix` replacing the matrix file.
    pub fn resolve(data: Option<&Path>, matrix: Option<&Path>) -> DataDirs {
        let mut dirs = match data {
            Some(root) => DataDirs {
                found_by: "given by --data".to_string(),
                ..DataDirs::under(root)
            },
            None => DataDirs {
                found_by: "the checkout this xtask was built from; --data chooses another"
                    .to_string(),
                ..DataDirs::under(&crate::repo_root())
            },
        };
        if let Some(m) = matrix {
            dirs.matrix = m.to_path_buf();
            dirs.matrix_from_flag = true;
        }
        dirs
    }

    /// `cannot read <absolute path> (<how it was found>): <err>`: a message
    /// that orients whoever runs a binary built from another checkout.
    pub fn cannot_read(&self, path: &Path, what: &str, err: &std::io::Error) -> String {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let origin = if self.matrix_from_flag && path == self.matrix {
            "given by --matrix".to_string()
        } else {
            format!(
                "data directory {}, {}",
                abs(&self.root).display(),
                self.found_by
            )
        };
        format!(
            "cannot read {what}{} ({origin}): {err}",
            abs(path).display()
        )
    }
}

/// Everything the data says, checked for consistency.
#[derive(Debug, Clone)]
pub struct Model {
    pub oses: Vec<OsFile>,
    /// One entry per OS × release × architecture, in file order.
    pub platforms: Vec<Platform>,
    pub matrix: MatrixFile,
    pub vm_images: BTreeMap<String, VmImage>,
    /// `platforms/rust/status.toml`; empty when the file is absent.
    pub rust_status: RustStatusFile,
    /// `platforms/rust/msrv-policy.toml`, when present.
    pub msrv_policy: Option<MsrvPolicy>,
    /// `platforms/lifecycle/releases.toml`; empty when the file is absent.
    pub lifecycle: lifecycle::LifecycleFile,
}

impl Model {
    pub fn load(dirs: &DataDirs) -> Result<Model, LoadErrors> {
        let mut errors = LoadErrors::default();
        let vm_images = vm_image::load_dir(dirs, &mut errors);
        let (oses, platforms) = platform::load_dir(dirs, &vm_images, &mut errors);
        let matrix = matrix::load(dirs, &platforms, &mut errors);
        let shown = |p: &Path| platform::shown(dirs, p);
        let rust_status = rust_status::load(
            &dirs.rust_status(),
            &shown(&dirs.rust_status()),
            &platforms,
            &mut errors,
        );
        let msrv_policy = msrv_policy::load(
            &dirs.msrv_policy(),
            &shown(&dirs.msrv_policy()),
            &platforms,
            &mut errors,
        );
        let lifecycle = lifecycle::load(&dirs.lifecycle(), &shown(&dirs.lifecycle()), &mut errors);
        match matrix {
            Some(matrix) if errors.is_empty() => Ok(Model {
                oses,
                platforms,
                matrix,
                vm_images,
                rust_status,
                msrv_policy,
                lifecycle,
            }),
            _ => Err(errors),
        }
    }

    pub fn platform(&self, id: &str) -> Option<&Platform> {
        self.platforms.iter().find(|p| p.id == id)
    }
}

/// The `.toml` files of a directory, sorted by name, or an error naming the directory.
fn toml_files(dirs: &DataDirs, dir: &Path, shown: &str, errors: &mut LoadErrors) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.push(LoadError::file(
                shown,
                dirs.cannot_read(dir, "directory ", &err),
            ));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;

/// Loads the model, turning data errors into [`crate::BadInput`] (exit code 2)
/// with one line per problem.
pub fn load(dirs: &DataDirs) -> anyhow::Result<Model> {
    Model::load(dirs).map_err(|errors| {
        anyhow::Error::new(crate::BadInput(format!(
            "the matrix data has {} problem{}:\n{errors}",
            errors.0.len(),
            if errors.0.len() == 1 { "" } else { "s" }
        )))
    })
}
