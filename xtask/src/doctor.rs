//! `cargo xtask doctor`: each lane's prerequisites on this host, found or
//! missing, with the exact command that installs what is missing.

use anyhow::Result;

use crate::exit;
use crate::requirements::Prereq;

/// List every lane's prerequisites on this host and how to install what is missing.
///
/// Exit status 0 when everything is present, 3 when something is missing
/// (cells that need it will be reported unavailable, not failed).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this lane's prerequisites.
    #[arg(long)]
    pub lane: Option<String>,
}

/// Lanes only reached when every provider listed before them is missing:
/// reported, but their absence is not a failure of the environment.
pub const FALLBACK_LANES: [&str; 1] = ["cross-rs"];

pub fn run(args: Args) -> Result<u8> {
    let all = crate::needs::prerequisites();
    // A program two lanes need (apt-get) is shown once, under the first.
    let mut seen = std::collections::BTreeSet::new();
    let shown: Vec<&Prereq> = all
        .iter()
        .filter(|p| args.lane.as_deref().is_none_or(|l| l == p.lane))
        .filter(|p| seen.insert(p.name.as_str()))
        .collect();
    if shown.is_empty() {
        return Err(crate::BadInput(format!(
            "no lane `{}`; lanes: {}",
            args.lane.unwrap_or_default(),
            all.iter()
                .map(|p| p.lane)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let width = shown.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut missing = 0;
    for p in &shown {
        match &p.found {
            Ok(what) => println!("{:<9} {:<width$}  ok       {what}", p.lane, p.name),
            // A fallback's absence costs nothing while the providers listed before it work.
            Err(why) if FALLBACK_LANES.contains(&p.lane) => {
                println!("{:<9} {:<width$}  absent   {why}\n{:<9} {:<width$}           (a fallback, not counted) enable: {}", p.lane, p.name, "", "", p.install);
            }
            Err(why) => {
                missing += 1;
                println!(
                    "{:<9} {:<width$}  MISSING  {why}\n{:<9} {:<width$}           install: {}",
                    p.lane, p.name, "", "", p.install
                );
            }
        }
    }
    if missing > 0 {
        println!("\n{missing} missing; `cargo xtask setup` installs what this project's lanes need on Debian.");
        Ok(exit::ENVIRONMENT)
    } else {
        Ok(exit::OK)
    }
}
