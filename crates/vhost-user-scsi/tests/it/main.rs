//! Out-of-process tests: each spawns the `vhost-user-scsi` binary and
//! drives it over a real Unix socket with `vu-frontend`'s virtio-scsi
//! driver.
#![forbid(unsafe_code)]

mod commands;
mod data;
mod malformed;

use std::path::PathBuf;
use std::time::Duration;
use vu_frontend::scsi::{CmdResult, ScsiDevice};
use vu_frontend::testutil::{backend_binary, BackendProcess, TempDir};
use vu_frontend::Options;

pub const BLOCK: usize = 512;

pub fn binary() -> PathBuf {
    backend_binary("vhost-user-scsi", env!("CARGO_BIN_EXE_vhost-user-scsi"))
}

/// Disk images in one temp dir: LUN 0 read-write (`rw.img`, 2048 blocks),
/// LUN 1 read-only (`ro.img`, 1024 blocks), each filled with a pattern of
/// its block numbers.
pub struct Disks {
    pub dir: TempDir,
    pub rw: PathBuf,
    pub ro: PathBuf,
}

/// The pattern of block `b` of a test image: the block number, then a
/// byte that varies along the block.
pub fn block_pattern(b: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..BLOCK).map(|i| (i as u8) ^ (b as u8)).collect();
    v[..8].copy_from_slice(&b.to_le_bytes());
    v
}

fn image(blocks: u64) -> Vec<u8> {
    (0..blocks).flat_map(block_pattern).collect()
}

impl Disks {
    pub fn create() -> Disks {
        let dir = TempDir::new().expect("temp dir");
        let rw = dir.path().join("rw.img");
        let ro = dir.path().join("ro.img");
        std::fs::write(&rw, image(2048)).unwrap();
        std::fs::write(&ro, image(1024)).unwrap();
        Disks { dir, rw, ro }
    }

    /// Starts the back-end with LUN 0 (`serial=disk0`) and LUN 1 (`ro`,
    /// `serial=disk1`).
    pub fn start(&self, extra: &[&str]) -> BackendProcess {
        let lun0 = format!("{},serial=disk0", self.rw.display());
        let lun1 = format!("{},ro,serial=disk1", self.ro.display());
        let mut args = vec!["--lun", &lun0, "--lun", &lun1];
        args.extend_from_slice(extra);
        BackendProcess::spawn(&binary(), &args).expect("start vhost-user-scsi")
    }
}

pub fn options() -> Options {
    Options {
        num_queues: 3,
        queue_size: 128,
        regions: 1,
        region_size: 8 << 20,
        timeout: Duration::from_secs(20),
        ..Options::default()
    }
}

pub fn connect(backend: &BackendProcess) -> ScsiDevice {
    ScsiDevice::connect(backend.socket(), &options()).expect("connect and set up")
}

/// READ(10) of `blocks` blocks at `lba` of `lun`.
pub fn read10(dev: &mut ScsiDevice, lun: u16, lba: u32, blocks: u16) -> CmdResult {
    let l = lba.to_be_bytes();
    let n = blocks.to_be_bytes();
    dev.command(
        lun,
        &[0x28, 0, l[0], l[1], l[2], l[3], 0, n[0], n[1], 0],
        &[],
        usize::from(blocks) * BLOCK,
    )
    .unwrap()
}

/// WRITE(10) of `data` (whole blocks) at `lba` of `lun`.
pub fn write10(dev: &mut ScsiDevice, lun: u16, lba: u32, data: &[u8]) -> CmdResult {
    let l = lba.to_be_bytes();
    let n = ((data.len() / BLOCK) as u16).to_be_bytes();
    dev.command(
        lun,
        &[0x2a, 0, l[0], l[1], l[2], l[3], 0, n[0], n[1], 0],
        data,
        0,
    )
    .unwrap()
}

/// Proves the back-end still serves a new connection correctly (one
/// connection is served at a time: drop the previous one first).
pub fn assert_still_serving(backend: &BackendProcess) {
    let mut dev = connect(backend);
    let r = read10(&mut dev, 0, 7, 1);
    assert_eq!((r.response, r.status), (0, 0), "{r:?}");
    assert_eq!(r.data, block_pattern(7));
}

#[test]
fn print_capabilities_matches_the_descriptor_file() {
    let out = std::process::Command::new(binary())
        .arg("--print-capabilities")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let descriptor = include_str!("../../50-vhost-user-scsi.json");
    vu_frontend::testutil::assert_capabilities_match_descriptor(
        "vhost-user-scsi",
        &printed,
        descriptor,
        &[],
    );
}

#[test]
fn serves_three_connections_in_turn_then_exits_cleanly_on_sigterm() {
    let disks = Disks::create();
    let mut backend = disks.start(&[]);
    for _ in 0..3 {
        assert_still_serving(&backend);
    }
    let (st, took) = backend.terminate_within(Duration::from_secs(5)).unwrap();
    assert!(st.success(), "{st}");
    eprintln!("exited {took:?} after SIGTERM");
}

#[test]
fn the_configuration_space_describes_one_target_and_its_luns() {
    let disks = Disks::create();
    let backend = disks.start(&["--num-queues", "2"]);
    let dev = connect(&backend);
    let c = dev.config().expect("CONFIG is offered");
    assert_eq!(c.num_queues, 2);
    assert_eq!((c.sense_size, c.cdb_size), (96, 32));
    assert_eq!((c.max_channel, c.max_target, c.max_lun), (0, 0, 1));
    assert_eq!(c.event_info_size, 16);
}

/// Runs the program with `args` and returns its exit status and stderr.
fn run_failing(args: &[&str]) -> String {
    let out = std::process::Command::new(binary())
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_options_and_paths_are_named_in_the_error() {
    let dir = TempDir::new().unwrap();
    let sock = dir.path().join("s");
    let sock = sock.to_str().unwrap();
    let missing = dir.path().join("missing.img");
    let missing = missing.to_str().unwrap();
    let e = run_failing(&["--socket-path", sock, "--lun", missing]);
    assert!(e.contains(&format!("LUN 0: cannot open {missing}")), "{e}");
    let tiny = dir.path().join("tiny.img");
    std::fs::write(&tiny, [0u8; 100]).unwrap();
    let good = dir.path().join("good.img");
    std::fs::write(&good, [0u8; 4096]).unwrap();
    let e = run_failing(&[
        "--socket-path",
        sock,
        "--lun",
        good.to_str().unwrap(),
        "--lun",
        tiny.to_str().unwrap(),
    ]);
    assert!(
        e.contains("LUN 1: ") && e.contains("holds no whole 512-byte block"),
        "{e}"
    );
    let e = run_failing(&["--socket-path", sock, "--lun", "x.img,rw"]);
    assert!(
        e.contains("--lun") && e.contains("unknown option `rw`"),
        "{e}"
    );
    let e = run_failing(&["--socket-path", sock]);
    assert!(e.contains("--lun"), "{e}");
}

#[test]
fn an_inherited_listening_socket_accepts_connection_after_connection() {
    let disks = Disks::create();
    let path = disks.dir.path().join("listen");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let lun = disks.rw.display().to_string();
    let backend = BackendProcess::spawn_with_fd(
        &binary(),
        std::os::fd::AsFd::as_fd(&listener),
        path.clone(),
        &["--lun", lun.as_str()],
    )
    .unwrap();
    drop(listener);
    for round in 0u8..2 {
        let mut dev = ScsiDevice::connect(&path, &options()).unwrap();
        let w = write10(&mut dev, 0, 5, &[round; BLOCK]);
        assert_eq!((w.response, w.status), (0, 0), "{w:?}");
        assert_eq!(read10(&mut dev, 0, 5, 1).data, vec![round; BLOCK]);
    }
    let (st, stderr) = backend.terminate_with_stderr().unwrap();
    assert!(st.success(), "{st}\n{stderr}");
}
