//! Facts about the machine running the matrix, gathered once per run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cmd::Cmd;

#[derive(Debug, Clone)]
pub struct Host {
    /// The default rustc's host triple.
    pub triple: String,
    /// `name (Debian GNU/Linux 12 (bookworm), x86_64, 2 CPUs)`.
    pub description: String,
    pub cpus: usize,
}

impl Host {
    pub fn probe() -> Result<Host> {
        let vv = Cmd::new("rustc")
            .arg("-vV")
            .run()?
            .ok()
            .context("cannot ask rustc for the host triple")?;
        let triple = vv
            .stdout_str()
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
            .context("`rustc -vV` printed no host line")?;
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let name = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let os = os_release().unwrap_or_else(|| std::env::consts::OS.to_string());
        let description = format!("{name} ({os}, {}, {cpus} CPUs)", std::env::consts::ARCH);
        Ok(Host {
            triple,
            description,
            cpus,
        })
    }
}

fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// The first line `program args…` prints (on stdout, else on stderr where
/// some tools print their version), trimmed; `None` if it cannot run or fails.
pub fn version_line(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Option<String> {
    let out = Cmd::new(program).args(args).run().ok()?.ok().ok()?;
    let text = if out.stdout.is_empty() {
        String::from_utf8_lossy(&out.stderr).into_owned()
    } else {
        out.stdout_str()
    };
    Some(text.lines().next().unwrap_or_default().trim().to_string())
}

/// The first `name` on PATH, if any.
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = Path::new(name);
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The current time as RFC 3339 (UTC), to the second.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
