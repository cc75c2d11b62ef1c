//! `cargo xtask dist`: what a packager ships. Every workspace package that
//! carries a QEMU discovery descriptor (`NN-<program>.json` beside its
//! `Cargo.toml`) is a back-end: its program is built in release mode and
//! installed under `<prefix>/<bindir>`, and its descriptor is written to
//! `<prefix>/share/qemu/vhost-user/` with `binary` naming the installed
//! path, which is where QEMU's discovery convention (docs/interop/
//! vhost-user.json in QEMU: `/usr/share/qemu/vhost-user`, by way of
//! `XDG_DATA_DIRS`) has management software look. Nothing names a back-end
//! here: a new crate with a descriptor is picked up as it is.
//!
//! Parse (the descriptors, against the schema), resolve (which packages,
//! where each file goes), execute (cargo build, copy, write), then check
//! what was written the way management software reads it ([`search`]), and
//! run each installed program with `--print-capabilities`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;
use crate::workspace::Workspace;
use crate::{exit, BadInput};

/// Build the back-ends in release mode and lay them out as a package
/// installs them, with one QEMU discovery descriptor per back-end.
///
/// Files go to `<destdir>/<prefix>/...`; the descriptors name the programs
/// by their path under `<prefix>`, where the package will put them (for a
/// tree usable where it is, give `--destdir /` and a prefix you can write).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the installed paths start [default: /usr/local]
    #[arg(long, value_name = "DIR", default_value = "/usr/local")]
    pub prefix: PathBuf,
    /// Staging directory the prefix is laid out under [default: target/dist]
    #[arg(long, value_name = "DIR")]
    pub destdir: Option<PathBuf>,
    /// Directory under the prefix for the programs (QEMU's own back-ends
    /// live in libexec)
    #[arg(long, value_name = "DIR", default_value = "libexec")]
    pub bindir: PathBuf,
    /// The workspace whose back-ends to ship [default: this repository]
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

/// QEMU's `VHostUserBackendType` (docs/interop/vhost-user.json).
pub const BACKEND_TYPES: &[&str] = &[
    "9p",
    "balloon",
    "block",
    "caif",
    "console",
    "crypto",
    "gpu",
    "input",
    "net",
    "rng",
    "rpmsg",
    "rproc-serial",
    "scsi",
    "vsock",
    "fs",
];

/// Where descriptors go under the prefix.
pub const DESCRIPTOR_DIR: &str = "share/qemu/vhost-user";

/// A `VhostUserBackend` (QEMU's discovery schema): every key it defines,
/// and no other.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub binary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl Descriptor {
    /// Parses `text` (from `file`) and checks it against the schema: a
    /// known type, a non-empty description, an absolute binary path.
    pub fn parse(text: &str, file: &Path) -> Result<Descriptor> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let d: Descriptor = serde_path_to_error::deserialize(de).map_err(|e| {
            BadInput(format!(
                "{}: key `{}`: {}",
                file.display(),
                e.path(),
                e.inner()
            ))
        })?;
        let bad = |what: String| BadInput(format!("{}: {what}", file.display()));
        if !BACKEND_TYPES.contains(&d.kind.as_str()) {
            return Err(bad(format!(
                "key `type`: `{}` is not a QEMU vhost-user back-end type ({})",
                d.kind,
                BACKEND_TYPES.join(", ")
            ))
            .into());
        }
        if d.description.trim().is_empty() {
            return Err(bad("key `description` is empty".into()).into());
        }
        if !Path::new(&d.binary).is_absolute() {
            return Err(bad(format!(
                "key `binary`: `{}` is not an absolute path",
                d.binary
            ))
            .into());
        }
        Ok(d)
    }
}

/// Whether `name` is a descriptor file name: `NN-<rest>.json`, two digits.
pub fn is_descriptor_name(name: &str) -> bool {
    let b = name.as_bytes();
    name.ends_with(".json")
        && b.len() > 8
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b'-'
}

/// One back-end of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub package: String,
    /// The program, the binary target the descriptor names.
    pub program: String,
    /// The descriptor as shipped in the source tree, and its file name.
    pub source: PathBuf,
    pub file_name: String,
    pub descriptor: Descriptor,
}

/// Every package with a descriptor beside its manifest. The descriptor's
/// `binary` must end in one of the package's binary targets.
pub fn discover(ws: &Workspace) -> Result<Vec<Backend>> {
    let mut out = Vec::new();
    for p in &ws.packages {
        let entries = std::fs::read_dir(&p.manifest_dir)
            .with_context(|| format!("cannot read {}", p.manifest_dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_descriptor_name(n))
            .collect();
        names.sort();
        for file_name in names {
            let source = p.manifest_dir.join(&file_name);
            let text = std::fs::read_to_string(&source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let descriptor = Descriptor::parse(&text, &source)?;
            let program = Path::new(&descriptor.binary)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !p.bins.contains(&program) {
                return Err(BadInput(format!(
                    "{}: key `binary`: `{program}` is not a program of package {} (it has: {})",
                    source.display(),
                    p.name,
                    p.bins.join(", ")
                ))
                .into());
            }
            out.push(Backend {
                package: p.name.clone(),
                program,
                source,
                file_name,
                descriptor,
            });
        }
    }
    Ok(out)
}

/// `prefix` under `destdir` (an absolute prefix is taken as relative to it).
pub fn staged(destdir: &Path, prefix: &Path) -> PathBuf {
    destdir.join(prefix.strip_prefix("/").unwrap_or(prefix))
}

/// One file to write: its staged path, and its contents or the built file
/// to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    Program { from: PathBuf, to: PathBuf },
    Descriptor { to: PathBuf, text: String },
}

/// What `dist` writes for `backends`, the programs coming from `built`.
pub fn plan(
    backends: &[Backend],
    built: &Path,
    destdir: &Path,
    prefix: &Path,
    bindir: &Path,
) -> Result<Vec<Install>> {
    if !prefix.is_absolute() {
        return Err(BadInput(format!(
            "--prefix {} is not an absolute path",
            prefix.display()
        ))
        .into());
    }
    if bindir.is_absolute() {
        return Err(BadInput(format!(
            "--bindir {} must be relative to the prefix",
            bindir.display()
        ))
        .into());
    }
    let root = staged(destdir, prefix);
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for b in backends {
        if let Some(other) = seen.insert(b.file_name.clone(), b.package.clone()) {
            return Err(BadInput(format!(
                "{} and {} both ship a descriptor named {}",
                other, b.package, b.file_name
            ))
            .into());
        }
        out.push(Install::Program {
            from: built.join(&b.program),
            to: root.join(bindir).join(&b.program),
        });
        let descriptor = Descriptor {
            binary: prefix.join(bindir).join(&b.program).display().to_string(),
            ..b.descriptor.clone()
        };
        let mut text = serde_json::to_string_pretty(&descriptor)?;
        text.push('\n');
        out.push(Install::Descriptor {
            to: root.join(DESCRIPTOR_DIR).join(&b.file_name),
            text,
        });
    }
    Ok(out)
}

/// QEMU's discovery rule (docs/interop/vhost-user.json), as management
/// software applies it: the descriptors of `dirs` (general to specific),
/// a file in a more specific directory replacing one of the same name (an
/// empty one hiding it), sorted by file name; the first of each type wins.
/// Returns, per type, the winning file and its descriptor.
pub fn search(dirs: &[PathBuf]) -> Result<BTreeMap<String, (PathBuf, Descriptor)>> {
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                files.insert(name, e.path());
            }
        }
    }
    let mut out = BTreeMap::new();
    for path in files.values() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if text.is_empty() {
            continue;
        }
        let d = Descriptor::parse(&text, path)?;
        out.entry(d.kind.clone()).or_insert((path.clone(), d));
    }
    Ok(out)
}

/// Checks a staged tree: every descriptor is found by [`search`] under its
/// type, names a program that exists under `destdir` and is executable, and
/// that program's `--print-capabilities` reports the same type.
pub fn check(destdir: &Path, prefix: &Path, backends: &[Backend]) -> Result<Vec<String>> {
    use std::os::unix::fs::PermissionsExt;
    let found = search(&[staged(destdir, prefix).join(DESCRIPTOR_DIR)])?;
    let mut lines = Vec::new();
    for b in backends {
        let Some((file, d)) = found.get(&b.descriptor.kind) else {
            bail!("no descriptor of type {} is found", b.descriptor.kind);
        };
        if file.file_name().map(|f| f.to_string_lossy()) != Some(b.file_name.as_str().into()) {
            // Another back-end of the same type sorts first: QEMU's rule.
            lines.push(format!("{}: shadowed by {}", b.file_name, file.display()));
            continue;
        }
        let program = staged(destdir, Path::new(&d.binary));
        let mode = std::fs::metadata(&program)
            .with_context(|| {
                format!(
                    "{} names {}, which is missing",
                    file.display(),
                    program.display()
                )
            })?
            .permissions()
            .mode();
        if mode & 0o111 == 0 {
            bail!("{} is not executable", program.display());
        }
        let out = Cmd::new(&program).arg("--print-capabilities").run()?;
        let caps: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!("{} --print-capabilities printed no JSON", program.display())
        })?;
        if caps.get("type").and_then(|t| t.as_str()) != Some(d.kind.as_str()) {
            bail!(
                "{} --print-capabilities says type {}, its descriptor {}",
                program.display(),
                caps["type"],
                d.kind
            );
        }
        lines.push(format!("{} → {} ({})", b.file_name, d.binary, d.kind));
    }
    Ok(lines)
}

/// Writes what [`plan`] listed: programs copied with mode 0755,
/// descriptors written whole.
pub fn install(installs: &[Install]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for i in installs {
        let (Install::Program { to, .. } | Install::Descriptor { to, .. }) = i;
        let dir = to.parent().context("an installed path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        match i {
            Install::Program { from, to } => {
                std::fs::copy(from, to).with_context(|| {
                    format!("cannot copy {} to {}", from.display(), to.display())
                })?;
                std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))
                    .with_context(|| format!("cannot make {} executable", to.display()))?;
            }
            Install::Descriptor { to, text } => crate::paths::write_atomic(to, text.as_bytes())?,
        }
    }
    Ok(())
}

pub fn run(args: Args) -> Result<u8> {
    let root = args.workspace.clone().unwrap_or_else(crate::repo_root);
    let ws = Workspace::load(&root)?;
    let backends = discover(&ws)?;
    if backends.is_empty() {
        return Err(BadInput(format!(
            "no package of {} ships a vhost-user descriptor (NN-<program>.json beside its Cargo.toml)",
            ws.root.display()
        ))
        .into());
    }
    let destdir = args
        .destdir
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("dist"));
    let built = ws.target_dir.join("release");
    let installs = plan(&backends, &built, &destdir, &args.prefix, &args.bindir)?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Cmd::new(&cargo)
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(ws.root.join("Cargo.toml"));
    for b in &backends {
        build = build.args(["--package", &b.package, "--bin", &b.program]);
    }
    eprintln!(
        "dist: building {} in release mode",
        backends
            .iter()
            .map(|b| b.program.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let record = build.run_inherited()?;
    if !record.success() {
        bail!("cargo build --release failed ({})", record.describe());
    }
    install(&installs)?;
    for line in check(&destdir, &args.prefix, &backends)? {
        println!("{line}");
    }
    println!(
        "dist: {} back-ends under {}",
        backends.len(),
        staged(&destdir, &args.prefix).display()
    );
    Ok(exit::OK)
}
