//! What a target's standard library column says (platform-support.md's `std`
//! column, rustc's `"std"` metadata), shared by the tier data and its fetchers.

use serde::{Deserialize, Serialize};

/// What the standard library column says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StdSupport {
    /// ✓: the full standard library.
    Full,
    /// `*`: `no_std` only.
    NoStd,
    /// `?`: unknown or work in progress.
    Unknown,
}

impl StdSupport {
    /// What rustc's target metadata (`"std": true/false/null`) means in these terms.
    pub fn from_metadata(std: Option<bool>) -> StdSupport {
        match std {
            Some(true) => StdSupport::Full,
            Some(false) => StdSupport::NoStd,
            None => StdSupport::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StdSupport::Full => "std",
            StdSupport::NoStd => "no_std",
            StdSupport::Unknown => "std?",
        }
    }
}
