//! Out-of-process tests: each spawns the `vhost-user-blk` binary and drives
//! it over a real Unix socket with `vu-frontend`.
#![forbid(unsafe_code)]

mod config;
mod data;
mod hostile;
mod lifecycle;
mod malformed;
mod polling;

use std::path::{Path, PathBuf};
use vu_frontend::blk::{BlkDevice, BlkOptions};
use vu_frontend::testutil::{backend_binary, BackendProcess, TempDir};
use vu_frontend::Options;

pub const SECTOR: usize = 512;

pub fn binary() -> PathBuf {
    backend_binary("vhost-user-blk", env!("CARGO_BIN_EXE_vhost-user-blk"))
}

/// A disk image with known contents, in its own temp dir.
pub struct Image {
    pub dir: TempDir,
    pub path: PathBuf,
}

impl Image {
    pub fn new(contents: &[u8]) -> Image {
        let dir = TempDir::new().expect("temp dir");
        let path = dir.path().join("disk.img");
        std::fs::write(&path, contents).expect("write image");
        Image { dir, path }
    }

    pub fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("read image")
    }
}

/// Starts the back-end on `image` with extra arguments.
pub fn start(image: &Path, extra: &[&str]) -> BackendProcess {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--blk-file".as_ref(), image.as_os_str()];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    BackendProcess::spawn(&binary(), &args).expect("start vhost-user-blk")
}

pub fn options(num_queues: u16) -> BlkOptions {
    BlkOptions {
        frontend: Options {
            num_queues,
            queue_size: 128,
            regions: 2,
            region_size: 8 << 20,
            ..Options::default()
        },
        max_request_bytes: 64 << 10,
        segment_size: Some(4096),
        depth: 16,
    }
}

pub fn connect(backend: &BackendProcess, num_queues: u16) -> BlkDevice {
    BlkDevice::connect(backend.socket(), &options(num_queues)).expect("connect and set up")
}

/// Proves the back-end still serves a new connection correctly.
pub fn assert_still_serving(backend: &BackendProcess) {
    let mut dev = connect(backend, 1);
    let data = vec![0x5a; 1024];
    assert_eq!(
        dev.write(0, 8, &data).unwrap(),
        vu_frontend::blk::status::OK
    );
    let (st, back) = dev.read(0, 8, 1024).unwrap();
    assert_eq!(st, vu_frontend::blk::status::OK);
    assert_eq!(back, data);
}
