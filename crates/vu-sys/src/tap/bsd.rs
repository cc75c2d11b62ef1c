//! The BSDs: tap devices under `/dev`. FreeBSD and NetBSD have a cloning
//! `/dev/tap` whose new interface `TAPGIFNAME` names; OpenBSD has a fixed
//! set of `/dev/tapN` nodes, each opened by one process at a time.

use std::fs::File;
use std::io;
use std::path::PathBuf;

fn open_dev(name: &str) -> io::Result<File> {
    crate::open_nonblocking(&PathBuf::from(format!("/dev/{name}")), true)
}

pub(super) fn open(name: &str) -> io::Result<(File, String)> {
    if name == "tap" {
        return clone();
    }
    if name.contains('%') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{name:?}: '%' unit patterns are Linux's; name a unit (tap0) or ask for \"tap\""
            ),
        ));
    }
    Ok((open_dev(name)?, name.to_string()))
}

/// `sizeof(struct ifreq)`: a 16-byte name and a union of 16 bytes
/// (FreeBSD) or of a `sockaddr_storage`, 128 bytes (NetBSD).
#[cfg(target_os = "freebsd")]
const IFREQ_SIZE: usize = 32;
#[cfg(target_os = "netbsd")]
const IFREQ_SIZE: usize = 144;

/// `TAPGIFNAME`: `_IOR('t', 93, struct ifreq)` on FreeBSD (it is
/// `TUNGIFNAME`), `_IOR('e', 0, struct ifreq)` on NetBSD; both BSDs put
/// "the kernel writes" in bit 30 and the size in bits 16 to 28.
#[cfg(target_os = "freebsd")]
const TAPGIFNAME: u32 = 0x4000_0000 | ((IFREQ_SIZE as u32) << 16) | ((b't' as u32) << 8) | 93;
#[cfg(target_os = "netbsd")]
const TAPGIFNAME: u32 = 0x4000_0000 | ((IFREQ_SIZE as u32) << 16) | ((b'e' as u32) << 8);

#[cfg(any(target_os = "freebsd", target_os = "netbsd"))]
fn clone() -> io::Result<(File, String)> {
    use std::os::fd::AsRawFd;
    #[repr(C, align(8))]
    struct IfReq([u8; IFREQ_SIZE]);
    let file = open_dev("tap")?;
    let mut req = IfReq([0; IFREQ_SIZE]);
    // SAFETY: TAPGIFNAME writes one `struct ifreq` (its size is encoded in
    // the request), and `req` is a live, writable buffer of that size,
    // aligned as the struct is.
    crate::cvt(unsafe { libc::ioctl(file.as_raw_fd(), TAPGIFNAME as _, &mut req) })?;
    Ok((file, super::name_from(&req.0[..16])))
}

/// Tap units tried for `"tap"`; OpenBSD makes four nodes by default.
#[cfg(target_os = "openbsd")]
const UNITS: u32 = 64;

#[cfg(target_os = "openbsd")]
fn clone() -> io::Result<(File, String)> {
    for unit in 0..UNITS {
        let name = format!("tap{unit}");
        match open_dev(&name) {
            Ok(f) => return Ok((f, name)),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "every /dev/tapN is in use (make more with `sh /dev/MAKEDEV tapN`)",
    ))
}
