//! `cargo xtask report publish` against a mock GitHub API on 127.0.0.1 that
//! answers with GitHub's own response shapes: the first publish creates and
//! pins the issue, the next updates it, an unchanged report writes nothing,
//! `--dry-run` only reads, and a rejected token gives a clear error. The
//! token never appears in anything the command prints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::report_support::{data_small_dir, results_small, stderr, stdout, xtask};
use xtask::report::publish::MARKER;

const TOKEN: &str = "ghp_mockTOKEN0123456789abcdefSECRET";

#[derive(Default)]
struct State {
    issues: Vec<Value>,
    pinned: Vec<u64>,
    /// `METHOD /path` of every request, in order.
    log: Vec<String>,
}

/// A GitHub REST + GraphQL stand-in for one repository, `octo-org/vhu`.
struct MockGitHub {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockGitHub {
    fn start() -> MockGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        {
            // Already there: an unrelated issue with the same label, and a pull request.
            let mut s = state.lock().unwrap();
            s.issues
                .push(issue(&url, 1, "Port to Haiku", "Not the report.", false));
            s.issues
                .push(issue(&url, 7, "Update the report by hand", MARKER, true));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, url) = (state.clone(), stop.clone(), url.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        serve(conn, &state, &url);
                    }
                }
            })
        };
        MockGitHub {
            url,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn log(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }
}

impl Drop for MockGitHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An issue object as GitHub's REST API returns it.
fn issue(base: &str, number: u64, title: &str, body: &str, pull_request: bool) -> Value {
    let repo = format!("{base}/repos/octo-org/vhu");
    let mut v = json!({
        "url": format!("{repo}/issues/{number}"),
        "repository_url": repo,
        "labels_url": format!("{repo}/issues/{number}/labels{{/name}}"),
        "comments_url": format!("{repo}/issues/{number}/comments"),
        "events_url": format!("{repo}/issues/{number}/events"),
        "html_url": format!("https://github.com/octo-org/vhu/issues/{number}"),
        "id": 1_000_000 + number,
        "node_id": format!("I_kwDOmock{number:04}"),
        "number": number,
        "title": title,
        "user": {
            "login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://github.com/images/error/octocat_happy.gif", "gravatar_id": "",
            "url": format!("{base}/users/octocat"), "html_url": "https://github.com/octocat",
            "followers_url": format!("{base}/users/octocat/followers"),
            "following_url": format!("{base}/users/octocat/following{{/other_user}}"),
            "gists_url": format!("{base}/users/octocat/gists{{/gist_id}}"),
            "starred_url": format!("{base}/users/octocat/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{base}/users/octocat/subscriptions"),
            "organizations_url": format!("{base}/users/octocat/orgs"),
            "repos_url": format!("{base}/users/octocat/repos"),
            "events_url": format!("{base}/users/octocat/events{{/privacy}}"),
            "received_events_url": format!("{base}/users/octocat/received_events"),
            "type": "User", "site_admin": false
        },
        "labels": [{
            "id": 208045946, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=", "url": format!("{repo}/labels/support-status"),
            "name": "support-status", "description": null, "color": "0e8a16", "default": false
        }],
        "state": "open",
        "locked": false,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "comments": 0,
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
        "closed_at": null,
        "author_association": "OWNER",
        "active_lock_reason": null,
        "body": body,
        "reactions": {"url": format!("{repo}/issues/{number}/reactions"), "total_count": 0, "+1": 0, "-1": 0,
                      "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        "timeline_url": format!("{repo}/issues/{number}/timeline"),
        "performed_via_github_app": null,
        "state_reason": null
    });
    if pull_request {
        v["pull_request"] = json!({"url": format!("{repo}/pulls/{number}"), "html_url": format!("https://github.com/octo-org/vhu/pull/{number}"),
            "diff_url": format!("https://github.com/octo-org/vhu/pull/{number}.diff"), "patch_url": format!("https://github.com/octo-org/vhu/pull/{number}.patch")});
    }
    v
}

fn serve(conn: TcpStream, state: &Mutex<State>, base: &str) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let len: usize = header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut s = state.lock().unwrap();
    s.log.push(format!("{method} {path}"));

    // Like GitHub: a wrong token is refused everywhere; no token may still read.
    let auth = header("authorization");
    let authorised = auth.as_deref() == Some(&format!("Bearer {TOKEN}"));
    let (status, reply) = if (auth.is_some() && !authorised) || (auth.is_none() && method != "GET")
    {
        unauthorised()
    } else {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        route(&mut s, &method, path, query, &request, base)
    };
    drop(s);
    let text = reply.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn unauthorised() -> (u16, Value) {
    (
        401,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
    )
}

fn route(
    s: &mut State,
    method: &str,
    path: &str,
    query: &str,
    request: &Value,
    base: &str,
) -> (u16, Value) {
    let not_found = (
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    );
    match (method, path) {
        ("GET", "/repos/octo-org/vhu/issues") => {
            let label = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("labels="))
                .unwrap_or("");
            let open: Vec<Value> = s
                .issues
                .iter()
                .filter(|i| {
                    i["state"] == "open"
                        && (label.is_empty()
                            || i["labels"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|l| l["name"] == label))
                })
                .cloned()
                .collect();
            (200, Value::Array(open))
        }
        ("POST", "/repos/octo-org/vhu/issues") => {
            let number = s
                .issues
                .iter()
                .map(|i| i["number"].as_u64().unwrap())
                .max()
                .unwrap_or(0)
                + 1;
            let mut created = issue(
                base,
                number,
                request["title"].as_str().unwrap(),
                request["body"].as_str().unwrap(),
                false,
            );
            let labels: Vec<Value> = request["labels"].as_array().unwrap().iter().map(|l| json!({"id": 1, "node_id": "LA_mock", "url": "", "name": l, "description": null, "color": "ededed", "default": false})).collect();
            created["labels"] = Value::Array(labels);
            s.issues.push(created.clone());
            (201, created)
        }
        ("PATCH", p) if p.starts_with("/repos/octo-org/vhu/issues/") => {
            let number: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
            match s.issues.iter_mut().find(|i| i["number"] == number) {
                Some(i) => {
                    i["body"] = request["body"].clone();
                    i["updated_at"] = json!("2026-11-21T10:00:00Z");
                    (200, i.clone())
                }
                None => not_found,
            }
        }
        ("POST", "/graphql") => {
            let id = request["variables"]["id"].as_str().unwrap_or("");
            assert!(
                request["query"].as_str().unwrap().contains("pinIssue"),
                "{request}"
            );
            match s
                .issues
                .iter()
                .find(|i| i["node_id"] == id)
                .map(|i| i["number"].as_u64().unwrap())
            {
                Some(n) => {
                    s.pinned.push(n);
                    (200, json!({"data": {"pinIssue": {"issue": {"number": n}}}}))
                }
                None => (
                    200,
                    json!({"data": null, "errors": [{"type": "NOT_FOUND", "message": format!("Could not resolve to a node with the global id of '{id}'.")}]}),
                ),
            }
        }
        _ => not_found,
    }
}

fn publish(
    server: &MockGitHub,
    results: &std::path::Path,
    token: Option<&str>,
    extra: &[&str],
) -> xtask::cmd::Finished {
    let data = data_small_dir();
    let mut args = vec![
        "report",
        "publish",
        "--repo",
        "octo-org/vhu",
        "--api-url",
        &server.url,
        "--data",
        data.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let env: Vec<(&str, &str)> = token.map(|t| vec![("GITHUB_TOKEN", t)]).unwrap_or_default();
    let out = xtask(&args, &env);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains(TOKEN) && !all.contains("mockTOKEN"),
        "the token leaked:\n{all}"
    );
    out
}

#[test]
fn first_publish_creates_and_pins_then_updates_and_keeps_unchanged() {
    let server = MockGitHub::start();
    let dir = tempfile::tempdir().unwrap();
    let results_path = dir.path().join("status.json");
    let mut results = results_small();
    results.save(&results_path).unwrap();

    let first = publish(&server, &results_path, Some(TOKEN), &[]);
    assert_eq!(first.record.exit_code, Some(0), "{}", stderr(&first));
    assert!(
        stderr(&first)
            .contains("created issue #8 and pinned it: https://github.com/octo-org/vhu/issues/8"),
        "{}",
        stderr(&first)
    );
    assert_eq!(
        server.log(),
        [
            "GET /repos/octo-org/vhu/issues",
            "POST /repos/octo-org/vhu/issues",
            "POST /graphql"
        ]
    );
    {
        let s = server.state.lock().unwrap();
        assert_eq!(s.pinned, [8]);
        let created = s.issues.iter().find(|i| i["number"] == 8).unwrap();
        assert_eq!(created["title"], "Support status");
        assert_eq!(created["labels"][0]["name"], "support-status");
        let body = created["body"].as_str().unwrap();
        assert!(
            body.starts_with(MARKER) && body.contains("# Support status: `ws-basic`"),
            "{body}"
        );
    }

    // A new result: the same issue is updated, nothing is created.
    let cell = results
        .cells
        .iter_mut()
        .find(|c| c.id == "linux-debian12-x86_64/test@host")
        .unwrap();
    cell.status = xtask::results::Status::Pass;
    cell.tests
        .iter_mut()
        .for_each(|t| t.outcome = xtask::results::TestOutcome::Pass);
    cell.reason = None;
    results.save(&results_path).unwrap();

    let dry = publish(&server, &results_path, Some(TOKEN), &["--dry-run"]);
    assert_eq!(dry.record.exit_code, Some(0), "{}", stderr(&dry));
    assert_eq!(
        server.log(),
        ["GET /repos/octo-org/vhu/issues"],
        "a dry run only reads"
    );
    let diff = stdout(&dry);
    assert!(
        diff.starts_with("--- issue #8 (current)\n+++ report (new)\n"),
        "{diff}"
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('-') && l.contains("❌ host")),
        "{diff}"
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("✅ host")),
        "{diff}"
    );
    assert!(stderr(&dry).contains("dry run: would update issue #8"));

    let second = publish(&server, &results_path, Some(TOKEN), &[]);
    assert_eq!(second.record.exit_code, Some(0), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("updated issue #8"),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        server.log(),
        [
            "GET /repos/octo-org/vhu/issues",
            "PATCH /repos/octo-org/vhu/issues/8"
        ]
    );
    assert!(server
        .state
        .lock()
        .unwrap()
        .issues
        .iter()
        .find(|i| i["number"] == 8)
        .unwrap()["body"]
        .as_str()
        .unwrap()
        .contains("✅ host"));

    let third = publish(&server, &results_path, Some(TOKEN), &[]);
    assert!(
        stderr(&third).contains("issue #8 is up to date"),
        "{}",
        stderr(&third)
    );
    assert_eq!(
        server.log(),
        ["GET /repos/octo-org/vhu/issues"],
        "an unchanged report is not written again"
    );
    assert_eq!(
        server.state.lock().unwrap().issues.len(),
        3,
        "one issue was created in all"
    );
}

#[test]
fn rejected_token_gives_a_clear_error() {
    let server = MockGitHub::start();
    let dir = tempfile::tempdir().unwrap();
    let results_path = dir.path().join("status.json");
    results_small().save(&results_path).unwrap();
    let out = publish(
        &server,
        &results_path,
        Some("ghp_revoked_mockTOKEN_xyz"),
        &[],
    );
    assert_eq!(out.record.exit_code, Some(3));
    expect_test::expect![[r#"
        error: GitHub rejected the token in GITHUB_TOKEN (401 Unauthorized Bad credentials): it is missing, expired, revoked or mistyped; give `report publish` a token with Issues: read and write on octo-org/vhu
    "#]]
    .assert_eq(&stderr(&out));
    assert!(!stderr(&out).contains("revoked_mockTOKEN"));
    assert_eq!(server.log(), ["GET /repos/octo-org/vhu/issues"]);
}

#[test]
fn publishing_without_a_token_is_refused_before_any_request() {
    let server = MockGitHub::start();
    let dir = tempfile::tempdir().unwrap();
    let results_path = dir.path().join("status.json");
    results_small().save(&results_path).unwrap();
    let out = publish(&server, &results_path, None, &[]);
    assert_eq!(out.record.exit_code, Some(2));
    assert!(
        stderr(&out).contains("GITHUB_TOKEN is not set"),
        "{}",
        stderr(&out)
    );
    assert!(server.log().is_empty());
    // A dry run needs no token: it reads, and shows the issue it would create.
    let dry = publish(&server, &results_path, None, &["--dry-run"]);
    assert_eq!(dry.record.exit_code, Some(0), "{}", stderr(&dry));
    assert!(
        stdout(&dry).starts_with("--- no issue yet\n+++ new issue\n"),
        "{}",
        stdout(&dry)
    );
    assert!(stderr(&dry)
        .contains("would create and pin an issue `Support status` labelled `support-status`"));
    assert_eq!(server.log(), ["GET /repos/octo-org/vhu/issues"]);
}

#[test]
fn an_unreachable_api_is_named() {
    // Bound and dropped: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = data_small_dir();
    let results = crate::report_support::results_small_path();
    let url = format!("http://127.0.0.1:{port}");
    let out = xtask(
        &[
            "report",
            "publish",
            "--repo",
            "octo-org/vhu",
            "--dry-run",
            "--api-url",
            &url,
            "--data",
            data.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.record.exit_code, Some(3));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: cannot reach the GitHub API at {url} to list the open issues on octo-org/vhu: "
        )),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn token_is_redacted_in_debug_output() {
    let dbg = format!("{:?}", xtask::report::publish::Token::new(TOKEN));
    assert_eq!(dbg, "Token(<redacted>)");
}

#[test]
fn an_issue_body_too_long_for_github_keeps_the_grid_and_points_to_reports() {
    let model = crate::report_support::data_small();
    let mut results = results_small();
    let small = xtask::report::publish::issue_body(&model, &results);
    assert!(
        small.contains("\n## Details\n") && small.contains("### <a id="),
        "details fit at first"
    );
    for cell in &mut results.cells {
        cell.reason = Some("a very long reason ".repeat(300));
    }
    let body = xtask::report::publish::issue_body(&model, &results);
    assert!(body.chars().count() <= xtask::report::publish::BODY_LIMIT);
    assert!(body.starts_with(MARKER));
    assert!(body.contains("| OS / release |"), "the grid stays");
    assert!(!body.contains("### <a id="), "the per-cell details go");
    assert!(body.contains("see `reports/status.md` or `reports/status.html` in the repository"));
}
