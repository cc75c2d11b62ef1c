//! The generated CI files read (and run) by real CI clients, pinned and
//! installed by `cargo xtask setup`: actionlint on the GitHub workflow, and
//! gitlab-ci-local's `--list` (GitLab's JSON schema) on the GitLab pipeline.

use std::path::PathBuf;
use std::time::Duration;

use xtask::cmd::Cmd;
use xtask::requirements::{tool_path, Requirement, ACTIONLINT, GITLAB_CI_LOCAL};

fn tool(req: &Requirement) -> PathBuf {
    let Requirement::Tool {
        installer,
        package,
        version,
        bin,
    } = req
    else {
        unreachable!("a pinned tool")
    };
    let path = tool_path(*installer, package, version, bin);
    xtask::testing::require(
        path.exists(),
        &format!("{package} {version}"),
        "cargo xtask setup",
    );
    path
}

fn run(cmd: Cmd) -> (Option<i32>, String) {
    let out = cmd.timeout(Duration::from_secs(900)).run().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.record.exit_code, text)
}

#[test]
#[ignore = "slow: needs actionlint (cargo xtask setup)"]
fn actionlint_accepts_the_workflow_and_rejects_a_broken_one() {
    let actionlint = tool(&ACTIONLINT);
    let root = xtask::repo_root();
    let (code, out) = run(Cmd::new(&actionlint)
        .args(["-no-color", ".github/workflows/matrix.yml"])
        .cwd(&root));
    assert_eq!(code, Some(0), "actionlint: {out}");
    assert_eq!(out, "", "clean: no findings");

    // The same workflow with a node20 action and a matrix key that does not exist.
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    let text = std::fs::read_to_string(root.join(".github/workflows/matrix.yml"))
        .unwrap()
        .replacen("actions/checkout@v5", "actions/checkout@v4", 1)
        .replacen("${{ matrix.platform }}", "${{ matrix.platfrom }}", 1);
    std::fs::write(wf.join("broken.yml"), text).unwrap();
    let (code, out) = run(Cmd::new(&actionlint)
        .args(["-no-color", ".github/workflows/broken.yml"])
        .cwd(dir.path()));
    assert_eq!(code, Some(1), "actionlint must fail: {out}");
    assert!(out.contains("runtime \"node20\" is deprecated"), "{out}");
    assert!(out.contains("platfrom"), "{out}");
}

#[test]
#[ignore = "slow: needs gitlab-ci-local (cargo xtask setup)"]
fn gitlab_ci_local_validates_the_pipeline() {
    let gcl = tool(&GITLAB_CI_LOCAL);
    let dir = tempfile::tempdir().unwrap();
    // A copy, so that gitlab-ci-local's state stays out of the checkout.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(
        xtask::repo_root().join(".gitlab-ci.yml"),
        repo.join(".gitlab-ci.yml"),
    )
    .unwrap();
    let (code, out) = run(Cmd::new("git").args(["init", "-q"]).cwd(&repo));
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(Cmd::new(&gcl)
        .args(["--list", "--home"])
        .arg(dir.path().join("home"))
        .cwd(&repo));
    assert_eq!(code, Some(0), "gitlab-ci-local --list: {out}");
    assert!(out.contains("json schema validated"), "{out}");
    let model = xtask::model::load(&xtask::model::DataDirs::under(&xtask::repo_root())).unwrap();
    for job in xtask::ci::jobs(&model) {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(job.id.as_str()))
            .unwrap_or_else(|| panic!("{} not listed: {out}", job.id));
        for need in &job.needs {
            assert!(line.contains(need.as_str()), "{line}: needs {need}");
        }
    }
}
