//! Plain HTTP for the package indexes: one blocking client with a timeout,
//! a size limit and a User-Agent naming this tool.
//!
//! ureq rather than reqwest: the xtask is synchronous, ureq needs no async
//! runtime of its own and shares rustls and ring with octocrab.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Names this tool to the servers it asks (Repology requires one that identifies the client).
pub const USER_AGENT: &str = concat!(
    "vhu-matrix-xtask/",
    env!("CARGO_PKG_VERSION"),
    " (cargo xtask platforms refresh; packaged-Rust status of a Rust workspace's platforms)"
);

/// The default time a whole request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Package indexes are a few MiB; anything far larger is not what was asked for.
const MAX_BODY: u64 = 256 * 1024 * 1024;

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .user_agent(USER_AGENT)
            .http_status_as_error(false)
            .build();
        Client {
            agent: config.into(),
        }
    }

    /// GETs `url`; any status but 200 is an error naming the URL.
    pub fn get(&self, url: &str) -> Result<Vec<u8>> {
        let started = Instant::now();
        let response = self.agent.get(url).call().map_err(|err| {
            anyhow::Error::new(Unreachable(format!(
                "GET {url}: {:#}",
                describe(err, started)
            )))
        })?;
        let status = response.status();
        if status != 200 {
            bail!("GET {url}: HTTP {status}");
        }
        let mut body = response.into_body();
        body.with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|err| describe(err, started))
            .with_context(|| format!("GET {url}: reading the body"))
    }
}

/// The server gave no HTTP answer (no route, no name, refused, timed out):
/// every other request to it would fail alike.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// ureq's error, with a timeout said in plain words.
fn describe(err: ureq::Error, started: Instant) -> anyhow::Error {
    match err {
        ureq::Error::Timeout(_) => {
            anyhow::anyhow!("timed out after {:.1}s", started.elapsed().as_secs_f64())
        }
        other => anyhow::Error::new(other),
    }
}

/// Keeps requests to one service at least `interval` apart (Repology asks
/// for at most one request per second).
pub struct Pacer {
    interval: Duration,
    last: Option<Instant>,
}

impl Pacer {
    pub fn new(interval: Duration) -> Pacer {
        Pacer {
            interval,
            last: None,
        }
    }

    /// Sleeps until the next request may go.
    pub fn wait(&mut self) {
        if let Some(last) = self.last {
            let next = last + self.interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        self.last = Some(Instant::now());
    }
}
