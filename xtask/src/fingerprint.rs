//! Input fingerprints: a cell whose inputs are unchanged is not run again.
//!
//! The fingerprint hashes the sources the cell builds (and their path
//! dependencies), the lockfile and cargo configuration, the resolved
//! toolchain (its `rustc -vV`, environment and arguments), the runner's
//! settings, the packages and expectations, and [`LANE_VERSION`].

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::plan::{ExecSpec, PlannedCell};

/// Bumped whenever what a lane does with the same inputs changes.
pub const LANE_VERSION: u32 = 3;

pub fn cell(cell: &PlannedCell, spec: &ExecSpec, source_digest: &str) -> String {
    let inputs = json!({
        "lane-version": LANE_VERSION,
        "schema": crate::results::SCHEMA,
        "id": cell.id,
        "target": cell.platform.target,
        "packages": cell.packages,
        "excluded": cell.excluded,
        "expected": cell.expected,
        "timeout": cell.timeout.as_secs(),
        "toolchain": spec.toolchain,
        "runner": spec.runner,
        "sources": source_digest,
    });
    let mut hasher = Sha256::new();
    hasher.update(inputs.to_string().as_bytes());
    hex(&hasher.finalize())
}
