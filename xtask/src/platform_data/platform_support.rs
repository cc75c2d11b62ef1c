//! rust-lang/rust's `src/doc/rustc/src/platform-support.md`: the target
//! tables of one Rust release, parsed, and what moved between two releases.
//!
//! The file has one table per section: tier 1 with host tools, tier 2 with
//! host tools, tier 2 without host tools (a `std` column) and tier 3 (`std`
//! and `host` columns). Sections are recognised by their `## Tier N` heading
//! and columns by the table's header row, so older layouts parse too.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::model::StdSupport;

/// Where the file lives in rust-lang/rust.
pub const REPO_PATH: &str = "src/doc/rustc/src/platform-support.md";

/// One target's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSupport {
    pub tier: u8,
    pub host_tools: bool,
    pub std: StdSupport,
    pub notes: String,
}

impl TargetSupport {
    /// `tier 2, host tools, std`.
    pub fn summary(&self) -> String {
        format!(
            "tier {}{}, {}",
            self.tier,
            if self.host_tools { ", host tools" } else { "" },
            self.std.as_str()
        )
    }

    /// Same tier, host tools and std (the notes may be reworded freely).
    pub fn same_support(&self, other: &TargetSupport) -> bool {
        self.tier == other.tier && self.host_tools == other.host_tools && self.std == other.std
    }
}

/// Every target of one release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformSupport {
    pub targets: BTreeMap<String, TargetSupport>,
}

/// The section a table sits in.
#[derive(Debug, Clone, Copy)]
struct Section {
    tier: u8,
    /// From the heading (`with` / `without Host Tools`); `None` when the table's `host` column says.
    host_tools: Option<bool>,
}

fn section_of(heading: &str) -> Option<Section> {
    let h = heading.trim().to_ascii_lowercase();
    let rest = h.strip_prefix("tier ")?;
    let tier: u8 = rest.chars().next()?.to_digit(10)? as u8;
    let host_tools = if rest.contains("without host tools") {
        Some(false)
    } else if rest.contains("with host tools") {
        Some(true)
    } else {
        None
    };
    Some(Section { tier, host_tools })
}

/// Splits a Markdown table row into trimmed cells (outer pipes optional).
fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = line.strip_suffix('|').unwrap_or(line);
    line.split('|').map(|c| c.trim().to_string()).collect()
}

fn is_separator(line: &str) -> bool {
    let c = cells(line);
    !c.is_empty()
        && c.iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// The triple in a target cell: ``[`x`](link)``, `` `x` `` and footnote marks around it.
fn target_of(cell: &str) -> Option<String> {
    let start = cell.find('`')? + 1;
    let len = cell[start..].find('`')?;
    let t = cell[start..start + len].trim();
    (!t.is_empty() && !t.contains(' ')).then(|| t.to_string())
}

fn mark(cell: &str) -> Option<bool> {
    // Footnote references may follow the mark (`✓ [^note]`).
    let c = cell.split("[^").next().unwrap_or("").trim();
    match c {
        "✓" => Some(true),
        // `?`: unknown (1.96 has one such row); not known to build host tools.
        "" | "?" => Some(false),
        _ => None,
    }
}

fn std_of(cell: &str) -> Option<StdSupport> {
    let c = cell
        .split("[^")
        .next()
        .unwrap_or("")
        .trim()
        .trim_start_matches('\\');
    match c {
        "✓" => Some(StdSupport::Full),
        "*" => Some(StdSupport::NoStd),
        "?" | "" => Some(StdSupport::Unknown),
        _ => None,
    }
}

/// Parses the file. Fails, naming the line, on a table it cannot read, and
/// when a tier has no table at all (the file is then not what it claims).
pub fn parse(text: &str) -> Result<PlatformSupport> {
    let mut out = PlatformSupport::default();
    let mut section: Option<Section> = None;
    let lines: Vec<&str> = text.lines().collect();
    let mut tables_per_tier = [0usize; 4];
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(h) = line.strip_prefix("## ") {
            section = section_of(h);
            i += 1;
            continue;
        }
        let (Some(sec), true) = (
            section,
            i + 1 < lines.len() && line.contains('|') && is_separator(lines[i + 1]),
        ) else {
            i += 1;
            continue;
        };
        let header: Vec<String> = cells(line).iter().map(|c| c.to_ascii_lowercase()).collect();
        let col = |name: &str| header.iter().position(|h| h == name);
        let target_col = col("target")
            .with_context(|| format!("line {}: table without a `target` column", i + 1))?;
        let (std_col, host_col) = (col("std"), col("host"));
        if sec.host_tools.is_none() && host_col.is_none() {
            bail!(
                "line {}: tier {} table has no `host` column and its heading does not say",
                i + 1,
                sec.tier
            );
        }
        tables_per_tier[usize::from(sec.tier.min(3))] += 1;
        i += 2;
        while i < lines.len() && lines[i].contains('|') {
            let row = cells(lines[i]);
            let at = || format!("line {}", i + 1);
            let target = target_of(row.get(target_col).map(String::as_str).unwrap_or(""))
                .with_context(|| format!("{}: no `target` in `{}`", at(), lines[i].trim()))?;
            let host_tools = match (sec.host_tools, host_col) {
                (Some(h), _) => h,
                (None, Some(c)) => mark(row.get(c).map(String::as_str).unwrap_or(""))
                    .with_context(|| {
                        format!(
                            "{}: `{target}`: the host column is neither ✓, ? nor empty",
                            at()
                        )
                    })?,
                (None, None) => unreachable!("checked at the header"),
            };
            let std = match std_col {
                Some(c) => {
                    std_of(row.get(c).map(String::as_str).unwrap_or("")).with_context(|| {
                        format!("{}: `{target}`: the std column is not ✓, * or ?", at())
                    })?
                }
                // Tables without a std column are those with host tools: full std, says the file.
                None => StdSupport::Full,
            };
            let notes_col = col("notes").unwrap_or(header.len().saturating_sub(1));
            let notes = row.get(notes_col).cloned().unwrap_or_default();
            out.targets.insert(
                target,
                TargetSupport {
                    tier: sec.tier,
                    host_tools,
                    std,
                    notes,
                },
            );
            i += 1;
        }
    }
    if let Some(tier) = (1..=3).find(|&t| tables_per_tier[t] == 0) {
        bail!("no tier {tier} table found: is this rust-lang/rust's platform-support.md?");
    }
    Ok(out)
}

/// A target whose support differs between two releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub target: String,
    pub from: Option<TargetSupport>,
    pub to: Option<TargetSupport>,
}

impl fmt::Display for Move {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<TargetSupport>| {
            s.as_ref()
                .map(TargetSupport::summary)
                .unwrap_or_else(|| "not listed".into())
        };
        write!(
            f,
            "{}: {} → {}",
            self.target,
            side(&self.from),
            side(&self.to)
        )
    }
}

/// Targets added, removed, or whose tier, host tools or std changed.
pub fn moves(from: &PlatformSupport, to: &PlatformSupport) -> Vec<Move> {
    let mut names: Vec<&String> = from.targets.keys().chain(to.targets.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|t| {
            let (a, b) = (from.targets.get(t), to.targets.get(t));
            let same = matches!((a, b), (Some(a), Some(b)) if a.same_support(b));
            (!same).then(|| Move {
                target: t.clone(),
                from: a.cloned(),
                to: b.cloned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "\
## Tier 1 with Host Tools

target | notes
-------|-------
[`x86_64-unknown-linux-gnu`](x.md) | 64-bit Linux

## Tier 2 with Host Tools

target | notes
-------|-------
`x86_64-unknown-freebsd` | 64-bit FreeBSD

## Tier 2 without Host Tools

target | std | notes
-------|:---:|-------
[`i686-unknown-freebsd`](f.md) | ✓ | 32-bit FreeBSD [^x86_32-floats-return-ABI]
`thumbv6m-none-eabi` | * | Bare Armv6-M

## Tier 3

target | std | host | notes
-------|:---:|:----:|-------
[`aarch64-unknown-openbsd`](o.md) | ✓ | ✓ | ARM64 OpenBSD
[`powerpc-unknown-openbsd`](p.md) | * |  |
`riscv64gc-unknown-freebsd` | ? |   | RISC-V FreeBSD
";

    #[test]
    fn reads_the_four_tables() {
        let ps = parse(SMALL).unwrap();
        let got: Vec<String> = ps
            .targets
            .iter()
            .map(|(t, s)| format!("{t}: {}", s.summary()))
            .collect();
        expect_test::expect![[r#"
            [
                "aarch64-unknown-openbsd: tier 3, host tools, std",
                "i686-unknown-freebsd: tier 2, std",
                "powerpc-unknown-openbsd: tier 3, no_std",
                "riscv64gc-unknown-freebsd: tier 3, std?",
                "thumbv6m-none-eabi: tier 2, no_std",
                "x86_64-unknown-freebsd: tier 2, host tools, std",
                "x86_64-unknown-linux-gnu: tier 1, host tools, std",
            ]
        "#]]
        .assert_debug_eq(&got);
    }

    #[test]
    fn malformed_files_are_named() {
        let err = parse("# Platform Support\n\nnothing here\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no tier 1 table found: is this rust-lang/rust's platform-support.md?"
        );
        let bad = SMALL.replace("| ✓ | ✓ | ARM64 OpenBSD", "| yes | ✓ | ARM64 OpenBSD");
        let err = parse(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 24: `aarch64-unknown-openbsd`: the std column is not ✓, * or ?"
        );
    }

    #[test]
    fn moves_between_releases() {
        let a = parse(SMALL).unwrap();
        let b = parse(&SMALL.replace(
            "`x86_64-unknown-freebsd` | 64-bit FreeBSD",
            "`x86_64-unknown-openbsd` | 64-bit OpenBSD",
        ))
        .unwrap();
        let got: Vec<String> = moves(&a, &b).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "x86_64-unknown-freebsd: tier 2, host tools, std → not listed",
                "x86_64-unknown-openbsd: not listed → tier 2, host tools, std"
            ]
        );
    }
}
