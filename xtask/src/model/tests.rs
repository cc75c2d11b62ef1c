//! The model's loading and checks, against the repository's own data and small variations of it.

use super::*;

fn repo_dirs() -> DataDirs {
    DataDirs::under(&crate::repo_root())
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
fn the_repository_data_loads() {
    let model = Model::load(&repo_dirs()).unwrap_or_else(|e| panic!("{e}"));
    assert!(model
        .platforms
        .iter()
        .any(|p| p.id == "linux-debian12-x86_64"));
    // platforms/rust/ is not an OS file.
    assert!(model.oses.iter().all(|o| o.os != "rust"));
    assert!(model.msrv_policy.is_some());
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
