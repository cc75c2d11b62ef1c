//! Real QEMU as the front-end of our `vhost-user-blk` (slow: XTASK_SLOW_TESTS=1).
//!
//! qemu-system-x86_64 under TCG, guest RAM shared through
//! `memory-backend-memfd,share=on`, a `vhost-user-blk-pci` device on our
//! back-end's socket, and the Debian amd64 guest the VM lane builds, booted
//! into a shell on its serial console. The guest reads the whole disk and
//! checks its SHA-256, then writes a pattern that the test finds in the image
//! file afterwards; the back-end survives QEMU going away and exits cleanly on
//! SIGTERM.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use xtask::model::vm_image::{ConsoleScript, ConsoleStep};
use xtask::model::{DataDirs, Model};
use xtask::testing::require;
use xtask::vm::qemu::{Accel, Boot, DirectKernel};
use xtask::vm::session::{self, Ending, Until};

const DISK_BYTES: usize = 8 << 20;
const PATTERN: &str = "VHU-WRITTEN-BY-THE-GUEST-0123456789";
const PATTERN_SECTOR: u64 = 4097;

/// Builds our back-end in a target directory of its own (the test run holds
/// the workspace's build lock).
fn backend_binary() -> PathBuf {
    let root = xtask::repo_root();
    let target = root.join("target").join("qemu-vhost-user-test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--package",
            "vhost-user-blk",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(status.success(), "cannot build vhost-user-blk");
    target.join("debug").join("vhost-user-blk")
}

/// The back-end process, killed if the test fails half-way.
struct Backend(Child);

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the back-end's socket to exist (the event), with a generous bound.
fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn step(expect: &str, send: Option<&str>, secs: u64) -> ConsoleStep {
    ConsoleStep {
        expect: Some(expect.into()),
        send: send.map(String::from),
        wait_exit: false,
        timeout: Duration::from_secs(secs),
    }
}

#[test]
#[ignore = "slow: needs qemu-system-x86_64 and a Debian guest built from the archive; run with `cargo xtask test`"]
fn qemu_boots_a_guest_on_our_vhost_user_blk_backend() {
    let model = Model::load(&DataDirs::under(&xtask::repo_root())).unwrap();
    let mut image = model.vm_images["debian12-amd64"].clone();
    require(
        xtask::host::which(&image.qemu).is_some(),
        &image.qemu,
        "cargo xtask setup",
    );
    let built =
        xtask::vm::debian::build("debian12-amd64", &image, false, &|m| eprintln!("  {m}")).unwrap();

    // A disk of seeded pseudo-random bytes, and its digest.
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    let mut bytes = vec![0u8; DISK_BYTES];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&disk, &bytes).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let socket = dir.path().join("blk.sock");
    let mut backend = Backend(
        Command::new(backend_binary())
            .arg("--socket-path")
            .arg(&socket)
            .arg("--blk-file")
            .arg(&disk)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for(&socket);

    // FACTS.md's recipe: guest RAM in a shared memfd, the device on our socket.
    let mem = format!(
        "memory-backend-memfd,id=mem,size={}M,share=on",
        image.memory_mib
    );
    let chardev = format!("socket,id=vu0,path={}", socket.display());
    image.extra_args.extend(
        [
            "-object",
            &mem,
            "-machine",
            "memory-backend=mem",
            "-chardev",
            &chardev,
            "-device",
            "vhost-user-blk-pci,chardev=vu0,num-queues=1",
        ]
        .map(String::from),
    );
    let write = format!(
        "printf '{PATTERN}' | dd of=/dev/vda bs=512 seek={PATTERN_SECTOR} conv=fsync 2>/dev/null && sync && echo wrote-$((40 + 2))"
    );
    let script = ConsoleScript {
        steps: vec![
            step("@@VHU-BOOTED", None, 120),
            step(
                "# ",
                Some("while [ ! -b /dev/vda ]; do sleep 0.1; done; sha256sum /dev/vda"),
                60,
            ),
            step(&digest, None, 120),
            step("# ", Some(&write), 30),
            step("wrote-42", None, 60),
            step("# ", Some("reboot -f"), 10),
        ],
    };
    let out = session::run(
        session::Request {
            image: &image,
            accel: Accel::Tcg,
            boot: Boot {
                kernel: Some(DirectKernel {
                    kernel: built.kernel.clone(),
                    initrd: built.initrd.clone(),
                    append: xtask::vm::qemu::linux_append(&image, &["vhu.shell"]),
                }),
                disks: vec![],
                cdrom: None,
            },
            script: Some(&script),
            vars: vec![],
            until: Until::Exit,
            deadline: Instant::now() + Duration::from_secs(300),
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
    assert!(
        out.transcript.contains(&digest),
        "the guest read the disk: {}",
        out.transcript
    );

    // The guest's write reached the file through our back-end.
    let mut found = vec![0u8; PATTERN.len()];
    let mut f = std::fs::File::open(&disk).unwrap();
    f.seek(SeekFrom::Start(PATTERN_SECTOR * 512)).unwrap();
    f.read_exact(&mut found).unwrap();
    assert_eq!(String::from_utf8_lossy(&found), PATTERN);

    // QEMU is gone; the back-end is still serving, and SIGTERM ends it cleanly.
    assert!(
        backend.0.try_wait().unwrap().is_none(),
        "the back-end died with QEMU"
    );
    // SAFETY: signalling a child process this test owns.
    unsafe { libc::kill(backend.0.id() as i32, libc::SIGTERM) };
    let status = backend.0.wait().unwrap();
    let mut stderr = String::new();
    backend
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "back-end exit {status}: {stderr}");
}
