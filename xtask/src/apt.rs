//! Debian packages of any suite and architecture without touching the
//! host's dpkg: a private apt state per suite × architecture under the
//! shared cache (its own lists, archives, empty status file and sources),
//! driven by the host's `apt-get` and `apt-cache` (FACTS.md's recipe). The
//! VM lane builds guests from it, the qemu-user lane sysroots, platform data
//! reads Debian's packaged Rust from it; setup reads the host's own suite
//! versions with [`madison_suite_version`].
//!
//! The archive is never named here: a state's sources are the host's own
//! Debian entries (those of its release, signed by Debian's archive keyring),
//! with the release name replaced by the suite wanted (riscv64 is in trixie,
//! not bookworm). What apt says about the archive is kept only with the
//! archive's host taken out ([`redact_hosts`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd::{Cmd, Finished};
use crate::paths::FileLock;

// --- the host's sources ---------------------------------------------------------

/// One `deb` entry of an apt sources file, in either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// A keyring path, or an inline key block (deb822 only).
    pub signed_by: Option<String>,
    /// The file it was read from.
    pub file: String,
}

/// The host's `deb` sources: apt's main sources file and its parts directory
/// (wherever apt's configuration puts them), both formats.
pub fn host_sources() -> Result<Vec<Source>> {
    let out = Cmd::new("apt-config")
        .args([
            "shell",
            "LIST",
            "Dir::Etc::sourcelist/f",
            "PARTS",
            "Dir::Etc::sourceparts/d",
        ])
        .run()?
        .ok()
        .context("cannot ask apt-config where the sources are")?;
    let mut list = PathBuf::from("/etc/apt/sources.list");
    let mut parts = PathBuf::from("/etc/apt/sources.list.d");
    for line in out.stdout_str().lines() {
        match line
            .split_once('=')
            .map(|(k, v)| (k, PathBuf::from(v.trim_matches('\''))))
        {
            Some(("LIST", v)) => list = v,
            Some(("PARTS", v)) => parts = v,
            _ => {}
        }
    }
    sources_in(&list, &parts)
}

/// The `deb` sources of a one-line `list` file and the `*.list` and
/// `*.sources` files of `parts` (others, such as `*.disabled`, are not apt's).
pub fn sources_in(list: &Path, parts: &Path) -> Result<Vec<Source>> {
    let read = |path: &Path| match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut out = Vec::new();
    if let Some(text) = read(list)? {
        out.extend(parse_one_line(&text, &list.display().to_string()));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(parts)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for file in files {
        let name = file.display().to_string();
        match file.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(
                read(&file)?
                    .map(|t| parse_one_line(&t, &name))
                    .unwrap_or_default(),
            ),
            Some("sources") => out.extend(
                read(&file)?
                    .map(|t| parse_deb822(&t, &name))
                    .unwrap_or_default(),
            ),
            _ => {}
        }
    }
    Ok(out)
}

/// `deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64] <uri> <suite> <component>…` lines.
pub fn parse_one_line(text: &str, file: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((opts, after)) = opts.split_once(']') else {
                continue;
            };
            signed_by = opts
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .map(str::to_string);
            rest = after.trim();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < 2 {
            continue;
        }
        out.push(Source {
            uris: vec![words[0].to_string()],
            suites: vec![words[1].to_string()],
            components: words[2..].iter().map(|s| s.to_string()).collect(),
            signed_by,
            file: file.to_string(),
        });
    }
    out
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`,
/// `Enabled:`), separated by blank or whitespace-only lines.
pub fn parse_deb822(text: &str, file: &str) -> Vec<Source> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            out.extend(stanza_source(&fields, file));
            fields.clear();
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            // A continuation line (an inline `Signed-By` key block).
            if let Some((_, v)) = fields.last_mut() {
                v.push('\n');
                v.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn stanza_source(fields: &[(String, String)], file: &str) -> Option<Source> {
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let words = |k: &str| {
        get(k)
            .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    if !words("types").iter().any(|t| t == "deb")
        || get("enabled").is_some_and(|e| e.eq_ignore_ascii_case("no"))
    {
        return None;
    }
    let (uris, suites) = (words("uris"), words("suites"));
    if uris.is_empty() || suites.is_empty() {
        return None;
    }
    Some(Source {
        uris,
        suites,
        components: words("components"),
        signed_by: get("signed-by"),
        file: file.to_string(),
    })
}

/// `VERSION_CODENAME` of an os-release file (`bookworm`).
pub fn parse_codename(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The host's release name (`bookworm`), from /etc/os-release.
pub fn host_codename() -> Result<String> {
    let text = std::fs::read_to_string("/etc/os-release").context("cannot read /etc/os-release")?;
    parse_codename(&text).context("/etc/os-release has no VERSION_CODENAME: is this a Debian host?")
}

/// The host's Debian archive entries for `suite`: those of the host's release
/// `host_codename` and its `-updates` and `-security` pockets (not its
/// backports), renamed, with their `main` component only.
pub fn sources_for_suite(host: &[Source], host_codename: &str, suite: &str) -> Result<Vec<Source>> {
    let mut out: Vec<Source> = Vec::new();
    for source in host {
        // Third-party repositories may reuse the release name; Debian's own
        // entries are signed by its archive keyring (or by the default keys).
        if source
            .signed_by
            .as_deref()
            .is_some_and(|k| !k.contains("debian-archive-keyring"))
        {
            continue;
        }
        let suites: Vec<String> = source
            .suites
            .iter()
            .filter_map(|s| {
                let pocket = s.strip_prefix(host_codename)?;
                matches!(pocket, "" | "-updates" | "-security").then(|| format!("{suite}{pocket}"))
            })
            .collect();
        if suites.is_empty() || !source.components.iter().any(|c| c == "main") {
            continue;
        }
        // The same entry in two files would make apt warn about every list twice.
        if !out
            .iter()
            .any(|s| s.uris == source.uris && s.suites == suites)
        {
            out.push(Source {
                suites,
                components: vec!["main".into()],
                ..source.clone()
            });
        }
    }
    if out.is_empty() {
        bail!(
            "the host's apt sources have no Debian entry for its release `{host_codename}` (main) to derive `{suite}` from; \
             add the Debian archive to the host's apt sources"
        );
    }
    Ok(out)
}

/// [`sources_for_suite`] for this host.
pub fn derived_sources(suite: &str) -> Result<Vec<Source>> {
    sources_for_suite(&host_sources()?, &host_codename()?, suite)
}

/// A deb822 sources file for one architecture.
pub fn render_sources(sources: &[Source], arch: &str) -> String {
    let mut files: Vec<&str> = sources.iter().map(|s| s.file.as_str()).collect();
    files.dedup();
    let mut text = format!(
        "# Written by `cargo xtask` from the host's Debian sources ({}).\n",
        files.join(", ")
    );
    for s in sources {
        text.push_str(&format!(
            "\nTypes: deb\nURIs: {}\nSuites: {}\nComponents: {}\nArchitectures: {arch}\n",
            s.uris.join(" "),
            s.suites.join(" "),
            s.components.join(" ")
        ));
        if let Some(k) = &s.signed_by {
            text.push_str(&format!("Signed-By: {k}\n"));
        }
    }
    text
}

/// The host part of an archive URI (`http://host:80/debian` → `host`).
fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// apt's message with every `scheme://host/` shortened to `apt:`, `[IP: …]`
/// dropped and any other mention of `hosts` replaced, so that what is
/// printed or recorded names no archive host.
pub fn redact_hosts(line: &str, hosts: &[String]) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+')
            .map(|s| s + 1)
            .unwrap_or(0);
        out.push_str(&rest[..start]);
        out.push_str("apt:");
        let after = &rest[i + 3..];
        let host_end = after.find(['/', ' ']).unwrap_or(after.len());
        rest = after[host_end..]
            .strip_prefix('/')
            .unwrap_or(&after[host_end..]);
    }
    out.push_str(rest);
    while let Some(i) = out.find(" [IP:") {
        let end = out[i..].find(']').map(|e| i + e + 1).unwrap_or(out.len());
        out.replace_range(i..end, "");
    }
    for host in hosts.iter().filter(|h| !h.is_empty()) {
        out = out.replace(host.as_str(), "<archive>");
    }
    out
}

// --- a private state --------------------------------------------------------------

/// How long `apt-get update` may take when the caller has no deadline of its
/// own: a cold state fetches tens of MB of lists, twice if a mirror is mid-sync.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(900);

/// Where the states live: shared by every lane and by platform data.
pub fn cache_root() -> PathBuf {
    crate::paths::cache_dir().join("apt")
}

/// A private apt state for one suite × architecture.
pub struct AptState {
    pub dir: PathBuf,
    pub suite: String,
    pub arch: String,
    /// The archive hosts of its sources, kept out of every message.
    hosts: Vec<String>,
}

/// Held while a state's lists or downloaded packages change: one writer per
/// state at a time, across processes (apt itself would fail on its lock).
pub struct AptLock {
    _lock: FileLock,
}

/// The name of a package file as the archive describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageRecord {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub depends: Option<String>,
}

impl PackageRecord {
    /// The name `apt-get download` gives the file (the epoch's `:` escaped).
    pub fn deb_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.package,
            self.version.replace(':', "%3a"),
            self.architecture
        )
    }

    /// `libc6 2.36-9+deb12u13`: what a manifest records of it.
    pub fn identity(&self) -> String {
        format!("{} {}", self.package, self.version)
    }
}

/// `Package:` stanzas as `apt-cache show` prints them.
pub fn parse_records(text: &str) -> Vec<PackageRecord> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let get = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        let (Some(package), Some(version), Some(architecture), Some(filename), Some(sha256)) = (
            get("Package:"),
            get("Version:"),
            get("Architecture:"),
            get("Filename:"),
            get("SHA256:"),
        ) else {
            continue;
        };
        out.push(PackageRecord {
            package,
            version,
            architecture,
            filename,
            sha256,
            size: get("Size:").and_then(|s| s.parse().ok()).unwrap_or(0),
            depends: get("Depends:"),
        });
    }
    out
}

impl AptState {
    /// The directory of the state for `suite` × `arch` under `root`, made or not.
    pub fn dir_for(root: &Path, suite: &str, arch: &str) -> PathBuf {
        root.join(format!("{suite}-{arch}"))
    }

    /// Creates (or reopens) the state under `root`, its sources derived from the host's.
    pub fn open(root: &Path, suite: &str, arch: &str) -> Result<AptState> {
        let dir = Self::dir_for(root, suite, arch);
        for sub in [
            "lists/partial",
            "cache/archives/partial",
            "sources.list.d",
            "debs",
        ] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let status = dir.join("status");
        if !status.exists() {
            std::fs::write(&status, "")
                .with_context(|| format!("cannot write {}", status.display()))?;
        }
        let sources = derived_sources(suite)?;
        let text = render_sources(&sources, arch);
        let parts = dir.join("sources.list.d");
        let file = parts.join("matrix.sources");
        if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            crate::paths::write_atomic(&file, text.as_bytes())?;
        }
        // apt reads every file there: nothing but ours may stay.
        for entry in
            std::fs::read_dir(&parts).with_context(|| format!("cannot read {}", parts.display()))?
        {
            let path = entry?.path();
            if path != file {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        let mut hosts: Vec<String> = sources
            .iter()
            .flat_map(|s| &s.uris)
            .filter_map(|u| uri_host(u))
            .map(str::to_string)
            .collect();
        hosts.sort();
        hosts.dedup();
        Ok(AptState {
            dir,
            suite: suite.to_string(),
            arch: arch.to_string(),
            hosts,
        })
    }

    /// Waits for (then holds) the right to update or download.
    pub fn lock(&self) -> Result<AptLock> {
        Ok(AptLock {
            _lock: FileLock::acquire(&self.dir.with_extension("lock"))?,
        })
    }

    /// The options that point apt at this state and at nothing of the host's but its keys.
    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oAPT::Architecture={}", self.arch),
            format!("-oAPT::Architectures={}", self.arch),
            format!("-oDir::State::Lists={d}/lists"),
            // The host's dpkg status lists its own packages; this state must not care.
            format!("-oDir::State::status={d}/status"),
            format!("-oDir::Cache={d}/cache"),
            "-oDir::Etc::SourceList=/dev/null".into(),
            format!("-oDir::Etc::SourceParts={d}/sources.list.d"),
            // Downloads land in our own directory; apt's sandbox user could not write there.
            "-oAPT::Sandbox::User=root".into(),
            "-oAcquire::Languages=none".into(),
            // Mirrors mid-sync answer with files of the wrong size now and then.
            "-oAcquire::Retries=3".into(),
        ]
    }

    fn lists_named(&self, part: &str) -> bool {
        std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().contains(part))
            })
            .unwrap_or(false)
    }

    /// Whether `apt-get update` has fetched any package list for this state.
    pub fn has_lists(&self) -> bool {
        self.lists_named("_Packages")
    }

    /// Whether the suite's own `main` list is here (its pockets may be missing).
    fn has_main_list(&self) -> bool {
        self.lists_named(&format!(
            "_dists_{}_main_binary-{}_Packages",
            self.suite, self.arch
        ))
    }

    /// A digest of the lists (names, sizes, times): what the archive looked like when last updated.
    pub fn lists_stamp(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut entries: Vec<String> = std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        let t = m
                            .modified()
                            .ok()?
                            .duration_since(std::time::UNIX_EPOCH)
                            .ok()?
                            .as_secs();
                        Some(format!(
                            "{} {} {t}",
                            e.file_name().to_string_lossy(),
                            m.len()
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        crate::digest::hex(&Sha256::digest(entries.join("\n").as_bytes()))
    }

    /// What apt said went wrong (its `E:` lines, else the end of its
    /// stderr), one line, without the archive's host.
    fn errors(&self, out: &Finished) -> String {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E:")).collect();
        if lines.is_empty() {
            lines = out.record.stderr_tail.lines().collect();
        }
        lines
            .iter()
            .map(|l| redact_hosts(l.trim(), &self.hosts))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The error of a failed `command` on this state, naming both.
    fn failure(&self, out: &Finished, command: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "`{command}` for Debian {} {} failed ({}): {}",
            self.suite,
            self.arch,
            out.record.describe(),
            self.errors(out)
        )
    }

    /// `out` if the command succeeded, else [`Self::failure`].
    fn check(&self, out: Finished, command: &str) -> Result<Finished> {
        if out.record.success() {
            Ok(out)
        } else {
            Err(self.failure(&out, command))
        }
    }

    /// `apt-get update`, tried twice (a mirror may be mid-sync). When it
    /// fails but the suite's own `main` list is here, the lists at hand are
    /// used and `Ok(Some(why))` says what is missing.
    pub fn update(&self, _lock: &AptLock, timeout: Duration) -> Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            let out = Cmd::new("apt-get")
                .args(self.options())
                .args(["-q", "update"])
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .run()?;
            if out.record.success() {
                return Ok(None);
            }
            if attempts == 2
                || out.record.timed_out
                || out.record.cancelled
                || Instant::now() >= deadline
            {
                break out;
            }
        };
        let failed = self.failure(&out, "apt-get update");
        if out.record.timed_out || out.record.cancelled || !self.has_main_list() {
            return Err(failed);
        }
        Ok(Some(failed.to_string()))
    }

    /// `apt-cache <args>` on this state's lists: its standard output.
    pub fn query<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let out = Cmd::new("apt-cache")
            .args(self.options())
            .args(&args)
            .run()?;
        Ok(self
            .check(out, &format!("apt-cache {}", args.join(" ")))?
            .stdout_str())
    }

    /// The candidate version of each package (`apt-cache show`).
    pub fn show(&self, packages: &[String]) -> Result<Vec<PackageRecord>> {
        let mut args = vec!["show".to_string(), "--no-all-versions".to_string()];
        args.extend(packages.iter().cloned());
        let records = parse_records(&self.query(&args)?);
        if let Some(p) = packages
            .iter()
            .find(|p| !records.iter().any(|r| &r.package == *p))
        {
            bail!(
                "package `{p}` is not in the Debian {} {} lists",
                self.suite,
                self.arch
            );
        }
        Ok(records)
    }

    /// Downloads (or finds already downloaded) each package into the state's
    /// `debs/` and checks its SHA-256 against the lists.
    pub fn download(
        &self,
        _lock: &AptLock,
        records: &[PackageRecord],
        timeout: Duration,
    ) -> Result<Vec<PathBuf>> {
        let debs = self.dir.join("debs");
        let mut wanted = Vec::new();
        let mut paths = Vec::new();
        for r in records {
            let path = debs.join(r.deb_name());
            if !(path.is_file()
                && crate::digest::sha256_file(&path).ok().as_deref() == Some(r.sha256.as_str()))
            {
                wanted.push(format!("{}={}", r.package, r.version));
            }
            paths.push(path);
        }
        if !wanted.is_empty() {
            let out = Cmd::new("apt-get")
                .args(self.options())
                .args(["-q", "download"])
                .args(&wanted)
                .cwd(&debs)
                .timeout(timeout)
                .run()?;
            self.check(out, &format!("apt-get download {}", wanted.join(" ")))?;
        }
        for (r, path) in records.iter().zip(&paths) {
            let sum = crate::digest::sha256_file(path)
                .with_context(|| format!("apt-get download left no {}", path.display()))?;
            if sum != r.sha256 {
                let _ = std::fs::remove_file(path);
                bail!(
                    "{} has SHA-256 {sum}, the archive says {}; removed it",
                    path.display(),
                    r.sha256
                );
            }
        }
        Ok(paths)
    }
}

/// `dpkg-deb -x <deb> <dir>`: unpacks the files, runs no maintainer script.
pub fn extract(deb: &Path, into: &Path) -> Result<()> {
    Cmd::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(into)
        .run()?
        .ok()
        .with_context(|| format!("cannot unpack {}", deb.display()))?;
    Ok(())
}

// --- versions -----------------------------------------------------------------------

/// The upstream part of a Debian version: `1:7.2+dfsg-7+deb12u18` → `7.2+dfsg`.
pub fn upstream_version(version: &str) -> &str {
    let no_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    no_epoch.rsplit_once('-').map_or(no_epoch, |(u, _)| u)
}

/// One binary package line of `apt-cache madison`:
/// ` rustc | 1.63.0+dfsg1-2 | <uri> bookworm/main amd64 Packages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadisonEntry {
    pub package: String,
    pub version: String,
    pub uri: String,
    /// `bookworm-security`.
    pub suite: String,
    pub component: String,
    pub arch: String,
}

/// The binary packages `apt-cache madison` lists (source packages are left out).
pub fn parse_madison(text: &str) -> Result<Vec<MadisonEntry>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [package, version, origin] = fields[..] else {
            bail!("`apt-cache madison` line `{line}` has not three fields");
        };
        let [uri, dist, arch, "Packages"] = origin.split_whitespace().collect::<Vec<_>>()[..]
        else {
            continue;
        };
        let (suite, component) = dist.split_once('/').unwrap_or((dist, "main"));
        out.push(MadisonEntry {
            package: package.to_string(),
            version: version.to_string(),
            uri: uri.to_string(),
            suite: suite.to_string(),
            component: component.to_string(),
            arch: arch.to_string(),
        });
    }
    Ok(out)
}

/// From `apt-cache madison <pkg>`: the version the host's own suite has
/// (`bookworm/main`, not `bookworm-security` nor a backport).
pub fn madison_suite_version(madison: &str, package: &str, suite: &str) -> Option<String> {
    parse_madison(madison)
        .ok()?
        .into_iter()
        .find(|e| e.package == package && e.suite == suite)
        .map(|e| e.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bookworm host's `debian.sources` (archive host renamed), with what
    /// else hosts carry: backports, a vendor reusing the release name, a
    /// disabled entry, an inline key, whitespace-only separators.
    const DEB822: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
  \t
Types: deb-src
URIs: http://archive.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: https://vendor.example/apt
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg

Types: deb
URIs: https://inline.example/apt
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ0000000
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: http://archive.example/old
Suites: bookworm
Components: main
Enabled: no
";

    const ONE_LINE: &str = "\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/etc/vendor.gpg] https://vendor.example/x bookworm main
deb-src http://archive.example/debian bookworm main
deb\thttp://archive.example/debian bookworm main contrib # trailing
deb [ signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://archive.example/debian-security bookworm-security main
deb http://archive.example/debian
";

    fn shown(sources: &[Source]) -> String {
        sources
            .iter()
            .map(|s| {
                format!(
                    "{} {} {} [{}] ({})",
                    s.uris.join(","),
                    s.suites.join(","),
                    s.components.join(","),
                    s.signed_by.as_deref().unwrap_or("-").replace('\n', "⏎"),
                    s.file
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn parses_both_formats() {
        expect_test::expect![[r#"
            http://archive.example/debian bookworm,bookworm-updates,bookworm-backports main,contrib [/usr/share/keyrings/debian-archive-keyring.gpg] (debian.sources)
            http://archive.example/debian-security bookworm-security main [/usr/share/keyrings/debian-archive-keyring.gpg] (debian.sources)
            https://vendor.example/apt bookworm main [/usr/share/keyrings/vendor.gpg] (debian.sources)
            https://inline.example/apt bookworm main [⏎ -----BEGIN PGP PUBLIC KEY BLOCK-----⏎ .⏎ mDMEZ0000000⏎ -----END PGP PUBLIC KEY BLOCK-----] (debian.sources)"#]]
        .assert_eq(&shown(&parse_deb822(DEB822, "debian.sources")));
        expect_test::expect![[r#"
            https://vendor.example/x bookworm main [/etc/vendor.gpg] (sources.list)
            http://archive.example/debian bookworm main,contrib [-] (sources.list)
            http://archive.example/debian-security bookworm-security main [/usr/share/keyrings/debian-archive-keyring.gpg] (sources.list)"#]]
        .assert_eq(&shown(&parse_one_line(ONE_LINE, "sources.list")));
    }

    #[test]
    fn reads_the_files_apt_reads() {
        let dir = tempfile::tempdir().unwrap();
        let parts = dir.path().join("sources.list.d");
        std::fs::create_dir_all(&parts).unwrap();
        std::fs::write(dir.path().join("sources.list"), ONE_LINE).unwrap();
        std::fs::write(parts.join("debian.sources"), DEB822).unwrap();
        std::fs::write(
            parts.join("extra.list"),
            "deb http://extra.example/debian bookworm main\n",
        )
        .unwrap();
        std::fs::write(
            parts.join("gone.list.disabled-by-farm"),
            "deb http://off.example/debian bookworm main\n",
        )
        .unwrap();
        let found = sources_in(&dir.path().join("sources.list"), &parts).unwrap();
        let uris: Vec<&str> = found.iter().map(|s| s.uris[0].as_str()).collect();
        assert_eq!(
            uris,
            [
                "https://vendor.example/x",
                "http://archive.example/debian",
                "http://archive.example/debian-security",
                "http://archive.example/debian",
                "http://archive.example/debian-security",
                "https://vendor.example/apt",
                "https://inline.example/apt",
                "http://extra.example/debian",
            ]
        );
        // No sources.list at all (the default on newer Debian) is no error.
        assert_eq!(
            sources_in(&dir.path().join("none"), &dir.path().join("nothing")).unwrap(),
            []
        );
    }

    #[test]
    fn derives_a_suite_from_the_hosts_debian_entries() {
        let mut host = parse_deb822(DEB822, "/etc/apt/sources.list.d/debian.sources");
        host.extend(parse_one_line(ONE_LINE, "/etc/apt/sources.list"));
        let trixie = sources_for_suite(&host, "bookworm", "trixie").unwrap();
        expect_test::expect![[r#"
            http://archive.example/debian trixie,trixie-updates main [/usr/share/keyrings/debian-archive-keyring.gpg] (/etc/apt/sources.list.d/debian.sources)
            http://archive.example/debian-security trixie-security main [/usr/share/keyrings/debian-archive-keyring.gpg] (/etc/apt/sources.list.d/debian.sources)
            http://archive.example/debian trixie main [-] (/etc/apt/sources.list)"#]]
        .assert_eq(&shown(&trixie));
        expect_test::expect![[r#"
            # Written by `cargo xtask` from the host's Debian sources (/etc/apt/sources.list.d/debian.sources, /etc/apt/sources.list).

            Types: deb
            URIs: http://archive.example/debian
            Suites: trixie trixie-updates
            Components: main
            Architectures: riscv64
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

            Types: deb
            URIs: http://archive.example/debian-security
            Suites: trixie-security
            Components: main
            Architectures: riscv64
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

            Types: deb
            URIs: http://archive.example/debian
            Suites: trixie
            Components: main
            Architectures: riscv64
        "#]]
        .assert_eq(&render_sources(&trixie, "riscv64"));
        // The host's own suite comes out as it went in (security listed twice: once).
        let bookworm = sources_for_suite(&host, "bookworm", "bookworm").unwrap();
        assert_eq!(
            bookworm
                .iter()
                .filter(|s| s.suites == ["bookworm-security"])
                .count(),
            1
        );
        assert_eq!(
            sources_for_suite(&host, "trixie", "sid").unwrap_err().to_string(),
            "the host's apt sources have no Debian entry for its release `trixie` (main) to derive `sid` from; \
             add the Debian archive to the host's apt sources"
        );
    }

    #[test]
    fn reads_the_release_name() {
        let os_release = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(parse_codename(os_release).as_deref(), Some("bookworm"));
        assert_eq!(parse_codename("ID=debian\nVERSION_CODENAME=\"\"\n"), None);
    }

    #[test]
    fn reads_apt_cache_records() {
        let text = "Package: busybox-static\nVersion: 1:1.35.0-4+deb12u1+b1\nArchitecture: arm64\nFilename: pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb\nSize: 800000\nSHA256: abc\n\nPackage: linux-image-arm64\nVersion: 6.1.192-2\nArchitecture: arm64\nDepends: linux-image-6.1.0-56-arm64 (= 6.1.192-2)\nFilename: pool/x.deb\nSHA256: def\n";
        let records = parse_records(text);
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].deb_name(),
            "busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb"
        );
        assert_eq!(
            records[0].identity(),
            "busybox-static 1:1.35.0-4+deb12u1+b1"
        );
        assert_eq!(records[0].size, 800000);
        assert_eq!(
            records[1].depends.as_deref(),
            Some("linux-image-6.1.0-56-arm64 (= 6.1.192-2)")
        );
    }

    #[test]
    fn reads_madison_and_debian_versions() {
        let madison = "\
qemu-utils | 1:10.0.2+ds-1~bpo12+1 | http://archive.example/debian bookworm-backports/main amd64 Packages
qemu-utils | 1:7.2+dfsg-7+deb12u18+b3 | http://archive.example/debian bookworm/main amd64 Packages
qemu-utils | 1:7.2+dfsg-7+deb12u15 | http://archive.example/debian-security bookworm-security/main amd64 Packages
      qemu | 1:7.2+dfsg-7+deb12u18 | http://archive.example/debian bookworm/main Sources
";
        let entries = parse_madison(madison).unwrap();
        assert_eq!(
            entries.len(),
            3,
            "the source package is not a binary's version"
        );
        assert_eq!(
            (
                entries[2].suite.as_str(),
                entries[2].component.as_str(),
                entries[2].arch.as_str()
            ),
            ("bookworm-security", "main", "amd64")
        );
        assert_eq!(
            madison_suite_version(madison, "qemu-utils", "bookworm").as_deref(),
            Some("1:7.2+dfsg-7+deb12u18+b3")
        );
        assert_eq!(madison_suite_version(madison, "qemu-utils", "trixie"), None);
        assert!(parse_madison("rustc | 1.63\n").is_err());
        assert_eq!(upstream_version("1:7.2+dfsg-7+deb12u18+b3"), "7.2+dfsg");
        assert_eq!(upstream_version("1:10.0.2+ds-1~bpo12+1"), "10.0.2+ds");
        assert_eq!(upstream_version("2.36"), "2.36");
    }

    #[test]
    fn apt_messages_lose_the_archive_host() {
        let hosts = vec!["archive.example".to_string()];
        assert_eq!(
            redact_hosts(
                "E: Failed to fetch http://archive.example/debian-security/dists/x/Packages.xz  Bad size [IP: 192.0.2.1 80]",
                &hosts
            ),
            "E: Failed to fetch apt:debian-security/dists/x/Packages.xz  Bad size"
        );
        assert_eq!(
            redact_hosts("W: Failed to fetch http://archive.example:8080/debian/dists/trixie/InRelease  Temporary failure resolving 'archive.example'", &hosts),
            "W: Failed to fetch apt:debian/dists/trixie/InRelease  Temporary failure resolving '<archive>'"
        );
        assert_eq!(
            uri_host("http://user@archive.example:8080/debian"),
            Some("archive.example")
        );
        assert_eq!(uri_host("/srv/debian"), None);
    }
}
