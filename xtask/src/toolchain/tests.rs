//! Which provider and linker win, given what the host has: hand-written host
//! facts in, the resolved toolchain (or the reason and enable step) out.

use std::path::PathBuf;

use super::probe::{Compiler, FakeTools, Gcc, RustSrc, Zig};
use super::*;
use crate::model::DataDirs;

fn platform(id: &str) -> Platform {
    let model = crate::model::load(&DataDirs::under(&crate::repo_root())).unwrap();
    model
        .platform(id)
        .unwrap_or_else(|| panic!("no platform {id}"))
        .clone()
}

fn host() -> Host {
    Host {
        triple: "x86_64-unknown-linux-gnu".into(),
        description: "test host".into(),
        cpus: 2,
    }
}

fn compiler(rustc: &str, release: &str, std: &[&str], src: Result<&str, &str>) -> Compiler {
    let sysroot = PathBuf::from(rustc)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    Compiler {
        rustc: rustc.into(),
        cargo: PathBuf::from(rustc).with_file_name("cargo"),
        origin: "test".into(),
        identity: format!("rustc {release}\nrelease: {release}\n"),
        rustc_version: format!("rustc {release}"),
        cargo_version: format!("cargo {release}"),
        sysroot: sysroot.clone(),
        installed_std: std.iter().map(|s| s.to_string()).collect(),
        rust_src: src
            .map(|evidence| RustSrc {
                path: sysroot.join("lib/rustlib/src/rust"),
                evidence: evidence.into(),
            })
            .map_err(str::to_string),
    }
}

fn rustup() -> Compiler {
    compiler(
        "/home/u/.rustup/toolchains/stable/bin/rustc",
        "1.95.0",
        &["x86_64-unknown-linux-gnu"],
        Err("no rust-src at …"),
    )
}

fn debian() -> Compiler {
    compiler(
        "/usr/bin/rustc",
        "1.96.0",
        &["x86_64-unknown-linux-gnu"],
        Ok("src/version says 1.96.0"),
    )
}

fn zig() -> Zig {
    Zig {
        cargo_zigbuild: "/home/u/.cargo/bin/cargo-zigbuild".into(),
        cargo_zigbuild_version: "cargo-zigbuild 0.24.1".into(),
        zig_command: "python3 -m ziglang".into(),
        zig_version: "0.17.0".into(),
        env: Vec::new(),
    }
}

fn gcc(gnu: &str) -> (String, Gcc) {
    (
        gnu.to_string(),
        Gcc {
            path: format!("/usr/bin/{gnu}-gcc").into(),
            version: format!("{gnu}-gcc (Debian 12.2.0-14) 12.2.0"),
        },
    )
}

fn describe(result: Result<Toolchain, Missing>) -> String {
    match result {
        Ok(t) => format!(
            "{} + {}: {} {} {}\n    env {}\n    dir {}; {}",
            t.kind.as_str(),
            t.linker.as_str(),
            t.cargo.join(" "),
            t.build_subcommand,
            t.cargo_args.join(" "),
            t.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            t.target_dir_name,
            t.details
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Err(m) => format!(
            "UNAVAILABLE {}\n    enable: {}",
            m.reason,
            m.enable
                .as_ref()
                .map_or("-".to_string(), ToString::to_string)
        ),
    }
}

#[test]
fn providers_and_linkers_resolve_to_the_first_this_host_has() {
    let everything = FakeTools {
        default_compiler: Some(rustup()),
        build_std: vec![rustup(), debian()],
        rustup_targets: Some(vec![
            "aarch64-unknown-linux-gnu".into(),
            "x86_64-unknown-freebsd".into(),
        ]),
        zig: Some(zig()),
        gcc: [gcc("aarch64-linux-gnu")].into_iter().collect(),
        ..FakeTools::default()
    };
    let no_zig = FakeTools {
        default_compiler: Some(rustup()),
        build_std: vec![rustup(), debian()],
        ..FakeTools::default()
    };
    let src_mismatch = FakeTools {
        default_compiler: Some(rustup()),
        build_std: vec![
            rustup(),
            compiler(
                "/usr/bin/rustc",
                "1.96.0",
                &[],
                Err("rust-src at /usr/lib/rustlib/src/rust is 1.95.0, the compiler is 1.96.0"),
            ),
        ],
        rustup_targets: Some(vec!["x86_64-unknown-freebsd".into()]),
        zig: Some(zig()),
        ..FakeTools::default()
    };
    let rustup_has_aarch64 = FakeTools {
        default_compiler: Some(compiler(
            "/home/u/.rustup/toolchains/stable/bin/rustc",
            "1.95.0",
            &["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"],
            Err("no rust-src"),
        )),
        zig: Some(zig()),
        gcc: [gcc("aarch64-linux-gnu")].into_iter().collect(),
        ..FakeTools::default()
    };
    let mut cross_rs_first = platform("linux-debian12-s390x");
    cross_rs_first.toolchains = vec![ToolchainKind::CrossRs];
    let engine = FakeTools {
        default_compiler: Some(rustup()),
        container: Some("podman 4.3.1".into()),
        cross: Some("/home/u/.cargo/bin/cross".into()),
        ..FakeTools::default()
    };
    let engine_without_cross = FakeTools {
        cross: None,
        ..FakeTools {
            container: Some("docker 24.0".into()),
            ..FakeTools::default()
        }
    };

    let cases: Vec<(&str, Platform, &FakeTools)> = vec![
        (
            "BSD: build-std with zig",
            platform("freebsd-14.4-x86_64"),
            &everything,
        ),
        ("BSD: no zig", platform("freebsd-14.4-aarch64"), &no_zig),
        (
            "BSD: rust-src does not match",
            platform("openbsd-7.8-x86_64"),
            &src_mismatch,
        ),
        (
            "Linux: gcc first",
            platform("linux-debian12-aarch64"),
            &everything,
        ),
        (
            "Linux: no gcc, zig next",
            platform("linux-debian12-s390x"),
            &everything,
        ),
        (
            "Linux: rustup has the std",
            platform("linux-debian12-aarch64"),
            &rustup_has_aarch64,
        ),
        ("cross-rs, no engine", cross_rs_first.clone(), &everything),
        (
            "cross-rs, engine without cross",
            cross_rs_first.clone(),
            &engine_without_cross,
        ),
        ("cross-rs", cross_rs_first, &engine),
    ];
    let out: Vec<String> = cases
        .into_iter()
        .map(|(what, p, tools)| {
            format!(
                "{what} ({}):\n  {}",
                p.target,
                describe(resolve(&p, &host(), tools))
            )
        })
        .collect();
    expect_test::expect![[r#"
        BSD: build-std with zig (x86_64-unknown-freebsd):
          build-std + zig: /home/u/.cargo/bin/cargo-zigbuild zigbuild -Zbuild-std=std,panic_abort
            env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO=/usr/bin/cargo
            dir build-std-zig-x86_64-unknown-freebsd; linker-version: zig 0.17.0 (python3 -m ziglang) via cargo-zigbuild 0.24.1; std: built from source (std,panic_abort) from /usr/lib/rustlib/src/rust (src/version says 1.96.0); zig-target: x86_64-freebsd (zig's default FreeBSD release)
        BSD: no zig (aarch64-unknown-freebsd):
          UNAVAILABLE no toolchain for aarch64-unknown-freebsd: rustup-target: rustc 1.95.0 has no std for aarch64-unknown-freebsd; build-std: no linker for aarch64-unknown-freebsd: zig — cargo-zigbuild is not on PATH
            enable: cargo xtask setup
        BSD: rust-src does not match (x86_64-unknown-openbsd):
          UNAVAILABLE no toolchain for x86_64-unknown-openbsd: rustup-target: rustc 1.95.0 has no std for x86_64-unknown-openbsd; rustup ships no std for it; build-std: no compiler with matching std sources (rustc 1.95.0 at /home/u/.rustup/toolchains/stable/bin/rustc: no rust-src at …; rustc 1.96.0 at /usr/bin/rustc: rust-src at /usr/lib/rustlib/src/rust is 1.95.0, the compiler is 1.96.0)
            enable: `cargo xtask setup` (or: apt-get install --no-install-recommends rustc-web cargo-web rust-web-src)
        Linux: gcc first (aarch64-unknown-linux-gnu):
          build-std + gcc: /usr/bin/cargo build -Zbuild-std=std,panic_abort
            env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=/usr/bin/aarch64-linux-gnu-gcc
            dir build-std-gcc-aarch64-unknown-linux-gnu; linker-version: aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0; std: built from source (std,panic_abort) from /usr/lib/rustlib/src/rust (src/version says 1.96.0)
        Linux: no gcc, zig next (s390x-unknown-linux-gnu):
          build-std + zig: /home/u/.cargo/bin/cargo-zigbuild zigbuild -Zbuild-std=std,panic_abort
            env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO=/usr/bin/cargo
            dir build-std-zig-s390x-unknown-linux-gnu; linker-version: zig 0.17.0 (python3 -m ziglang) via cargo-zigbuild 0.24.1; std: built from source (std,panic_abort) from /usr/lib/rustlib/src/rust (src/version says 1.96.0); zig-target: s390x-linux-gnu (zig's default glibc)
        Linux: rustup has the std (aarch64-unknown-linux-gnu):
          rustup-target + gcc: /home/u/.rustup/toolchains/stable/bin/cargo build 
            env RUSTC=/home/u/.rustup/toolchains/stable/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=/usr/bin/aarch64-linux-gnu-gcc
            dir rustup-gcc-aarch64-unknown-linux-gnu; linker-version: aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0; std: installed by rustup in /home/u/.rustup/toolchains/stable
        cross-rs, no engine (s390x-unknown-linux-gnu):
          UNAVAILABLE no toolchain for s390x-unknown-linux-gnu: cross-rs: no container engine (neither docker nor podman is on PATH)
            enable: install and start Docker or Podman (cross-rs runs every build in a container), then `cargo install cross --locked`
        cross-rs, engine without cross (s390x-unknown-linux-gnu):
          UNAVAILABLE no toolchain for s390x-unknown-linux-gnu: cross-rs: docker 24.0 answers but `cross` is not on PATH
            enable: cargo install cross --locked
        cross-rs (s390x-unknown-linux-gnu):
          cross-rs + gcc: /home/u/.cargo/bin/cross build 
            env CROSS_CONTAINER_ENGINE=podman
            dir cross-rs-s390x-unknown-linux-gnu; container-engine: podman 4.3.1; linker-version: the cross-rs image's"#]].assert_eq(&out.join("\n"));
}

#[test]
fn setup_steps_follow_the_platform_data() {
    let model = crate::model::load(&DataDirs::under(&crate::repo_root())).unwrap();
    let steps: Vec<String> = setup_steps(&model)
        .iter()
        .map(|s| format!("{}: {:?}", s.needed_by, s.requirement))
        .collect();
    expect_test::expect![[r#"
        build-std: Apt([AptPackage { name: "rustc-web", at_suite_version: false }, AptPackage { name: "cargo-web", at_suite_version: false }, AptPackage { name: "rust-web-src", at_suite_version: false }])
        gcc: Apt([AptPackage { name: "gcc-aarch64-linux-gnu", at_suite_version: false }, AptPackage { name: "libc6-dev-arm64-cross", at_suite_version: false }, AptPackage { name: "gcc-arm-linux-gnueabihf", at_suite_version: false }, AptPackage { name: "libc6-dev-armhf-cross", at_suite_version: false }, AptPackage { name: "gcc-i686-linux-gnu", at_suite_version: false }, AptPackage { name: "libc6-dev-i386-cross", at_suite_version: false }, AptPackage { name: "gcc-mips64el-linux-gnuabi64", at_suite_version: false }, AptPackage { name: "libc6-dev-mips64el-cross", at_suite_version: false }, AptPackage { name: "gcc-powerpc64le-linux-gnu", at_suite_version: false }, AptPackage { name: "libc6-dev-ppc64el-cross", at_suite_version: false }, AptPackage { name: "gcc-s390x-linux-gnu", at_suite_version: false }, AptPackage { name: "libc6-dev-s390x-cross", at_suite_version: false }, AptPackage { name: "gcc-riscv64-linux-gnu", at_suite_version: false }, AptPackage { name: "libc6-dev-riscv64-cross", at_suite_version: false }])
        zig: Pip { module: "ziglang", package: "ziglang", version: "0.17.0" }
        zig: CargoInstall { krate: "cargo-zigbuild", version: "0.24.1" }"#]].assert_eq(&steps.join("\n"));
}
