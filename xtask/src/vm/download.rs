//! Downloading guest images into the cache: resumed where a transfer broke
//! off (HTTP `Range`), restarted when the server refuses ranges, and checked
//! against the pinned SHA-256 or SHA-512 before anything uses the file. A
//! file that does not match is discarded, never kept. Transfers go through `curl`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use sha2::Digest;

use crate::cmd::Cmd;
use crate::model::vm_image::{DigestAlgo, Pin};

/// How many transfers one download may take (each resumes the last).
const ATTEMPTS: usize = 6;

/// curl's exit statuses this code tells apart.
const CURL_RESOLVE: i32 = 6;
const CURL_CONNECT: i32 = 7;
const CURL_HTTP_ERROR: i32 = 22;
const CURL_PARTIAL: i32 = 18;
const CURL_RANGE: i32 = 33;

/// Where a verified download of `url` lives in `dir`: keyed by its checksum.
pub fn cached_path(dir: &Path, url: &str, hex: &str) -> PathBuf {
    dir.join(&hex[..16]).join(file_name(url))
}

/// The file's digest in lowercase hexadecimal.
pub fn digest_file(path: &Path, algo: DigestAlgo) -> Result<String> {
    fn run<D: Digest>(path: &Path) -> Result<String> {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut hasher = D::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
    match algo {
        DigestAlgo::Sha256 => run::<sha2::Sha256>(path),
        DigestAlgo::Sha512 => run::<sha2::Sha512>(path),
    }
}

fn file_name(url: &str) -> String {
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or("download");
    if name.is_empty() {
        "download".into()
    } else {
        name.to_string()
    }
}

/// [`fetch_pinned`] with a SHA-256 pin, or none.
pub fn fetch(
    url: &str,
    sha256: Option<&str>,
    dir: &Path,
    progress: &dyn Fn(&str),
) -> Result<(PathBuf, String)> {
    let pin = sha256.map(|hex| Pin {
        algo: DigestAlgo::Sha256,
        hex: hex.to_string(),
    });
    fetch_pinned(url, pin.as_ref(), dir, progress)
}

/// Downloads `url` into `dir` and checks it against `pin`; returns the
/// verified file and its pinned digest. Without a pin (trust on first use),
/// the file is kept under `dir/unpinned/` and its SHA-256 is returned for the
/// caller to record.
pub fn fetch_pinned(
    url: &str,
    pin: Option<&Pin>,
    dir: &Path,
    progress: &dyn Fn(&str),
) -> Result<(PathBuf, String)> {
    let algo = pin.map(|p| p.algo).unwrap_or(DigestAlgo::Sha256);
    let sha256: Option<&str> = pin.map(|p| p.hex.as_str());
    let sha256_file = |path: &Path| digest_file(path, algo);
    let dest = match sha256 {
        Some(sum) => cached_path(dir, url, sum),
        None => dir.join("unpinned").join(file_name(url)),
    };
    if let Some(sum) = sha256 {
        if dest.is_file() && sha256_file(&dest)? == sum {
            return Ok((dest, sum.to_string()));
        }
    }
    let parent = dest.parent().expect("a file under dir");
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let _lock = crate::paths::FileLock::acquire(&dest.with_extension("lock"))?;
    let part = dest.with_file_name(format!("{}.part", file_name(url)));
    let mut last_error = String::new();
    let mut done = false;
    for attempt in 1..=ATTEMPTS {
        if crate::cmd::cancelled() {
            bail!("interrupted");
        }
        let resume = part.metadata().map(|m| m.len()).unwrap_or(0);
        progress(&if resume > 0 {
            format!(
                "downloading {} (attempt {attempt}, resuming at {resume} bytes)",
                file_name(url)
            )
        } else {
            format!("downloading {} (attempt {attempt})", file_name(url))
        });
        let mut cmd = Cmd::new("curl")
            .args([
                "--fail",
                "--location",
                "--silent",
                "--show-error",
                "--connect-timeout",
                "20",
            ])
            .args(["--speed-limit", "1024", "--speed-time", "60"])
            .arg("--output")
            .arg(&part);
        if resume > 0 {
            cmd = cmd.args(["--continue-at", "-"]);
        }
        let out = cmd.arg(url).timeout(Duration::from_secs(3 * 3600)).run()?;
        let stderr = out.record.stderr_tail.trim().to_string();
        match out.record.exit_code {
            Some(0) => {
                done = true;
                break;
            }
            Some(CURL_RANGE) => {
                // The server answered a ranged request with the whole file: start over.
                last_error = format!("the server does not resume transfers ({stderr}); restarting");
                let _ = std::fs::remove_file(&part);
            }
            Some(CURL_HTTP_ERROR) if stderr.contains("416") => {
                // Range not satisfiable: what we have may already be the whole file.
                if let Some(sum) = sha256 {
                    if sha256_file(&part).ok().as_deref() == Some(sum) {
                        done = true;
                        break;
                    }
                }
                last_error = format!("the server refused to resume ({stderr}); restarting");
                let _ = std::fs::remove_file(&part);
            }
            Some(CURL_RESOLVE | CURL_CONNECT) => {
                bail!("cannot download {url}: cannot reach the server ({stderr})")
            }
            Some(CURL_HTTP_ERROR) => bail!("cannot download {url}: {stderr}"),
            Some(CURL_PARTIAL) | Some(_) => {
                last_error = format!(
                    "the transfer broke off ({})",
                    if stderr.is_empty() {
                        out.record.describe()
                    } else {
                        stderr
                    }
                )
            }
            None => bail!("cannot download {url}: curl {}", out.record.describe()),
        }
    }
    if !done {
        bail!("cannot download {url} in {ATTEMPTS} attempts: {last_error}");
    }
    let got = sha256_file(&part)?;
    if let Some(sum) = sha256 {
        if got != sum {
            let _ = std::fs::remove_file(&part);
            let name = match algo {
                DigestAlgo::Sha256 => "SHA-256",
                DigestAlgo::Sha512 => "SHA-512",
            };
            bail!("checksum mismatch for {url}: the pinned {name} is {sum}, the download's is {got}; the download was discarded");
        }
    }
    std::fs::rename(&part, &dest)
        .with_context(|| format!("cannot move the download to {}", dest.display()))?;
    Ok((dest, got))
}

/// Whether `url`'s server answers at all (a HEAD request, quickly), memoized
/// per host for the process. `Err` says why not.
pub fn reachable(url: &str) -> Result<(), String> {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    static SEEN: Mutex<BTreeMap<String, Result<(), String>>> = Mutex::new(BTreeMap::new());
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(url)
        .to_string();
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    seen.entry(host.clone())
        .or_insert_with(|| {
            let out = Cmd::new("curl")
                .args(["--head", "--silent", "--show-error", "--connect-timeout", "5", "--max-time", "10", "--output", "/dev/null"])
                .arg(url)
                .timeout(Duration::from_secs(15))
                .run();
            match out {
                Ok(out) if matches!(out.record.exit_code, Some(c) if c != CURL_RESOLVE && c != CURL_CONNECT && c != 28) => Ok(()),
                Ok(out) => Err(format!("cannot reach {host}: {}", out.record.stderr_tail.trim())),
                Err(err) => Err(format!("cannot reach {host}: {err:#}")),
            }
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_url() {
        assert_eq!(
            file_name("https://h.example/a/b/FreeBSD.raw.xz?x=1"),
            "FreeBSD.raw.xz"
        );
        assert_eq!(file_name("https://h.example/"), "download");
    }
}
