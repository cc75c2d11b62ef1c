//! `platforms refresh`: asks each source for each platform's packaged Rust
//! and folds the answers into the status file, keeping what a failed fetch
//! cannot replace.
//!
//! A fetch that succeeds replaces the platform's values and clears its
//! staleness; one that fails (unreachable, malformed, slow) keeps the stored
//! values, records the error and the date since which they are stale.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::freebsd::FreeBsd;
use super::http::{Client, Pacer};
use super::netbsd::NetBsd;
use super::openbsd::OpenBsd;
use super::repology::Repology;
use super::source::{self, Source};
use super::{debian, repology};
use crate::model::rust_status::{
    Fetcher, PackagedRust, PlatformPackages, RepologySnapshot, RustStatusFile,
};
use crate::model::Platform;

/// Where each source lives; tests point them at a local server.
#[derive(Debug, Clone)]
pub struct Sources {
    pub freebsd: String,
    pub openbsd: String,
    pub netbsd: String,
    pub repology: String,
    /// endoflife.date's API root (release and end-of-life dates).
    pub endoflife: String,
    pub timeout: Duration,
    /// The private apt states and downloads.
    pub cache: PathBuf,
}

impl Sources {
    pub fn default_with(cache: PathBuf, timeout: Duration) -> Sources {
        Sources {
            freebsd: FreeBsd::DEFAULT_BASE.into(),
            openbsd: OpenBsd::DEFAULT_BASE.into(),
            netbsd: NetBsd::DEFAULT_BASE.into(),
            repology: Repology::DEFAULT_BASE.into(),
            endoflife: super::endoflife::EndOfLife::DEFAULT_BASE.into(),
            timeout,
            cache,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fetch nothing: keep every value and mark it stale.
    pub offline: bool,
    /// Only these fetchers (all when empty); `repology` is asked when `repology` is set.
    pub only: Vec<Fetcher>,
    pub repology: bool,
}

/// What one refresh did, for the user.
#[derive(Debug, Default)]
pub struct Summary {
    pub fresh: Vec<String>,
    /// Platform → why its values are stale or unknown.
    pub failed: BTreeMap<String, String>,
    pub repology: Option<Result<usize, String>>,
}

/// What a fetch got: the packages, and why the answer may be incomplete.
pub type Answer = (Vec<PackagedRust>, Option<String>);

/// Folds one fetch's outcome into a platform's entry.
pub fn apply(
    old: Option<&PlatformPackages>,
    fetcher: Fetcher,
    outcome: Result<Answer, String>,
    now: &str,
) -> PlatformPackages {
    match (outcome, old) {
        (Ok((package, incomplete)), _) => PlatformPackages {
            fetcher,
            checked: Some(now.into()),
            stale_since: None,
            error: incomplete.map(|e| format!("incomplete answer: {e}")),
            package,
        },
        (Err(error), Some(old)) => PlatformPackages {
            stale_since: Some(old.stale_since.clone().unwrap_or_else(|| now.into())),
            error: Some(error),
            ..old.clone()
        },
        (Err(error), None) => PlatformPackages::never_fetched(fetcher, error, now),
    }
}

fn fetch_one(
    platform: &Platform,
    fetcher: Fetcher,
    sources: &Sources,
    client: &Client,
    now: &str,
    progress: &dyn Fn(&str),
) -> Result<Answer> {
    let complete = |r: Result<Vec<PackagedRust>>| r.map(|p| (p, None));
    match fetcher {
        Fetcher::Debian => {
            let arch = platform.debian_arch.as_deref().ok_or_else(|| {
                anyhow::anyhow!("{}: no `debian-arch` in {}", platform.id, platform.source)
            })?;
            debian::fetch(&sources.cache, &platform.release, arch, now, progress)
        }
        Fetcher::Freebsd => complete(source::packaged::<FreeBsd>(
            client,
            &sources.freebsd,
            &platform.release,
            &platform.arch,
            now,
        )),
        Fetcher::Openbsd => complete(source::packaged::<OpenBsd>(
            client,
            &sources.openbsd,
            &platform.release,
            &platform.arch,
            now,
        )),
        Fetcher::Netbsd => complete(source::packaged::<NetBsd>(
            client,
            &sources.netbsd,
            &platform.release,
            &platform.arch,
            now,
        )),
    }
}

/// Refreshes `status` in place for `platforms`.
pub fn refresh(
    platforms: &[Platform],
    status: &mut RustStatusFile,
    options: &Options,
    sources: &Sources,
    now: &str,
    progress: &dyn Fn(&str),
) -> Summary {
    let client = Client::new(sources.timeout);
    let mut summary = Summary::default();
    // A source that gave no HTTP answer once is not asked again in this run:
    // its other platforms get the same error at once instead of a timeout each.
    let mut unreachable: BTreeMap<Fetcher, String> = BTreeMap::new();
    for platform in platforms {
        let Some(fetcher) = Fetcher::for_os(&platform.os) else {
            continue;
        };
        if !options.only.is_empty() && !options.only.contains(&fetcher) {
            continue;
        }
        let outcome = if options.offline {
            Err("offline refresh: not fetched".to_string())
        } else if let Some(err) = unreachable.get(&fetcher) {
            Err(err.clone())
        } else {
            progress(&format!("{fetcher}: {}", platform.id));
            fetch_one(platform, fetcher, sources, &client, now, progress).map_err(|err| {
                let (text, for_later) = source::describe_failure(&err, &platform.id);
                if let Some(later) = for_later {
                    unreachable.insert(fetcher, later);
                }
                text
            })
        };
        match &outcome {
            Ok((_, Some(why))) => {
                summary.fresh.push(platform.id.clone());
                summary.failed.insert(
                    platform.id.clone(),
                    format!("incomplete answer, values kept: {why}"),
                );
            }
            Ok(_) => summary.fresh.push(platform.id.clone()),
            Err(e) => {
                summary.failed.insert(platform.id.clone(), e.clone());
            }
        }
        let entry = apply(status.platform.get(&platform.id), fetcher, outcome, now);
        status.platform.insert(platform.id.clone(), entry);
    }
    if options.repology {
        let url = repology::project_url(&sources.repology, "rust");
        let outcome = if options.offline {
            Err("offline refresh: not fetched".to_string())
        } else {
            progress("repology: project rust");
            repology::fetch(
                &client,
                &mut Pacer::new(Repology::INTERVAL),
                &sources.repology,
            )
            .map_err(|e| format!("{e:#}"))
        };
        summary.repology = Some(outcome.as_ref().map(BTreeMap::len).map_err(Clone::clone));
        let old = status.repology.take();
        status.repology = Some(match (outcome, old) {
            (Ok(repo), _) => RepologySnapshot {
                source: url,
                checked: Some(now.into()),
                stale_since: None,
                error: None,
                repo,
            },
            (Err(error), Some(old)) => RepologySnapshot {
                stale_since: Some(old.stale_since.clone().unwrap_or_else(|| now.into())),
                error: Some(error),
                ..old
            },
            (Err(error), None) => RepologySnapshot {
                source: url,
                checked: None,
                stale_since: Some(now.into()),
                error: Some(error),
                repo: BTreeMap::new(),
            },
        });
    }
    summary
}

/// Repology's newest version per repository against this file's values:
/// a line per disagreement on the newest Rust an OS packages.
pub fn cross_check(status: &RustStatusFile) -> Vec<String> {
    let Some(repology) = status.repology.as_ref().filter(|r| r.checked.is_some()) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for (id, entry) in &status.platform {
        let repo = match entry.fetcher {
            Fetcher::Debian => id
                .split('-')
                .nth(1)
                .and_then(|r| r.strip_prefix("debian"))
                .map(|n| format!("debian_{n}")),
            Fetcher::Freebsd => Some("freebsd".to_string()),
            Fetcher::Openbsd => Some("openbsd".to_string()),
            Fetcher::Netbsd => Some("pkgsrc_current".to_string()),
        };
        let Some(theirs) = repo.as_ref().and_then(|r| repology.repo.get(r)) else {
            continue;
        };
        let ours = entry.package.iter().map(|p| p.rust).max();
        let theirs_v = crate::model::RustVersion::from_package_version(theirs);
        if ours.is_some() && theirs_v.is_some() && ours != theirs_v {
            notes.push(format!(
                "{id}: newest packaged Rust here {}, Repology's {} says {theirs}",
                ours.map(|v| v.to_string()).unwrap_or_default(),
                repo.unwrap_or_default()
            ));
        }
    }
    notes
}
