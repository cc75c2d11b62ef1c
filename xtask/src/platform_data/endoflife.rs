//! endoflife.date's API (v1): each OS product's release cycles, with their
//! release date and end of life, into `platforms/lifecycle/releases.toml`.
//!
//! `GET <api>/products/<product>/` answers
//! `{"schema_version": …, "result": {"name": …, "releases": [{"name": "14.4",
//! "releaseDate": "2026-03-10", "isEol": false, "eolFrom": "2026-12-31",
//! "latest": {"name": …, "date": …}, …}]}}`; fields this tool does not use
//! are ignored, those it uses are checked.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::http::{Client, Pacer};
use super::source::{self, Document, Source};
use crate::model::lifecycle::{
    product_for_os, Eol, LifecycleFile, ProductLifecycle, ReleaseLifecycle,
};
use crate::model::msrv_policy::parse_date;
use crate::model::Platform;

pub const DEFAULT_API: &str = "https://endoflife.date/api/v1";

pub fn product_url(api: &str, product: &str) -> String {
    format!("{}/products/{product}/", api.trim_end_matches('/'))
}

#[derive(Debug, Deserialize)]
struct Answer {
    result: ProductJson,
}

#[derive(Debug, Deserialize)]
struct ProductJson {
    name: String,
    releases: Vec<ReleaseJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleaseJson {
    name: String,
    release_date: String,
    is_eol: bool,
    #[serde(default)]
    eol_from: Option<String>,
    #[serde(default)]
    latest: Option<LatestJson>,
    /// End of extended support (Debian's LTS): a date, or a boolean when none is known.
    #[serde(default)]
    eoes_from: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct LatestJson {
    name: String,
    #[serde(default)]
    date: Option<String>,
}

/// One cycle as the API states it, before it gets its source and date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub name: String,
    pub released: String,
    pub eol: Eol,
    pub latest: Option<String>,
    pub latest_released: Option<String>,
    pub extended_until: Option<String>,
}

/// endoflife.date's product endpoint.
pub struct EndOfLife;

impl Source for EndOfLife {
    /// The product's name (`freebsd`).
    type Query = str;
    type Found = Vec<Cycle>;
    const DEFAULT_BASE: &'static str = DEFAULT_API;
    const WHAT: &'static str = "an endoflife.date v1 product answer";

    fn documents(base: &str, product: &str) -> Result<Vec<Document>> {
        Ok(vec![Document {
            url: product_url(base, product),
            channel: product.to_string(),
        }])
    }

    fn read(body: &[u8]) -> Result<Vec<Cycle>> {
        let answer: Answer =
            serde_json::from_slice(body).context("expected {\"result\": {\"releases\": […]}}")?;
        cycles(answer.result)
    }
}

fn cycles(product: ProductJson) -> Result<Vec<Cycle>> {
    let date = |what: &str, name: &str, v: &str| -> Result<String> {
        if parse_date(v).is_none() {
            bail!(
                "{}: release `{name}`: {what} `{v}` is not a YYYY-MM-DD date",
                product.name
            );
        }
        Ok(v.to_string())
    };
    let mut out = Vec::new();
    for r in &product.releases {
        let eol = match (&r.eol_from, r.is_eol) {
            (Some(d), _) => Eol::On(parse_date(d).with_context(|| {
                format!(
                    "{}: release `{}`: eolFrom `{d}` is not a YYYY-MM-DD date",
                    product.name, r.name
                )
            })?),
            (None, true) => Eol::Ended,
            (None, false) => Eol::NotAnnounced,
        };
        let latest_released = match r.latest.as_ref().and_then(|l| l.date.as_deref()) {
            Some(d) => Some(date("latest.date", &r.name, d)?),
            None => None,
        };
        let extended_until = match r.eoes_from.as_ref().and_then(|v| v.as_str()) {
            Some(d) => Some(date("eoesFrom", &r.name, d)?),
            None => None,
        };
        out.push(Cycle {
            extended_until,
            name: r.name.clone(),
            released: date("releaseDate", &r.name, &r.release_date)?,
            eol,
            latest: r.latest.as_ref().map(|l| l.name.clone()),
            latest_released,
        });
    }
    if out.is_empty() {
        bail!("{}: no releases", product.name);
    }
    Ok(out)
}

/// The product's cycles, each with the URL it was read from and `now`.
pub fn fetch(
    client: &Client,
    api: &str,
    product: &str,
    now: &str,
) -> Result<Vec<ReleaseLifecycle>> {
    let found =
        source::fetch::<EndOfLife>(client, &mut Pacer::new(EndOfLife::INTERVAL), api, product)?;
    Ok(found
        .into_iter()
        .flat_map(|(doc, cycles)| {
            cycles.into_iter().map(move |c| ReleaseLifecycle {
                name: c.name,
                released: c.released,
                eol: c.eol,
                latest: c.latest,
                latest_released: c.latest_released,
                extended_until: c.extended_until,
                source: doc.url.clone(),
                fetched: now.to_string(),
            })
        })
        .collect())
}

/// What one lifecycle refresh did, product by product.
#[derive(Debug, Default)]
pub struct Summary {
    pub fresh: Vec<String>,
    /// Product → why its values were kept.
    pub kept: BTreeMap<String, String>,
}

/// Refreshes the products of the OSes in `platforms`. A product that cannot
/// be fetched keeps its stored cycles and is marked stale since `now`.
pub fn refresh(
    platforms: &[Platform],
    file: &mut LifecycleFile,
    api: &str,
    timeout: Duration,
    offline: bool,
    now: &str,
    progress: &dyn Fn(&str),
) -> Summary {
    let mut products: Vec<&'static str> = platforms
        .iter()
        .filter_map(|p| product_for_os(&p.os))
        .map(|p| p.name)
        .collect();
    products.sort();
    products.dedup();
    let client = Client::new(timeout);
    let mut summary = Summary::default();
    let mut unreachable: Option<String> = None;
    for product in products {
        let outcome = if offline {
            Err("offline refresh: not fetched".to_string())
        } else if let Some(why) = &unreachable {
            Err(why.clone())
        } else {
            progress(&format!("endoflife.date: {product}"));
            fetch(&client, api, product, now).map_err(|err| {
                let (text, for_later) = source::describe_failure(&err, product);
                unreachable = unreachable.take().or(for_later);
                text
            })
        };
        let old = file.product.remove(product);
        let entry = match (outcome, old) {
            (Ok(release), _) => {
                summary.fresh.push(product.to_string());
                ProductLifecycle {
                    checked: Some(now.to_string()),
                    stale_since: None,
                    error: None,
                    release,
                }
            }
            (Err(error), Some(old)) => {
                summary.kept.insert(product.to_string(), error.clone());
                ProductLifecycle {
                    stale_since: Some(old.stale_since.clone().unwrap_or_else(|| now.to_string())),
                    error: Some(error),
                    ..old
                }
            }
            (Err(error), None) => {
                summary.kept.insert(product.to_string(), error.clone());
                ProductLifecycle {
                    checked: None,
                    stale_since: Some(now.to_string()),
                    error: Some(error),
                    release: Vec::new(),
                }
            }
        };
        file.product.insert(product.to_string(), entry);
    }
    summary
}
