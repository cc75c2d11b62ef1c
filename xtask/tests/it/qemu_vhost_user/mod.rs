//! Real QEMU as the front-end of our back-ends (slow: XTASK_SLOW_TESTS=1).
//!
//! qemu-system-x86_64 under TCG with guest RAM shared through
//! `memory-backend-memfd,share=on` (FACTS.md's recipe), one vhost-user device
//! per test on our back-end's socket, and the Debian amd64 guest the VM lane
//! builds, booted into a shell on its serial console. One file per device;
//! this module holds what they share: building a back-end, owning its
//! process, the guest with extra kernel modules, and one console session.

mod blk;
mod input;
mod net;
mod rng;
mod scsi;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use xtask::model::vm_image::{ConsoleScript, ConsoleStep, VmImage};
use xtask::model::{DataDirs, Model};
use xtask::testing::require;
use xtask::vm::debian::BuiltImage;
use xtask::vm::qemu::{Accel, Boot, DirectKernel};
use xtask::vm::session::{self, Ending, Outcome, Until};

/// Builds one of our back-end programs in a target directory of its own (the
/// test run holds the workspace's build lock) and returns its path.
pub fn backend_binary(package: &str) -> PathBuf {
    let root = xtask::repo_root();
    let target = root.join("target").join("qemu-vhost-user-test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--package", package, "--target-dir"])
        .arg(&target)
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(status.success(), "cannot build {package}");
    target.join("debug").join(package)
}

/// A back-end process, killed if the test fails half-way.
pub struct Backend(pub Child);

impl Backend {
    /// Starts `command` (whose stderr should be piped) and waits for its
    /// listening socket to appear.
    pub fn start(command: &mut Command, socket: &Path) -> Backend {
        let backend = Backend(command.spawn().unwrap());
        wait_for(socket);
        backend
    }

    /// Asserts the back-end outlived its front-end, then ends it with SIGTERM
    /// and asserts a clean exit; returns what it wrote on stderr.
    pub fn terminate_cleanly(mut self) -> String {
        assert!(
            self.0.try_wait().unwrap().is_none(),
            "the back-end died with QEMU"
        );
        // SAFETY: signalling a child process this test owns.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let status: ExitStatus = self.0.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        assert!(status.success(), "back-end exit {status}: {stderr}");
        stderr
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a back-end's socket to exist (the event), with a generous bound.
pub fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One console step: wait for `expect`, then type `send`.
pub fn step(expect: &str, send: Option<&str>, secs: u64) -> ConsoleStep {
    ConsoleStep {
        expect: Some(expect.into()),
        send: send.map(String::from),
        wait_exit: false,
        timeout: Duration::from_secs(secs),
    }
}

/// The Debian amd64 guest of the VM lane, with `modules` loaded beyond the
/// image's own (in dependency order, read from the modules), built or found
/// built. Skips (as not run) where QEMU is not installed.
pub fn guest(modules: &[&str]) -> (VmImage, BuiltImage) {
    let model = Model::load(&DataDirs::under(&xtask::repo_root())).unwrap();
    let mut image = model.vm_images["debian12-amd64"].clone();
    require(
        xtask::host::which(&image.qemu).is_some(),
        &image.qemu,
        "cargo xtask setup",
    );
    let debian = image
        .debian
        .as_mut()
        .expect("debian12-amd64 is a Debian image");
    for m in modules {
        if !debian.modules.iter().any(|have| have == m) {
            debian.modules.push(m.to_string());
        }
    }
    let built =
        xtask::vm::debian::build("debian12-amd64", &image, false, &|m| eprintln!("  {m}")).unwrap();
    (image, built)
}

/// Puts the QEMU unpacked from backports (`xtask::vm::backport`, which
/// `cargo xtask setup` unpacks) in place of the image's own, for devices
/// bookworm's QEMU 7.2 cannot drive (vhost-user-input-pci without KVM).
pub fn use_backport_qemu(image: &mut VmImage) {
    let found = xtask::vm::backport::find();
    require(
        found.is_some(),
        "QEMU from backports",
        "cargo xtask vm-images qemu-backport",
    );
    let qemu = found.expect("required above");
    image.qemu = qemu.binary.display().to_string();
    image.extra_args.extend(qemu.data_args);
}

/// QEMU arguments that share guest RAM with vhost-user back-ends.
pub fn shared_memory(image: &VmImage) -> Vec<String> {
    [
        "-object".to_string(),
        format!(
            "memory-backend-memfd,id=mem,size={}M,share=on",
            image.memory_mib
        ),
        "-machine".to_string(),
        "memory-backend=mem".to_string(),
    ]
    .into()
}

/// Adds one vhost-user device on our back-end's `socket` to `image`:
/// guest RAM shared ([`shared_memory`]), the socket as chardev `vu0`, and
/// `device` (`vhost-user-blk-pci,num-queues=1`, say) on it.
pub fn attach(image: &mut VmImage, socket: &Path, device: &str) {
    image.extra_args.extend(shared_memory(image));
    let (name, options) = device.split_once(',').unwrap_or((device, ""));
    let device = match options {
        "" => format!("{name},chardev=vu0"),
        _ => format!("{name},chardev=vu0,{options}"),
    };
    image.extra_args.extend([
        "-chardev".to_string(),
        format!("socket,id=vu0,path={}", socket.display()),
        "-device".to_string(),
        device,
    ]);
}

/// Boots `image` (its `extra_args` already holding the devices) into its
/// shell and plays `script` on the console; asserts QEMU reached the end of
/// the script or exited, and returns the outcome with the transcript.
pub fn run_console(
    image: &VmImage,
    built: &BuiltImage,
    script: &ConsoleScript,
    deadline: Duration,
) -> Outcome {
    let out = session::run(
        session::Request {
            image,
            accel: Accel::Tcg,
            boot: Boot {
                kernel: Some(DirectKernel {
                    kernel: built.kernel.clone(),
                    initrd: built.initrd.clone(),
                    append: xtask::vm::qemu::linux_append(image, &["vhu.shell"]),
                }),
                disks: vec![],
                cdrom: None,
            },
            script: Some(script),
            vars: vec![],
            until: Until::Exit,
            deadline: Instant::now() + deadline,
            progress: &|m| eprintln!("  {m}"),
        },
        &[],
        &|_| Vec::new(),
    )
    .unwrap();
    assert!(
        out.ending == Ending::Reached || out.ending == Ending::QemuExited,
        "{:?}; QEMU {}\n{}",
        out.ending,
        out.qemu.describe(),
        out.transcript
    );
    out
}
