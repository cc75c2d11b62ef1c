//! Linker providers: what links a target's executables once a compiler and
//! std are found — the host's own cc, a Debian cross gcc, or Zig through
//! cargo-zigbuild — in the order the platform lists them.

use std::collections::BTreeMap;
use std::str::FromStr;

use target_lexicon::{Architecture, OperatingSystem, Triple};

use super::probe::{Compiler, HostTools};
use super::Missing;
use crate::host::Host;
use crate::model::{LinkerKind, Platform};

/// How cargo is run to link for a target.
#[derive(Debug, Clone)]
pub struct LinkerChoice {
    pub kind: LinkerKind,
    /// cargo-zigbuild stands in for cargo: (program, subcommand that builds).
    pub cargo_program: Option<(String, String)>,
    pub env: Vec<(String, String)>,
    /// For the cell's provenance.
    pub details: BTreeMap<String, String>,
}

/// How a provider runs cargo with one compiler and this linker.
pub struct CargoInvocation {
    /// `cargo`, or cargo-zigbuild standing in for it.
    pub cargo: Vec<String>,
    /// `build`, or cargo-zigbuild's `zigbuild`.
    pub build_subcommand: String,
    pub env: Vec<(String, String)>,
}

impl LinkerChoice {
    /// Cargo for `compiler` linking this way: `RUSTC` names the compiler,
    /// `env` follows, then the linker's own variables.
    pub fn cargo_for(&self, compiler: &Compiler, env: &[(&str, &str)]) -> CargoInvocation {
        let (cargo, build_subcommand) = match &self.cargo_program {
            Some((program, sub)) => (vec![program.clone()], sub.clone()),
            None => (
                vec![compiler.cargo.display().to_string()],
                "build".to_string(),
            ),
        };
        let mut all = vec![("RUSTC".to_string(), compiler.rustc.display().to_string())];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if self.cargo_program.is_some() {
            // cargo-zigbuild runs the cargo named here, not the first on PATH.
            all.push(("CARGO".into(), compiler.cargo.display().to_string()));
        }
        all.extend(self.env.iter().cloned());
        CargoInvocation {
            cargo,
            build_subcommand,
            env: all,
        }
    }
}

pub fn resolve(
    platform: &Platform,
    host: &Host,
    tools: &dyn HostTools,
) -> Result<LinkerChoice, Missing> {
    let mut missing = Vec::new();
    for &kind in &platform.linkers {
        let attempt = match kind {
            LinkerKind::Native => native(platform, host),
            LinkerKind::Gcc => gcc(platform, tools),
            LinkerKind::Zig => zig(platform, tools),
        };
        match attempt {
            Ok(choice) => return Ok(choice),
            Err(why) => missing.push((kind, why)),
        }
    }
    if missing.is_empty() {
        return Err(Missing::new(
            format!("{} lists no linker", platform.source),
            None,
        ));
    }
    Err(Missing {
        reason: format!(
            "no linker for {}: {}",
            platform.target,
            missing
                .iter()
                .map(|(k, m)| format!("{} — {}", k.as_str(), m.reason))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        enable: missing.iter().find_map(|(_, m)| m.enable.clone()),
    })
}

fn native(platform: &Platform, host: &Host) -> Result<LinkerChoice, Missing> {
    if platform.target != host.triple {
        return Err(Missing::new(
            format!("the host's cc links only {}", host.triple),
            None,
        ));
    }
    let mut details = BTreeMap::new();
    details.insert("linker-version".into(), "the host's cc".into());
    Ok(LinkerChoice {
        kind: LinkerKind::Native,
        cargo_program: None,
        env: Vec::new(),
        details,
    })
}

fn gcc(platform: &Platform, tools: &dyn HostTools) -> Result<LinkerChoice, Missing> {
    let triple = Triple::from_str(&platform.target)
        .map_err(|e| Missing::new(format!("bad target: {e}"), None))?;
    if triple.operating_system != OperatingSystem::Linux {
        return Err(Missing::new(
            "Debian's cross gcc links Linux targets only",
            None,
        ));
    }
    let gnu = gnu_triple(&triple);
    let packages = gcc_packages(platform).join(" ");
    let found = tools.gcc(&gnu).map_err(|why| {
        Missing::until_setup(
            why,
            format!("apt-get install --no-install-recommends {packages}"),
        )
    })?;
    let mut details = BTreeMap::new();
    details.insert("linker-version".into(), found.version.clone());
    Ok(LinkerChoice {
        kind: LinkerKind::Gcc,
        cargo_program: None,
        env: vec![(
            linker_env_var(&platform.target),
            found.path.display().to_string(),
        )],
        details,
    })
}

fn zig(platform: &Platform, tools: &dyn HostTools) -> Result<LinkerChoice, Missing> {
    let triple = Triple::from_str(&platform.target)
        .map_err(|e| Missing::new(format!("bad target: {e}"), None))?;
    let os = match triple.operating_system {
        OperatingSystem::Linux
        | OperatingSystem::Freebsd
        | OperatingSystem::Netbsd
        | OperatingSystem::Openbsd => triple.operating_system.to_string(),
        other => {
            return Err(Missing::new(
                format!("this project links {other} targets with zig only for ELF systems"),
                None,
            ))
        }
    };
    let zig = tools.zig()?;
    let mut details = BTreeMap::new();
    details.insert(
        "linker-version".into(),
        format!(
            "zig {} ({}) via {}",
            zig.zig_version, zig.zig_command, zig.cargo_zigbuild_version
        ),
    );
    // cargo-zigbuild passes no OS version for BSD targets, so zig links
    // against its own default release of that OS; the build reads the
    // release back from each executable's ABI note.
    let zig_arch = match (&triple.architecture, os.as_str()) {
        (Architecture::X86_32(_), _) => "x86".to_string(),
        (Architecture::Arm(_), "linux") => "arm".to_string(),
        (Architecture::Riscv64(_), _) => "riscv64".to_string(),
        (arch, _) => arch.to_string(),
    };
    let zig_target = if os == "linux" {
        format!(
            "{zig_arch}-linux-{} (zig's default glibc)",
            triple.environment
        )
    } else {
        format!(
            "{zig_arch}-{os} (zig's default {} release)",
            crate::elf::os_display(&os)
        )
    };
    details.insert("zig-target".into(), zig_target);
    Ok(LinkerChoice {
        kind: LinkerKind::Zig,
        cargo_program: Some((zig.cargo_zigbuild.display().to_string(), "zigbuild".into())),
        env: zig.env.clone(),
        details,
    })
}

/// Debian's name for a target's GNU triple: `aarch64-linux-gnu`, `arm-linux-gnueabihf`.
pub fn gnu_triple(triple: &Triple) -> String {
    let arch = match triple.architecture {
        Architecture::Arm(_) => "arm".to_string(),
        Architecture::X86_32(_) => "i686".to_string(),
        Architecture::Riscv64(_) => "riscv64".to_string(),
        ref other => other.to_string(),
    };
    format!("{arch}-{}-{}", triple.operating_system, triple.environment)
}

/// The Debian packages that give `platform` a cross gcc able to link a program.
pub fn gcc_packages(platform: &Platform) -> Vec<String> {
    let Ok(triple) = Triple::from_str(&platform.target) else {
        return Vec::new();
    };
    let mut out = vec![format!("gcc-{}", gnu_triple(&triple))];
    // The C library comes only as a Recommends of the compiler, which
    // --no-install-recommends leaves out.
    if let Some(arch) = &platform.debian_arch {
        out.push(format!("libc6-dev-{arch}-cross"));
    }
    out
}

/// `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER`.
pub fn linker_env_var(target: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace(['-', '.'], "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_triples_match_debian_cross_compilers() {
        let names: Vec<String> = [
            "aarch64-unknown-linux-gnu",
            "i686-unknown-linux-gnu",
            "armv7-unknown-linux-gnueabihf",
            "powerpc64le-unknown-linux-gnu",
            "s390x-unknown-linux-gnu",
            "mips64el-unknown-linux-gnuabi64",
            "riscv64gc-unknown-linux-gnu",
        ]
        .iter()
        .map(|t| gnu_triple(&Triple::from_str(t).unwrap()))
        .collect();
        assert_eq!(
            names,
            [
                "aarch64-linux-gnu",
                "i686-linux-gnu",
                "arm-linux-gnueabihf",
                "powerpc64le-linux-gnu",
                "s390x-linux-gnu",
                "mips64el-linux-gnuabi64",
                "riscv64-linux-gnu"
            ]
        );
        assert_eq!(
            linker_env_var("riscv64gc-unknown-linux-gnu"),
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER"
        );
    }
}
