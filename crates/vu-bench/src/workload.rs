//! What is read: the request stream (random or sequential offsets) and the
//! test file's contents, which let every read be checked cheaply.
//!
//! The file is made of 4 KiB blocks; each starts with its own byte offset
//! (u64, little-endian), and the rest is a pseudo-random fill (so nothing
//! in the file is sparse or all-zero). A read at an aligned offset is right
//! when its first eight bytes equal that offset: one comparison per request,
//! the same cost for every target.

use std::io::{self, Write};
use std::path::Path;

/// Granularity of offsets and of the file's self-describing blocks.
pub const BLOCK: u64 = 4096;

/// The access pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Uniformly random block-size-aligned offsets over the whole file.
    Rand,
    /// Consecutive offsets, wrapping around at the end of the file.
    Seq,
}

/// A small, fast, seeded PRNG (xorshift64*): the same seed gives the same
/// offsets to every target.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Produces request offsets.
#[derive(Debug, Clone)]
pub struct Offsets {
    pattern: Pattern,
    block_size: u64,
    slots: u64,
    next: u64,
    rng: Rng,
}

impl Offsets {
    /// Offsets of `block_size`-byte requests inside a file of `file_size`
    /// bytes; sequential streams start at `start_slot`.
    pub fn new(
        pattern: Pattern,
        block_size: u64,
        file_size: u64,
        seed: u64,
        start_slot: u64,
    ) -> Self {
        let slots = (file_size / block_size).max(1);
        Self {
            pattern,
            block_size,
            slots,
            next: start_slot % slots,
            rng: Rng::new(seed),
        }
    }

    pub fn next_offset(&mut self) -> u64 {
        let slot = match self.pattern {
            Pattern::Rand => self.rng.next_u64() % self.slots,
            Pattern::Seq => {
                let s = self.next;
                self.next = (self.next + 1) % self.slots;
                s
            }
        };
        slot * self.block_size
    }
}

/// Whether data read at `offset` (aligned to [`BLOCK`]) starts as the file
/// was written.
pub fn check(offset: u64, first8: [u8; 8]) -> bool {
    u64::from_le_bytes(first8) == offset
}

/// Writes the test file: `size` bytes (a multiple of [`BLOCK`]) of
/// self-describing blocks, then syncs it.
pub fn make_file(path: &Path, size: u64) -> io::Result<()> {
    if size == 0 || size % BLOCK != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file size {size} is not a non-zero multiple of {BLOCK}"),
        ));
    }
    let file = std::fs::File::create(path)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng::new(0x5eed);
    let mut block = [0u8; BLOCK as usize];
    let mut offset = 0;
    while offset < size {
        for chunk in block.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        block[..8].copy_from_slice(&offset.to_le_bytes());
        out.write_all(&block)?;
        offset += BLOCK;
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// Makes `path` a test file of `size` bytes: an existing one whose size,
/// first and last blocks are right is kept and read once in full (so it is
/// in the page cache, as a freshly written one is); anything else is
/// rewritten. Returns whether it wrote the file.
pub fn prepare_file(path: &Path, size: u64) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    if let Ok(file) = std::fs::File::open(path) {
        let looks_right = || -> io::Result<bool> {
            if file.metadata()?.len() != size || size < BLOCK {
                return Ok(false);
            }
            let mut b = [0u8; 8];
            for off in [0, size - BLOCK] {
                file.read_exact_at(&mut b, off)?;
                if !check(off, b) {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        if looks_right()? {
            let mut buf = vec![0u8; 1 << 20];
            let mut off = 0;
            while off < size {
                let n = file.read_at(&mut buf, off)?;
                if n == 0 {
                    break;
                }
                off += n as u64;
            }
            return Ok(false);
        }
    }
    make_file(path, size)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_stay_aligned_and_inside() {
        let mut r = Offsets::new(Pattern::Rand, 4096, 1 << 20, 7, 0);
        for _ in 0..1000 {
            let o = r.next_offset();
            assert!(o % 4096 == 0 && o + 4096 <= 1 << 20);
        }
        let mut s = Offsets::new(Pattern::Seq, 1 << 19, 1 << 20, 7, 1);
        let got: Vec<u64> = (0..3).map(|_| s.next_offset()).collect();
        assert_eq!(got, [1 << 19, 0, 1 << 19]);
    }

    #[test]
    fn file_blocks_describe_themselves() {
        let dir = std::env::temp_dir().join(format!("vu-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("img");
        make_file(&path, 3 * BLOCK).unwrap();
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data.len(), 3 * BLOCK as usize);
        for b in 0..3u64 {
            let at = (b * BLOCK) as usize;
            assert!(check(b * BLOCK, data[at..at + 8].try_into().unwrap()));
        }
        assert!(!check(0, data[4096..4104].try_into().unwrap()));
        assert!(make_file(&path, 100).is_err());
        assert!(!prepare_file(&path, 3 * BLOCK).unwrap(), "kept");
        assert!(
            prepare_file(&path, 2 * BLOCK).unwrap(),
            "wrong size: rewritten"
        );
        std::fs::write(&path, vec![0u8; 2 * BLOCK as usize]).unwrap();
        assert!(
            prepare_file(&path, 2 * BLOCK).unwrap(),
            "wrong contents: rewritten"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
