//! Data-driven tests of loading: each case in `test-data/model/` overlays
//! files on `base.txt` and states what loading prints.

use std::path::{Path, PathBuf};

use super::*;

fn load_case(case: &Path) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let expected =
        crate::testing::write_model_fixture(dir.path(), &std::fs::read_to_string(case).unwrap());
    let got = match Model::load(&DataDirs::under(dir.path())) {
        Ok(model) => format!(
            "ok: {}\n",
            model
                .platforms
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(errors) => format!("{errors}\n"),
    };
    (expected, got)
}

#[test]
fn model_fixtures_load_or_fail_with_their_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-data/model");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().unwrap() != "base.txt" && p.extension().is_some_and(|e| e == "txt")
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "test cases are missing from {}",
        dir.display()
    );
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let (expected, got) = load_case(case);
        if expected == got {
            continue;
        }
        if update {
            let text = std::fs::read_to_string(case).unwrap();
            let head = &text[..text
                .find("//- expected\n")
                .expect("case has an expected section")
                + "//- expected\n".len()];
            std::fs::write(case, format!("{head}{got}")).unwrap();
        } else {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                case.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(rerun with UPDATE_EXPECT=1 to accept)",
        failures.join("\n")
    );
}

#[test]
fn the_repository_data_loads() {
    let root = crate::repo_root();
    let model = Model::load(&DataDirs::under(&root)).unwrap_or_else(|e| panic!("{e}"));
    // The default coverage the project promises.
    for id in [
        "linux-debian12-x86_64",
        "linux-debian12-i686",
        "linux-debian12-aarch64",
        "linux-debian12-armv7",
        "linux-debian12-powerpc64le",
        "linux-debian12-s390x",
        "linux-debian12-mips64el",
        "linux-debian13-riscv64",
        "freebsd-14.4-x86_64",
        "freebsd-14.4-aarch64",
        "freebsd-14.4-i686",
        "freebsd-15.1-x86_64",
        "freebsd-15.1-aarch64",
        "netbsd-10.1-x86_64",
        "netbsd-10.1-aarch64",
        "netbsd-11.0-x86_64",
        "netbsd-11.0-aarch64",
        "openbsd-7.8-x86_64",
        "openbsd-7.8-aarch64",
        "openbsd-7.9-x86_64",
        "openbsd-7.9-aarch64",
    ] {
        assert!(
            model.platform(id).is_some(),
            "platform {id} is missing from platforms/"
        );
    }
    // platforms/rust/ holds data about platforms, not an OS file.
    assert!(model.oses.iter().all(|o| o.os != "rust"));
    assert!(model.msrv_policy.is_some());
    // Tidy: every platform has a guest recipe.
    for p in &model.platforms {
        assert!(
            p.vm_image.is_some(),
            "{} ({}) has no vm-image",
            p.id,
            p.source
        );
    }
}

#[test]
fn glob_star_matches_any_run_of_characters_and_nothing_else_does() {
    assert!(glob_match("*", "linux-debian12-x86_64"));
    assert!(glob_match("linux-*", "linux-debian12-x86_64"));
    assert!(glob_match("*-x86_64", "freebsd-14.3-x86_64"));
    assert!(glob_match("freebsd-*-a*64", "freebsd-14.3-aarch64"));
    assert!(!glob_match("freebsd-*-a*64", "freebsd-14.3-x86_64"));
    assert!(!glob_match("linux", "linux-debian12-x86_64"));
    assert!(glob_match("a*b*a", "aba"));
    assert!(!glob_match("a*a", "a"));
}

/// A copy of the repository's data in a temporary directory, to vary.
fn copy_of_repo_data() -> (tempfile::TempDir, DataDirs) {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["platforms", "platforms/rust", "matrix", "vm-images"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(crate::repo_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, tmp.path().join(dir).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let dirs = DataDirs::under(tmp.path());
    (tmp, dirs)
}

#[test]
fn rust_files_are_optional() {
    let (_tmp, dirs) = copy_of_repo_data();
    std::fs::remove_dir_all(dirs.rust_dir()).unwrap();
    let model = Model::load(&dirs).unwrap_or_else(|e| panic!("{e}"));
    assert!(model.rust_status.platform.is_empty() && model.msrv_policy.is_none());
}

#[test]
fn rust_file_errors_name_file_and_key() {
    let (_tmp, dirs) = copy_of_repo_data();
    std::fs::write(
        dirs.rust_status(),
        "schema = 1\n[platform.linux-nope-x86_64]\nfetcher = \"debian\"\nchecked = \"2026-11-22T00:00:00Z\"\n\
         [platform.freebsd-14.3-x86_64]\nfetcher = \"debian\"\nchecked = \"yesterday\"\n\
         [[platform.freebsd-14.3-x86_64.package]]\nname = \"rust\"\nversion = \"1.88.0_1\"\nrust = \"1.87.0\"\nchannel = \"latest\"\nsource = \"x\"\nfetched = \"2026-11-22T00:00:00Z\"\n",
    )
    .unwrap();
    std::fs::write(
        dirs.msrv_policy(),
        "[os.linux]\nreleases = \"newest-and-previous\"\nalternatives = true\nwhy = \"x\"\n[os.linux.released]\ndebian12 = \"2023-06-10\"\n\
         [os.plan9]\nreleases = \"all\"\nalternatives = false\nwhy = \"x\"\n[[exception]]\nplatforms = [\"nope-*\"]\nreason = \"\"\n",
    )
    .unwrap();
    let errors = Model::load(&dirs).unwrap_err().to_string();
    expect_test::expect![[r#"
        platforms/rust/status.toml:5: key `platform.freebsd-14.3-x86_64`: unknown field `3-x86_64`, expected one of `fetcher`, `checked`, `stale-since`, `error`, `package`
        platforms/rust/msrv-policy.toml: key `os.linux.grace-years`: is required with `releases = "newest-and-previous"`
        platforms/rust/msrv-policy.toml: key `os.linux.released`: has no date for release `debian13` (from platforms/linux.toml)
        platforms/rust/msrv-policy.toml: key `os.plan9`: no OS `plan9` in platforms/
        platforms/rust/msrv-policy.toml: key `exception[0].reason`: must say why
        platforms/rust/msrv-policy.toml: key `exception[0].platforms[0]`: `nope-*` matches no platform"#]]
    .assert_eq(&errors);
    std::fs::write(dirs.rust_status(), "schema = 1\nsurprise = true\n").unwrap();
    let errors = Model::load(&dirs).unwrap_err().to_string();
    assert!(
        errors.starts_with("platforms/rust/status.toml:") && errors.contains("surprise"),
        "{errors}"
    );
}
