//! The payload disk: a ustar archive holding the guest runner, the test
//! executables, the workspace's binaries and what the runner needs to know
//! (`manifest`, `args`, `env`, `limit`, `retries`). Guests read it with `tar -xf <disk>`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::guest;
use super::tar::TarWriter;

/// A test executable for the guest to run.
#[derive(Debug, Clone)]
pub struct Test {
    pub package: String,
    /// The cargo target's name.
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub tests: Vec<Test>,
    /// Binaries tests may run as siblings (`MATRIX_BIN_DIR` in the guest).
    pub bins: Vec<PathBuf>,
    /// Arguments every test executable gets.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Seconds one test may run before the runner kills it (0: no limit).
    pub test_limit_secs: u64,
    /// How many times the runner reruns a failing test (`--retries`).
    pub retries: u32,
}

/// Writes the payload archive to `dir/payload.tar` and returns its path.
pub fn write(spec: &Spec, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("payload.tar");
    let file = std::io::BufWriter::new(
        std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut tar = TarWriter::new(file);
    tar.file("runner.sh", 0o755, guest::RUNNER.as_bytes())?;
    let word = |w: &str, what: &str| -> Result<()> {
        if w.is_empty() || w.contains(char::is_whitespace) {
            bail!("{what} `{w}` cannot go through the guest runner (empty or with spaces)");
        }
        Ok(())
    };
    for a in &spec.args {
        word(a, "test argument")?;
    }
    tar.file(
        "args",
        0o644,
        format!("{}\n", spec.args.join(" ")).as_bytes(),
    )?;
    let mut env = String::new();
    for (k, v) in &spec.env {
        word(k, "environment variable")?;
        if v.contains('\n') {
            bail!("the value of {k} has a newline");
        }
        env.push_str(&format!("{k}={v}\n"));
    }
    tar.file("env", 0o644, env.as_bytes())?;
    tar.file(
        "limit",
        0o644,
        format!("{}\n", spec.test_limit_secs).as_bytes(),
    )?;
    tar.file("retries", 0o644, format!("{}\n", spec.retries).as_bytes())?;
    tar.dir("bin")?;
    for bin in &spec.bins {
        let name = bin
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no file name", bin.display()))?;
        let data = std::fs::read(bin).with_context(|| format!("cannot read {}", bin.display()))?;
        tar.file(&format!("bin/{name}"), 0o755, &data)?;
    }
    tar.dir("t")?;
    let mut manifest = String::new();
    for (i, test) in spec.tests.iter().enumerate() {
        word(&test.package, "package name")?;
        word(&test.name, "test target name")?;
        let rel = format!("t/{}-{}", i + 1, test.name);
        let data = std::fs::read(&test.path)
            .with_context(|| format!("cannot read {}", test.path.display()))?;
        tar.file(&rel, 0o755, &data)?;
        manifest.push_str(&format!("{} {} {rel}\n", test.package, test.name));
    }
    tar.file("manifest", 0o644, manifest.as_bytes())?;
    tar.finish()?;
    Ok(path)
}
