//! Tiers of the targets in `platforms/`: as the compiler in use states them
//! (`--print target-spec-json` metadata) and as platform-support.md of a
//! release lists them, side by side.

use std::collections::BTreeMap;

use super::platform_support::PlatformSupport;
use crate::model::rust_status::{TierRow, TierSnapshot};
use crate::model::StdSupport;
use crate::results::Tier;

/// platform-support.md's row for each target, 0 when the release lists it not.
pub fn snapshot(
    targets: &[String],
    doc: &PlatformSupport,
    release: crate::model::RustVersion,
    source: &str,
    now: &str,
) -> TierSnapshot {
    let target: BTreeMap<String, TierRow> = targets
        .iter()
        .map(|t| {
            let row = match doc.targets.get(t) {
                Some(s) => TierRow {
                    tier: s.tier,
                    host_tools: s.host_tools,
                    std: s.std,
                },
                None => TierRow {
                    tier: 0,
                    host_tools: false,
                    std: StdSupport::Unknown,
                },
            };
            (t.clone(), row)
        })
        .collect();
    TierSnapshot {
        release,
        source: source.to_string(),
        fetched: now.to_string(),
        newer: None,
        target,
    }
}

/// Where rustc's metadata and the document disagree, in words; `None` when they agree.
///
/// rustc's `host_tools` for a tier 3 target means "the code base can build
/// host tools" (the table's `host` column); for tiers 1–2 it means official
/// host tools. The comparison is the same either way.
pub fn disagreement(
    target: &str,
    rustc: &Tier,
    doc: Option<&super::platform_support::TargetSupport>,
) -> Option<String> {
    let Some(doc) = doc else {
        return Some(format!(
            "{target}: rustc says tier {:?}, the document does not list it",
            rustc.tier
        ));
    };
    let mut diffs = Vec::new();
    if rustc.tier != Some(doc.tier) {
        diffs.push(format!("tier {:?} vs {}", rustc.tier, doc.tier));
    }
    if rustc.host_tools != Some(doc.host_tools) {
        diffs.push(format!(
            "host tools {:?} vs {}",
            rustc.host_tools, doc.host_tools
        ));
    }
    let std = StdSupport::from_metadata(rustc.std);
    if std != doc.std {
        diffs.push(format!("std {} vs {}", std.as_str(), doc.std.as_str()));
    }
    (!diffs.is_empty()).then(|| {
        format!(
            "{target}: rustc vs platform-support.md: {}",
            diffs.join(", ")
        )
    })
}
