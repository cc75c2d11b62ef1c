//! Data moves: reads and writes through READ/WRITE(10/16) land where the
//! file says, the read-only unit refuses writes and stays unchanged.

use super::*;
use vu_frontend::testutil::Rng;

#[test]
fn reads_return_the_files_blocks_on_each_lun() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    for (lun, lba) in [(0, 0), (0, 2047), (1, 1023), (1, 17)] {
        let r = read10(&mut dev, lun, lba, 1);
        assert_eq!((r.response, r.status, r.residual), (0, 0, 0), "{r:?}");
        assert_eq!(r.data, block_pattern(u64::from(lba)), "LUN {lun} LBA {lba}");
    }
    // READ(16), 8 blocks.
    let r = dev
        .command(
            0,
            &[0x88, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 8, 0, 0],
            &[],
            8 * BLOCK,
        )
        .unwrap();
    assert_eq!((r.response, r.status), (0, 0), "{r:?}");
    let want: Vec<u8> = (100..108).flat_map(block_pattern).collect();
    assert_eq!(r.data, want);
}

#[test]
fn writes_round_trip_at_random_offsets_and_reach_the_file() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let (mut rng, _seed) = Rng::from_env();
    let mut expect = std::fs::read(&disks.rw).unwrap();
    for round in 0..20 {
        let blocks = 1 + rng.below(64) as usize;
        let lba = rng.below(2048 - blocks as u64);
        let mut data = vec![0u8; blocks * BLOCK];
        rng.fill(&mut data);
        let r = if round % 2 == 0 {
            write10(&mut dev, 0, lba as u32, &data)
        } else {
            // WRITE(16) with FUA.
            let l = lba.to_be_bytes();
            let n = (blocks as u32).to_be_bytes();
            let cdb = [
                0x8a, 0x08, l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7], n[0], n[1], n[2], n[3],
                0, 0,
            ];
            dev.command(0, &cdb, &data, 0).unwrap()
        };
        assert_eq!((r.response, r.status, r.residual), (0, 0, 0), "{r:?}");
        let off = lba as usize * BLOCK;
        expect[off..off + data.len()].copy_from_slice(&data);
        let back = read10(&mut dev, 0, lba as u32, blocks as u16);
        assert_eq!(back.data, data, "round {round}: LBA {lba}, {blocks} blocks");
    }
    let r = dev
        .command(0, &[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[], 0)
        .unwrap();
    assert_eq!((r.response, r.status), (0, 0), "{r:?}");
    assert!(
        std::fs::read(&disks.rw).unwrap() == expect,
        "the file holds the writes"
    );
}

#[test]
fn the_read_only_lun_refuses_writes_with_data_protect_and_stays_unchanged() {
    let disks = Disks::create();
    let before = std::fs::read(&disks.ro).unwrap();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let r = write10(&mut dev, 1, 3, &vec![0xee; 4 * BLOCK]);
    assert_eq!((r.response, r.status), (0, 2), "{r:?}");
    assert_eq!(
        r.sense_key(),
        Some((0x7, 0x27, 0x00)),
        "DATA PROTECT, WRITE PROTECTED"
    );
    // MODE SENSE's device-specific parameter has WP set.
    let m = dev
        .command(1, &[0x1a, 0x08, 0x3f, 0, 0xff, 0], &[], 255)
        .unwrap();
    assert_eq!(m.data[2] & 0x80, 0x80, "{m:?}");
    assert_eq!(std::fs::read(&disks.ro).unwrap(), before);
    let r = read10(&mut dev, 1, 3, 1);
    assert_eq!(r.data, block_pattern(3));
}

#[test]
fn a_read_with_data_in_beyond_the_transfer_reports_the_residual() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let r = dev
        .command(0, &[0x28, 0, 0, 0, 0, 9, 0, 0, 1, 0], &[], 3 * BLOCK)
        .unwrap();
    assert_eq!((r.response, r.status), (0, 0), "{r:?}");
    assert_eq!(r.residual as usize, 2 * BLOCK);
    assert_eq!(r.data, block_pattern(9));
}
