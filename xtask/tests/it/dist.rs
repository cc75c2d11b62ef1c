//! `cargo xtask dist`: back-ends are found from the workspace's descriptor
//! files, laid out as QEMU's discovery convention (docs/interop/
//! vhost-user.json) has management software search, with every descriptor
//! field checked against that schema.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use xtask::dist::{
    check, discover, install, plan, search, staged, Descriptor, Install, DESCRIPTOR_DIR,
};
use xtask::workspace::Workspace;

fn this_workspace() -> Workspace {
    Workspace::load(&xtask::repo_root()).unwrap()
}

#[test]
fn every_back_end_program_of_the_workspace_is_found_by_its_descriptor() {
    let ws = this_workspace();
    let backends = discover(&ws).unwrap();
    let programs: Vec<&str> = backends.iter().map(|b| b.program.as_str()).collect();
    for known in ["vhost-user-blk", "vhost-user-input", "vhost-user-rng"] {
        assert!(programs.contains(&known), "{known} in {programs:?}");
    }
    // A program named like a back-end ships a descriptor, so it is shipped.
    for p in &ws.packages {
        for bin in p.bins.iter().filter(|b| b.starts_with("vhost-user-")) {
            assert!(
                programs.contains(&bin.as_str()),
                "{bin} ({}) has no NN-{bin}.json descriptor beside its Cargo.toml",
                p.name
            );
        }
    }
    for b in &backends {
        assert_eq!(b.file_name, format!("50-{}.json", b.program));
        assert_eq!(b.descriptor.binary, format!("/usr/libexec/{}", b.program));
    }
}

#[test]
fn descriptors_are_held_to_qemus_schema_naming_the_file_and_key() {
    let f = Path::new("crates/x/50-x.json");
    for (text, says) in [
        (
            r#"{"description":"d","type":"block","binary":"/b","extra":1}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"description":"d","type":"disk","binary":"/b"}"#,
            "key `type`: `disk` is not a QEMU vhost-user back-end type",
        ),
        (
            r#"{"description":"d","type":"block","binary":"b"}"#,
            "key `binary`: `b` is not an absolute path",
        ),
        (
            r#"{"type":"block","binary":"/b"}"#,
            "missing field `description`",
        ),
        (
            r#"{"description":"d","type":"block","binary":"/b","tags":"t"}"#,
            "key `tags`",
        ),
    ] {
        let e = format!("{:#}", Descriptor::parse(text, f).unwrap_err());
        assert!(
            e.contains("crates/x/50-x.json") && e.contains(says),
            "{text}: {e}"
        );
    }
    let ok = Descriptor::parse(
        r#"{"description":"d","type":"gpu","binary":"/b","tags":["x"]}"#,
        f,
    )
    .unwrap();
    assert_eq!(ok.tags, Some(vec!["x".to_string()]));
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn search_follows_qemus_precedence_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (usr, etc, user) = (
        dir.path().join("usr"),
        dir.path().join("etc"),
        dir.path().join("user"),
    );
    let d = |kind: &str, bin: &str| {
        format!(r#"{{"description":"d","type":"{kind}","binary":"{bin}"}}"#)
    };
    write(&usr.join("50-a.json"), &d("block", "/usr/a"));
    write(&usr.join("50-b.json"), &d("gpu", "/usr/b"));
    write(&usr.join("60-c.json"), &d("rng", "/usr/c"));
    // The sysadmin replaces a, hides b; the user adds a higher-priority rng.
    write(&etc.join("50-a.json"), &d("block", "/etc/a"));
    write(&etc.join("50-b.json"), "");
    write(&user.join("10-c.json"), &d("rng", "/home/c"));
    let found = search(&[usr, etc, user]).unwrap();
    let shown: Vec<String> = found
        .iter()
        .map(|(k, (_, d))| format!("{k} {}", d.binary))
        .collect();
    assert_eq!(shown, ["block /etc/a", "rng /home/c"]);
}

/// Stand-ins for the built programs: they print the capabilities their
/// descriptor's type calls for.
fn fake_built(dir: &Path, ws: &Workspace) -> PathBuf {
    let built = dir.join("built");
    for b in discover(ws).unwrap() {
        let p = built.join(&b.program);
        write(
            &p,
            &format!(
                "#!/bin/sh\necho '{{\"type\": \"{}\"}}'\n",
                b.descriptor.kind
            ),
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    built
}

#[test]
fn the_layout_is_what_qemus_discovery_finds_with_installed_paths() {
    let ws = this_workspace();
    let backends = discover(&ws).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let built = fake_built(dir.path(), &ws);
    let destdir = dir.path().join("stage");
    let prefix = Path::new("/usr");
    let installs = plan(&backends, &built, &destdir, prefix, Path::new("libexec")).unwrap();
    install(&installs).unwrap();
    let descriptors = staged(&destdir, prefix).join(DESCRIPTOR_DIR);
    assert_eq!(descriptors, destdir.join("usr/share/qemu/vhost-user"));
    for b in &backends {
        let text = std::fs::read_to_string(descriptors.join(&b.file_name)).unwrap();
        let d = Descriptor::parse(&text, Path::new(&b.file_name)).unwrap();
        assert_eq!(d.binary, format!("/usr/libexec/{}", b.program));
        assert_eq!(
            (d.kind.as_str(), &d.description),
            (b.descriptor.kind.as_str(), &b.descriptor.description)
        );
        let mode = std::fs::metadata(destdir.join("usr/libexec").join(&b.program))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
    // Found by type, the programs' own capabilities agreeing.
    let lines = check(&destdir, prefix, &backends).unwrap();
    assert_eq!(lines.len(), backends.len(), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "50-vhost-user-input.json → /usr/libexec/vhost-user-input (input)"),
        "{lines:?}"
    );
    // Exactly these files: nothing else is shipped.
    assert_eq!(installs.len(), 2 * backends.len());
    assert!(installs
        .iter()
        .all(|i| matches!(i, Install::Program { .. } | Install::Descriptor { .. })));
}

#[test]
fn a_relative_prefix_or_an_absolute_bindir_is_refused() {
    let ws = this_workspace();
    let backends = discover(&ws).unwrap();
    let d = Path::new("/tmp/x");
    let e = plan(&backends, d, d, Path::new("usr"), Path::new("libexec")).unwrap_err();
    assert!(
        e.to_string()
            .contains("--prefix usr is not an absolute path"),
        "{e}"
    );
    let e = plan(&backends, d, d, Path::new("/usr"), Path::new("/bin")).unwrap_err();
    assert!(
        e.to_string().contains("--bindir /bin must be relative"),
        "{e}"
    );
}

#[test]
#[ignore = "slow: builds every back-end in release mode; run with `cargo xtask test`"]
fn cargo_xtask_dist_ships_release_programs_that_report_their_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("opt");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "dist",
            "--destdir",
            "/",
            "--prefix",
        ])
        .arg(&prefix)
        .current_dir(xtask::repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The descriptors name the real programs, which run where they are.
    let found = search(&[prefix.join(DESCRIPTOR_DIR)]).unwrap();
    for kind in ["block", "input", "rng"] {
        let (_, d) = &found[kind];
        assert!(
            d.binary.starts_with(&prefix.display().to_string()),
            "{}",
            d.binary
        );
        let caps = std::process::Command::new(&d.binary)
            .arg("--print-capabilities")
            .output()
            .unwrap();
        let caps: serde_json::Value = serde_json::from_slice(&caps.stdout).unwrap();
        assert_eq!(caps["type"], kind);
    }
    assert!(stdout.contains("back-ends under"), "{stdout}");
}
