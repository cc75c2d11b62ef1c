//! A writer for POSIX ustar archives: the payload disk. Every guest reads
//! it with its own `tar -xf <disk>` (busybox, FreeBSD's bsdtar, NetBSD's
//! and OpenBSD's pax-based tar), so only the plain ustar subset is written:
//! regular files and directories, names under 100 bytes, no extensions.

use std::io::{self, Write};

const BLOCK: usize = 512;
/// tar's default record: readers of raw disks read whole records.
const RECORD: usize = 10240;

pub struct TarWriter<W: Write> {
    out: W,
    written: usize,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter { out, written: 0 }
    }

    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        let path = format!("{}/", path.trim_end_matches('/'));
        self.header(&path, 0o755, 0, b'5')
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        self.header(path, mode, data.len() as u64, b'0')?;
        self.write(data)?;
        self.pad(BLOCK)
    }

    /// Writes the end-of-archive blocks and pads to a whole record.
    pub fn finish(mut self) -> io::Result<W> {
        self.write(&[0; 2 * BLOCK])?;
        self.pad(RECORD)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn header(&mut self, path: &str, mode: u32, size: u64, kind: u8) -> io::Result<()> {
        if path.len() >= 100 || path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("payload path `{path}` is not a short relative path"),
            ));
        }
        let mut h = [0u8; BLOCK];
        h[..path.len()].copy_from_slice(path.as_bytes());
        octal(&mut h[100..108], mode as u64);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0);
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let text = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(text.as_bytes());
        self.write(&h)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len();
        Ok(())
    }

    fn pad(&mut self, to: usize) -> io::Result<()> {
        let pad = (to - self.written % to) % to;
        self.write(&vec![0; pad])
    }
}

/// A zero-padded octal field with its terminating NUL.
fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tar_extracts_what_we_write() {
        let mut w = TarWriter::new(Vec::new());
        w.dir("bin").unwrap();
        w.file("bin/run", 0o755, b"#!/bin/sh\necho ok\n").unwrap();
        w.file("manifest", 0o644, b"demo lib t/1\n").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % RECORD, 0);
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("payload.tar");
        std::fs::write(&archive, &bytes).unwrap();
        crate::cmd::Cmd::new("tar")
            .arg("-xf")
            .arg(&archive)
            .cwd(dir.path())
            .run()
            .unwrap()
            .ok()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("manifest")).unwrap(),
            "demo lib t/1\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn refuses_long_or_escaping_names() {
        let mut w = TarWriter::new(Vec::new());
        assert!(w.file(&"a".repeat(100), 0o644, b"").is_err());
        assert!(w.file("../x", 0o644, b"").is_err());
        assert!(w.file("/etc/x", 0o644, b"").is_err());
    }
}
