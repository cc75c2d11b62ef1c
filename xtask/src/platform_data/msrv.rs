//! The MSRV a policy implies: per platform, whether its release counts and
//! which packaged Rust does; the floor is the oldest of those, and a
//! workspace `rust-version` above it leaves the platforms below behind.

use std::fmt::Write;

use crate::model::lifecycle::{LifecycleFile, Support};
use crate::model::msrv_policy::{parse_date, MsrvPolicy, OsRule, ReleaseRule};
use crate::model::rust_status::{PackagedRust, RustStatusFile};
use crate::model::Platform;
use crate::model::RustVersion;

/// Whether a platform's packaged Rust binds the MSRV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counts {
    Yes(String),
    No(String),
    /// An explicit exception of the policy.
    Exempt(String),
}

/// One platform under the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub platform: String,
    pub counts: Counts,
    /// The newest package the policy lets count (channels, alternatives).
    pub packaged: Option<PackagedRust>,
    /// Why there is no `packaged`.
    pub missing: Option<String>,
    pub stale_since: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub judgements: Vec<Judgement>,
    /// The oldest packaged Rust among the platforms that count, and those platforms.
    pub floor: Option<(RustVersion, Vec<String>)>,
    pub workspace: Option<RustVersion>,
    /// Counting platforms whose packaged Rust is older than the workspace's `rust-version`.
    pub too_old: Vec<String>,
    /// Counting platforms without a known packaged Rust.
    pub unknown: Vec<String>,
}

/// Does `release` of `os` count under `rule` on `today`, and why.
pub fn release_counts(
    rule: &OsRule,
    os: &str,
    release: &str,
    today: time::Date,
    lifecycle: &LifecycleFile,
) -> Counts {
    match rule.releases {
        ReleaseRule::All => Counts::Yes("every release counts".into()),
        ReleaseRule::Supported => match lifecycle.facts(os, release, today).support {
            Support::Ended { .. } => Counts::No(format!(
                "supported releases only: {}",
                lifecycle.facts(os, release, today).support.label()
            )),
            Support::Unknown(why) => Counts::Yes(format!(
                "supported releases only; counted, as nothing says it ended ({why})"
            )),
            s => Counts::Yes(format!("supported releases only: {}", s.label())),
        },
        ReleaseRule::NewestAndPrevious => {
            let mut dated: Vec<(time::Date, &str)> = rule
                .released
                .iter()
                .filter_map(|(name, d)| parse_date(d).map(|d| (d, name.as_str())))
                .filter(|(d, _)| *d <= today)
                .collect();
            dated.sort();
            let Some(pos) = dated.iter().position(|(_, n)| *n == release) else {
                return Counts::No(format!(
                    "`{release}` is not released yet or has no release date"
                ));
            };
            let newest = dated.len() - 1;
            if pos == newest {
                return Counts::Yes("the newest release".into());
            }
            let (succ_date, succ) = dated[pos + 1];
            let years = rule.grace_years.unwrap_or(0) as i32;
            let until = succ_date
                .replace_year(succ_date.year() + years)
                .unwrap_or(succ_date);
            if pos + 1 == newest && today < until {
                Counts::Yes(format!(
                    "the previous release, until {until} ({years} years after {succ})"
                ))
            } else if pos + 1 == newest {
                Counts::No(format!(
                    "the previous release, no longer since {until} ({years} years after {succ})"
                ))
            } else {
                Counts::No("older than the previous release".into())
            }
        }
    }
}

/// The newest package that counts under `rule`, or why none.
pub fn best_package<'a>(
    packages: &'a [PackagedRust],
    rule: Option<&OsRule>,
) -> Result<&'a PackagedRust, String> {
    let counted: Vec<&PackagedRust> = packages
        .iter()
        .filter(|p| rule.is_none_or(|r| r.alternatives || !p.alternative))
        .filter(|p| {
            rule.and_then(|r| r.channels.as_ref())
                .is_none_or(|c| c.contains(&p.channel))
        })
        .collect();
    if let Some(best) = counted.iter().max_by_key(|p| p.rust) {
        return Ok(best);
    }
    if packages.is_empty() {
        Err("no Rust compiler package".into())
    } else {
        let listed: Vec<String> = packages
            .iter()
            .map(|p| format!("{} {} ({})", p.name, p.rust, p.channel))
            .collect();
        Err(format!(
            "none of the packages counts under the policy: {}",
            listed.join(", ")
        ))
    }
}

/// Why a platform has no values at all.
pub fn missing_data(status: &RustStatusFile, platform: &str) -> Option<String> {
    match status.platform.get(platform) {
        None => Some("never fetched: run `cargo xtask platforms refresh`".into()),
        Some(e) if e.checked.is_none() => Some(format!(
            "never fetched: {}",
            e.error.as_deref().unwrap_or("no answer")
        )),
        Some(_) => None,
    }
}

pub fn compute(
    platforms: &[Platform],
    policy: &MsrvPolicy,
    status: &RustStatusFile,
    workspace: Option<RustVersion>,
    today: time::Date,
    lifecycle: &LifecycleFile,
) -> Outcome {
    let mut judgements = Vec::new();
    for p in platforms {
        let rule = policy.os.get(&p.os);
        let counts = if let Some(ex) = policy.exception_for(&p.id) {
            Counts::Exempt(ex.reason.clone())
        } else {
            match rule {
                None => Counts::No(format!("the policy has no rule for {}", p.os)),
                Some(rule) => release_counts(rule, &p.os, &p.release, today, lifecycle),
            }
        };
        let entry = status.platform.get(&p.id);
        let (packaged, missing) = match missing_data(status, &p.id) {
            Some(why) => (None, Some(why)),
            None => match best_package(&entry.expect("checked above").package, rule) {
                Ok(best) => (Some(best.clone()), None),
                Err(why) => (None, Some(why)),
            },
        };
        judgements.push(Judgement {
            platform: p.id.clone(),
            counts,
            packaged,
            missing,
            stale_since: entry.and_then(|e| e.stale_since.clone()),
        });
    }
    let counting: Vec<&Judgement> = judgements
        .iter()
        .filter(|j| matches!(j.counts, Counts::Yes(_)))
        .collect();
    let floor_version = counting
        .iter()
        .filter_map(|j| j.packaged.as_ref().map(|p| p.rust))
        .min();
    let floor = floor_version.map(|v| {
        let at: Vec<String> = counting
            .iter()
            .filter(|j| j.packaged.as_ref().is_some_and(|p| p.rust == v))
            .map(|j| j.platform.clone())
            .collect();
        (v, at)
    });
    let too_old = match workspace {
        Some(w) => counting
            .iter()
            .filter(|j| j.packaged.as_ref().is_some_and(|p| p.rust < w))
            .map(|j| j.platform.clone())
            .collect(),
        None => Vec::new(),
    };
    let unknown = counting
        .iter()
        .filter(|j| j.packaged.is_none())
        .map(|j| j.platform.clone())
        .collect();
    Outcome {
        judgements,
        floor,
        workspace,
        too_old,
        unknown,
    }
}

impl Outcome {
    /// The report `cargo xtask msrv` prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .judgements
            .iter()
            .map(|j| j.platform.len())
            .max()
            .unwrap_or(0);
        for j in &self.judgements {
            let (mark, why) = match &j.counts {
                Counts::Yes(why) => ("counts", why.clone()),
                Counts::No(why) => ("ignored", why.clone()),
                Counts::Exempt(why) => ("exempt", format!("exception: {why}")),
            };
            let packaged = match (&j.packaged, &j.missing) {
                (Some(p), _) => format!(
                    "{} {} ({}, {})",
                    p.name,
                    p.rust,
                    p.channel,
                    &p.fetched[..p.fetched.len().min(10)]
                ),
                (None, Some(why)) => format!("unknown: {why}"),
                (None, None) => "unknown".into(),
            };
            let stale = j
                .stale_since
                .as_ref()
                .map(|s| format!(" [stale since {}]", &s[..s.len().min(10)]))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<width$}  {mark:<7}  {packaged}{stale}; {why}",
                j.platform
            );
        }
        out.push('\n');
        match &self.floor {
            Some((v, at)) => {
                let _ = writeln!(
                    out,
                    "floor: Rust {} (the oldest packaged Rust that counts: {})",
                    v.short(),
                    at.join(", ")
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "floor: unknown (no platform that counts has a known packaged Rust)"
                );
            }
        }
        if !self.unknown.is_empty() {
            let _ = writeln!(
                out,
                "counted but unknown ({}): {}",
                self.unknown.len(),
                self.unknown.join(", ")
            );
        }
        match self.workspace {
            None => {
                let _ = writeln!(
                    out,
                    "workspace rust-version: none declared, so nothing to compare"
                );
            }
            Some(w) => {
                let _ = write!(out, "workspace rust-version: {}", w.short());
                match &self.floor {
                    Some((f, _)) if w > *f => {
                        let _ = writeln!(
                            out,
                            " is above the floor {}: too new for {}",
                            f.short(),
                            self.too_old.join(", ")
                        );
                    }
                    Some((f, _)) if w == *f => {
                        let _ = writeln!(out, " is at the floor");
                    }
                    Some((f, _)) => {
                        let _ =
                            writeln!(out, " is below the floor {}: it may rise to it", f.short());
                    }
                    None => out.push('\n'),
                }
            }
        }
        out
    }
}
