//! The private apt state against the real archive (slow: it needs the
//! package registry): what goes wrong is told with the command named and
//! without the archive's host.

use std::time::Duration;

use xtask::apt::{self, AptState};
use xtask::testing::require;

#[test]
#[ignore = "slow: needs apt-get and the host's Debian archive; run with `cargo xtask test`"]
fn a_suite_the_archive_lacks_is_named_without_the_archive_host() {
    require(
        xtask::host::which("apt-get").is_some(),
        "apt-get (a Debian host)",
        "run on Debian",
    );
    let root = tempfile::tempdir().unwrap();
    let state = AptState::open(root.path(), "no-such-suite", "amd64").unwrap();
    let lock = state.lock().unwrap();
    let err = format!(
        "{:#}",
        state.update(&lock, Duration::from_secs(300)).unwrap_err()
    );
    assert!(
        err.starts_with(
            "`apt-get update` for Debian no-such-suite amd64 failed (exit status 100): E: "
        ),
        "{err}"
    );
    let hosts: Vec<String> = apt::derived_sources("no-such-suite")
        .unwrap()
        .iter()
        .flat_map(|s| &s.uris)
        .filter_map(|u| {
            u.split_once("://").map(|(_, rest)| {
                rest.split(['/', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .collect();
    assert!(!hosts.is_empty());
    for host in &hosts {
        assert!(
            !err.contains(host.as_str()),
            "the archive host is in: {err}"
        );
    }
    assert!(!err.contains("://"), "{err}");
    // Nothing half-done passes for lists.
    assert!(!state.has_lists());
}
