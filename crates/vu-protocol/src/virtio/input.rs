//! virtio-input formats (virtio 1.x, 5.8): the configuration space, read
//! one selected item at a time, and the 8-byte events of both queues.

/// The event queue (device to driver) and the status queue (driver to
/// device: LEDs, for example).
pub const EVENT_QUEUE: u16 = 0;
pub const STATUS_QUEUE: u16 = 1;

/// `select` values: which item the configuration space shows.
pub mod select {
    pub const UNSET: u8 = 0x00;
    pub const ID_NAME: u8 = 0x01;
    pub const ID_SERIAL: u8 = 0x02;
    pub const ID_DEVIDS: u8 = 0x03;
    pub const PROP_BITS: u8 = 0x10;
    pub const EV_BITS: u8 = 0x11;
    pub const ABS_INFO: u8 = 0x12;
}

/// Event types (the evdev values, which virtio-input shares).
pub mod ev {
    pub const SYN: u16 = 0x00;
    pub const KEY: u16 = 0x01;
    pub const REL: u16 = 0x02;
    pub const ABS: u16 = 0x03;
    pub const MSC: u16 = 0x04;
    pub const SW: u16 = 0x05;
    pub const LED: u16 = 0x11;
    pub const SND: u16 = 0x12;
    pub const REP: u16 = 0x14;
    pub const FF: u16 = 0x15;
    pub const PWR: u16 = 0x16;
    pub const FF_STATUS: u16 = 0x17;
    /// Largest event type.
    pub const MAX: u16 = 0x1f;
}

/// Size of the whole configuration space: `select`, `subsel`, `size`, five
/// reserved bytes and the 128-byte payload.
pub const CONFIG_SIZE: usize = 136;
/// Offset of the payload in the configuration space.
pub const PAYLOAD_OFFSET: usize = 8;
/// Largest payload: a name, a serial, a bitmap of 1024 codes.
pub const PAYLOAD_MAX: usize = 128;
/// Offsets of the driver-written selectors and the device-written size.
pub const SELECT_OFFSET: usize = 0;
pub const SUBSEL_OFFSET: usize = 1;
pub const SIZE_OFFSET: usize = 2;

/// One event on either queue: type, code and value, little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    pub kind: u16,
    pub code: u16,
    pub value: u32,
}

impl Event {
    pub const SIZE: usize = 8;

    pub fn to_le_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.kind.to_le_bytes());
        b[2..4].copy_from_slice(&self.code.to_le_bytes());
        b[4..8].copy_from_slice(&self.value.to_le_bytes());
        b
    }

    pub fn from_le_bytes(b: [u8; Self::SIZE]) -> Self {
        Self {
            kind: u16::from_le_bytes([b[0], b[1]]),
            code: u16::from_le_bytes([b[2], b[3]]),
            value: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// `ID_DEVIDS`: the device's bus type, vendor, product and version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevIds {
    pub bustype: u16,
    pub vendor: u16,
    pub product: u16,
    pub version: u16,
}

impl DevIds {
    pub const SIZE: usize = 8;

    pub fn to_le_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        for (i, v) in [self.bustype, self.vendor, self.product, self.version]
            .into_iter()
            .enumerate()
        {
            b[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn from_le_bytes(b: [u8; Self::SIZE]) -> Self {
        let at = |i: usize| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]);
        Self {
            bustype: at(0),
            vendor: at(1),
            product: at(2),
            version: at(3),
        }
    }
}

/// `ABS_INFO`: one absolute axis's range and resolution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AbsInfo {
    pub min: u32,
    pub max: u32,
    pub fuzz: u32,
    pub flat: u32,
    pub res: u32,
}

impl AbsInfo {
    pub const SIZE: usize = 20;

    pub fn to_le_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        for (i, v) in [self.min, self.max, self.fuzz, self.flat, self.res]
            .into_iter()
            .enumerate()
        {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn from_le_bytes(b: [u8; Self::SIZE]) -> Self {
        let at =
            |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        Self {
            min: at(0),
            max: at(1),
            fuzz: at(2),
            flat: at(3),
            res: at(4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_little_endian() {
        let e = Event {
            kind: ev::KEY,
            code: 30,
            value: 1,
        };
        assert_eq!(e.to_le_bytes(), [1, 0, 30, 0, 1, 0, 0, 0]);
        assert_eq!(Event::from_le_bytes(e.to_le_bytes()), e);
        let ids = DevIds {
            bustype: 6,
            vendor: 0x1234,
            product: 2,
            version: 1,
        };
        assert_eq!(DevIds::from_le_bytes(ids.to_le_bytes()), ids);
        let abs = AbsInfo {
            min: 0,
            max: 32767,
            fuzz: 1,
            flat: 2,
            res: 3,
        };
        assert_eq!(AbsInfo::from_le_bytes(abs.to_le_bytes()), abs);
        assert_eq!(PAYLOAD_OFFSET + PAYLOAD_MAX, CONFIG_SIZE);
    }
}
