//! `matrix/matrix.toml`: which platforms × stages × packages run, what is
//! excluded and what is expected to fail.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::diag::{parse_file, LoadError, LoadErrors};
use super::platform::shown;
use super::{glob_match, DataDirs, Platform};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MatrixFile {
    /// Platform id patterns (`*` wildcards).
    pub platforms: Vec<String>,
    pub stages: Vec<Stage>,
    /// Lanes allowed to run the `test` stage.
    pub test_lanes: Vec<Lane>,
    /// Workspace members never built by the matrix.
    #[serde(default)]
    pub exclude_packages: Vec<String>,
    pub timeouts: Timeouts,
    #[serde(default)]
    pub exclude: Vec<Exclusion>,
    #[serde(default)]
    pub expected_failure: Vec<ExpectedFailure>,
    /// Shown in messages.
    #[serde(skip)]
    pub source: String,
    /// How long one test may run before it is killed (and when it counts as slow).
    #[serde(default)]
    pub test_limits: TestLimits,
    /// `check` and `build` also run in the `packaged` lane: with the compiler
    /// each platform's OS packages, against its packaged std.
    #[serde(default)]
    pub packaged_lane: bool,
    /// `check` also runs in the `msrv-floor` and `msrv-declared` lanes:
    /// `cargo xtask msrv --verify`'s two compilers, as cells of the matrix.
    #[serde(default)]
    pub msrv_lane: bool,
}

/// The per-test time limit: `base` (a test on the host) times the lane's
/// emulation factor, unless an override names the platform and lane. A test
/// past its limit is killed and recorded as `timeout`; one past half of it
/// is shown as slow. The stage timeouts stay the outer guard of a cell.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestLimits {
    #[serde(default = "default_base", deserialize_with = "duration")]
    pub base: Duration,
    /// How many times slower than the host a lane runs the same test.
    #[serde(default)]
    pub factors: LaneFactors,
    #[serde(default, rename = "override")]
    pub overrides: Vec<TestLimitOverride>,
}

fn default_base() -> Duration {
    Duration::from_secs(60)
}

impl Default for TestLimits {
    fn default() -> TestLimits {
        TestLimits {
            base: default_base(),
            factors: LaneFactors::default(),
            overrides: Vec::new(),
        }
    }
}

/// Emulation factors of the lanes that run tests. The defaults follow what
/// was measured here: TCG runs process-heavy work 10-15x slower than the host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LaneFactors {
    #[serde(default = "one")]
    pub host: u32,
    #[serde(default = "ten")]
    pub qemu_user: u32,
    #[serde(default = "fifteen")]
    pub vm: u32,
}

fn one() -> u32 {
    1
}
fn ten() -> u32 {
    10
}
fn fifteen() -> u32 {
    15
}

impl Default for LaneFactors {
    fn default() -> LaneFactors {
        LaneFactors {
            host: one(),
            qemu_user: ten(),
            vm: fifteen(),
        }
    }
}

/// `[[test-limits.override]]`: a limit for some platforms (and lanes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestLimitOverride {
    pub platforms: Vec<String>,
    #[serde(default)]
    pub lanes: Option<Vec<Lane>>,
    #[serde(deserialize_with = "duration")]
    pub limit: Duration,
}

impl TestLimits {
    /// The limit for one test of `platform` on `lane`: the first matching
    /// override, else the base times the lane's factor.
    pub fn for_cell(&self, platform: &str, lane: Lane) -> Duration {
        if let Some(o) = self.overrides.iter().find(|o| {
            o.platforms.iter().any(|p| glob_match(p, platform))
                && o.lanes.as_ref().is_none_or(|l| l.contains(&lane))
        }) {
            return o.limit;
        }
        let factor = match lane {
            Lane::QemuUser => self.factors.qemu_user,
            Lane::Vm => self.factors.vm,
            _ => self.factors.host,
        };
        self.base * factor.max(1)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(deserialize_with = "duration")]
    pub check: Duration,
    #[serde(deserialize_with = "duration")]
    pub build: Duration,
    #[serde(deserialize_with = "duration")]
    pub test: Duration,
    /// `[[timeouts.override]]`: other stage timeouts for some platforms (and
    /// lanes), for a guest that is slow but not hung.
    #[serde(default, rename = "override")]
    pub overrides: Vec<TimeoutOverride>,
}

/// Stage timeouts for the platforms (and lanes) it names; a stage it leaves
/// out keeps the general timeout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOverride {
    pub platforms: Vec<String>,
    #[serde(default)]
    pub lanes: Option<Vec<Lane>>,
    #[serde(default, deserialize_with = "some_duration")]
    pub check: Option<Duration>,
    #[serde(default, deserialize_with = "some_duration")]
    pub build: Option<Duration>,
    #[serde(default, deserialize_with = "some_duration")]
    pub test: Option<Duration>,
}

impl Timeouts {
    pub fn for_stage(&self, stage: Stage) -> Duration {
        match stage {
            Stage::Check => self.check,
            Stage::Build => self.build,
            Stage::Test => self.test,
        }
    }

    /// The timeout of one cell: the first override naming the platform and
    /// lane and setting the stage, else the stage's.
    pub fn for_cell(&self, platform: &str, stage: Stage, lane: Lane) -> Duration {
        self.overrides
            .iter()
            .filter(|o| {
                o.platforms.iter().any(|p| glob_match(p, platform))
                    && o.lanes.as_ref().is_none_or(|l| l.contains(&lane))
            })
            .find_map(|o| match stage {
                Stage::Check => o.check,
                Stage::Build => o.build,
                Stage::Test => o.test,
            })
            .unwrap_or_else(|| self.for_stage(stage))
    }
}

/// A package left out of some platforms (and stages), with the reason.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Exclusion {
    pub packages: Vec<String>,
    pub platforms: Vec<String>,
    #[serde(default)]
    pub stages: Option<Vec<Stage>>,
    pub reason: String,
}

/// A known failure: the cell (or the named tests) shows as expected-fail.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectedFailure {
    pub platforms: Vec<String>,
    #[serde(default)]
    pub stages: Option<Vec<Stage>>,
    #[serde(default)]
    pub lanes: Option<Vec<Lane>>,
    #[serde(default)]
    pub packages: Option<Vec<String>>,
    /// Test names (exact, or `*` patterns); without it the whole cell may fail.
    #[serde(default)]
    pub tests: Option<Vec<String>>,
    pub reason: String,
    #[serde(default)]
    pub link: Option<String>,
}

impl ExpectedFailure {
    pub fn applies(&self, platform: &str, stage: Stage, lane: Lane) -> bool {
        self.platforms.iter().any(|p| glob_match(p, platform))
            && self.stages.as_ref().is_none_or(|s| s.contains(&stage))
            && self.lanes.as_ref().is_none_or(|l| l.contains(&lane))
    }

    /// Does this entry cover a failure of `test` in `package`?
    pub fn covers_test(&self, package: &str, test: &str) -> bool {
        self.packages
            .as_ref()
            .is_none_or(|p| p.iter().any(|p| p == package))
            && self
                .tests
                .as_ref()
                .is_none_or(|t| t.iter().any(|t| glob_match(t, test)))
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Check,
    Build,
    Test,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Check, Stage::Build, Stage::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Check => "check",
            Stage::Build => "build",
            Stage::Test => "test",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who runs a cell: which toolchain builds it, or where its tests execute.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Lane {
    /// The host toolchain, for the host's own target; tests run natively.
    Host,
    /// Built on the host for another target (build-std, rustup targets, zig or gcc linkers).
    Cross,
    /// cross-rs in a container.
    CrossRs,
    /// Linux test executables under qemu-user with a Debian sysroot.
    QemuUser,
    /// Test executables inside a real guest.
    Vm,
    /// Built by the compiler the platform's OS packages, against its packaged
    /// std; its test cell runs those executables where the platform's `host`
    /// or `qemu-user` test cell runs its own (natively, or under qemu-user).
    Packaged,
    /// The packaged lane's test executables inside the platform's guest.
    PackagedVm,
    /// `check` with the oldest packaged compiler the MSRV policy counts, on
    /// the platform that packages it (`cargo xtask msrv --verify`'s first build).
    MsrvFloor,
    /// `check` with a packaged compiler of exactly the workspace's declared
    /// `rust-version`, on a platform of this host's target (its second build).
    MsrvDeclared,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Host => "host",
            Lane::Cross => "cross",
            Lane::CrossRs => "cross-rs",
            Lane::QemuUser => "qemu-user",
            Lane::Vm => "vm",
            Lane::Packaged => "packaged",
            Lane::PackagedVm => "packaged-vm",
            Lane::MsrvFloor => "msrv-floor",
            Lane::MsrvDeclared => "msrv-declared",
        }
    }

    /// The MSRV check's cells (`cargo xtask msrv --verify` in the matrix).
    pub fn is_msrv(self) -> bool {
        matches!(self, Lane::MsrvFloor | Lane::MsrvDeclared)
    }

    /// The packaged lane's cells: their own chain, built by the OS's compiler.
    pub fn is_packaged(self) -> bool {
        matches!(self, Lane::Packaged | Lane::PackagedVm)
    }

    /// The packaged test lane that runs its executables where test cells of
    /// `self` (a runner lane) run: `host` and `qemu-user` (never both for
    /// one platform) → `packaged`, `vm` → `packaged-vm`.
    pub fn packaged_counterpart(self) -> Option<Lane> {
        match self {
            Lane::Host | Lane::QemuUser => Some(Lane::Packaged),
            Lane::Vm => Some(Lane::PackagedVm),
            _ => None,
        }
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `90s`, `30m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like `90s`, `30m` or `2h`"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(format!(
                "`{text}` is not a duration like `90s`, `30m` or `2h`"
            ))
        }
    };
    Ok(Duration::from_secs(secs))
}

fn some_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    duration(de).map(Some)
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

pub(super) fn load(
    dirs: &DataDirs,
    platforms: &[Platform],
    errors: &mut LoadErrors,
) -> Option<MatrixFile> {
    let file = shown(dirs, &dirs.matrix);
    let mut matrix: MatrixFile = match parse_file(dirs, &dirs.matrix, &file) {
        Ok(m) => m,
        Err(err) => {
            errors.push(err);
            return None;
        }
    };
    matrix.source = file.clone();
    // Platform patterns must each match something: a pattern that matches
    // nothing is almost always a typo, and would silently drop coverage.
    let mut check_patterns = |key: String, patterns: &[String]| {
        if patterns.is_empty() {
            errors.push(LoadError::key(
                &file,
                key.clone(),
                "must list at least one platform pattern",
            ));
        }
        for (i, pattern) in patterns.iter().enumerate() {
            if !platforms.iter().any(|p| glob_match(pattern, &p.id)) {
                errors.push(LoadError::key(
                    &file,
                    format!("{key}[{i}]"),
                    format!("`{pattern}` matches no platform in platforms/"),
                ));
            }
        }
    };
    check_patterns("platforms".into(), &matrix.platforms);
    for (i, ex) in matrix.exclude.iter().enumerate() {
        check_patterns(format!("exclude[{i}].platforms"), &ex.platforms);
    }
    for (i, xf) in matrix.expected_failure.iter().enumerate() {
        check_patterns(format!("expected-failure[{i}].platforms"), &xf.platforms);
    }
    for (i, o) in matrix.test_limits.overrides.iter().enumerate() {
        check_patterns(format!("test-limits.override[{i}].platforms"), &o.platforms);
    }
    for (i, o) in matrix.timeouts.overrides.iter().enumerate() {
        check_patterns(format!("timeouts.override[{i}].platforms"), &o.platforms);
    }
    if matrix.stages.is_empty() {
        errors.push(LoadError::key(
            &file,
            "stages",
            "must list at least one stage",
        ));
    }
    if matrix.msrv_lane && !matrix.stages.contains(&Stage::Check) {
        errors.push(LoadError::key(
            &file,
            "msrv-lane",
            "the MSRV check runs `cargo check`: `stages` must list `check`",
        ));
    }
    for (i, lane) in matrix.test_lanes.iter().enumerate() {
        if !matches!(lane, Lane::Host | Lane::QemuUser | Lane::Vm) {
            errors.push(LoadError::key(
                &file,
                format!("test-lanes[{i}]"),
                format!(
                    "`{lane}` builds but cannot run tests; test lanes are host, qemu-user and vm"
                ),
            ));
        }
    }
    for (i, ex) in matrix.exclude.iter().enumerate() {
        if ex.reason.trim().is_empty() {
            errors.push(LoadError::key(
                &file,
                format!("exclude[{i}].reason"),
                "must say why",
            ));
        }
    }
    for (i, xf) in matrix.expected_failure.iter().enumerate() {
        if xf.reason.trim().is_empty() {
            errors.push(LoadError::key(
                &file,
                format!("expected-failure[{i}].reason"),
                "must say why",
            ));
        }
    }
    Some(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_override_names_platforms_lanes_and_stages() {
        let timeouts: Timeouts = toml::from_str(
            r#"
check = "30m"
build = "45m"
test = "20m"
[[override]]
platforms = ["linux-*-mips64el"]
lanes = ["vm"]
test = "3h"
[[override]]
platforms = ["linux-debian12-*"]
build = "50m"
"#,
        )
        .unwrap();
        let min = |m: u64| Duration::from_secs(m * 60);
        let mips = "linux-debian12-mips64el";
        assert_eq!(timeouts.for_cell(mips, Stage::Test, Lane::Vm), min(180));
        // Another lane, or a stage the first override leaves out, goes on to the next or the default.
        assert_eq!(
            timeouts.for_cell(mips, Stage::Test, Lane::QemuUser),
            min(20)
        );
        assert_eq!(timeouts.for_cell(mips, Stage::Build, Lane::Vm), min(50));
        assert_eq!(
            timeouts.for_cell("linux-debian13-riscv64", Stage::Test, Lane::Vm),
            min(20)
        );
        assert_eq!(
            timeouts.for_cell("linux-debian13-riscv64", Stage::Check, Lane::Cross),
            min(30)
        );
        let bad = toml::from_str::<Timeouts>(
            "check = \"1m\"\nbuild = \"1m\"\ntest = \"1m\"\n[[override]]\nplatforms = [\"x\"]\ntest = \"soon\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("soon"), "{bad}");
    }
}
