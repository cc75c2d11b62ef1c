//! The generated CI files read (and run) by real CI clients, pinned and
//! installed by `cargo xtask setup`: actionlint on the GitHub workflow, and
//! gitlab-ci-local's `--list` (GitLab's JSON schema) on the GitLab pipeline,
//! and gitlab-ci-local running a reduced pipeline with its shell executor.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xtask::cmd::Cmd;
use xtask::requirements::{tool_path, Requirement, ACTIONLINT, GITLAB_CI_LOCAL};

use crate::support::{fixture_workspace, xtask};

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

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn cell_ids(results: &serde_json::Value) -> Vec<String> {
    results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The reduced pipeline `ci generate` writes from `tests/fixtures/ci-local`
/// (the CI machine and aarch64 under qemu-user), run by gitlab-ci-local's
/// shell executor on the ws-basic fixture, each job in its own copy of the
/// checkout: both build jobs, the host and qemu-user test jobs after them,
/// then the report job, which receives their results as artifacts and merges
/// them into one report. The GitLab cache of the jobs' builds (aarch64's std
/// built from source) is kept under `target/ci-local-cache/` between runs,
/// like a warm runner's; the tool's download cache is the machine's.
#[test]
#[ignore = "slow: needs gitlab-ci-local, rsync, rustc-web with rust-web-src, aarch64-linux-gnu-gcc and qemu-aarch64-static (cargo xtask setup)"]
fn gitlab_ci_local_runs_a_reduced_pipeline_into_a_merged_report() {
    let gcl = tool(&GITLAB_CI_LOCAL);
    for (bin, what) in [
        ("rsync", "rsync"),
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
        ("qemu-aarch64-static", "qemu-user-static"),
    ] {
        xtask::testing::require(on_path(bin), what, "cargo xtask setup");
    }
    xtask::testing::require(
        Path::new("/usr/lib/rustlib/src/rust/src/version").is_file(),
        "Debian's rustc-web with rust-web-src",
        "cargo xtask setup",
    );
    let started = Instant::now();
    let ws = fixture_workspace("ws-basic");
    let repo = ws.path();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ci-local");
    for dir in ["platforms", "matrix", "vm-images"] {
        copy_tree(&fixture.join(dir), &repo.join(dir));
    }
    // Each job runs in its own directory: the name keeps the results of one workspace.
    let mut manifest = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    manifest.push_str("\n[workspace.metadata.matrix]\nname = \"ws-basic\"\n");
    std::fs::write(repo.join("Cargo.toml"), manifest).unwrap();
    let out = std::process::Command::new(xtask())
        .args(["ci", "generate", "--data"])
        .arg(repo)
        .arg("--out")
        .arg(repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let model = xtask::model::load(&xtask::model::DataDirs::under(repo)).unwrap();
    let jobs = xtask::ci::jobs(&model);
    let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "build:linux-debian12-aarch64",
            "build:linux-debian12-x86_64",
            "host:linux-debian12-x86_64",
            "qemu-user:linux-debian12-aarch64",
        ]
    );

    // `cargo xtask` in a job is this xtask, serving the job's copy of the checkout.
    let tools = tempfile::tempdir().unwrap();
    let bin = tools.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("cargo-xtask");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n# cargo runs `cargo-xtask xtask ARGS`.\nshift\nXTASK_REPO_ROOT=\"$PWD\" exec '{}' \"$@\"\n",
            xtask().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    for argv in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=ci",
            "-c",
            "user.email=ci@localhost",
            "commit",
            "-qm",
            "fixture",
        ],
    ] {
        let (code, out) = run(Cmd::new("git").args(argv.iter().copied()).cwd(repo));
        assert_eq!(code, Some(0), "git {argv:?}: {out}");
    }
    let warm = xtask::repo_root().join("target/ci-local-cache");
    let cache = repo.join(".gitlab-ci-local/cache");
    if warm.is_dir() {
        copy_tree(&warm, &cache);
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The shell executor runs the jobs on this machine (the file names a
    // container image); isolation gives each job its own copy of the checkout,
    // so results reach the report job only as artifacts. The tool's download
    // cache (sysroots, pinned tools) is this machine's, not one per job.
    let (code, out) = run(Cmd::new(&gcl)
        .args([
            "--shell-isolation",
            "--force-shell-executor",
            "--concurrency",
            "2",
            "--variable",
        ])
        .arg(format!(
            "XTASK_CACHE_DIR={}",
            xtask::paths::cache_dir().display()
        ))
        .arg("--home")
        .arg(tools.path().join("home"))
        .env("PATH", path)
        .cwd(repo));
    eprintln!("{out}");
    if cache.is_dir() {
        let _ = std::fs::remove_dir_all(&warm);
        copy_tree(&cache, &warm);
    }
    assert_eq!(code, Some(0), "gitlab-ci-local: {out}");
    // Build jobs pass; the test jobs end with exit 1 (ws-basic's failing test),
    // which the pipeline allows; the report job passes.
    let status = |job: &str| -> &str {
        out.lines()
            .map(str::trim_start)
            .find_map(|l| {
                // The summary: ` PASS  <job>`, ` WARN  <job>  <what printed last>`.
                let mut w = l.split_whitespace();
                let s = w.next()?;
                (["PASS", "WARN", "FAIL"].contains(&s) && w.next() == Some(job)).then_some(s)
            })
            .unwrap_or_else(|| panic!("no status for {job}: {out}"))
    };
    for job in [
        "build:linux-debian12-x86_64",
        "build:linux-debian12-aarch64",
        "report",
    ] {
        assert_eq!(status(job), "PASS", "{job}: {out}");
    }
    for job in [
        "host:linux-debian12-x86_64",
        "qemu-user:linux-debian12-aarch64",
    ] {
        assert_eq!(status(job), "WARN", "{job}: {out}");
    }

    // Each job's results, its artifact, reached the report job's own checkout.
    let report_dir = repo.join(".gitlab-ci-local/builds/report");
    for job in &jobs {
        let r = json(&report_dir.join(job.results_path()));
        let ids = cell_ids(&r);
        assert!(!ids.is_empty(), "{}: no cells", job.id);
        for id in &ids {
            assert!(id.starts_with(&job.platform), "{}: {id}", job.id);
        }
    }
    // The merged report, the report job's artifact, holds both platforms' cells.
    let merged = json(&repo.join("target/ci-report/status.json"));
    let ids = cell_ids(&merged);
    for id in [
        "linux-debian12-x86_64/build@host",
        "linux-debian12-x86_64/test@host",
        "linux-debian12-aarch64/build@cross",
        "linux-debian12-aarch64/test@qemu-user",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} not in {ids:?}");
    }
    assert_eq!(merged["workspace"]["name"], "ws-basic");
    let cell = |id: &str| {
        merged["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    for id in [
        "linux-debian12-x86_64/build@host",
        "linux-debian12-aarch64/build@cross",
    ] {
        assert_eq!(cell(id)["status"], "pass", "{id}");
    }
    for id in [
        "linux-debian12-x86_64/test@host",
        "linux-debian12-aarch64/test@qemu-user",
    ] {
        let c = cell(id);
        let outcome = |name: &str| {
            c["tests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("{id}: no {name} in {c:#}"))["outcome"]
                .clone()
        };
        assert_eq!(outcome("tests::adds"), "pass", "{id}");
        assert_eq!(outcome("tests::fails_on_purpose"), "fail", "{id}");
    }
    for file in ["status.md", "history.jsonl"] {
        assert!(repo.join("target/ci-report").join(file).is_file(), "{file}");
    }
    eprintln!("the reduced pipeline ran in {:.0?}", started.elapsed());
}
