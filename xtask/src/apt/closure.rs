//! The packages a set of packages needs, as far as the caller lacks them:
//! `Depends` followed through one private apt state, the first alternative
//! of each, stopping where the caller says (what the host has installed,
//! what another part provides).

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use super::state::{parse_records, AptState, PackageRecord};

/// `pkg (>= 1) | other, lib:any` → `["pkg", "lib"]`: the first alternative of each dependency.
pub fn first_alternatives(depends: &str) -> Vec<String> {
    depends
        .split(',')
        .filter_map(|group| {
            let first = group.split('|').next()?.trim();
            let name = first
                .split(|c: char| c.is_whitespace() || c == '(')
                .next()?
                .trim();
            let name = name.split(':').next().unwrap_or(name);
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// The records of `roots` (each `name=version`, exact) and of every package
/// they depend on, directly or not, except those `stop` names (which are not
/// followed further). A root missing from the lists is an error naming it;
/// a dependency without a record of its own (a virtual package) is left out
/// and listed in the second value.
pub fn closure(
    state: &AptState,
    roots: &[String],
    stop: &dyn Fn(&str) -> bool,
) -> Result<(Vec<PackageRecord>, Vec<String>)> {
    let mut out: Vec<PackageRecord> = Vec::new();
    let mut virtuals = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // Breadth first, roots first: a root is never mistaken for a stopped dependency.
    let mut queue: std::collections::VecDeque<(String, bool)> =
        roots.iter().map(|r| (r.clone(), true)).collect();
    while let Some((wanted, is_root)) = queue.pop_front() {
        let name = wanted.split('=').next().unwrap_or(&wanted).to_string();
        if seen.contains(&name) || (!is_root && stop(&name)) {
            continue;
        }
        seen.insert(name.clone());
        let text = state
            .query(&["show", "--no-all-versions", wanted.as_str()])
            .unwrap_or_default();
        let Some(record) = parse_records(&text).into_iter().find(|r| r.package == name) else {
            if is_root {
                bail!(
                    "the archive has no {}:{} {} (Debian {} lists)",
                    name,
                    state.arch,
                    wanted.split_once('=').map_or("", |(_, v)| v),
                    state.suite
                );
            }
            virtuals.push(name);
            continue;
        };
        for dep in first_alternatives(record.depends.as_deref().unwrap_or("")) {
            if !seen.contains(&dep) {
                queue.push_back((dep, false));
            }
        }
        out.push(record);
    }
    out.sort_by(|a, b| a.package.cmp(&b.package));
    Ok((out, virtuals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_first_alternative_without_versions_or_arch_qualifiers() {
        assert_eq!(
            first_alternatives(
                "libc6 (>= 2.34), gcc | clang | c-compiler, libstd-rust-web-dev (= 1.85.0+dfsg3-1~deb12u3), python3:any"
            ),
            ["libc6", "gcc", "libstd-rust-web-dev", "python3"]
        );
        assert!(first_alternatives("").is_empty());
    }
}
