//! Where the tool keeps things that outlive one workspace's target directory.

use std::path::PathBuf;

/// Downloads and assembled artefacts shared by every workspace and test run
/// (Debian packages, sysroots, guest images), keyed by content inside:
/// `$XTASK_CACHE_DIR`, else `$XDG_CACHE_HOME/vhu-matrix`, else `~/.cache/vhu-matrix`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XTASK_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vhu-matrix");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("vhu-matrix")
}
