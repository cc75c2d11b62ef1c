//! Platform data: platform-support.md from real releases, each fetcher
//! against a local HTTP server serving real-format fixtures (good, malformed
//! and slow answers), the GitHub path through octocrab, refresh semantics
//! and the MSRV policy.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xtask::model::msrv_policy;
use xtask::model::rust_status::{Fetcher, PackagedRust, PlatformPackages, RustStatusFile};
use xtask::model::RustVersion;
use xtask::model::{DataDirs, LoadErrors, Model};
use xtask::platform_data::github::GitHub;
use xtask::platform_data::http::{Client, Pacer};
use xtask::platform_data::platform_support::{self, PlatformSupport};
use xtask::platform_data::refresh::{self, Options, Sources};
use xtask::platform_data::{freebsd, msrv, netbsd, openbsd, repology, status, tiers};

// --- a local HTTP server ----------------------------------------------------

#[derive(Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
}

pub(crate) fn ok(body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status: 200,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

/// Serves `routes` (path without query → reply) on 127.0.0.1; 404 elsewhere.
/// Returns the base URL and the request heads it received.
pub(crate) fn serve(routes: Vec<(&str, Reply)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let routes: BTreeMap<String, Reply> = routes
        .into_iter()
        .map(|(p, r)| (p.to_string(), r))
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let routes = routes.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let path = target.split('?').next().unwrap_or("/").to_string();
                log.lock().unwrap().push(head);
                let reply = routes.get(&path).cloned().unwrap_or(Reply {
                    status: 404,
                    headers: Vec::new(),
                    body: b"not found".to_vec(),
                    delay: Duration::ZERO,
                });
                std::thread::sleep(reply.delay);
                let mut out = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in &reply.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = stream.write_all(out.as_bytes());
                let _ = stream.write_all(&reply.body);
            });
        }
    });
    (format!("http://{addr}"), seen)
}

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

const NOW: &str = "2026-11-22T10:00:00Z";

// --- platform-support.md ----------------------------------------------------

fn doc(release: &str) -> PlatformSupport {
    let text = std::fs::read_to_string(fixture(&format!("platform-support-{release}.md"))).unwrap();
    platform_support::parse(&text).unwrap()
}

#[test]
fn platform_support_of_two_real_releases() {
    let model = repo_model();
    let mut targets: Vec<&str> = model.platforms.iter().map(|p| p.target.as_str()).collect();
    targets.sort();
    targets.dedup();
    let (old, new) = (doc("1.85.0"), doc("1.96.0"));
    assert!(
        old.targets.len() > 200 && new.targets.len() > old.targets.len(),
        "{} {}",
        old.targets.len(),
        new.targets.len()
    );
    let rows: Vec<String> = targets
        .iter()
        .map(|t| {
            let side = |d: &PlatformSupport| {
                d.targets
                    .get(*t)
                    .map(|s| s.summary())
                    .unwrap_or_else(|| "MISSING".into())
            };
            format!("{t}: {} | {}", side(&old), side(&new))
        })
        .collect();
    expect_test::expect![[r#"
        [
            "aarch64-unknown-freebsd: tier 3, host tools, std | tier 3, host tools, std",
            "aarch64-unknown-linux-gnu: tier 1, host tools, std | tier 1, host tools, std",
            "aarch64-unknown-netbsd: tier 3, host tools, std | tier 3, host tools, std",
            "aarch64-unknown-openbsd: tier 3, host tools, std | tier 3, host tools, std",
            "armv7-unknown-linux-gnueabihf: tier 2, host tools, std | tier 2, host tools, std",
            "i686-unknown-freebsd: tier 2, std | tier 2, std",
            "i686-unknown-linux-gnu: tier 1, host tools, std | tier 1, host tools, std",
            "mips64el-unknown-linux-gnuabi64: tier 3, host tools, std | tier 3, host tools, std",
            "powerpc64le-unknown-linux-gnu: tier 2, host tools, std | tier 2, host tools, std",
            "riscv64gc-unknown-linux-gnu: tier 2, host tools, std | tier 2, host tools, std",
            "s390x-unknown-linux-gnu: tier 2, host tools, std | tier 2, host tools, std",
            "x86_64-unknown-freebsd: tier 2, host tools, std | tier 2, host tools, std",
            "x86_64-unknown-linux-gnu: tier 1, host tools, std | tier 1, host tools, std",
            "x86_64-unknown-netbsd: tier 2, host tools, std | tier 2, host tools, std",
            "x86_64-unknown-openbsd: tier 3, host tools, std | tier 3, host tools, std",
        ]
    "#]]
    .assert_debug_eq(&rows);
    // What moved between the two releases, beyond the targets added.
    let moved: Vec<String> = platform_support::moves(&old, &new)
        .iter()
        .filter(|m| m.from.is_some() && m.to.is_some())
        .map(ToString::to_string)
        .collect();
    expect_test::expect![[r#"
        [
            "aarch64-apple-tvos: tier 3, std → tier 2, std",
            "aarch64-apple-tvos-sim: tier 3, std → tier 2, std",
            "aarch64-apple-visionos: tier 3, std → tier 2, std",
            "aarch64-apple-visionos-sim: tier 3, std → tier 2, std",
            "aarch64-apple-watchos: tier 3, std → tier 2, std",
            "aarch64-apple-watchos-sim: tier 3, std → tier 2, std",
            "aarch64-pc-windows-gnullvm: tier 2, std → tier 2, host tools, std",
            "aarch64-pc-windows-msvc: tier 2, host tools, std → tier 1, host tools, std",
            "aarch64-unknown-linux-ohos: tier 2, std → tier 2, host tools, std",
            "aarch64-unknown-trusty: tier 3, std? → tier 3, std",
            "armebv7r-none-eabi: tier 2, no_std → tier 3, no_std",
            "armebv7r-none-eabihf: tier 2, no_std → tier 3, no_std",
            "armv7-unknown-linux-ohos: tier 2, std → tier 2, host tools, std",
            "armv7-unknown-trusty: tier 3, std? → tier 3, std",
            "armv7a-none-eabihf: tier 3, no_std → tier 2, no_std",
            "armv8r-none-eabihf: tier 3, no_std → tier 2, no_std",
            "i686-pc-windows-gnu: tier 1, host tools, std → tier 2, host tools, std",
            "mips64-unknown-linux-muslabi64: tier 3, std → tier 3, host tools, std",
            "powerpc64-unknown-linux-musl: tier 3, std? → tier 2, host tools, std",
            "riscv32imac-unknown-nuttx-elf: tier 3, no_std → tier 3, std",
            "riscv32imafc-unknown-nuttx-elf: tier 3, no_std → tier 3, std",
            "riscv32imc-unknown-nuttx-elf: tier 3, no_std → tier 3, std",
            "riscv64gc-unknown-linux-musl: tier 2, host tools, std → tier 2, std",
            "riscv64gc-unknown-nuttx-elf: tier 3, no_std → tier 3, std",
            "riscv64imac-unknown-nuttx-elf: tier 3, no_std → tier 3, std",
            "sparcv9-sun-solaris: tier 2, std → tier 2, host tools, std",
            "thumbv6m-nuttx-eabi: tier 3, no_std → tier 3, std",
            "thumbv7a-pc-windows-msvc: tier 3, std → tier 3, std?",
            "thumbv7a-uwp-windows-msvc: tier 3, std → tier 3, std?",
            "thumbv7em-nuttx-eabi: tier 3, no_std → tier 3, std",
            "thumbv7em-nuttx-eabihf: tier 3, no_std → tier 3, std",
            "thumbv7m-nuttx-eabi: tier 3, no_std → tier 3, std",
            "thumbv8m.base-nuttx-eabi: tier 3, no_std → tier 3, std",
            "thumbv8m.main-nuttx-eabi: tier 3, no_std → tier 3, std",
            "thumbv8m.main-nuttx-eabihf: tier 3, no_std → tier 3, std",
            "x86_64-apple-darwin: tier 1, host tools, std → tier 2, host tools, std",
            "x86_64-pc-solaris: tier 2, std → tier 2, host tools, std",
            "x86_64-pc-windows-gnullvm: tier 2, std → tier 2, host tools, std",
            "x86_64-unknown-linux-ohos: tier 2, std → tier 2, host tools, std",
            "x86_64-unknown-trusty: tier 3, std? → tier 3, std",
            "x86_64-win7-windows-msvc: tier 3, std → tier 3, host tools, std",
        ]
    "#]]
    .assert_debug_eq(&moved);
}

/// The compiler and a copy of platform-support.md of its own release.
fn rustc_with_document() -> Option<(PathBuf, String, PlatformSupport)> {
    let candidates = [
        xtask::host::which("rustc"),
        Some(PathBuf::from("/usr/bin/rustc")),
    ];
    for rustc in candidates.into_iter().flatten() {
        let Ok(out) = xtask::cmd::Cmd::new(&rustc).arg("-vV").run() else {
            continue;
        };
        let vv = out.stdout_str();
        let Some(release) = vv.lines().find_map(|l| l.strip_prefix("release: ")) else {
            continue;
        };
        let Some(v) = RustVersion::from_package_version(release) else {
            continue;
        };
        let paths = [
            fixture(&format!("platform-support-{v}.md")),
            PathBuf::from(format!(
                "/usr/src/rustc-{v}/src/doc/rustc/src/platform-support.md"
            )),
        ];
        if let Some(text) = paths.iter().find_map(|p| std::fs::read_to_string(p).ok()) {
            return Some((
                rustc,
                format!("rustc {v}"),
                platform_support::parse(&text).unwrap(),
            ));
        }
    }
    None
}

#[test]
#[ignore = "slow: needs a rustc whose platform-support.md is here (rustc-web, rust-web-src); run with `cargo xtask test`"]
fn tiers_agree_with_rustc_metadata_for_every_platform() {
    let found = rustc_with_document();
    xtask::testing::require(
        found.is_some(),
        "a rustc whose release has a platform-support.md here",
        "apt-get install rustc-web rust-web-src",
    );
    let (rustc, label, doc) = found.expect("required above");
    let model = repo_model();
    let mut checked = 0;
    for p in &model.platforms {
        let meta = xtask::toolchain::query_tier(&rustc, &label, &p.target).unwrap();
        assert_eq!(
            tiers::disagreement(&p.target, &meta, doc.targets.get(&p.target)),
            None,
            "{label}"
        );
        checked += 1;
    }
    assert_eq!(checked, model.platforms.len());
}

// --- fetchers -----------------------------------------------------------------

#[test]
fn freebsd_reads_both_branches() {
    let pkg = read("freebsd-14-amd64-packagesite.pkg");
    let (base, seen) = serve(vec![
        (
            "/FreeBSD:14:amd64/quarterly/packagesite.pkg",
            ok(pkg.clone()),
        ),
        ("/FreeBSD:14:amd64/latest/packagesite.pkg", ok(pkg)),
    ]);
    let got = freebsd::fetch(
        &Client::new(Duration::from_secs(10)),
        &base,
        "14.3",
        "x86_64",
        NOW,
    )
    .unwrap();
    let got: Vec<String> = got
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {}",
                p.name,
                p.version,
                p.rust,
                p.channel,
                p.source.replace(&base, "<server>")
            )
        })
        .collect();
    expect_test::expect![[r#"
        [
            "rust 1.89.0_1 1.89.0 quarterly <server>/FreeBSD:14:amd64/quarterly/packagesite.pkg",
            "rust 1.89.0_1 1.89.0 latest <server>/FreeBSD:14:amd64/latest/packagesite.pkg",
        ]
    "#]]
    .assert_debug_eq(&got);
    let heads = seen.lock().unwrap();
    assert!(
        heads.iter().all(|h| h
            .to_ascii_lowercase()
            .contains("user-agent: vhu-matrix-xtask/")),
        "{heads:?}"
    );
}

#[test]
fn openbsd_and_netbsd_read_their_listings() {
    let (base, _) = serve(vec![
        (
            "/7.8/packages/amd64/index.txt",
            ok(read("openbsd-7.8-amd64-index.txt")),
        ),
        (
            "/x86_64/10.1/All/pkg_summary.gz",
            ok(read("netbsd-10.1-x86_64-pkg_summary.gz")),
        ),
    ]);
    let client = Client::new(Duration::from_secs(10));
    let o = openbsd::fetch(&client, &base, "7.8", "x86_64", NOW).unwrap();
    let n = netbsd::fetch(&client, &base, "10.1", "x86_64", NOW).unwrap();
    let got: Vec<String> = o
        .iter()
        .chain(&n)
        .map(|p| {
            format!(
                "{} {} {} alt={} {}",
                p.name, p.version, p.rust, p.alternative, p.channel
            )
        })
        .collect();
    expect_test::expect![[r#"
        [
            "rust 1.90.0 1.90.0 alt=false 7.8",
            "rust 1.86.0nb2 1.86.0 alt=false 10.1",
            "rust-bin 1.88.0 1.88.0 alt=true 10.1",
        ]
    "#]]
    .assert_debug_eq(&got);
}

#[test]
fn malformed_answers_are_named() {
    let html = ok("<html><body>Service Unavailable</body></html>");
    let (base, _) = serve(vec![
        ("/FreeBSD:14:amd64/quarterly/packagesite.pkg", html.clone()),
        ("/7.8/packages/amd64/index.txt", html.clone()),
        ("/x86_64/10.1/All/pkg_summary.gz", html.clone()),
        ("/project/rust", html),
    ]);
    let client = Client::new(Duration::from_secs(10));
    let errors = [
        freebsd::fetch(&client, &base, "14.3", "x86_64", NOW).unwrap_err(),
        openbsd::fetch(&client, &base, "7.8", "x86_64", NOW).unwrap_err(),
        netbsd::fetch(&client, &base, "10.1", "x86_64", NOW).unwrap_err(),
        repology::fetch(&client, &mut Pacer::new(Duration::ZERO), &base).unwrap_err(),
    ];
    let got: Vec<String> = errors
        .iter()
        .map(|e| format!("{e:#}").replace(&base, "<server>"))
        .collect();
    expect_test::expect![[r#"
        [
            "<server>/FreeBSD:14:amd64/quarterly/packagesite.pkg: not a pkg catalogue: neither zstd, gzip nor tar",
            "<server>/7.8/packages/amd64/index.txt: not a package listing: no .tgz packages listed",
            "<server>/x86_64/10.1/All/pkg_summary.gz: not a gzip-compressed pkg_summary: invalid gzip header",
            "<server>/project/rust: not a Repology project answer: expected a JSON array of packages: expected value at line 1 column 1",
        ]
    "#]]
    .assert_debug_eq(&got);
}

#[test]
fn a_slow_server_times_out() {
    let slow = Reply {
        delay: Duration::from_secs(3),
        ..ok(read("openbsd-7.8-amd64-index.txt"))
    };
    let (base, _) = serve(vec![("/7.8/packages/amd64/index.txt", slow)]);
    let started = Instant::now();
    let err = openbsd::fetch(
        &Client::new(Duration::from_millis(400)),
        &base,
        "7.8",
        "x86_64",
        NOW,
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(format!("{err:#}").contains("timed out after"), "{err:#}");
}

#[test]
fn repology_cross_check_and_pacing() {
    let (base, seen) = serve(vec![(
        "/project/rust",
        ok(read("repology-project-rust.json")),
    )]);
    let client = Client::new(Duration::from_secs(10));
    let mut pacer = Pacer::new(Duration::from_secs(1));
    let started = Instant::now();
    let first = repology::fetch(&client, &mut pacer, &base).unwrap();
    let second = repology::fetch(&client, &mut pacer, &base).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "two requests within {:?}",
        started.elapsed()
    );
    assert_eq!(first, second);
    expect_test::expect![[r#"
        {
            "debian_12": "1.85.0",
            "freebsd": "1.89.0",
            "openbsd": "1.90.0",
            "pkgsrc_current": "1.86.0",
        }
    "#]]
    .assert_debug_eq(&first);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|h| h.contains("vhu-matrix-xtask/")));
}

// --- refresh ---------------------------------------------------------------------

fn stored(fetcher: Fetcher, version: &str) -> PlatformPackages {
    PlatformPackages {
        fetcher,
        checked: Some("2026-01-01T00:00:00Z".into()),
        stale_since: None,
        error: None,
        package: vec![PackagedRust {
            name: "rust".into(),
            version: version.into(),
            rust: RustVersion::from_package_version(version).unwrap(),
            alternative: false,
            channel: "quarterly".into(),
            source: "https://example.invalid/packagesite.pkg".into(),
            fetched: "2026-01-01T00:00:00Z".into(),
        }],
    }
}

#[test]
fn a_malformed_answer_overwrites_nothing() {
    let model = repo_model();
    let platforms: Vec<_> = model
        .platforms
        .iter()
        .filter(|p| p.id == "freebsd-14.4-x86_64" || p.id == "openbsd-7.8-x86_64")
        .cloned()
        .collect();
    let (base, _) = serve(vec![
        ("/FreeBSD:14:amd64/quarterly/packagesite.pkg", ok("garbage")),
        ("/FreeBSD:14:amd64/latest/packagesite.pkg", ok("garbage")),
        (
            "/7.8/packages/amd64/index.txt",
            ok(read("openbsd-7.8-amd64-index.txt")),
        ),
    ]);
    let mut status = RustStatusFile::empty();
    status.platform.insert(
        "freebsd-14.4-x86_64".into(),
        stored(Fetcher::Freebsd, "1.88.0"),
    );
    let mut sources = Sources::default_with(std::env::temp_dir(), Duration::from_secs(10));
    (sources.freebsd, sources.openbsd) = (base.clone(), base.clone());
    let summary = refresh::refresh(
        &platforms,
        &mut status,
        &Options::default(),
        &sources,
        NOW,
        &|_| {},
    );
    assert_eq!(summary.fresh, ["openbsd-7.8-x86_64"]);
    let fb = &status.platform["freebsd-14.4-x86_64"];
    assert_eq!(
        fb.package,
        stored(Fetcher::Freebsd, "1.88.0").package,
        "the stored value is kept"
    );
    assert_eq!(fb.stale_since.as_deref(), Some(NOW));
    assert!(
        fb.error
            .as_deref()
            .unwrap()
            .contains("packagesite.pkg: not a pkg catalogue"),
        "{:?}",
        fb.error
    );
    assert_eq!(
        status.platform["openbsd-7.8-x86_64"].package[0].rust,
        RustVersion::new(1, 90, 0)
    );

    // A later failure keeps the first date it went stale.
    refresh::refresh(
        &platforms,
        &mut status,
        &Options::default(),
        &sources,
        "2026-11-23T10:00:00Z",
        &|_| {},
    );
    assert_eq!(
        status.platform["freebsd-14.4-x86_64"]
            .stale_since
            .as_deref(),
        Some(NOW)
    );
}

#[test]
fn offline_refresh_keeps_values_and_says_since_when_stale() {
    let model = repo_model();
    let platforms: Vec<_> = model
        .platforms
        .iter()
        .filter(|p| p.os == "freebsd" || p.os == "netbsd")
        .cloned()
        .collect();
    let mut status = RustStatusFile::empty();
    status.platform.insert(
        "freebsd-14.4-x86_64".into(),
        stored(Fetcher::Freebsd, "1.88.0"),
    );
    let options = Options {
        offline: true,
        only: vec![Fetcher::Freebsd],
        repology: false,
    };
    refresh::refresh(
        &platforms,
        &mut status,
        &options,
        &Sources::default_with(std::env::temp_dir(), Duration::from_secs(1)),
        NOW,
        &|_| {},
    );
    let kept = &status.platform["freebsd-14.4-x86_64"];
    assert_eq!(
        (kept.package.len(), kept.stale_since.as_deref()),
        (1, Some(NOW))
    );
    let never = &status.platform["freebsd-15.1-x86_64"];
    assert!(never.package.is_empty() && never.checked.is_none());
    assert!(
        !status.platform.contains_key("netbsd-10.1-x86_64"),
        "--only freebsd leaves NetBSD alone"
    );
    // What was written reads back and checks.
    let mut errors = LoadErrors::default();
    let text = status.to_text();
    let back =
        xtask::model::rust_status::parse(&text, "status.toml", &model.platforms, &mut errors);
    assert!(errors.is_empty(), "{errors}");
    assert_eq!(back.unwrap(), status);
}

// --- GitHub through octocrab ------------------------------------------------------------

const CONTENTS: &str = "/repos/rust-lang/rust/contents/src/doc/rustc/src/platform-support.md";

fn contents_json(text: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    // GitHub wraps the base64 at 60 columns.
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    serde_json::json!({
        "type": "file", "encoding": "base64", "size": text.len(), "name": "platform-support.md",
        "path": "src/doc/rustc/src/platform-support.md", "content": wrapped.join("\n"), "sha": "0123456789abcdef",
        "url": "http://127.0.0.1/x", "git_url": null, "html_url": null, "download_url": null,
        "_links": {"self": "http://127.0.0.1/x", "git": null, "html": null}
    })
    .to_string()
}

#[test]
fn github_contents_through_octocrab() {
    let text = std::fs::read_to_string(fixture("platform-support-1.85.0.md")).unwrap();
    let (base, seen) = serve(vec![(CONTENTS, ok(contents_json(&text)))]);
    let gh = GitHub {
        base_uri: Some(base),
        token: Some("sekrit-token-123".into()),
        timeout: Duration::from_secs(10),
    };
    let got = gh.platform_support(RustVersion::new(1, 85, 0)).unwrap();
    assert_eq!(got.text, text);
    assert_eq!(
        got.source,
        "github:rust-lang/rust@1.85.0:src/doc/rustc/src/platform-support.md"
    );
    let heads = seen.lock().unwrap();
    assert!(heads[0].contains("ref=1.85.0"), "{}", heads[0]);
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer sekrit-token-123"),
        "{}",
        heads[0]
    );
}

#[test]
fn github_rate_limit_is_explained() {
    let limited = Reply {
        status: 403,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("x-ratelimit-remaining".into(), "0".into()),
            ("x-ratelimit-reset".into(), "1790000000".into()),
        ],
        body: br#"{"message":"API rate limit exceeded for 127.0.0.1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#.to_vec(),
        delay: Duration::ZERO,
    };
    let (base, _) = serve(vec![(CONTENTS, limited)]);
    let gh = GitHub {
        base_uri: Some(base),
        token: Some("sekrit-token-123".into()),
        timeout: Duration::from_secs(10),
    };
    let err = format!(
        "{:#}",
        gh.platform_support(RustVersion::new(1, 85, 0)).unwrap_err()
    );
    assert!(err.contains("rate limit is exhausted (HTTP 403"), "{err}");
    assert!(err.contains("set GITHUB_TOKEN"), "{err}");
    assert!(!err.contains("sekrit"), "the token leaked: {err}");
}

#[test]
fn github_slow_answer_times_out() {
    let slow = Reply {
        delay: Duration::from_secs(3),
        ..ok(contents_json("x"))
    };
    let (base, _) = serve(vec![(CONTENTS, slow)]);
    let gh = GitHub {
        base_uri: Some(base),
        token: None,
        timeout: Duration::from_millis(400),
    };
    let started = Instant::now();
    let err = format!(
        "{:#}",
        gh.platform_support(RustVersion::new(1, 85, 0)).unwrap_err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        err.contains("timed out") || err.contains("Timeout") || err.contains("timeout"),
        "{err}"
    );
}

// --- MSRV policy -------------------------------------------------------------------

const POLICY: &str = r#"
[os.linux]
releases = "newest-and-previous"
grace-years = 2
alternatives = ALT
why = "QEMU's rule"
[os.linux.released]
debian12 = "2023-06-10"
debian13 = "2025-08-09"

[os.freebsd]
releases = "all"
channels = ["quarterly"]
alternatives = false
why = "ports"
EXCEPTION
"#;

fn pkg(name: &str, version: &str, channel: &str) -> PackagedRust {
    PackagedRust {
        name: name.into(),
        version: version.into(),
        rust: RustVersion::from_package_version(version).unwrap(),
        alternative: name != "rustc" && name != "rust",
        channel: channel.into(),
        source: "test".into(),
        fetched: "2026-11-01T00:00:00Z".into(),
    }
}

fn msrv_case(alternatives: bool, exception: &str, today: &str, workspace: Option<&str>) -> String {
    let model = repo_model();
    let platforms: Vec<_> = model
        .platforms
        .iter()
        .filter(|p| {
            [
                "linux-debian12-x86_64",
                "linux-debian12-mips64el",
                "linux-debian13-riscv64",
                "freebsd-14.4-x86_64",
                "freebsd-15.1-x86_64",
            ]
            .contains(&p.id.as_str())
        })
        .cloned()
        .collect();
    let text = POLICY
        .replace("ALT", &alternatives.to_string())
        .replace("EXCEPTION", exception);
    let mut errors = LoadErrors::default();
    let policy = msrv_policy::parse(&text, "msrv-policy.toml", &platforms, &mut errors)
        .unwrap_or_else(|| panic!("{errors}"));
    let mut status = RustStatusFile::empty();
    let entry = |fetcher, package: Vec<PackagedRust>| PlatformPackages {
        fetcher,
        checked: Some(NOW.into()),
        stale_since: None,
        error: None,
        package,
    };
    status.platform.insert(
        "linux-debian12-x86_64".into(),
        entry(
            Fetcher::Debian,
            vec![
                pkg("rustc", "1.63.0+dfsg1-2", "bookworm"),
                pkg("rustc-web", "1.96.0+dfsg1-1~deb12u2", "bookworm-security"),
            ],
        ),
    );
    status.platform.insert(
        "linux-debian12-mips64el".into(),
        entry(
            Fetcher::Debian,
            vec![
                pkg("rustc", "1.63.0+dfsg1-2", "bookworm"),
                pkg("rustc-web", "1.70.0+dfsg1-7~deb12u2", "bookworm"),
            ],
        ),
    );
    status.platform.insert(
        "linux-debian13-riscv64".into(),
        entry(
            Fetcher::Debian,
            vec![pkg("rustc", "1.85.0+dfsg3-1", "trixie")],
        ),
    );
    status.platform.insert(
        "freebsd-14.4-x86_64".into(),
        entry(
            Fetcher::Freebsd,
            vec![
                pkg("rust", "1.88.0", "quarterly"),
                pkg("rust", "1.90.0", "latest"),
            ],
        ),
    );
    status.platform.insert(
        "freebsd-15.1-x86_64".into(),
        PlatformPackages::never_fetched(
            Fetcher::Freebsd,
            "not reachable from this host".into(),
            NOW,
        ),
    );
    let today = msrv_policy::parse_date(today).unwrap();
    let ws = workspace.map(|w| w.parse().unwrap());
    msrv::compute(&platforms, &policy, &status, ws, today, &model.lifecycle).render()
}

#[test]
fn msrv_policy_cases_match_their_recorded_outcomes() {
    let cases = [
        ("rustc-web counts, within the grace period", msrv_case(true, "", "2026-11-22", Some("1.70"))),
        ("rustc-web counts, workspace above the floor", msrv_case(true, "", "2026-11-22", Some("1.85"))),
        ("an exception for mips64el", msrv_case(true, "[[exception]]\nplatforms = [\"linux-debian12-mips*\"]\nreason = \"rustc-web stops at 1.70 there\"", "2026-11-22", Some("1.85"))),
        ("alternatives do not count", msrv_case(false, "", "2026-11-22", Some("1.85"))),
        ("after the grace period Debian 12 no longer counts", msrv_case(true, "", "2027-08-10", Some("1.85"))),
        ("no rust-version", msrv_case(true, "", "2026-11-22", None)),
    ];
    let text: String = cases
        .iter()
        .map(|(name, out)| format!("== {name}\n{out}"))
        .collect();
    expect_test::expect_file!["../fixtures/platform-data/msrv-cases.txt"].assert_eq(&text);
}

#[test]
fn packaged_rust_verdicts_follow_the_status_and_the_msrv() {
    let mut model = repo_model();
    let mut status = RustStatusFile::empty();
    status.platform.insert(
        "linux-debian12-mips64el".into(),
        PlatformPackages {
            fetcher: Fetcher::Debian,
            checked: Some(NOW.into()),
            stale_since: None,
            error: None,
            package: vec![pkg("rustc-web", "1.70.0+dfsg1-7~deb12u2", "bookworm")],
        },
    );
    status.platform.insert(
        "linux-debian12-x86_64".into(),
        PlatformPackages {
            stale_since: Some("2026-11-20T00:00:00Z".into()),
            ..stored(Fetcher::Debian, "1.96.0")
        },
    );
    model.rust_status = status;
    let p = |id: &str| model.platform(id).unwrap().clone();
    let lines: Vec<String> = [
        "linux-debian12-mips64el",
        "linux-debian12-x86_64",
        "freebsd-14.4-x86_64",
    ]
    .iter()
    .map(|id| {
        let r = status::platform_rust(&model, &p(id), Some("1.85"));
        format!(
            "{id}: {} | {} | {}",
            r.packaged_label(),
            r.verdict.label(),
            xtask::render::packaged_line(&r)
        )
    })
    .chain(std::iter::once(
        status::platform_rust(&model, &p("linux-debian12-x86_64"), None)
            .verdict
            .label(),
    ))
    .collect();
    expect_test::expect![[r#"
        [
            "linux-debian12-mips64el: rustc-web 1.70.0 (2026-11-01) | too old (1.70 < 1.85) | OS Rust 1.70 (rustc-web): too old",
            "linux-debian12-x86_64: rust 1.96.0 (2026-01-01, stale since 2026-11-20) | can build (1.96 ≥ 1.85) | OS Rust 1.96 (rust): can build",
            "freebsd-14.4-x86_64: none known | unknown: never fetched: run `cargo xtask platforms refresh` | OS Rust: unknown",
            "unknown: the workspace declares no rust-version",
        ]
    "#]]
    .assert_debug_eq(&lines);
}

#[test]
fn the_committed_status_names_no_archive_host_and_never_invents_bsd_versions() {
    let model = repo_model();
    for (id, entry) in &model.rust_status.platform {
        for p in &entry.package {
            let ok = if entry.fetcher == Fetcher::Debian {
                p.source.starts_with("apt:")
            } else {
                p.source.starts_with("https://")
            };
            assert!(ok, "{id}: {}", p.source);
        }
        if entry.fetcher != Fetcher::Debian && entry.checked.is_none() {
            assert!(entry.package.is_empty() && entry.error.is_some(), "{id}");
        }
    }
}

// --- Debian, live (slow: it needs the package registry) ----------------------------

#[test]
#[ignore = "slow: needs apt-get and the host's Debian archive; run with `cargo xtask test`"]
fn debian_refresh_reads_packaged_rust_from_the_live_archive() {
    xtask::testing::require(
        xtask::host::which("apt-get").is_some(),
        "apt-get (a Debian host)",
        "run on Debian",
    );
    let cache = xtask::paths::cache_dir();
    let (packages, incomplete) =
        xtask::platform_data::debian::fetch(&cache, "debian12", "amd64", NOW, &|l| {
            eprintln!("{l}")
        })
        .unwrap();
    if let Some(why) = incomplete {
        eprintln!("note: {why}");
    }
    let rustc = packages
        .iter()
        .find(|p| p.name == "rustc")
        .expect("bookworm has rustc");
    assert_eq!((rustc.rust.major, rustc.rust.minor), (1, 63));
    assert!(packages
        .iter()
        .all(|p| p.source.starts_with("apt:") && !p.source.contains("://")));
}
