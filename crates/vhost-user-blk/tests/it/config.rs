//! Configuration space, feature bits and device ID.

use crate::*;
use vu_frontend::blk::{features, status};

#[test]
fn config_space_describes_the_image() {
    let image = Image::new(&vec![0u8; 3 * 1024 * 1024 + 512]);
    let backend = start(
        &image.path,
        &["--num-queues", "3", "--serial", "disk-serial-1"],
    );
    let mut dev = connect(&backend, 3);
    let c = *dev.config().expect("CONFIG negotiated");
    assert_eq!(c.capacity, (3 * 1024 * 1024 + 512) / 512);
    assert_eq!(c.blk_size, 512);
    assert_eq!(c.num_queues, 3);
    assert!(c.seg_max >= 2);
    let f = dev.features();
    assert_ne!(f & features::FLUSH, 0);
    assert_ne!(f & features::MQ, 0);
    assert_ne!(f & features::BLK_SIZE, 0);
    assert_eq!(f & features::RO, 0);
    if f & features::DISCARD != 0 {
        assert!(c.max_discard_sectors > 0 && c.max_discard_seg > 0);
    } else {
        assert_eq!(c.max_discard_sectors, 0);
    }
    if f & features::WRITE_ZEROES != 0 {
        assert!(c.max_write_zeroes_sectors > 0 && c.max_write_zeroes_seg > 0);
    }
    let (st, id) = dev.get_id(2).unwrap();
    assert_eq!(st, status::OK);
    assert_eq!(id, b"disk-serial-1");
}

#[test]
fn discard_and_write_zeroes_are_advertised_exactly_where_the_os_has_them() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &[]);
    let dev = connect(&backend, 1);
    let linux_or_freebsd = cfg!(any(target_os = "linux", target_os = "freebsd"));
    assert_eq!(dev.features() & features::DISCARD != 0, linux_or_freebsd);
    assert_eq!(
        dev.features() & features::WRITE_ZEROES != 0,
        linux_or_freebsd
    );
}

#[test]
fn more_queues_than_the_device_has_are_refused() {
    let image = Image::new(&vec![0u8; 1 << 20]);
    let backend = start(&image.path, &["--num-queues", "2"]);
    let err = BlkDevice::connect(backend.socket(), &options(3)).unwrap_err();
    assert!(
        matches!(
            err,
            vu_frontend::Error::TooManyQueues {
                requested: 3,
                available: 2
            }
        ),
        "{err}"
    );
}
