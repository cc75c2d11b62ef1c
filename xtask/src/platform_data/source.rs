//! The one shape of every fetcher that reads documents over plain HTTP:
//! FreeBSD's catalogues, OpenBSD's listings, NetBSD's pkg_summary, Repology's
//! project answer and endoflife.date's product answer.
//!
//! A [`Source`] says which documents answer a query and how to read one; the
//! GET, the pacing, the "which URL was malformed" context and the
//! "unreachable" classification live once, in [`fetch`]. Package sources
//! ([`PackageSource`]) also share the conversion into [`PackagedRust`] values
//! with their channel, source and date.

use std::time::Duration;

use anyhow::{Context, Result};

use super::http::{Client, Pacer, Unreachable};
use crate::model::rust_status::PackagedRust;
use crate::model::RustVersion;

/// One document to GET, and what it stands for (a branch, a release, a product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub url: String,
    pub channel: String,
}

/// A source of documents: where they are and how one reads.
pub trait Source {
    /// What one asks the source about.
    type Query: ?Sized;
    /// What one document says.
    type Found;
    /// Where the source lives; tests point the base elsewhere.
    const DEFAULT_BASE: &'static str;
    /// What a document should be, for the error when it is not (`a pkg catalogue`).
    const WHAT: &'static str;
    /// Requests to the source at least this far apart.
    const INTERVAL: Duration = Duration::ZERO;

    /// The documents that answer `query`, under `base`. All of them must be
    /// read for an answer: a half answer would look like "not there".
    fn documents(base: &str, query: &Self::Query) -> Result<Vec<Document>>;

    /// Reads one document's bytes.
    fn read(body: &[u8]) -> Result<Self::Found>;
}

/// GETs and reads every document of `query`, in order. A request that gets no
/// HTTP answer fails with [`super::http::Unreachable`] in its chain; a
/// document that does not read fails naming its URL and what it should be.
pub fn fetch<S: Source>(
    client: &Client,
    pacer: &mut Pacer,
    base: &str,
    query: &S::Query,
) -> Result<Vec<(Document, S::Found)>> {
    let mut out = Vec::new();
    for doc in S::documents(base, query)? {
        pacer.wait();
        let body = client.get(&doc.url)?;
        let found = S::read(&body).with_context(|| format!("{}: not {}", doc.url, S::WHAT))?;
        out.push((doc, found));
    }
    Ok(out)
}

/// How a failed fetch for `subject` is said, and, when the source gave no
/// HTTP answer at all, what every later request to it in the same run is
/// told instead of waiting for its own timeout.
pub fn describe_failure(err: &anyhow::Error, subject: &str) -> (String, Option<String>) {
    let text = format!("{err:#}");
    if err.downcast_ref::<Unreachable>().is_some() {
        (
            format!("not reachable from this host: {text}"),
            Some(format!(
                "not reachable from this host (as for {subject}: {text})"
            )),
        )
    } else {
        (text, None)
    }
}

/// A platform's release and architecture, as `platforms/` names them.
#[derive(Debug, Clone)]
pub struct ReleaseArch {
    pub release: String,
    pub arch: String,
}

/// One Rust compiler package a document lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub version: String,
    pub rust: RustVersion,
    pub alternative: bool,
}

/// A source of an OS's packaged Rust, per release and architecture.
pub trait PackageSource: Source<Query = ReleaseArch, Found = Vec<Listed>> {}

impl<S> PackageSource for S where S: Source<Query = ReleaseArch, Found = Vec<Listed>> {}

/// Every Rust compiler package the source lists for `release` on `arch`,
/// each with the document it was read from and `now`.
pub fn packaged<S: PackageSource>(
    client: &Client,
    base: &str,
    release: &str,
    arch: &str,
    now: &str,
) -> Result<Vec<PackagedRust>> {
    let mut pacer = Pacer::new(S::INTERVAL);
    let query = ReleaseArch {
        release: release.to_string(),
        arch: arch.to_string(),
    };
    let found = fetch::<S>(client, &mut pacer, base, &query)?;
    Ok(found
        .into_iter()
        .flat_map(|(doc, listed)| {
            listed.into_iter().map(move |l| PackagedRust {
                name: l.name,
                version: l.version,
                rust: l.rust,
                alternative: l.alternative,
                channel: doc.channel.clone(),
                source: doc.url.clone(),
                fetched: now.to_string(),
            })
        })
        .collect())
}
