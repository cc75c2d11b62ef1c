//! `cargo xtask report publish`: the report's Markdown as the body of one
//! pinned GitHub issue, created the first time and updated after that.

use std::path::PathBuf;

use anyhow::{Context, Result};
use octocrab::Octocrab;
use serde::Deserialize;

use crate::exit;
use crate::model::{self, Model};
use crate::render::{self, Grid};
use crate::results::ResultsFile;

/// Marks the issue this command owns; it is looked for in the bodies of open issues with `--label`.
pub const MARKER: &str = "<!-- vhu-matrix:support-status; written by `cargo xtask report publish`, edits are overwritten -->";

/// GitHub refuses issue bodies longer than this many characters.
pub const BODY_LIMIT: usize = 65_536;

/// Publish the report on GitHub as the body of a pinned issue.
///
/// Why an issue and not a release asset: an issue body is rendered Markdown
/// at one stable address that porters can find (pinned at the top of the
/// issue list) and subscribe to, GitHub keeps the history of its edits, and
/// writing it needs only the Issues permission. A release asset would need a
/// release per update, is downloaded rather than shown, and the HTML page
/// cannot be displayed from there anyway.
///
/// The issue is found by `--label` and the marker line in its body; when
/// none is open, one is created (with the label) and pinned. An unchanged
/// body is not written again. The body is the Markdown report; when it
/// exceeds GitHub's 65,536-character limit the per-cell details are left
/// out and the issue points to `reports/` instead.
///
/// The token comes from the `GITHUB_TOKEN` environment variable only (it is
/// never printed); it needs Issues: read and write on the repository.
/// `--dry-run` reads the current issue (with the token when set) and prints
/// the diff of what would change, without writing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository, `owner/name`.
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: String,
    /// Results to publish [default: <this repository>/reports/status.json].
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Directory holding `platforms/`, `matrix/` and `vm-images/` [default: this repository].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The GitHub API's base URL (GitHub Enterprise: `https://HOST/api/v3`).
    #[arg(long, value_name = "URL", default_value = "https://api.github.com")]
    pub api_url: String,
    /// The issue's title when it is created.
    #[arg(long, default_value = "Support status")]
    pub title: String,
    /// The label that marks the issue.
    #[arg(long, default_value = "support-status")]
    pub label: String,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `GITHUB_TOKEN`, kept out of every Debug and Display.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    pub fn from_env() -> Option<Token> {
        std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| Token(t.trim().to_string()))
    }
}

/// What publishing did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created {
        number: u64,
        url: String,
        pinned: bool,
    },
    Updated {
        number: u64,
        url: String,
    },
    Unchanged {
        number: u64,
        url: String,
    },
    WouldCreate,
    WouldUpdate {
        number: u64,
        url: String,
    },
}

pub fn run(args: Args) -> Result<u8> {
    let (owner, name) = args
        .repo
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| crate::BadInput(format!("--repo `{}` is not `owner/name`", args.repo)))?;
    let dirs = model::DataDirs::resolve(args.data.as_deref(), None);
    let model = model::load(&dirs)?;
    let path = args
        .results
        .clone()
        .unwrap_or_else(|| crate::repo_root().join("reports").join("status.json"));
    let results = ResultsFile::load(&path)?;
    let body = issue_body(&model, &results);
    let token = Token::from_env();
    if token.is_none() && !args.dry_run {
        anyhow::bail!(crate::BadInput(
            "GITHUB_TOKEN is not set: publishing needs a token with Issues: read and write on the repository (or use --dry-run)".into()
        ));
    }
    let target = Target {
        owner: owner.to_string(),
        repo: name.to_string(),
        title: args.title.clone(),
        label: args.label.clone(),
        api_url: args.api_url.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    let outcome = runtime.block_on(async {
        let client = client(&args.api_url, token.as_ref())?;
        publish(
            &client,
            &target,
            &body,
            args.dry_run,
            &mut std::io::stdout(),
        )
        .await
    })?;
    match &outcome {
        Outcome::Created {
            number,
            url,
            pinned,
        } => {
            eprintln!(
                "created issue #{number}{}: {url}",
                if *pinned { " and pinned it" } else { "" }
            )
        }
        Outcome::Updated { number, url } => eprintln!("updated issue #{number}: {url}"),
        Outcome::Unchanged { number, url } => eprintln!("issue #{number} is up to date: {url}"),
        Outcome::WouldCreate => eprintln!(
            "dry run: would create and pin an issue `{}` labelled `{}`",
            target.title, target.label
        ),
        Outcome::WouldUpdate { number, url } => {
            eprintln!("dry run: would update issue #{number}: {url}")
        }
    }
    Ok(exit::OK)
}

/// The issue body: the marker, then the Markdown report (without the per-cell
/// details when the whole would exceed GitHub's limit).
pub fn issue_body(model: &Model, results: &ResultsFile) -> String {
    let markdown = render::markdown::render(&Grid::new(model, results));
    let full = format!("{MARKER}\n{markdown}");
    if full.chars().count() <= BODY_LIMIT {
        return full;
    }
    let grid = markdown.split("\n## Details\n").next().unwrap_or(&markdown);
    format!(
        "{MARKER}\n{grid}\n## Details\n\nThe details of every cell do not fit in an issue (GitHub's limit is {BODY_LIMIT} characters): \
         see `reports/status.md` or `reports/status.html` in the repository.\n"
    )
}

pub struct Target {
    pub owner: String,
    pub repo: String,
    pub title: String,
    pub label: String,
    /// For messages.
    pub api_url: String,
}

impl Target {
    fn full(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

pub fn client(api_url: &str, token: Option<&Token>) -> Result<Octocrab> {
    let mut builder = Octocrab::builder()
        .base_uri(api_url)
        .map_err(|e| crate::BadInput(format!("--api-url `{api_url}` is not a URL: {e}")))?;
    if let Some(token) = token {
        builder = builder.personal_token(token.0.clone());
    }
    builder.build().context("cannot set up the GitHub client")
}

/// The few fields of GitHub's issue object this command needs.
#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    node_id: String,
    html_url: String,
    #[serde(default)]
    body: Option<String>,
    /// Present when the "issue" is a pull request.
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

/// Finds, then creates or updates, the issue. `out` receives the dry run's diff.
pub async fn publish(
    client: &Octocrab,
    target: &Target,
    body: &str,
    dry_run: bool,
    out: &mut dyn std::io::Write,
) -> Result<Outcome> {
    let route = format!("/repos/{}/{}/issues", target.owner, target.repo);
    let params = [
        ("state", "open"),
        ("labels", target.label.as_str()),
        ("per_page", "100"),
    ];
    let listed: Vec<Issue> = client
        .get(&route, Some(&params))
        .await
        .map_err(|e| github_error(e, target, "list the open issues"))?;
    let mut ours: Vec<Issue> = listed
        .into_iter()
        .filter(|i| {
            i.pull_request.is_none() && i.body.as_deref().is_some_and(|b| b.contains(MARKER))
        })
        .collect();
    ours.sort_by_key(|i| i.number);
    match ours.into_iter().next() {
        Some(issue) => {
            let current = issue.body.as_deref().unwrap_or("");
            if normalise(current) == normalise(body) {
                return Ok(Outcome::Unchanged {
                    number: issue.number,
                    url: issue.html_url,
                });
            }
            if dry_run {
                write_diff(
                    out,
                    &format!("issue #{} (current)", issue.number),
                    current,
                    "report (new)",
                    body,
                )?;
                return Ok(Outcome::WouldUpdate {
                    number: issue.number,
                    url: issue.html_url,
                });
            }
            let updated: Issue = client
                .patch(
                    format!("{route}/{}", issue.number),
                    Some(&serde_json::json!({ "body": body })),
                )
                .await
                .map_err(|e| github_error(e, target, &format!("update issue #{}", issue.number)))?;
            Ok(Outcome::Updated {
                number: updated.number,
                url: updated.html_url,
            })
        }
        None => {
            if dry_run {
                write_diff(out, "no issue yet", "", "new issue", body)?;
                return Ok(Outcome::WouldCreate);
            }
            let created: Issue = client
                .post(&route, Some(&serde_json::json!({ "title": target.title, "body": body, "labels": [target.label] })))
                .await
                .map_err(|e| github_error(e, target, "create the report issue"))?;
            let pinned = match pin(client, &created.node_id).await {
                Ok(()) => true,
                Err(err) => {
                    eprintln!(
                        "warning: created issue #{} but could not pin it: {err:#}",
                        created.number
                    );
                    false
                }
            };
            Ok(Outcome::Created {
                number: created.number,
                url: created.html_url,
                pinned,
            })
        }
    }
}

/// Pinning has no REST endpoint; it is a GraphQL mutation.
async fn pin(client: &Octocrab, node_id: &str) -> Result<()> {
    let query = serde_json::json!({
        "query": "mutation($id: ID!) { pinIssue(input: {issueId: $id}) { issue { number } } }",
        "variables": { "id": node_id },
    });
    let _: serde_json::Value = client
        .graphql(&query)
        .await
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    Ok(())
}

/// GitHub stores bodies with CRLF line ends at times; compare what a reader sees.
fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end().to_string()
}

fn write_diff(
    out: &mut dyn std::io::Write,
    old_name: &str,
    old: &str,
    new_name: &str,
    new: &str,
) -> Result<()> {
    let (old, new) = (normalise(old) + "\n", normalise(new) + "\n");
    let diff = similar::TextDiff::from_lines(&old, &new);
    write!(
        out,
        "{}",
        diff.unified_diff()
            .context_radius(2)
            .header(old_name, new_name)
    )?;
    Ok(())
}

/// A short message for an octocrab error; never includes request headers (the token).
fn describe(err: &octocrab::Error) -> String {
    match err {
        octocrab::Error::GitHub { source, .. } => {
            format!("{} {}", source.status_code, source.message)
        }
        other => {
            // Transport errors nest their causes, each repeating the one
            // below it; the deepest says what actually failed (DNS, refused…).
            let mut deepest = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                deepest = c.to_string();
                cause = c.source();
            }
            deepest
        }
    }
}

fn github_error(err: octocrab::Error, target: &Target, doing: &str) -> anyhow::Error {
    let repo = target.full();
    let status = match &err {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    };
    let message = match status {
        Some(401) => format!(
            "GitHub rejected the token in GITHUB_TOKEN ({}): it is missing, expired, revoked or mistyped; \
             give `report publish` a token with Issues: read and write on {repo}",
            describe(&err)
        ),
        Some(403) => format!(
            "GitHub refused to {doing} on {repo} ({}): the token in GITHUB_TOKEN lacks Issues: read and write there, or a rate limit applies",
            describe(&err)
        ),
        Some(404) => format!("GitHub has no repository {repo} that this token can see ({})", describe(&err)),
        Some(_) => format!("GitHub refused to {doing} on {repo}: {}", describe(&err)),
        None => format!(
            "cannot reach the GitHub API at {} to {doing} on {repo}: {}",
            target.api_url,
            describe(&err)
        ),
    };
    anyhow::anyhow!(message)
}
