//! DPDK's `dpdk-testpmd`, the peer `cargo xtask bench net` measures our
//! vhost-user-net against (two `net_vhost` ports forwarding to each other),
//! unpacked from the host release's own packages into a private directory
//! of the cache, never installed: the host's dpkg state is only read (to
//! leave out libraries it already has).
//!
//! Only what testpmd loads is unpacked, not `dpdk-dev`'s whole dependency
//! list (about 90 packages): the binary's package, the package of each
//! library it links (`DT_NEEDED`, named by Debian's library package rule
//! and found among `dpdk-dev`'s dependencies), the two driver plugins the
//! bench loads with `-d`, and what those packages depend on in turn. A run
//! of `ldd` over the binary and the plugins then proves nothing is missing.
//! The packages are checked against the lists' SHA-256 and held to
//! [`DPDK_SERIES`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::apt::{self, AptState};
use crate::cmd::{Cmd, Spawned};
use crate::elf::DynamicDeps;
use crate::paths::FileLock;
use crate::requirements::{Requirement, SetupStep};

/// The DPDK release series (upstream LTS) the bench was verified with.
pub const DPDK_SERIES: &str = "22.11";
/// The package that ships `dpdk-testpmd` in Debian.
const BINARY_PACKAGE: &str = "dpdk-dev";
/// The program, relative to the unpacked root.
const BINARY: &str = "usr/bin/dpdk-testpmd";
/// Drivers testpmd loads as plugins (`-d`), by soname stem: the vhost PMD,
/// and the ring mempool handler that its packet-buffer pool uses by
/// default. A shared-library DPDK links neither; an installed one would
/// find them in its driver directory, which a private unpack has not.
const PLUGINS: &[&str] = &["librte_net_vhost", "librte_mempool_ring"];
/// Dependencies whose files no process loads: RDMA's udev rules and
/// services (dragged in by the Mellanox PMD that testpmd links) and init
/// script helpers. Left out; `ldd` proves nothing they held was needed.
const NOT_LOADED: &[&str] = &["rdma-core", "udev", "lsb-base"];

/// What [`install`] unpacked, recorded in [`marker`] (paths relative to the root).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    /// `dpdk-dev 22.11.11-0+deb12u1`.
    version: String,
    library_dirs: Vec<String>,
    drivers: Vec<String>,
    packages: Vec<String>,
}

/// A testpmd to run, with what it needs to find its libraries and drivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Testpmd {
    pub binary: PathBuf,
    /// Prepended to `LD_LIBRARY_PATH` (empty for an installed DPDK).
    pub library_dirs: Vec<PathBuf>,
    /// Passed with `-d` (empty for an installed DPDK, which loads its driver directory).
    pub drivers: Vec<PathBuf>,
    /// Which DPDK it is (`dpdk-dev 22.11.11-0+deb12u1`), for the results.
    pub version: String,
}

/// Where it is unpacked.
pub fn dir() -> PathBuf {
    crate::paths::cache_dir().join("dpdk").join(DPDK_SERIES)
}

/// Written last, once everything is unpacked and checked: the manifest.
pub fn marker() -> PathBuf {
    dir().join("complete")
}

/// What `cargo xtask setup` does about it (amd64 hosts: the unpack is for
/// the host's own architecture, like the QEMU backport's).
pub fn setup_step() -> Option<SetupStep> {
    (std::env::consts::ARCH == "x86_64").then(|| {
        SetupStep::new(
            "bench-net",
            Requirement::Xtask {
                what: "dpdk-testpmd from the host release's DPDK packages",
                marker: marker(),
                args: &["bench", "unpack-dpdk"],
            },
        )
    })
}

/// The unpacked testpmd, if a complete one is there.
pub fn find() -> Option<Testpmd> {
    let text = std::fs::read_to_string(marker()).ok()?;
    let manifest: Manifest = serde_json::from_str(&text).ok()?;
    let root = dir().join("root");
    let found = Testpmd {
        binary: root.join(BINARY),
        library_dirs: manifest.library_dirs.iter().map(|d| root.join(d)).collect(),
        drivers: manifest.drivers.iter().map(|d| root.join(d)).collect(),
        version: manifest.version,
    };
    found.binary.is_file().then_some(found)
}

/// A testpmd installed on the host (Debian's `dpdk-dev`), on PATH.
pub fn on_path() -> Option<Testpmd> {
    let binary = crate::host::which("dpdk-testpmd")?;
    let version = Cmd::new("dpkg-query")
        .args(["-W", "-f", "${Version}", BINARY_PACKAGE])
        .run()
        .ok()
        .and_then(|o| o.ok().ok())
        .map(|o| format!("{BINARY_PACKAGE} {}", o.stdout_str().trim()))
        .unwrap_or_else(|| format!("dpdk-testpmd at {}", binary.display()));
    Some(Testpmd {
        binary,
        library_dirs: Vec::new(),
        drivers: Vec::new(),
        version,
    })
}

impl Testpmd {
    /// testpmd serving two `net_vhost` ports, one listening socket each,
    /// forwarding every frame one port receives out of the other
    /// (`--forward-mode=io`) on one forwarding core beside the main one.
    ///
    /// EAL options, and why: `--no-huge` (anonymous memory: no hugepages
    /// are reserved on these machines, and the vhost PMD copies frames
    /// between the front-end's shared memory, which it maps itself, and its
    /// own buffers, so it needs no DMA-able memory), `--no-pci` (no device
    /// is probed: the ports are virtual), `--no-shconf` and a
    /// `--file-prefix` of this process's id (no shared configuration, and
    /// its runtime directory under `/var/run/dpdk` is its own, so two runs
    /// never meet; `--in-memory` would avoid the directory too, but EAL
    /// refuses it beside `--no-huge`), `-m` (the anonymous memory it
    /// takes). `--stats-period` keeps it from reading stdin: it runs until
    /// it is signalled.
    pub fn command(&self, ports: [&Path; 2]) -> Cmd {
        let mut cmd = Cmd::new(&self.binary);
        if !self.library_dirs.is_empty() {
            let mut dirs: Vec<String> = self
                .library_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            dirs.extend(
                std::env::var("LD_LIBRARY_PATH")
                    .ok()
                    .filter(|p| !p.is_empty()),
            );
            cmd = cmd.env("LD_LIBRARY_PATH", dirs.join(":"));
        }
        cmd = cmd
            .args([
                "-l",
                "0,1",
                "--no-pci",
                "--no-huge",
                "--no-shconf",
                "-m",
                "1024",
            ])
            .arg("--file-prefix")
            .arg(format!("vu-bench-net-{}", std::process::id()));
        for d in &self.drivers {
            cmd = cmd.arg("-d").arg(d);
        }
        for (i, port) in ports.iter().enumerate() {
            cmd = cmd
                .arg("--vdev")
                .arg(format!("net_vhost{i},iface={},queues=1", port.display()));
        }
        cmd.args([
            "--",
            "--forward-mode=io",
            "--auto-start",
            "--nb-cores=1",
            "--stats-period=3600",
        ])
    }

    /// Starts [`Testpmd::command`] and waits until both sockets exist (it
    /// listens right after binding each). Never by connecting: a probing
    /// connection that closes races with the next one to that port (see
    /// `bench net`).
    pub fn start(&self, ports: [&Path; 2]) -> Result<Spawned> {
        use std::os::unix::fs::FileTypeExt;
        for p in ports {
            let _ = std::fs::remove_file(p);
        }
        let mut server = self.command(ports).spawn()?;
        let listening = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket());
        server.wait_until("listen on both ports", Duration::from_secs(20), || {
            ports.iter().all(|p| listening(p))
        })?;
        Ok(server)
    }

    /// Why DPDK would refuse to load the drivers, if it would: its EAL
    /// loads a plugin only when neither it nor any directory above it is
    /// writable by everyone (a cache under `/tmp` is refused).
    pub fn refusal(&self) -> Option<String> {
        for driver in &self.drivers {
            let mut at: Option<&Path> = Some(driver);
            while let Some(path) = at {
                if world_writable(path) {
                    return Some(format!(
                        "DPDK refuses to load {} because {} is writable by everyone; \
                         unpack it under another cache directory (XTASK_CACHE_DIR)",
                        driver.display(),
                        path.display()
                    ));
                }
                at = path.parent();
            }
        }
        None
    }
}

fn world_writable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

/// Debian's name for the package of a shared library (Policy 8.1):
/// `librte_net_mlx5.so.23` → `librte-net-mlx5-23`, `libpcap.so.0.8` →
/// `libpcap0.8`.
pub fn library_package(soname: &str) -> Option<String> {
    let (stem, version) = soname.split_once(".so.")?;
    let stem = stem.replace('_', "-").to_ascii_lowercase();
    Some(if stem.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{stem}-{version}")
    } else {
        format!("{stem}{version}")
    })
}

/// Unpacks it unless it is there already (idempotent; one process at a time).
pub fn install(progress: &dyn Fn(&str)) -> Result<Testpmd> {
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "DPDK is unpacked for amd64 hosts only; this host is {}",
            std::env::consts::ARCH
        );
    }
    let dir = dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _lock = FileLock::acquire(&dir.with_extension("lock"))?;
    if let Some(found) = find() {
        return Ok(found);
    }
    let suite = apt::host_codename()?;
    let state = AptState::open(&apt::cache_root(), &suite, "amd64")?;
    let lock = state.lock()?;
    progress(&format!("updating the Debian {suite} amd64 lists"));
    if let Some(why) = state.update(&lock, apt::UPDATE_TIMEOUT)? {
        progress(&format!("using the lists at hand: {why}"));
    }
    let bin = state
        .show(&[BINARY_PACKAGE.to_string()])?
        .into_iter()
        .next()
        .context("apt-cache printed no record")?;
    let upstream = apt::upstream_version(&bin.version);
    if upstream != DPDK_SERIES && !upstream.starts_with(&format!("{DPDK_SERIES}.")) {
        bail!(
            "Debian {suite} has {} {}, not DPDK {DPDK_SERIES} which the bench was verified with; \
             update xtask::needs::dpdk::DPDK_SERIES after checking the new one",
            bin.package,
            bin.version
        );
    }
    let staging = dir.join("root.partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    for deb in state.download(&lock, std::slice::from_ref(&bin), Duration::from_secs(600))? {
        apt::extract(&deb, &staging)?;
    }
    let binary = staging.join(BINARY);
    let deps = DynamicDeps::read(&binary)?;
    let abi = deps
        .needed
        .iter()
        .find_map(|s| s.strip_prefix("librte_eal.so."))
        .with_context(|| format!("{} does not link librte_eal", binary.display()))?
        .to_string();
    // The packages of the libraries it links, as far as dpdk-dev names them
    // (libc's libm is the host's), and of the plugins.
    let depends = apt::first_alternatives(bin.depends.as_deref().unwrap_or(""));
    let have = crate::lanes::packaged::installed("amd64");
    let roots: Vec<String> = deps
        .needed
        .iter()
        .filter_map(|s| library_package(s))
        .filter(|p| depends.contains(p))
        .chain(
            PLUGINS
                .iter()
                .filter_map(|p| library_package(&format!("{p}.so.{abi}"))),
        )
        .filter(|p| !have.contains(p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stop = |name: &str| have.contains(name) || NOT_LOADED.contains(&name);
    let (records, _) = apt::closure(&state, &roots, &stop)?;
    progress(&format!(
        "unpacking {} {} and {} library packages",
        bin.package,
        bin.version,
        records.len()
    ));
    for deb in state.download(&lock, &records, Duration::from_secs(600))? {
        apt::extract(&deb, &staging)?;
    }
    drop(lock);
    // The plugins sit in DPDK's driver directory, which the binary names as its RUNPATH.
    let pmds = deps
        .runpath
        .iter()
        .find(|d| d.contains("/dpdk/pmds-"))
        .with_context(|| format!("{} names no DPDK driver directory", binary.display()))?
        .trim_start_matches('/')
        .to_string();
    let libdir = Path::new(&pmds)
        .parent()
        .and_then(Path::parent)
        .context("the driver directory has no library directory above it")?
        .display()
        .to_string();
    let mut library_dirs = vec![libdir.clone(), pmds.clone()];
    let base_libdir = libdir.trim_start_matches("usr/").to_string();
    if staging.join(&base_libdir).is_dir() {
        library_dirs.push(base_libdir);
    }
    let drivers: Vec<String> = PLUGINS
        .iter()
        .map(|p| format!("{pmds}/{p}.so.{abi}"))
        .collect();
    let manifest = Manifest {
        version: format!("{} {}", bin.package, bin.version),
        library_dirs,
        drivers,
        packages: std::iter::once(&bin)
            .chain(&records)
            .map(|r| r.identity())
            .collect(),
    };
    check_loads(&staging, &manifest)?;
    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&staging, &root)
        .with_context(|| format!("cannot move {} to {}", staging.display(), root.display()))?;
    crate::paths::write_atomic(
        &marker(),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    find().context("the unpacked testpmd is not where its manifest says")
}

/// `ldd` over the binary and each plugin with the unpacked library
/// directories first: every library resolves, or the missing ones are named.
fn check_loads(root: &Path, manifest: &Manifest) -> Result<()> {
    let path: Vec<String> = manifest
        .library_dirs
        .iter()
        .map(|d| root.join(d).display().to_string())
        .collect();
    let mut missing = BTreeSet::new();
    for file in std::iter::once(BINARY).chain(manifest.drivers.iter().map(String::as_str)) {
        let file = root.join(file);
        if !file.is_file() {
            bail!("{} is not in the unpacked packages", file.display());
        }
        let out = Cmd::new("ldd")
            .arg(&file)
            .env("LD_LIBRARY_PATH", path.join(":"))
            .run()?
            .ok()
            .with_context(|| format!("ldd cannot read {}", file.display()))?;
        missing.extend(
            out.stdout_str()
                .lines()
                .filter(|l| l.contains("not found"))
                .filter_map(|l| l.split_whitespace().next().map(str::to_string)),
        );
    }
    if !missing.is_empty() {
        bail!(
            "testpmd would not load: no package unpacked provides {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_packages_follow_debian_naming() {
        assert_eq!(
            library_package("librte_net_mlx5.so.23").as_deref(),
            Some("librte-net-mlx5-23")
        );
        assert_eq!(
            library_package("librte_eal.so.23").as_deref(),
            Some("librte-eal23")
        );
        assert_eq!(
            library_package("libpcap.so.0.8").as_deref(),
            Some("libpcap0.8")
        );
        assert_eq!(library_package("libc.so.6").as_deref(), Some("libc6"));
        assert_eq!(library_package("ld-linux-x86-64.so"), None);
    }
}
