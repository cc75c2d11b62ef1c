//! platform-support.md of a Rust release: from the cache, from a local
//! Rust source tree (Debian's `rust-web-src` installs one), or from GitHub
//! with octocrab (then cached). `GITHUB_TOKEN`, when set, raises GitHub's
//! rate limit; it is never printed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;

use super::platform_support::REPO_PATH;
use crate::model::RustVersion;

/// Where a copy of the file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub text: String,
    /// `github:rust-lang/rust@1.85.0:src/doc/…`, or a local path.
    pub source: String,
}

/// How to reach GitHub's API.
#[derive(Clone)]
pub struct GitHub {
    /// API root; GitHub's own when `None` (tests point it at a local server).
    pub base_uri: Option<String>,
    pub token: Option<String>,
    pub timeout: Duration,
}

impl GitHub {
    /// GitHub's API, with `GITHUB_TOKEN` if set and `XTASK_GITHUB_API` as the API root if set.
    pub fn from_env(timeout: Duration) -> GitHub {
        GitHub {
            base_uri: std::env::var("XTASK_GITHUB_API")
                .ok()
                .filter(|v| !v.is_empty()),
            token: std::env::var("GITHUB_TOKEN").ok().filter(|v| !v.is_empty()),
            timeout,
        }
    }

    /// The file at tag `release` (`1.85.0`).
    pub fn platform_support(&self, release: RustVersion) -> Result<Fetched> {
        let tag = release.to_string();
        let source = format!("github:rust-lang/rust@{tag}:{REPO_PATH}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start an async runtime")?;
        let text = runtime
            .block_on(async {
                tokio::time::timeout(self.timeout, self.get_content(&tag))
                    .await
                    .unwrap_or_else(|_| {
                        Err(anyhow::anyhow!(
                            "timed out after {}s",
                            self.timeout.as_secs_f64()
                        ))
                    })
            })
            .with_context(|| format!("cannot fetch {source}"))?;
        Ok(Fetched { text, source })
    }

    async fn get_content(&self, tag: &str) -> Result<String> {
        let mut builder = octocrab::Octocrab::builder()
            .set_connect_timeout(Some(self.timeout))
            .set_read_timeout(Some(self.timeout));
        if let Some(uri) = &self.base_uri {
            builder = builder
                .base_uri(uri.as_str())
                .with_context(|| format!("bad GitHub API root `{uri}`"))?;
        }
        if let Some(token) = &self.token {
            builder = builder.personal_token(token.clone());
        }
        let client = builder.build().context("cannot build the GitHub client")?;
        let mut items = client
            .repos("rust-lang", "rust")
            .get_content()
            .path(REPO_PATH)
            .r#ref(tag)
            .send()
            .await
            .map_err(explain)?;
        let items = items.take_items();
        let [item] = items.as_slice() else {
            bail!(
                "expected one file, GitHub answered with {} items",
                items.len()
            );
        };
        if item.encoding.as_deref() != Some("base64") {
            bail!(
                "GitHub sent the file with encoding {:?}; expected base64",
                item.encoding
            );
        }
        let encoded: Vec<u8> = item
            .content
            .as_deref()
            .unwrap_or("")
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("the file's content is not base64")?;
        String::from_utf8(bytes).context("the file is not UTF-8")
    }
}

/// octocrab's error in a user's words: a rate limit says so and what helps.
fn explain(err: octocrab::Error) -> anyhow::Error {
    if let octocrab::Error::GitHub { source, .. } = &err {
        let status = source.status_code.as_u16();
        let limited = (status == 403 || status == 429)
            && source.message.to_ascii_lowercase().contains("rate limit");
        if limited {
            let reset = source
                .rate_limit_reset
                .map(|t| format!("; the limit resets at Unix time {t}"))
                .unwrap_or_default();
            return anyhow::anyhow!(
                "GitHub's API rate limit is exhausted (HTTP {status}: {}){reset}; set GITHUB_TOKEN to raise it",
                source.message
            );
        }
        return anyhow::anyhow!("GitHub answered HTTP {status}: {}", source.message);
    }
    anyhow::Error::new(err)
}

/// The copies to try before GitHub: the cache, then local Rust source trees.
pub fn local_candidates(cache: &Path, release: RustVersion) -> Vec<PathBuf> {
    vec![
        cached_path(cache, release),
        PathBuf::from(format!("/usr/src/rustc-{release}")).join(REPO_PATH),
    ]
}

pub fn cached_path(cache: &Path, release: RustVersion) -> PathBuf {
    cache.join("platform-support").join(format!("{release}.md"))
}

/// The file for `release`: cached or local if there, else from GitHub (then cached).
/// `offline` stops before GitHub.
pub fn platform_support(
    cache: &Path,
    release: RustVersion,
    github: &GitHub,
    offline: bool,
) -> Result<Fetched> {
    for path in local_candidates(cache, release) {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let source = if path.starts_with(cache) {
                format!("github:rust-lang/rust@{release}:{REPO_PATH} (cached)")
            } else {
                path.display().to_string()
            };
            return Ok(Fetched { text, source });
        }
    }
    if offline {
        bail!("no copy of platform-support.md for Rust {release} in {} or a local Rust source tree, and --offline", cache.display());
    }
    let fetched = github.platform_support(release)?;
    // Only a file that parses is worth keeping.
    super::platform_support::parse(&fetched.text)
        .with_context(|| format!("{} is not a platform-support.md", fetched.source))?;
    crate::paths::write_atomic(&cached_path(cache, release), fetched.text.as_bytes())?;
    Ok(fetched)
}
