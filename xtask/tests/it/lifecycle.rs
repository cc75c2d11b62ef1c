//! OS release lifecycles and moving tiers: endoflife.date's API v1 against a
//! local server serving answers in the API's real shape, refresh keeping the
//! committed values when the source is unreachable, what `cargo xtask
//! platforms` warns about on a given day, the MSRV policy's "supported
//! releases only", and the report's end-of-life marks and headline tiers
//! (with a platform-support.md from after aarch64-unknown-freebsd's promotion).

use std::path::{Path, PathBuf};
use std::time::Duration;

use xtask::model::lifecycle::{Eol, LifecycleFile, ProductLifecycle, ReleaseLifecycle};
use xtask::model::msrv_policy::{self, parse_date};
use xtask::model::rust_status::{Fetcher, PlatformPackages, RustStatusFile};
use xtask::model::RustVersion;
use xtask::model::{DataDirs, LoadErrors, Model};
use xtask::platform_data::endoflife;
use xtask::platform_data::http::Client;
use xtask::platform_data::platform_support;
use xtask::platform_data::{msrv, tiers};
use xtask::render::Grid;

use super::platform_data::{ok, serve};
use super::report_support::{data_small, results_small};

const NOW: &str = "2026-12-01T09:00:00Z";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/platform-data")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn repo_model() -> Model {
    Model::load(&DataDirs::under(&xtask::repo_root())).expect("the repository's data loads")
}

fn day(d: &str) -> time::Date {
    parse_date(d).unwrap()
}

/// The three products, served like endoflife.date serves them.
fn api() -> String {
    let (base, _) = serve(vec![
        (
            "/api/v1/products/freebsd/",
            ok(read("endoflife-v1-freebsd.json")),
        ),
        (
            "/api/v1/products/netbsd/",
            ok(read("endoflife-v1-netbsd.json")),
        ),
        (
            "/api/v1/products/openbsd/",
            ok(read("endoflife-v1-openbsd.json")),
        ),
    ]);
    format!("{base}/api/v1")
}

#[test]
fn endoflife_v1_answers_read_into_cycles_with_source_and_date() {
    let api = api();
    let client = Client::new(Duration::from_secs(10));
    let mut lines = Vec::new();
    for product in ["freebsd", "netbsd", "openbsd"] {
        for r in endoflife::fetch(&client, &api, product, NOW).unwrap() {
            lines.push(format!(
                "{product} {} released {} eol {} latest {:?} {:?} from {} at {}",
                r.name,
                r.released,
                r.eol,
                r.latest,
                r.latest_released,
                r.source.replace(&api, "<api>"),
                r.fetched
            ));
        }
    }
    expect_test::expect![[r#"
        [
            "freebsd 15 released 2025-12-02 eol 2029-12-31 latest Some(\"15.1\") Some(\"2026-06-16\") from <api>/products/freebsd/ at 2026-12-01T09:00:00Z",
            "freebsd 15.1 released 2026-06-16 eol 2027-03-31 latest Some(\"15.1\") Some(\"2026-06-16\") from <api>/products/freebsd/ at 2026-12-01T09:00:00Z",
            "freebsd 14.4 released 2026-03-10 eol 2026-12-31 latest Some(\"14.4\") Some(\"2026-03-10\") from <api>/products/freebsd/ at 2026-12-01T09:00:00Z",
            "freebsd 15.0 released 2025-12-02 eol 2026-09-30 latest Some(\"15.0\") Some(\"2025-12-02\") from <api>/products/freebsd/ at 2026-12-01T09:00:00Z",
            "freebsd 14.3 released 2025-06-10 eol 2026-06-30 latest Some(\"14.3\") Some(\"2025-06-10\") from <api>/products/freebsd/ at 2026-12-01T09:00:00Z",
            "freebsd 14 released 2023-11-20 eol 2028-11-30 latest Some(\"14.4\") Some(\"2026-03-10\") from <api>/products/freebsd/ at 2026-12-01T09:00:00Z",
            "freebsd 13.5 released 2025-03-11 eol 2026-04-30 latest Some(\"13.5\") Some(\"2025-03-11\") from <api>/products/freebsd/ at 2026-12-01T09:00:00Z",
            "netbsd 11 released 2026-07-30 eol not-announced latest Some(\"11.0\") Some(\"2026-07-30\") from <api>/products/netbsd/ at 2026-12-01T09:00:00Z",
            "netbsd 10 released 2024-03-28 eol not-announced latest Some(\"10.1\") Some(\"2024-12-16\") from <api>/products/netbsd/ at 2026-12-01T09:00:00Z",
            "netbsd 9 released 2020-02-14 eol 2026-08-30 latest Some(\"9.4\") Some(\"2024-04-20\") from <api>/products/netbsd/ at 2026-12-01T09:00:00Z",
            "netbsd 8 released 2018-07-17 eol ended latest Some(\"8.3\") Some(\"2024-05-04\") from <api>/products/netbsd/ at 2026-12-01T09:00:00Z",
            "openbsd 7.9 released 2026-05-19 eol not-announced latest Some(\"7.9\") Some(\"2026-05-19\") from <api>/products/openbsd/ at 2026-12-01T09:00:00Z",
            "openbsd 7.8 released 2025-10-22 eol not-announced latest Some(\"7.8\") Some(\"2025-10-22\") from <api>/products/openbsd/ at 2026-12-01T09:00:00Z",
            "openbsd 7.7 released 2025-04-28 eol 2026-05-19 latest Some(\"7.7\") Some(\"2025-04-28\") from <api>/products/openbsd/ at 2026-12-01T09:00:00Z",
        ]
    "#]]
    .assert_debug_eq(&lines);
}

#[test]
fn a_malformed_endoflife_answer_is_named() {
    let (base, _) = serve(vec![
        (
            "/api/v1/products/freebsd/",
            ok("<html>Service Unavailable</html>"),
        ),
        (
            "/api/v1/products/netbsd/",
            ok(
                r#"{"result": {"name": "netbsd", "releases": [{"name": "10", "releaseDate": "28 March 2024", "isEol": false}]}}"#,
            ),
        ),
    ]);
    let api = format!("{base}/api/v1");
    let client = Client::new(Duration::from_secs(10));
    let errors: Vec<String> = ["freebsd", "netbsd"]
        .iter()
        .map(|p| {
            format!("{:#}", endoflife::fetch(&client, &api, p, NOW).unwrap_err())
                .replace(&api, "<api>")
        })
        .collect();
    expect_test::expect![[r#"
        [
            "<api>/products/freebsd/: not an endoflife.date v1 product answer: expected {\"result\": {\"releases\": […]}}: expected value at line 1 column 1",
            "<api>/products/netbsd/: not an endoflife.date v1 product answer: netbsd: release `10`: releaseDate `28 March 2024` is not a YYYY-MM-DD date",
        ]
    "#]]
    .assert_debug_eq(&errors);
}

#[test]
fn refresh_replaces_what_answers_and_keeps_what_cannot_be_reached() {
    let model = repo_model();
    let api = api();
    let mut file = model.lifecycle.clone();
    let summary = endoflife::refresh(
        &model.platforms,
        &mut file,
        &api,
        Duration::from_secs(10),
        false,
        NOW,
        &|_| {},
    );
    // Debian is not served: 404, a malformed answer for that product only.
    assert_eq!(summary.fresh, ["freebsd", "netbsd", "openbsd"]);
    assert!(
        summary.kept["debian"].contains("HTTP 404"),
        "{:?}",
        summary.kept
    );
    let fb = &file.product["freebsd"];
    assert_eq!(
        (fb.checked.as_deref(), fb.stale_since.as_deref()),
        (Some(NOW), None)
    );
    assert!(fb
        .release
        .iter()
        .all(|r| r.source.ends_with("/api/v1/products/freebsd/")));

    // Now the source is gone: the values stay, stale since this refresh, with why.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/api/v1", l.local_addr().unwrap())
    };
    let before = model.lifecycle.clone();
    let mut file = before.clone();
    let later = "2026-12-02T09:00:00Z";
    let summary = endoflife::refresh(
        &model.platforms,
        &mut file,
        &gone,
        Duration::from_secs(5),
        false,
        later,
        &|_| {},
    );
    assert!(summary.fresh.is_empty());
    for (name, product) in &file.product {
        let why = product.error.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("not reachable from this host"),
            "{name}: {why}"
        );
        let since = before
            .product
            .get(name)
            .and_then(|o| o.stale_since.as_deref())
            .unwrap_or(later);
        assert_eq!(
            product.stale_since.as_deref(),
            Some(since),
            "{name}: stale since the first refresh that failed"
        );
        if let Some(old) = before.product.get(name) {
            assert_eq!(
                product.release, old.release,
                "{name}: the committed values are kept"
            );
        }
    }
    // --offline fetches nothing and says so.
    let mut offline = before.clone();
    endoflife::refresh(
        &model.platforms,
        &mut offline,
        &api,
        Duration::from_secs(5),
        true,
        later,
        &|_| {},
    );
    assert_eq!(
        offline.product["netbsd"].error.as_deref(),
        Some("offline refresh: not fetched")
    );
    assert_eq!(
        offline.product["netbsd"].release,
        before.product["netbsd"].release
    );
    // What was written reads back and checks.
    let mut errors = LoadErrors::default();
    let back = xtask::model::lifecycle::parse(&file.to_text(), "releases.toml", &mut errors);
    assert!(errors.is_empty(), "{errors}");
    assert_eq!(back.unwrap(), file);
}

#[test]
fn the_committed_lifecycle_values_name_their_source_and_cover_every_bsd_release() {
    let model = repo_model();
    for p in model.platforms.iter().filter(|p| p.os != "linux") {
        let facts = model.lifecycle.facts(&p.os, &p.release, day("2026-12-01"));
        let entry = facts
            .entry
            .unwrap_or_else(|| panic!("{}: {:?}", p.id, facts.support));
        assert!(
            entry.source.contains("endoflife") || entry.source.starts_with("https://"),
            "{}: {}",
            p.id,
            entry.source
        );
        assert!(
            !facts.support.is_ended(),
            "{} is in the matrix but past its end of life",
            p.id
        );
    }
}

/// `cargo xtask platforms`' lifecycle section for the repository's platforms
/// and the served dates, on three days.
#[test]
fn platforms_warns_about_ended_ending_and_uncovered_releases() {
    let mut model = repo_model();
    let api = api();
    let mut file = LifecycleFile::empty();
    endoflife::refresh(
        &model.platforms,
        &mut file,
        &api,
        Duration::from_secs(10),
        false,
        NOW,
        &|_| {},
    );
    file.product.remove("debian");
    model.lifecycle = file;
    // A FreeBSD 14.3 platform, as the matrix had it before: past its end of life.
    let mut old = model.platform("freebsd-14.4-x86_64").unwrap().clone();
    old.release = "14.3".into();
    old.release_display = "FreeBSD 14.3".into();
    old.id = "freebsd-14.3-x86_64".into();
    model.platforms.insert(0, old);
    model.platforms.retain(|p| p.os != "linux");
    let mut out = String::new();
    for today in ["2026-08-01", "2026-12-01", "2027-01-05"] {
        let text = xtask::platforms::lifecycle_report(&model, day(today)).replace(&api, "<api>");
        out.push_str(&text);
    }
    expect_test::expect![[r#"

        lifecycle as of 2026-08-01:
          freebsd: <api>/products/freebsd/, read 2026-12-01
          netbsd: <api>/products/netbsd/, read 2026-12-01
          openbsd: <api>/products/openbsd/, read 2026-12-01
        covered releases past end of life:
          WARNING FreeBSD 14.3: END OF LIFE since 2026-06-30
        covered releases ending within 90 days: none
        supported releases the matrix does not cover:
          WARNING freebsd 15.0: ends 2026-09-30 (in 60 days)
          WARNING netbsd 9: ends 2026-08-30 (in 29 days)

        lifecycle as of 2026-12-01:
          freebsd: <api>/products/freebsd/, read 2026-12-01
          netbsd: <api>/products/netbsd/, read 2026-12-01
          openbsd: <api>/products/openbsd/, read 2026-12-01
        covered releases past end of life:
          WARNING FreeBSD 14.3: END OF LIFE since 2026-06-30
        covered releases ending within 90 days:
          WARNING FreeBSD 14.4: ends 2026-12-31 (in 30 days)
        supported releases the matrix does not cover: none

        lifecycle as of 2027-01-05:
          freebsd: <api>/products/freebsd/, read 2026-12-01
          netbsd: <api>/products/netbsd/, read 2026-12-01
          openbsd: <api>/products/openbsd/, read 2026-12-01
        covered releases past end of life:
          WARNING FreeBSD 14.3: END OF LIFE since 2026-06-30
          WARNING FreeBSD 14.4: END OF LIFE since 2026-12-31
        covered releases ending within 90 days:
          WARNING FreeBSD 15.1: ends 2027-03-31 (in 85 days)
        supported releases the matrix does not cover: none
    "#]]
    .assert_eq(&out);
}

#[test]
fn the_table_shows_release_dates_and_support_per_platform() {
    let model = repo_model();
    let table = xtask::platforms::table(&model, Some("1.85"), day("2026-12-01"));
    let rows: Vec<String> = table
        .lines()
        .filter(|l| {
            l.starts_with("PLATFORM")
                || l.starts_with("freebsd-14.4-x86_64")
                || l.starts_with("netbsd-10.1-x86_64")
        })
        .map(|l| {
            // PLATFORM, TIER, PACKAGED RUST, RELEASED, SUPPORT (the verdict is left out).
            let cols: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            format!("{} | {} | {}", cols[0], cols[3], cols[4])
        })
        .collect();
    expect_test::expect![[r#"
        [
            "PLATFORM | RELEASED | SUPPORT",
            "freebsd-14.4-x86_64 | 2026-03-10 | ends 2026-12-31 (in 30 days)",
            "netbsd-10.1-x86_64 | 2024-12-16 | supported, no end announced",
        ]
    "#]]
    .assert_debug_eq(&rows);
}

#[test]
fn msrv_supported_releases_only_drops_a_release_past_its_end_of_life() {
    let model = repo_model();
    let platforms: Vec<_> = model
        .platforms
        .iter()
        .filter(|p| p.id == "freebsd-14.4-x86_64" || p.id == "freebsd-15.1-x86_64")
        .cloned()
        .collect();
    let policy_text = r#"
[os.freebsd]
releases = "supported"
alternatives = false
why = "ports, supported releases"
"#;
    let mut errors = LoadErrors::default();
    let policy = msrv_policy::parse(policy_text, "msrv-policy.toml", &platforms, &mut errors)
        .unwrap_or_else(|| panic!("{errors}"));
    let mut status = RustStatusFile::empty();
    for (id, version) in [
        ("freebsd-14.4-x86_64", "1.86.0"),
        ("freebsd-15.1-x86_64", "1.90.0"),
    ] {
        status.platform.insert(
            id.into(),
            PlatformPackages {
                fetcher: Fetcher::Freebsd,
                checked: Some(NOW.into()),
                stale_since: None,
                error: None,
                package: vec![xtask::model::rust_status::PackagedRust {
                    name: "rust".into(),
                    version: version.into(),
                    rust: RustVersion::from_package_version(version).unwrap(),
                    alternative: false,
                    channel: "quarterly".into(),
                    source: "test".into(),
                    fetched: NOW.into(),
                }],
            },
        );
    }
    let mut lifecycle = LifecycleFile::empty();
    let cycle = |name: &str, eol: &str| ReleaseLifecycle {
        name: name.into(),
        released: "2026-01-01".into(),
        eol: Eol::On(day(eol)),
        latest: None,
        latest_released: None,
        extended_until: None,
        source: "test".into(),
        fetched: NOW.into(),
    };
    lifecycle.product.insert(
        "freebsd".into(),
        ProductLifecycle {
            checked: Some(NOW.into()),
            stale_since: None,
            error: None,
            release: vec![cycle("14.4", "2026-12-31"), cycle("15.1", "2027-03-31")],
        },
    );
    let ws = Some(RustVersion::new(1, 88, 0));
    let out: String = ["2026-12-01", "2027-01-05"]
        .iter()
        .map(|d| {
            format!(
                "== {d}\n{}",
                msrv::compute(&platforms, &policy, &status, ws, day(d), &lifecycle).render()
            )
        })
        .collect();
    expect_test::expect![[r#"
        == 2026-12-01
        freebsd-14.4-x86_64  counts   rust 1.86.0 (quarterly, 2026-12-01); supported releases only: ends 2026-12-31 (in 30 days)
        freebsd-15.1-x86_64  counts   rust 1.90.0 (quarterly, 2026-12-01); supported releases only: supported until 2027-03-31

        floor: Rust 1.86 (the oldest packaged Rust that counts: freebsd-14.4-x86_64)
        workspace rust-version: 1.88 is above the floor 1.86: too new for freebsd-14.4-x86_64
        == 2027-01-05
        freebsd-14.4-x86_64  ignored  rust 1.86.0 (quarterly, 2026-12-01); supported releases only: END OF LIFE since 2026-12-31
        freebsd-15.1-x86_64  counts   rust 1.90.0 (quarterly, 2026-12-01); supported releases only: ends 2027-03-31 (in 85 days)

        floor: Rust 1.90 (the oldest packaged Rust that counts: freebsd-15.1-x86_64)
        workspace rust-version: 1.88 is below the floor 1.90: it may rise to it
    "#]]
    .assert_eq(&out);
}

/// platform-support.md from after aarch64-unknown-freebsd became tier 2 with
/// host tools (Rust 1.98): what moved, and the report's headline tier next to
/// the tier of the compiler that built the cell.
#[test]
fn a_promoted_target_headlines_the_newest_tier_beside_the_compilers() {
    let text =
        |r: &str| std::fs::read_to_string(fixture(&format!("platform-support-{r}.md"))).unwrap();
    let old = platform_support::parse(&text("1.96.0")).unwrap();
    let new = platform_support::parse(&text("1.98.0")).unwrap();
    let moves: Vec<String> = platform_support::moves(&old, &new)
        .iter()
        .map(|m| m.to_string())
        .collect();
    expect_test::expect![[r#"
        [
            "aarch64-unknown-freebsd: tier 3, host tools, std → tier 2, host tools, std",
        ]
    "#]]
    .assert_debug_eq(&moves);

    let mut model = data_small();
    let targets: Vec<String> = model.platforms.iter().map(|p| p.target.clone()).collect();
    let mut snapshot = tiers::snapshot(
        &targets,
        &new,
        RustVersion::new(1, 98, 0),
        "test fixture",
        NOW,
    );
    snapshot.newer = Some("Rust 1.99.0's could not be read: not reachable".into());
    model.rust_status.tiers = Some(snapshot);
    // The matrix ran on 2026-11-20, when FreeBSD 14.3 (data-small's) had ended.
    let mut lifecycle = LifecycleFile::empty();
    lifecycle.product.insert(
        "freebsd".into(),
        ProductLifecycle {
            checked: Some(NOW.into()),
            stale_since: None,
            error: None,
            release: vec![ReleaseLifecycle {
                name: "14.3".into(),
                released: "2025-06-10".into(),
                eol: Eol::On(day("2026-06-30")),
                latest: None,
                latest_released: None,
                extended_until: None,
                source: "test".into(),
                fetched: NOW.into(),
            }],
        },
    );
    model.lifecycle = lifecycle;
    let results = results_small();
    let grid = Grid::new(&model, &results);
    let md = xtask::render::markdown::render(&grid);
    let picked: Vec<&str> = md
        .lines()
        .filter(|l| {
            l.starts_with("Upstream tiers")
                || l.starts_with("Lifecycle")
                || l.starts_with("- ⚠️")
                || l.starts_with("| **FreeBSD")
        })
        .collect();
    let aarch64 = grid
        .rows
        .iter()
        .flat_map(|r| r.cells.iter().flatten())
        .find(|v| v.platform.id == "freebsd-14.3-aarch64")
        .unwrap();
    let x86 = grid
        .rows
        .iter()
        .flat_map(|r| r.cells.iter().flatten())
        .find(|v| v.platform.id == "freebsd-14.3-x86_64")
        .unwrap();
    let mut got: Vec<String> = picked
        .iter()
        .map(|l| l.chars().take(160).collect())
        .collect();
    got.push(xtask::render::tier_line(aarch64));
    got.push(xtask::render::tier_line(x86));
    got.push(xtask::render::tier_details(aarch64));
    expect_test::expect![[r#"
        [
            "Upstream tiers are those of platform-support.md of Rust 1.98.0, the newest release whose file could be read (Rust 1.99.0's could not be read: not reachable).",
            "Lifecycle (as of the newest result, 2026-11-20):",
            "- ⚠\u{fe0f} FreeBSD 14.3: END OF LIFE since 2026-06-30",
            "| **FreeBSD 14.3**<br>⚠\u{fe0f} END OF LIFE since 2026-06-30 | [tier 2 + host tools (Rust 1.98)<br>OS Rust: unknown<br>check: ✅<br>build: ✅<br>test: ⏱\u{fe0f} vm](#freebsd-14",
            "tier 2 + host tools (Rust 1.98); rustc 1.95: tier 3",
            "tier 2 + host tools (Rust 1.98)",
            "tier 2 + host tools, std (platform-support.md of Rust 1.98.0); the compiler that built the cell: tier 3, std, “ARM64 FreeBSD” (as stated by rustc 1.95.0)",
        ]
    "#]]
    .assert_debug_eq(&got);
}

/// Debian's regular security support ends before its LTS: the release is
/// marked as past its end of life, with the extended support's end beside it.
#[test]
fn an_ended_release_with_extended_support_says_until_when() {
    let (base, _) = serve(vec![(
        "/api/v1/products/debian/",
        ok(read("endoflife-v1-debian.json")),
    )]);
    let api = format!("{base}/api/v1");
    let model = repo_model();
    let debian: Vec<_> = model
        .platforms
        .iter()
        .filter(|p| p.os == "linux")
        .cloned()
        .collect();
    let mut file = LifecycleFile::empty();
    endoflife::refresh(
        &debian,
        &mut file,
        &api,
        Duration::from_secs(10),
        false,
        NOW,
        &|_| {},
    );
    let got: Vec<String> = ["debian12", "debian13"]
        .iter()
        .flat_map(|r| {
            ["2026-12-01", "2028-07-01"].map(|d| {
                let f = file.facts("linux", r, day(d));
                format!(
                    "{r} on {d}: released {:?}, {}",
                    f.released,
                    f.support.label()
                )
            })
        })
        .collect();
    expect_test::expect![[r#"
        [
            "debian12 on 2026-12-01: released Some(\"2023-06-10\"), END OF LIFE since 2026-06-10 (extended support until 2028-06-30)",
            "debian12 on 2028-07-01: released Some(\"2023-06-10\"), END OF LIFE since 2026-06-10",
            "debian13 on 2026-12-01: released Some(\"2025-08-09\"), supported until 2028-08-09",
            "debian13 on 2028-07-01: released Some(\"2025-08-09\"), ends 2028-08-09 (in 39 days)",
        ]
    "#]]
    .assert_debug_eq(&got);
}
