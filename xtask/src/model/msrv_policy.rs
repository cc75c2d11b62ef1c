//! `platforms/rust/msrv-policy.toml`: which OS releases' packaged Rust the
//! workspace's `rust-version` must respect, written by hand.
//!
//! Per OS: which releases count (all of them, those not past their end of
//! life, or the newest plus the previous one for a grace period after its
//! successor, QEMU's rule), which channels
//! (FreeBSD's `quarterly` or `latest`), and whether alternative compiler
//! packages (`rustc-web`, `rustc-1.NN`, `rust-bin`) count. Then explicit
//! per-platform exceptions, each with its reason.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::diag::{parse_str, LoadError, LoadErrors};
use super::{glob_match, Platform};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MsrvPolicy {
    /// OS (as in `platforms/<os>.toml`) → its rule.
    pub os: BTreeMap<String, OsRule>,
    #[serde(default)]
    pub exception: Vec<Exception>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OsRule {
    pub releases: ReleaseRule,
    /// For `newest-and-previous`: how long the previous release still counts
    /// after its successor came out.
    #[serde(default)]
    pub grace_years: Option<u32>,
    /// Release name → release date (`YYYY-MM-DD`), for `newest-and-previous`.
    /// May name releases that `platforms/` does not test: they still decide
    /// which release is the newest.
    #[serde(default)]
    pub released: BTreeMap<String, String>,
    /// Only packages from these channels count; all channels when absent.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Whether alternative compiler packages count (`rustc-web`, `rustc-1.NN`, `rust-bin`).
    pub alternatives: bool,
    /// Why this rule: shown in `cargo xtask msrv`.
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseRule {
    /// Every release in `platforms/` counts.
    All,
    /// The newest release, and the previous one until `grace-years` after the newest came out.
    NewestAndPrevious,
    /// The releases in `platforms/` that are not past their end of life on
    /// the day of judgement (`platforms/lifecycle/releases.toml`); one
    /// without lifecycle data counts.
    Supported,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Exception {
    /// Platform ids; `*` matches any run of characters.
    pub platforms: Vec<String>,
    pub reason: String,
}

impl MsrvPolicy {
    /// The exception covering a platform, if any.
    pub fn exception_for(&self, platform: &str) -> Option<&Exception> {
        self.exception
            .iter()
            .find(|e| e.platforms.iter().any(|g| glob_match(g, platform)))
    }
}

pub fn parse_date(text: &str) -> Option<time::Date> {
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

pub fn parse(
    text: &str,
    file: &str,
    platforms: &[Platform],
    errors: &mut LoadErrors,
) -> Option<MsrvPolicy> {
    let policy: MsrvPolicy = match parse_str(text, file) {
        Ok(p) => p,
        Err(err) => {
            errors.push(err);
            return None;
        }
    };
    let before = errors.0.len();
    for (os, rule) in &policy.os {
        let key = |k: &str| format!("os.{os}.{k}");
        if !platforms.iter().any(|p| &p.os == os) {
            errors.push(LoadError::key(
                file,
                format!("os.{os}"),
                format!("no OS `{os}` in platforms/"),
            ));
            continue;
        }
        if rule.why.trim().is_empty() {
            errors.push(LoadError::key(file, key("why"), "must say why this rule"));
        }
        for (name, date) in &rule.released {
            if parse_date(date).is_none() {
                errors.push(LoadError::key(
                    file,
                    key(&format!("released.{name}")),
                    format!("`{date}` is not a YYYY-MM-DD date"),
                ));
            }
        }
        match rule.releases {
            ReleaseRule::NewestAndPrevious => {
                if rule.grace_years.is_none() {
                    errors.push(LoadError::key(
                        file,
                        key("grace-years"),
                        "is required with `releases = \"newest-and-previous\"`",
                    ));
                }
                for p in platforms.iter().filter(|p| &p.os == os) {
                    if !rule.released.contains_key(&p.release) {
                        errors.push(LoadError::key(
                            file,
                            key("released"),
                            format!(
                                "has no date for release `{}` (from {})",
                                p.release, p.source
                            ),
                        ));
                        break;
                    }
                }
            }
            ReleaseRule::All | ReleaseRule::Supported => {
                if rule.grace_years.is_some() {
                    errors.push(LoadError::key(
                        file,
                        key("grace-years"),
                        "applies to `newest-and-previous` only",
                    ));
                }
            }
        }
        if rule.channels.as_ref().is_some_and(Vec::is_empty) {
            errors.push(LoadError::key(
                file,
                key("channels"),
                "must list at least one channel, or be left out",
            ));
        }
    }
    for (i, ex) in policy.exception.iter().enumerate() {
        if ex.reason.trim().is_empty() {
            errors.push(LoadError::key(
                file,
                format!("exception[{i}].reason"),
                "must say why",
            ));
        }
        for (j, g) in ex.platforms.iter().enumerate() {
            if !platforms.iter().any(|p| glob_match(g, &p.id)) {
                errors.push(LoadError::key(
                    file,
                    format!("exception[{i}].platforms[{j}]"),
                    format!("`{g}` matches no platform"),
                ));
            }
        }
    }
    (errors.0.len() == before).then_some(policy)
}

/// Loads the policy if there is one.
pub fn load(
    path: &Path,
    file: &str,
    platforms: &[Platform],
    errors: &mut LoadErrors,
) -> Option<MsrvPolicy> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, file, platforms, errors),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            errors.push(LoadError::file(
                file,
                format!(
                    "cannot read {}: {err}",
                    std::path::absolute(path)
                        .unwrap_or_else(|_| path.to_path_buf())
                        .display()
                ),
            ));
            None
        }
    }
}
