//! The report as a porter reads it: golden Markdown and HTML from the
//! report-small results, the packaged-Rust hook, and (slow) the HTML page
//! loaded in headless Chromium: the grid has one cell per platform, the page
//! logs nothing to the console, and a screenshot is kept under target/.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::report_support::{data_small, results_small};
use xtask::cmd::Cmd;
use xtask::model::rust_status::PackagedRust;
use xtask::platform_data::status::Verdict;
use xtask::render::{html, markdown, Grid};

#[test]
fn html_report_matches_its_golden_file() {
    let (model, results) = (data_small(), results_small());
    expect_test::expect_file!["../../test-data/report-small/status.html"]
        .assert_eq(&html::render(&Grid::new(&model, &results)));
}

#[test]
fn markdown_report_matches_its_golden_file() {
    let (model, results) = (data_small(), results_small());
    expect_test::expect_file!["../../test-data/report-small/status.md"]
        .assert_eq(&markdown::render(&Grid::new(&model, &results)));
}

#[test]
fn html_escapes_output_and_drops_terminal_controls() {
    let (model, results) = (data_small(), results_small());
    let page = html::render(&Grid::new(&model, &results));
    assert!(page.contains("&lt;this&gt; fails &amp; on purpose"));
    assert!(!page.contains("<this>"));
    assert!(!page.contains('\u{1b}'));
}

#[test]
fn packaged_rust_verdict_is_shown_when_the_data_has_it() {
    let (model, results) = (data_small(), results_small());
    let mut grid = Grid::new(&model, &results);
    let view = grid
        .rows
        .iter_mut()
        .flat_map(|r| r.cells.iter_mut().flatten())
        .find(|v| v.platform.id == "freebsd-14.3-x86_64")
        .unwrap();
    let v = |s: &str| s.parse().unwrap();
    view.rust.packaged = Some(PackagedRust {
        name: "rust".into(),
        version: "1.86.0".into(),
        rust: v("1.86.0"),
        alternative: false,
        channel: "quarterly".into(),
        source: "FreeBSD:14:amd64/quarterly".into(),
        fetched: "2026-11-20T10:00:00Z".into(),
    });
    view.rust.verdict = Verdict::CanBuild {
        packaged: v("1.86.0"),
        msrv: v("1.85.0"),
    };
    let page = html::render(&grid);
    assert!(
        page.contains(">OS Rust 1.86 (rust): can build</span>"),
        "grid badge"
    );
    assert!(
        page.contains("<dt>packaged Rust</dt><dd class=\"rust-can-build\">rust 1.86.0 (quarterly; read from FreeBSD:14:amd64/quarterly on 2026-11-20); verdict: can build (1.86 ≥ 1.85).</dd>"),
        "detail row"
    );
    let md = markdown::render(&grid);
    assert!(md.contains("OS Rust 1.86 (rust): can build"));
    assert!(
        !html::render(&Grid::new(&model, &results)).contains("can build"),
        "no verdict without data"
    );
}

/// What headless Chromium saw of a page: the DOM after scripts ran, and any
/// console message (Chromium logs each as `INFO:CONSOLE` on stderr with `--enable-logging=stderr`).
struct Loaded {
    dom: String,
    console: Vec<String>,
}

fn chromium() -> Option<PathBuf> {
    xtask::host::which("chromium")
}

fn chromium_cmd(profile: &Path) -> Cmd {
    // FACTS.md: these flags run it headless as root without touching the (closed) network.
    Cmd::new(chromium().expect("chromium is installed"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .timeout(Duration::from_secs(90))
}

fn load(url: &str) -> Loaded {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium_cmd(profile.path())
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(url)
        .run()
        .unwrap()
        .ok()
        .expect("chromium --dump-dom succeeds");
    let stderr = String::from_utf8_lossy(&out.stderr);
    Loaded {
        dom: out.stdout_str(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

#[test]
#[ignore = "slow: needs chromium; run with `cargo xtask test`"]
fn html_report_renders_in_headless_chromium() {
    xtask::testing::require(chromium().is_some(), "chromium", "apt-get install chromium");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    std::fs::create_dir_all(&dir).unwrap();
    let (model, results) = (data_small(), results_small());
    let page = dir.join("status.html");
    std::fs::write(&page, html::render(&Grid::new(&model, &results))).unwrap();

    // The detector itself: a page that logs an error must be caught.
    let broken = dir.join("broken.html");
    std::fs::write(&broken, "<!DOCTYPE html><html><body><script>console.error('seen'); missing();</script></body></html>").unwrap();
    let seen = load(&format!("file://{}", broken.display()));
    assert_eq!(
        seen.console.len(),
        2,
        "the console check must see errors: {:?}",
        seen.console
    );

    let loaded = load(&format!("file://{}", page.display()));
    assert!(
        loaded.console.is_empty(),
        "console messages: {:#?}",
        loaded.console
    );
    let start = loaded
        .dom
        .find("<table class=\"grid\">")
        .expect("the page has the grid");
    let grid = &loaded.dom[start..start + loaded.dom[start..].find("</table>").unwrap()];
    let grid_cells = grid.matches("<td").count();
    let platform_cells =
        grid.matches("<td class=\"").count() - grid.matches("<td class=\"empty\"").count();
    let rows = 4; // FreeBSD 14.3, Debian 12, Debian 13, OpenBSD 7.8
    let arches = 3; // x86_64, aarch64, riscv64
    assert_eq!(
        grid_cells,
        rows * arches,
        "one grid cell per release × architecture"
    );
    assert_eq!(
        platform_cells,
        model.platforms.len(),
        "one coloured cell per platform"
    );
    for p in &model.platforms {
        assert!(
            grid.contains(&format!("data-platform=\"{}\" data-status=", p.id)),
            "no grid cell for {}",
            p.id
        );
    }
    assert!(
        loaded.dom.contains("data-script=\"ran\""),
        "the page's script ran to its end"
    );
    assert!(loaded.dom.contains(
        "<td class=\"fail\" data-platform=\"linux-debian12-x86_64\" data-status=\"fail\">"
    ));

    // Following a grid cell's link opens that platform's cells that did not pass.
    let targeted = load(&format!("file://{}#linux-debian12-x86-64", page.display()));
    assert!(
        targeted.console.is_empty(),
        "console messages: {:#?}",
        targeted.console
    );
    assert!(targeted.dom.contains(
        "data-cell=\"linux-debian12-x86_64/test@vm\" data-status=\"unavailable\" open=\"\""
    ));
    assert!(!loaded.dom.contains(
        "data-cell=\"linux-debian12-x86_64/test@vm\" data-status=\"unavailable\" open=\"\""
    ));
    assert!(targeted
        .dom
        .contains("data-cell=\"linux-debian12-x86_64/check@host\" data-status=\"pass\">"));

    let shot = dir.join("status.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    chromium_cmd(profile.path())
        .args(["--window-size=1280,2400", "--hide-scrollbars"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .run()
        .unwrap()
        .ok()
        .expect("chromium --screenshot succeeds");
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{} is not a full-page PNG",
        shot.display()
    );
    eprintln!("screenshot kept at {}", shot.display());
}

/// `reports/` is generated: its Markdown and HTML must be what its status.json renders to.
#[test]
fn committed_report_matches_its_results() {
    let root = xtask::repo_root();
    let model = xtask::model::load(&xtask::model::DataDirs::under(&root)).unwrap();
    let results = xtask::results::ResultsFile::load(&root.join("reports/status.json")).unwrap();
    let stale = xtask::render::report::check(&model, &results, &root.join("reports")).unwrap();
    assert!(
        stale.is_empty(),
        "stale: {}; run `cargo xtask report` and commit",
        stale.join(", ")
    );
}
