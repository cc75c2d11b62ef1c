//! Which packaged compiler each platform gets, per policy, from hand-written
//! status data; and what a cell says when the archive lacks a package.

use std::path::Path;

use super::*;
use crate::model::rust_status::{Fetcher, PlatformPackages};
use crate::model::DataDirs;
use crate::toolchain::probe::{FakeTools, Gcc};

fn host() -> Host {
    Host {
        triple: "x86_64-unknown-linux-gnu".into(),
        description: "test host".into(),
        cpus: 2,
    }
}

fn pkg(name: &str, version: &str, channel: &str, alternative: bool) -> PackagedRust {
    let rust = version.split('+').next().unwrap();
    PackagedRust {
        name: name.into(),
        version: version.into(),
        rust: rust.parse().unwrap(),
        alternative,
        channel: channel.into(),
        source: "test".into(),
        fetched: "2026-12-01T00:00:00Z".into(),
    }
}

const R185: &str = "1.85.0+dfsg3-1~deb12u3";
const R196: &str = "1.96.0+dfsg1-1~deb12u2";
const R170: &str = "1.70.0+dfsg1-7~deb12u2";

/// The repository's platforms and policy, with Debian 12's archive as this test says.
fn model() -> Model {
    let mut model = crate::model::load(&DataDirs::under(&crate::repo_root())).unwrap();
    let mut set = |id: &str, packages: Vec<PackagedRust>| {
        model
            .rust_status
            .platform
            .insert(id.into(), checked(packages));
    };
    let default = || pkg("rustc", "1.63.0+dfsg1-2", "bookworm", false);
    set(
        "linux-debian12-x86_64",
        vec![
            default(),
            pkg("rustc-web", R185, "bookworm", true),
            pkg("rustc-web", R196, "bookworm-security", true),
        ],
    );
    set(
        "linux-debian12-aarch64",
        vec![
            default(),
            pkg("rustc-web", R185, "bookworm", true),
            pkg("rustc-web", R196, "bookworm-security", true),
        ],
    );
    set(
        "linux-debian12-s390x",
        vec![default(), pkg("rustc-web", R185, "bookworm", true)],
    );
    set(
        "linux-debian12-mips64el",
        vec![default(), pkg("rustc-web", R170, "bookworm", true)],
    );
    model
}

/// What `platforms refresh` records for a platform whose archive lists `packages`.
fn checked(packages: Vec<PackagedRust>) -> PlatformPackages {
    PlatformPackages {
        fetcher: Fetcher::Debian,
        checked: Some("2026-12-01T00:00:00Z".into()),
        stale_since: None,
        error: None,
        package: packages,
    }
}

fn choose_for(model: &Model, id: &str) -> Result<PackagedSpec, Missing> {
    choose_in(
        model,
        model.platform(id).unwrap(),
        &host(),
        Path::new("/cache"),
    )
}

#[test]
fn each_platform_gets_the_newest_compiler_the_policy_counts() {
    let model = model();
    let summary: Vec<String> = [
        "linux-debian12-x86_64",
        "linux-debian12-aarch64",
        "linux-debian12-s390x",
        "linux-debian12-mips64el",
    ]
    .iter()
    .map(|id| {
        let s = choose_for(&model, id).unwrap();
        format!(
            "{id}: {} ({}) built on {}{} with {}",
            s.label(),
            s.suite,
            s.build_arch,
            s.emulator
                .as_ref()
                .map(|e| format!(" under {e}"))
                .unwrap_or_default(),
            s.std_package_pin()
        )
    })
    .collect();
    expect_test::expect![[r#"
        linux-debian12-x86_64: packaged rustc-web 1.96.0+dfsg1-1~deb12u2 (bookworm) built on amd64 with libstd-rust-web-dev:amd64=1.96.0+dfsg1-1~deb12u2
        linux-debian12-aarch64: packaged rustc-web 1.96.0+dfsg1-1~deb12u2 (bookworm) built on amd64 with libstd-rust-web-dev:arm64=1.96.0+dfsg1-1~deb12u2
        linux-debian12-s390x: packaged rustc-web 1.85.0+dfsg3-1~deb12u3 (bookworm) built on amd64 with libstd-rust-web-dev:s390x=1.85.0+dfsg3-1~deb12u3
        linux-debian12-mips64el: packaged rustc-web 1.70.0+dfsg1-7~deb12u2 (bookworm) built on mips64el under qemu-mips64el-static with libstd-rust-web-dev:mips64el=1.70.0+dfsg1-7~deb12u2"#]]
    .assert_eq(&summary.join("\n"));
    let s = choose_for(&model, "linux-debian12-s390x").unwrap();
    assert_eq!(
        s.root,
        Path::new("/cache/packaged-rust/bookworm/rustc-web-1.85.0+dfsg3-1~deb12u3-amd64")
    );
}

#[test]
fn a_policy_without_alternatives_takes_the_default_compiler() {
    let mut model = model();
    for rule in model.msrv_policy.as_mut().unwrap().os.values_mut() {
        rule.alternatives = false;
    }
    let s = choose_for(&model, "linux-debian12-s390x").unwrap();
    assert_eq!(s.label(), "packaged rustc 1.63.0+dfsg1-2");
    assert_eq!(s.std_package(), "libstd-rust-dev");
    assert_eq!(s.cargo_package(), "cargo");
}

#[test]
fn platforms_without_data_or_debian_packages_say_why() {
    let mut model = model();
    model.rust_status.platform.remove("linux-debian12-armv7");
    let missing = choose_for(&model, "linux-debian12-armv7").unwrap_err();
    assert_eq!(
        missing.reason,
        "platforms/rust/status.toml records no packaged Rust for linux-debian12-armv7"
    );
    let bsd = model
        .platforms
        .iter()
        .find(|p| p.os == "freebsd")
        .unwrap()
        .clone();
    let missing = choose_in(&model, &bsd, &host(), Path::new("/cache")).unwrap_err();
    assert!(
        missing.reason.contains("`pkg install -y rust`"),
        "{}",
        missing.reason
    );
}

fn tools(distro: &str) -> FakeTools {
    let mut tools = FakeTools {
        distro_package: Some(("rustc-web".into(), distro.into())),
        ..FakeTools::default()
    };
    tools.emulators.insert(
        "qemu-s390x-static".into(),
        "/usr/bin/qemu-s390x-static".into(),
    );
    for gnu in ["aarch64-linux-gnu", "s390x-linux-gnu"] {
        tools.gcc.insert(
            gnu.into(),
            Gcc {
                path: format!("/usr/bin/{gnu}-gcc").into(),
                version: format!("{gnu}-gcc 12"),
            },
        );
    }
    tools
}

#[test]
fn prebuilt_std_needs_exactly_the_host_compilers_version() {
    let model = model();
    let tools = tools(R196);
    let arm64 = model.platform("linux-debian12-aarch64").unwrap();
    let spec = choose_std(&model, arm64, &host(), &tools).unwrap();
    assert_eq!(
        spec.std_package_pin(),
        "libstd-rust-web-dev:arm64=1.96.0+dfsg1-1~deb12u2"
    );
    let toolchain = toolchain(&spec, ToolchainKind::PackagedStd, arm64, &host(), &tools).unwrap();
    assert!(toolchain.cargo_args.is_empty(), "no build-std");
    assert_eq!(
        toolchain.details["std"],
        "prebuilt: libstd-rust-web-dev:arm64 1.96.0+dfsg1-1~deb12u2 (Debian bookworm), no build-std"
    );
    // s390x packages 1.85 only: no std matches the host's 1.96, and the cell says which package is missing.
    let s390x = model.platform("linux-debian12-s390x").unwrap();
    let missing = choose_std(&model, s390x, &host(), &tools).unwrap_err();
    assert_eq!(
        missing.reason,
        "the archive has no libstd-rust-web-dev:s390x 1.96.0+dfsg1-1~deb12u2 to match this host's rustc-web 1.96.0+dfsg1-1~deb12u2 (platforms/rust/status.toml: s390x has rustc-web 1.85.0+dfsg3-1~deb12u3 (bookworm), 1.96.0+dfsg1-1~deb13u1+b1 (trixie))"
    );
    // Resolution falls through to build-std, as the platform lists it next.
    let resolved = crate::toolchain::resolve_in(&model, s390x, &host(), &tools);
    assert!(
        resolved.as_ref().is_err_and(|m| m
            .reason
            .contains("packaged-std: the archive has no libstd-rust-web-dev:s390x")),
        "{resolved:?}"
    );
}

#[test]
fn the_packaged_toolchain_names_its_compiler_and_how_it_runs() {
    let model = model();
    let tools = tools(R196);
    let s390x = model.platform("linux-debian12-s390x").unwrap();
    let spec = choose_for(&model, "linux-debian12-s390x").unwrap();
    let t = toolchain(&spec, ToolchainKind::Packaged, s390x, &host(), &tools).unwrap();
    assert_eq!(
        t.details["packaged"],
        "packaged rustc-web 1.85.0+dfsg3-1~deb12u3"
    );
    assert_eq!(
        t.rustc_version,
        "rustc 1.85.0 (Debian rustc-web 1.85.0+dfsg3-1~deb12u3)"
    );
    assert!(t
        .env
        .iter()
        .any(|(k, v)| k == "LD_LIBRARY_PATH" && v.contains("x86_64-linux-gnu")));
    assert!(t
        .env
        .iter()
        .any(|(k, v)| k == "CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_LINKER"
            && v == "/usr/bin/s390x-linux-gnu-gcc"));
}

#[test]
fn one_compiler_package_for_two_lanes_builds_in_one_directory() {
    // arm64's cross cell (the host's rustc-web with arm64's packaged std) and
    // its packaged cell (the same rustc-web, unpacked, with the same std) are
    // one toolchain: one build directory, so the second cell's cargo finds
    // everything built. Each still names the compiler package that built it.
    let model = model();
    let tools = tools(R196);
    let arm64 = model.platform("linux-debian12-aarch64").unwrap();
    let cross = choose_std(&model, arm64, &host(), &tools).unwrap();
    let cross = toolchain(&cross, ToolchainKind::PackagedStd, arm64, &host(), &tools).unwrap();
    let own = choose(&model, arm64, &host()).unwrap();
    let own = toolchain(&own, ToolchainKind::Packaged, arm64, &host(), &tools).unwrap();
    assert_eq!(cross.target_dir_name, own.target_dir_name);
    assert_eq!(
        (&cross.cargo, &cross.env, &cross.cargo_args, &cross.identity),
        (&own.cargo, &own.env, &own.cargo_args, &own.identity)
    );
    assert_eq!(
        own.details["packaged"],
        "packaged rustc-web 1.96.0+dfsg1-1~deb12u2"
    );
    // s390x's packaged 1.85 is another compiler: another directory.
    let s390x = model.platform("linux-debian12-s390x").unwrap();
    let old = choose(&model, s390x, &host()).unwrap();
    let old = toolchain(&old, ToolchainKind::Packaged, s390x, &host(), &tools).unwrap();
    assert_ne!(old.target_dir_name, own.target_dir_name);
}

#[test]
fn only_a_newer_release_libc_is_brought_along() {
    // Debian 13's libc6 on a Debian 12 host (glibc 2.36): needed.
    assert!(needs_own_libc("2.36", "2.41-12+deb13u5"));
    assert!(needs_own_libc("2.36", "2.37-1"));
    // The host's own release, or an older one: the host's glibc serves.
    assert!(!needs_own_libc("2.36", "2.36-9+deb12u14"));
    assert!(!needs_own_libc("2.41", "2.36-9+deb12u14"));
    // Numerically, not as text.
    assert!(needs_own_libc("2.9", "2.10-1"));
    assert!(!needs_own_libc("2.10", "2.9-1"));
    // What cannot be read changes nothing.
    assert!(!needs_own_libc("", "2.41-12"));
    assert!(!needs_own_libc("2.36", "unknown"));
}

#[test]
fn a_compiler_of_another_release_runs_from_its_scripts() {
    let model = model();
    let tools = tools(R196);
    let x86 = model.platform("linux-debian12-x86_64").unwrap();
    let own = choose(&model, x86, &host()).unwrap();
    let host_suite = crate::apt::host_codename().expect("a Debian host");
    // The host's own release: run directly, its libraries on LD_LIBRARY_PATH.
    let direct = PackagedSpec {
        suite: host_suite.clone(),
        ..own.clone()
    };
    assert!(!direct.wrapped());
    let t = toolchain(&direct, ToolchainKind::Packaged, x86, &host(), &tools).unwrap();
    assert_eq!(
        t.cargo,
        [direct.root.join("usr/bin/cargo").display().to_string()]
    );
    assert!(t.env.iter().any(|(k, _)| k == "LD_LIBRARY_PATH"));
    // Another release: cargo and rustc are the scripts beside the root, and
    // cargo's environment carries none of the compiler's libraries (build
    // scripts and the host's linker run on the host's C library).
    let other = PackagedSpec {
        suite: format!("{host_suite}-other"),
        ..own
    };
    assert!(other.wrapped());
    let t = toolchain(&other, ToolchainKind::Packaged, x86, &host(), &tools).unwrap();
    assert_eq!(t.cargo, [other.cargo_wrapper().display().to_string()]);
    assert_eq!(t.rustc, other.rustc_wrapper());
    assert!(t
        .env
        .iter()
        .any(|(k, v)| k == "RUSTC" && *v == other.rustc_wrapper().display().to_string()));
    assert!(
        !t.env.iter().any(|(k, _)| k == "LD_LIBRARY_PATH"),
        "{:?}",
        t.env
    );
    // An emulated compiler keeps its own script, never these.
    let s390x = model.platform("linux-debian12-s390x").unwrap();
    let emulated = PackagedSpec {
        suite: format!("{host_suite}-other"),
        emulator: Some("qemu-s390x-static".into()),
        ..choose(&model, s390x, &host()).unwrap()
    };
    assert!(!emulated.wrapped());
}

#[test]
fn a_release_that_lists_its_own_compiler_first_builds_its_cross_cells_with_it() {
    // Debian 13's platforms list `packaged` first: trixie's rustc-web, run on
    // this host, with each architecture's trixie std. The cross cell and the
    // packaged cell are then one toolchain, one build directory.
    const R13: &str = "1.96.0+dfsg1-1~deb13u1+b1";
    let mut model = model();
    for id in [
        "linux-debian13-x86_64",
        "linux-debian13-aarch64",
        "linux-debian13-s390x",
    ] {
        model.rust_status.platform.insert(
            id.into(),
            checked(vec![
                pkg("rustc", "1.85.1+dfsg1-1", "trixie", false),
                pkg("rustc-web", R13, "trixie", true),
            ]),
        );
    }
    let tools = tools(R196);
    let arm64 = model.platform("linux-debian13-aarch64").unwrap();
    assert_eq!(arm64.toolchains[0], ToolchainKind::Packaged);
    let cross = crate::toolchain::resolve_in(&model, arm64, &host(), &tools).unwrap();
    let own = crate::toolchain::resolve_packaged(&model, arm64, &host(), &tools).unwrap();
    assert_eq!(cross.kind, ToolchainKind::Packaged);
    assert_eq!(
        (&cross.target_dir_name, &cross.identity, &cross.cargo),
        (&own.target_dir_name, &own.identity, &own.cargo)
    );
    assert_eq!(
        cross.details["std"],
        format!("prebuilt: libstd-rust-web-dev:arm64 {R13} (Debian trixie), no build-std")
    );
    // Debian 12's aarch64 keeps the host compiler with a matching std.
    let bookworm = model.platform("linux-debian12-aarch64").unwrap();
    let t = crate::toolchain::resolve_in(&model, bookworm, &host(), &tools).unwrap();
    assert_eq!(t.kind, ToolchainKind::PackagedStd);
    // A release compiler this host can only emulate is the packaged lane's
    // alone: the cross cell takes the next provider, and says why not this one.
    model
        .rust_status
        .platform
        .get_mut("linux-debian13-x86_64")
        .unwrap()
        .package
        .retain(|p| p.name != "rustc-web");
    let s390x = model.platform("linux-debian13-s390x").unwrap();
    let resolved = crate::toolchain::resolve_in(&model, s390x, &host(), &tools);
    assert!(
        resolved.as_ref().is_err_and(|m| m.reason.contains(&format!(
            "packaged: rustc-web {R13} runs only under qemu-s390x-static here (the packaged lane builds with it)"
        ))),
        "{resolved:?}"
    );
    // Without the emulator, the packaged lane itself says what to install.
    let mut bare = tools;
    bare.emulators.clear();
    let packaged = crate::toolchain::resolve_packaged(&model, s390x, &host(), &bare);
    assert!(
        packaged
            .as_ref()
            .is_err_and(|m| m.reason == "qemu-s390x-static is not on PATH"
                && m.enable
                    == Some(crate::requirements::EnableHint::setup(
                        "apt-get install --no-install-recommends qemu-user-static"
                    ))),
        "{packaged:?}"
    );
}
