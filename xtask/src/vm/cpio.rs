//! A writer for the `newc` cpio format, the one the Linux kernel unpacks as
//! an initramfs. Entries are written in the order given, with every
//! timestamp and owner zero, so the same tree always gives the same bytes.

use std::io::{self, Write};

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

pub struct CpioWriter<W: Write> {
    out: W,
    offset: u64,
    next_ino: u32,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> CpioWriter<W> {
        CpioWriter {
            out,
            offset: 0,
            next_ino: 1,
        }
    }

    /// A directory; `path` is relative (`usr/bin`).
    pub fn dir(&mut self, path: &str, perm: u32) -> io::Result<()> {
        self.entry(path, S_IFDIR | perm, 2, (0, 0), &[])
    }

    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(path, S_IFREG | perm, 1, (0, 0), data)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// A character device node (`dev/console` is 5:1): the kernel opens it
    /// for init's standard streams before anything can mount devtmpfs.
    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(path, S_IFCHR | perm, 1, (major, minor), &[])
    }

    /// Writes the trailer and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.next_ino = 0;
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        path: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> io::Result<()> {
        let path = path.trim_start_matches('/');
        if path.is_empty() || path.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad cpio path `{path}`"),
            ));
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let size = u32::try_from(data.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{path} is over 4 GiB"))
        })?;
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            size,
            0,
            0,
            rdev.0,
            rdev.1,
            path.len() as u32 + 1,
            0,
        ];
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.write(header.as_bytes())?;
        self.write(path.as_bytes())?;
        self.write(&[0])?;
        self.pad()?;
        self.write(data)?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let pad = (4 - (self.offset % 4) as usize) % 4;
        self.write(&[0; 3][..pad])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("bin", 0o755).unwrap();
        w.file("bin/hello", 0o755, b"#!/bin/sh\necho hi\n").unwrap();
        w.symlink("sh", "bin/hello").unwrap();
        w.char_device("console", 0o600, 5, 1).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn the_archive_is_padded_to_four_bytes() {
        assert_eq!(sample().len() % 4, 0);
    }

    #[test]
    #[ignore = "slow: needs GNU cpio on PATH; run with `cargo xtask test`"]
    fn gnu_cpio_reads_what_we_write() {
        let bytes = sample();
        assert_eq!(bytes.len() % 4, 0);
        crate::testing::require(
            crate::host::which("cpio").is_some(),
            "cpio",
            "apt-get install cpio",
        );
        let out = crate::cmd::Cmd::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin_bytes(bytes)
            .run()
            .unwrap()
            .ok()
            .unwrap();
        let listing: Vec<String> = out
            .stdout_str()
            .lines()
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                format!(
                    "{} {}",
                    cols[0],
                    cols[cols.len() - if l.contains("->") { 3 } else { 1 }..].join(" ")
                )
            })
            .collect();
        expect_test::expect![[r#"
            drwxr-xr-x bin
            -rwxr-xr-x bin/hello
            lrwxrwxrwx sh -> bin/hello
            crw------- console"#]]
        .assert_eq(&listing.join("\n"));
    }
}
