//! Linux: `/dev/net/tun` and `TUNSETIFF` with `IFF_TAP | IFF_NO_PI`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

pub(super) fn open(name: &str) -> io::Result<(File, String)> {
    let file = crate::open_nonblocking(std::path::Path::new("/dev/net/tun"), true)?;
    // "tap" alone: let the kernel number it.
    let asked = if name == "tap" { "tap%d" } else { name };
    // SAFETY: `ifreq` is a plain C struct (bytes, integers, a pointer in a
    // union) for which all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(asked.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, and `req` is a
    // live, writable one whose name (checked to be at most 15 bytes) ends
    // in a NUL.
    crate::cvt(unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF as _, &mut req) })?;
    let raw: Vec<u8> = req.ifr_name.iter().map(|&c| c as u8).collect();
    Ok((file, super::name_from(&raw)))
}
