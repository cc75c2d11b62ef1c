//! `cargo xtask platforms`: each platform's upstream tier, packaged Rust and
//! verdict; `platforms tiers` compares tiers (rustc against
//! platform-support.md, or two releases); `platforms refresh` fetches the
//! packaged-Rust values into `platforms/rust/status.toml`.

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
use crate::platform_data::{status, tiers};

/// Show, per platform, upstream Rust's tier, the Rust its OS packages and
/// whether that Rust can build the workspace (its `rust-version`).
///
/// The values come from `platforms/rust/status.toml`, written by
/// `cargo xtask platforms refresh`; each carries its source and date.
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
/// of platform-support.md, into `platforms/rust/status.toml`.
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
}

pub fn run(args: Args) -> Result<u8> {
    let dirs = model::DataDirs::resolve(args.data.as_deref(), None);
    let model = model::load(&dirs)?;
    match args.command {
        None => {
            let msrv = status::workspace_msrv_at(&model, args.workspace.as_deref());
            print!(
                "{}",
                table(&model, msrv.as_ref().ok().map(|v| v.to_string()).as_deref())
            );
            if let Err(why) = &msrv {
                eprintln!("\nno verdicts: {why}");
            }
            Ok(exit::OK)
        }
        Some(Sub::Tiers(t)) => run_tiers(&model, t),
        Some(Sub::Refresh(r)) => run_refresh(&model, &dirs.rust_status(), r),
    }
}

/// One line per platform: tier, packaged Rust, verdict.
pub fn table(model: &Model, msrv: Option<&str>) -> String {
    let headers = ["PLATFORM", "TIER", "PACKAGED RUST", "VERDICT"];
    let rows: Vec<[String; 4]> = model
        .platforms
        .iter()
        .map(|p| {
            let r = status::platform_rust(model, p, msrv);
            [
                p.id.clone(),
                r.tier_label().unwrap_or_else(|| "?".into()),
                r.packaged_label(),
                r.verdict.label(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row.iter()).take(3) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(headers.map(str::to_string)).chain(rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
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

fn run_refresh(model: &Model, path: &std::path::Path, args: RefreshArgs) -> Result<u8> {
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
            OnlyArg::Repology | OnlyArg::Tiers => None,
        })
        .collect();
    let fetchers_wanted = args.only.is_empty() || !only.is_empty();
    if wants(OnlyArg::Tiers) {
        let release = match args.rust_release {
            Some(r) => Ok(r),
            None => rustc_release(&crate::host::which("rustc").unwrap_or_else(|| "rustc".into())),
        };
        match release.and_then(|r| document(r, args.offline).map(|d| (r, d))) {
            Ok((release, (doc, source))) => {
                status.tiers = Some(tiers::snapshot(
                    &targets(model),
                    &doc,
                    release,
                    &source,
                    &now,
                ));
                eprintln!("tiers: platform-support.md of Rust {release} from {source}");
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
    crate::paths::write_atomic(path, status.to_text().as_bytes())?;
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
    Ok(exit::OK)
}
