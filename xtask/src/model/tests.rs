//! Data-driven tests of loading: each case in `test-data/model/` overlays
//! files on `base.txt` and states what loading prints.

use std::path::{Path, PathBuf};

use super::{glob_match, DataDirs, Model};

fn load_case(case: &Path) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let expected = crate::testing::write_model_fixture(dir.path(), &std::fs::read_to_string(case).unwrap());
    let got = match Model::load(&DataDirs::under(dir.path())) {
        Ok(model) => format!("ok: {}\n", model.platforms.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")),
        Err(errors) => format!("{errors}\n"),
    };
    (expected, got)
}

#[test]
fn model_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-data/model");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "base.txt" && p.extension().is_some_and(|e| e == "txt"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "test cases are missing from {}", dir.display());
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let (expected, got) = load_case(case);
        if expected == got {
            continue;
        }
        if update {
            let text = std::fs::read_to_string(case).unwrap();
            let head = &text[..text.find("//- expected\n").expect("case has an expected section") + "//- expected\n".len()];
            std::fs::write(case, format!("{head}{got}")).unwrap();
        } else {
            failures.push(format!("{}:\n--- expected\n{expected}--- got\n{got}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}\n(rerun with UPDATE_EXPECT=1 to accept)", failures.join("\n"));
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
        "freebsd-14.3-x86_64",
        "freebsd-14.3-aarch64",
        "freebsd-14.3-i686",
        "netbsd-10.1-x86_64",
        "netbsd-10.1-aarch64",
        "openbsd-7.8-x86_64",
        "openbsd-7.8-aarch64",
    ] {
        assert!(model.platform(id).is_some(), "platform {id} is missing from platforms/");
    }
    // Tidy: every platform has a guest recipe.
    for p in &model.platforms {
        assert!(p.vm_image.is_some(), "{} ({}) has no vm-image", p.id, p.source);
    }
}

#[test]
fn globs() {
    assert!(glob_match("*", "linux-debian12-x86_64"));
    assert!(glob_match("linux-*", "linux-debian12-x86_64"));
    assert!(glob_match("*-x86_64", "freebsd-14.3-x86_64"));
    assert!(glob_match("freebsd-*-a*64", "freebsd-14.3-aarch64"));
    assert!(!glob_match("freebsd-*-a*64", "freebsd-14.3-x86_64"));
    assert!(!glob_match("linux", "linux-debian12-x86_64"));
    assert!(glob_match("a*b*a", "aba"));
    assert!(!glob_match("a*a", "a"));
}
