//! `cargo xtask platforms`: each platform's upstream tier, packaged Rust and
//! verdict; `platforms tiers` compares tiers (rustc against
//! platform-support.md, or two releases); `platforms refresh` fetches the
//! packaged-Rust values into `platforms/rust/status.toml` and the release and
//! end-of-life dates into `platforms/lifecycle/releases.toml`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::exit;
use crate::model::rust_status::{Fetcher, RustStatusFile};
use crate::model::RustVersion;
use crate::model::{self, Model};
use crate::platform_data::github::{self, GitHub};
use crate::platform_data::platform_support::{self, PlatformSupport};
use crate::platform_data::refresh::{self, Options, Sources};
use crate::platform_data::{endoflife, status, tiers};

/// Show, per platform, upstream Rust's tier, the Rust its OS packages,
/// whether that Rust can build the workspace (its `rust-version`), and when
/// the OS release came out and ends; then the releases past their end of
/// life that the matrix still covers, those ending within 90 days, and the
/// supported releases it does not cover.
///
/// The values come from `platforms/rust/status.toml` and
/// `platforms/lifecycle/releases.toml`, written by `cargo xtask platforms
/// refresh`; each carries its source and date.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR", global = true)]
    pub data: Option<PathBuf>,
    /// The cargo workspace whose `rust-version` the verdicts compare with [default: this repository].
    #[arg(long, value_name = "PATH", global = true)]
    pub workspace: Option<PathBuf>,
    /// Judge end of life as of this day (YYYY-MM-DD) [default: today].
    #[arg(long, value_name = "DATE", global = true)]
    pub today: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    Tiers(TiersArgs),
    Refresh(RefreshArgs),
}

/// Compare target tiers: the compiler's own metadata against
/// platform-support.md of its release (default), or what moved between two
/// releases (`--from 1.85 --to 1.96`).
///
/// platform-support.md comes from the cache, a local Rust source tree
/// (`/usr/src/rustc-<version>`, from Debian's rust-web-src), or GitHub
/// (octocrab; `GITHUB_TOKEN` raises the rate limit).
#[derive(Debug, clap::Args)]
pub struct TiersArgs {
    #[arg(long, value_name = "VERSION", requires = "to")]
    pub from: Option<RustVersion>,
    #[arg(long, value_name = "VERSION", requires = "from")]
    pub to: Option<RustVersion>,
    /// The compiler whose metadata to read [default: `rustc` on PATH].
    #[arg(long, value_name = "PATH")]
    pub rustc: Option<PathBuf>,
    /// Do not ask GitHub; use cached or local copies only.
    #[arg(long)]
    pub offline: bool,
}

/// Fetch each platform's packaged Rust (Debian live through apt; FreeBSD,
/// OpenBSD, NetBSD package indexes; Repology as a cross-check) and the tiers
/// of platform-support.md, into `platforms/rust/status.toml`; and each OS
/// release's release and end-of-life dates from endoflife.date's API, into
/// `platforms/lifecycle/releases.toml`.
///
/// A source that cannot be reached, or answers with something malformed,
/// keeps the stored values and marks them stale since that refresh.
#[derive(Debug, clap::Args)]
pub struct RefreshArgs {
    /// Fetch nothing: keep the stored values and mark them stale.
    #[arg(long)]
    pub offline: bool,
    /// Only these sources.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub only: Vec<OnlyArg>,
    /// The Rust release whose platform-support.md gives the tiers [default: that of `rustc` on PATH].
    #[arg(long, value_name = "VERSION")]
    pub rust_release: Option<RustVersion>,
    /// Seconds a request may take.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnlyArg {
    Debian,
    Freebsd,
    Openbsd,
    Netbsd,
    Repology,
    Tiers,
    /// Release and end-of-life dates (endoflife.date).
    Lifecycle,
}

pub fn run(args: Args) -> Result<u8> {
    let dirs = model::DataDirs::resolve(args.data.as_deref(), None);
    let model = model::load(&dirs)?;
    match args.command {
        None => {
            let today = today(args.today.as_deref())?;
            let msrv = status::workspace_msrv_at(&model, args.workspace.as_deref());
            print!(
                "{}",
                table(
                    &model,
                    msrv.as_ref().ok().map(|v| v.to_string()).as_deref(),
                    today
                )
            );
            if let Err(why) = &msrv {
                eprintln!("\nno verdicts: {why}");
            }
            Ok(exit::OK)
        }
        Some(Sub::Tiers(t)) => run_tiers(&model, t),
        Some(Sub::Refresh(r)) => run_refresh(&model, &dirs, r),
    }
}

/// `--today`, or the real day.
pub fn today(arg: Option<&str>) -> Result<time::Date> {
    match arg {
        Some(d) => model::msrv_policy::parse_date(d)
            .ok_or_else(|| crate::BadInput(format!("--today {d}: not a YYYY-MM-DD date")).into()),
        None => Ok(time::OffsetDateTime::now_utc().date()),
    }
}

/// One line per platform: tier, packaged Rust, verdict, release date and
/// support; then where the tiers and dates come from, and the warnings.
pub fn table(model: &Model, msrv: Option<&str>, today: time::Date) -> String {
    let headers = [
        "PLATFORM",
        "TIER",
        "PACKAGED RUST",
        "RELEASED",
        "SUPPORT",
        "VERDICT",
    ];
    let rows: Vec<[String; 6]> = model
        .platforms
        .iter()
        .map(|p| {
            let r = status::platform_rust(model, p, msrv);
            let life = model.lifecycle.facts(&p.os, &p.release, today);
            [
                p.id.clone(),
                r.tier_label().unwrap_or_else(|| "?".into()),
                r.packaged_label(),
                life.released.clone().unwrap_or_else(|| "?".into()),
                match &life.support {
                    // Why is said once, under the table.
                    model::lifecycle::Support::Unknown(_) => "unknown".to_string(),
                    known => known.label(),
                },
                r.verdict.label(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    // The verdict, last, may be long: it is not padded.
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row.iter()).take(5) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(headers.map(str::to_string)).chain(rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(t) = &model.rust_status.tiers {
        out.push_str(&format!(
            "\ntiers: platform-support.md of Rust {} ({}, read {})\n",
            t.release,
            t.source,
            &t.fetched[..t.fetched.len().min(10)]
        ));
        if let Some(why) = &t.newer {
            out.push_str(&format!("  the newest readable here; {why}\n"));
        }
    }
    out.push_str(&lifecycle_report(model, today));
    out
}

/// Where the lifecycle dates come from, then the warnings: covered releases
/// past their end of life, those ending within 90 days, and supported
/// releases no platform covers.
pub fn lifecycle_report(model: &Model, today: time::Date) -> String {
    use crate::model::lifecycle::{Support, WARN_DAYS};
    let mut out = format!("\nlifecycle as of {today}:\n");
    for (name, product) in &model.lifecycle.product {
        let mut sources: Vec<String> = product
            .release
            .iter()
            .map(|r| {
                format!(
                    "{}, read {}",
                    r.source,
                    &r.fetched[..r.fetched.len().min(10)]
                )
            })
            .collect();
        sources.sort();
        sources.dedup();
        let stale = match (&product.stale_since, &product.error) {
            (Some(since), Some(e)) => {
                format!("\n    stale since {}: {e}", &since[..since.len().min(10)])
            }
            _ => String::new(),
        };
        let sources = if sources.is_empty() {
            "no values".to_string()
        } else {
            sources.join("; ")
        };
        out.push_str(&format!("  {name}: {sources}{stale}\n"));
    }
    let mut releases: Vec<(&str, &str, &str)> = model
        .platforms
        .iter()
        .map(|p| {
            (
                p.os.as_str(),
                p.release.as_str(),
                p.release_display.as_str(),
            )
        })
        .collect();
    releases.dedup();
    let (mut ended, mut soon, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for (os, release, display) in releases {
        let facts = model.lifecycle.facts(os, release, today);
        match &facts.support {
            Support::Ended { .. } => ended.push(format!("{display}: {}", facts.support.label())),
            Support::EndsSoon { .. } => soon.push(format!("{display}: {}", facts.support.label())),
            Support::Unknown(why) => unknown.push(format!("{display}: {why}")),
            Support::Supported { .. } => {}
        }
    }
    let uncovered: Vec<String> = model
        .lifecycle
        .uncovered(&model.platforms, today)
        .iter()
        .map(|u| {
            let os = if u.os == u.product {
                String::new()
            } else {
                format!(" ({})", u.os)
            };
            format!("{} {}{os}: {}", u.product, u.cycle, u.support.label())
        })
        .collect();
    let mut section = |title: &str, lines: &[String], none: &str| {
        if lines.is_empty() {
            out.push_str(&format!("{title}: {none}\n"));
        } else {
            out.push_str(&format!("{title}:\n"));
            for l in lines {
                out.push_str(&format!("  WARNING {l}\n"));
            }
        }
    };
    section("covered releases past end of life", &ended, "none");
    section(
        &format!("covered releases ending within {WARN_DAYS} days"),
        &soon,
        "none",
    );
    section(
        "supported releases the matrix does not cover",
        &uncovered,
        "none",
    );
    if !unknown.is_empty() {
        out.push_str("releases without lifecycle data:\n");
        for l in &unknown {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out
}

fn targets(model: &Model) -> Vec<String> {
    let mut t: Vec<String> = model.platforms.iter().map(|p| p.target.clone()).collect();
    t.sort();
    t.dedup();
    t
}

fn document(release: RustVersion, offline: bool) -> Result<(PlatformSupport, String)> {
    let fetched = github::platform_support(
        &crate::paths::cache_dir(),
        release,
        &GitHub::from_env(Duration::from_secs(60)),
        offline,
    )?;
    let doc = platform_support::parse(&fetched.text)
        .with_context(|| format!("{} is not a platform-support.md", fetched.source))?;
    Ok((doc, fetched.source))
}

/// `rustc -vV`'s release of a compiler.
fn rustc_release(rustc: &std::path::Path) -> Result<RustVersion> {
    let vv = crate::cmd::Cmd::new(rustc)
        .arg("-vV")
        .run()?
        .ok()?
        .stdout_str();
    let release = vv
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .context("`rustc -vV` printed no release")?;
    RustVersion::from_package_version(release)
        .with_context(|| format!("`{release}` is not a Rust release"))
}

fn run_tiers(model: &Model, args: TiersArgs) -> Result<u8> {
    let targets = targets(model);
    if let (Some(from), Some(to)) = (args.from, args.to) {
        let (a, a_src) = document(from, args.offline)?;
        let (b, b_src) = document(to, args.offline)?;
        let moves = platform_support::moves(&a, &b);
        println!("platform-support.md {from} ({a_src}) → {to} ({b_src})\n");
        println!("targets in platforms/:");
        for t in &targets {
            let side = |d: &PlatformSupport| {
                d.targets
                    .get(t)
                    .map(|s| s.summary())
                    .unwrap_or_else(|| "not listed".into())
            };
            let moved = if moves.iter().any(|m| &m.target == t) {
                "  MOVED"
            } else {
                ""
            };
            println!("  {t}: {} → {}{moved}", side(&a), side(&b));
        }
        let others: Vec<_> = moves
            .iter()
            .filter(|m| !targets.contains(&m.target))
            .collect();
        println!("\nother targets that moved ({}):", others.len());
        for m in others {
            println!("  {m}");
        }
        return Ok(exit::OK);
    }
    let rustc = args
        .rustc
        .clone()
        .unwrap_or_else(|| crate::host::which("rustc").unwrap_or_else(|| "rustc".into()));
    let release = rustc_release(&rustc)?;
    let (doc, source) = document(release, args.offline)?;
    let label = format!("rustc {release}");
    println!(
        "{:<36}  {:<28}  platform-support.md {release}",
        "TARGET", label
    );
    let mut disagreements = Vec::new();
    for t in &targets {
        let meta = crate::toolchain::query_tier(&rustc, &label, t)
            .with_context(|| format!("cannot read {t}'s metadata from {}", rustc.display()))?;
        let meta_label = crate::render::tier_label(Some(&meta));
        let std = model::StdSupport::from_metadata(meta.std).as_str();
        let doc_row = doc.targets.get(t);
        println!(
            "{t:<36}  {:<28}  {}",
            format!("{meta_label}, {std}"),
            doc_row
                .map(|s| s.summary())
                .unwrap_or_else(|| "not listed".into())
        );
        disagreements.extend(tiers::disagreement(t, &meta, doc_row));
    }
    println!("\n(platform-support.md from {source})");
    if disagreements.is_empty() {
        println!("rustc and platform-support.md agree on every target in platforms/");
        Ok(exit::OK)
    } else {
        for d in &disagreements {
            println!("DISAGREE {d}");
        }
        Ok(exit::FAILURES)
    }
}

fn run_refresh(model: &Model, dirs: &model::DataDirs, args: RefreshArgs) -> Result<u8> {
    let path = dirs.rust_status();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(crate::host::now_rfc3339);
    let mut status: RustStatusFile = model.rust_status.clone();
    let wants = |o: OnlyArg| args.only.is_empty() || args.only.contains(&o);
    let only: Vec<Fetcher> = args
        .only
        .iter()
        .filter_map(|o| match o {
            OnlyArg::Debian => Some(Fetcher::Debian),
            OnlyArg::Freebsd => Some(Fetcher::Freebsd),
            OnlyArg::Openbsd => Some(Fetcher::Openbsd),
            OnlyArg::Netbsd => Some(Fetcher::Netbsd),
            OnlyArg::Repology | OnlyArg::Tiers | OnlyArg::Lifecycle => None,
        })
        .collect();
    let fetchers_wanted = args.only.is_empty() || !only.is_empty();
    if wants(OnlyArg::Tiers) {
        let release = match args.rust_release {
            Some(r) => Ok(r),
            None => rustc_release(&crate::host::which("rustc").unwrap_or_else(|| "rustc".into())),
        };
        match release.and_then(|r| document(r, args.offline).map(|d| (r, d))) {
            Ok((mut release, (mut doc, mut source))) => {
                // The headline tiers are the newest release's: try the ones after, until one cannot be read.
                let mut newer = None;
                for _ in 0..12 {
                    let next = RustVersion::new(release.major, release.minor + 1, 0);
                    match document(next, args.offline) {
                        Ok((d, s)) => (release, doc, source) = (next, d, s),
                        Err(err) => {
                            newer = Some(format!("Rust {next}'s could not be read: {err:#}"));
                            break;
                        }
                    }
                }
                let mut snapshot = tiers::snapshot(&targets(model), &doc, release, &source, &now);
                snapshot.newer = newer;
                eprintln!("tiers: platform-support.md of Rust {release} from {source}");
                if let Some(why) = &snapshot.newer {
                    eprintln!("tiers: {why}");
                }
                status.tiers = Some(snapshot);
            }
            Err(err) => eprintln!("tiers: kept the stored tiers: {err:#}"),
        }
    }
    let options = Options {
        offline: args.offline,
        only: only.clone(),
        repology: wants(OnlyArg::Repology),
    };
    let sources =
        Sources::default_with(crate::paths::cache_dir(), Duration::from_secs(args.timeout));
    let progress = |line: &str| eprintln!("{line}");
    let summary = if fetchers_wanted || options.repology {
        let platforms: Vec<_> = if fetchers_wanted {
            model.platforms.clone()
        } else {
            Vec::new()
        };
        refresh::refresh(&platforms, &mut status, &options, &sources, &now, &progress)
    } else {
        refresh::Summary::default()
    };
    crate::paths::write_atomic(&path, status.to_text().as_bytes())?;
    eprintln!(
        "\n{} platforms refreshed, {} kept as they were; written to {}",
        summary.fresh.len(),
        summary.failed.len(),
        path.display()
    );
    let mut by_error: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (id, err) in &summary.failed {
        by_error.entry(err.as_str()).or_default().push(id.as_str());
    }
    for (err, ids) in by_error {
        eprintln!("  {}: {err}", ids.join(", "));
    }
    match &summary.repology {
        Some(Ok(n)) => eprintln!("repology: {n} repositories"),
        Some(Err(e)) => eprintln!("repology: kept the stored values: {e}"),
        None => {}
    }
    for note in refresh::cross_check(&status) {
        eprintln!("cross-check: {note}");
    }
    if wants(OnlyArg::Lifecycle) {
        let mut lifecycle = model.lifecycle.clone();
        let got = endoflife::refresh(
            &model.platforms,
            &mut lifecycle,
            &sources.endoflife,
            sources.timeout,
            args.offline,
            &now,
            &progress,
        );
        let path = dirs.lifecycle();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        crate::paths::write_atomic(&path, lifecycle.to_text().as_bytes())?;
        eprintln!(
            "\nlifecycle: {} products refreshed, {} kept as they were; written to {}",
            got.fresh.len(),
            got.kept.len(),
            path.display()
        );
        for (product, why) in &got.kept {
            let has_values = lifecycle
                .product
                .get(product)
                .is_some_and(|p| !p.release.is_empty());
            if has_values {
                eprintln!("  {product}: kept the committed values: {why}");
            } else {
                eprintln!("  {product}: no values (never fetched): {why}");
            }
        }
    }
    Ok(exit::OK)
}
