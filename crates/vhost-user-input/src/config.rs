//! What the device says it is: the virtio-input configuration space of a
//! keyboard, a mouse or a tablet (or of an evdev device), one item at a
//! time as the driver selects it.

use std::collections::BTreeMap;
use vu_protocol::virtio::input::{
    ev, select, AbsInfo, DevIds, CONFIG_SIZE, PAYLOAD_MAX, PAYLOAD_OFFSET, SELECT_OFFSET,
    SIZE_OFFSET, SUBSEL_OFFSET,
};

/// `BUS_VIRTUAL` (linux/input.h): the bus type the guest shows.
pub const BUS_VIRTUAL: u16 = 0x06;

/// The kinds of device the scripted source can present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Keys 1-248, the three LEDs (num, caps, scroll lock) and autorepeat
    Keyboard,
    /// Three buttons, relative X and Y, and a wheel
    Mouse,
    /// Three buttons and absolute X and Y in 0..=32767
    Tablet,
}

/// A device's identity and capabilities: everything the configuration
/// space can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub serial: String,
    pub ids: DevIds,
    /// `INPUT_PROP_*` bits.
    pub props: Vec<u8>,
    /// Per event type, the bitmap of codes supported (least significant bit
    /// of byte 0 is code 0); types with no entry are not supported.
    pub ev_bits: BTreeMap<u16, Vec<u8>>,
    /// Per absolute axis, its range.
    pub abs: BTreeMap<u16, AbsInfo>,
}

/// Key and button codes the scripts and profiles name (linux/input-event-codes.h).
pub mod code {
    pub const KEY_MAX_KEYBOARD: u16 = 248;
    pub const BTN_LEFT: u16 = 0x110;
    pub const BTN_RIGHT: u16 = 0x111;
    pub const BTN_MIDDLE: u16 = 0x112;
    pub const REL_X: u16 = 0x00;
    pub const REL_Y: u16 = 0x01;
    pub const REL_WHEEL: u16 = 0x08;
    pub const ABS_X: u16 = 0x00;
    pub const ABS_Y: u16 = 0x01;
    pub const LED_NUML: u16 = 0x00;
    pub const LED_CAPSL: u16 = 0x01;
    pub const LED_SCROLLL: u16 = 0x02;
    pub const REP_DELAY: u16 = 0x00;
    pub const REP_PERIOD: u16 = 0x01;
}

/// A bitmap with `codes` set, as short as its highest code allows.
pub fn bitmap(codes: impl IntoIterator<Item = u16>) -> Vec<u8> {
    let mut b = Vec::new();
    for c in codes {
        let byte = usize::from(c / 8);
        if b.len() <= byte {
            b.resize(byte + 1, 0);
        }
        b[byte] |= 1 << (c % 8);
    }
    b
}

/// Whether `bits` has `code` set.
pub fn has_bit(bits: &[u8], code: u16) -> bool {
    bits.get(usize::from(code / 8))
        .is_some_and(|b| b & (1 << (code % 8)) != 0)
}

impl Profile {
    /// The profile of a scripted device of `kind`.
    pub fn scripted(kind: Kind, name: String, serial: String) -> Self {
        use code::*;
        let mut ev_bits = BTreeMap::new();
        let mut abs = BTreeMap::new();
        let buttons = || bitmap([BTN_LEFT, BTN_RIGHT, BTN_MIDDLE]);
        let product = match kind {
            Kind::Keyboard => {
                ev_bits.insert(ev::KEY, bitmap(1..=KEY_MAX_KEYBOARD));
                ev_bits.insert(ev::LED, bitmap([LED_NUML, LED_CAPSL, LED_SCROLLL]));
                ev_bits.insert(ev::REP, bitmap([REP_DELAY, REP_PERIOD]));
                1
            }
            Kind::Mouse => {
                ev_bits.insert(ev::KEY, buttons());
                ev_bits.insert(ev::REL, bitmap([REL_X, REL_Y, REL_WHEEL]));
                2
            }
            Kind::Tablet => {
                ev_bits.insert(ev::KEY, buttons());
                ev_bits.insert(ev::ABS, bitmap([ABS_X, ABS_Y]));
                let axis = AbsInfo {
                    min: 0,
                    max: 32767,
                    ..AbsInfo::default()
                };
                abs.insert(ABS_X, axis);
                abs.insert(ABS_Y, axis);
                3
            }
        };
        Self {
            name,
            serial,
            ids: DevIds {
                bustype: BUS_VIRTUAL,
                vendor: 0,
                product,
                version: 1,
            },
            props: Vec::new(),
            ev_bits,
            abs,
        }
    }

    /// Whether the device sends events of type `kind` with `code`.
    pub fn supports(&self, kind: u16, code: u16) -> bool {
        kind == ev::SYN || self.ev_bits.get(&kind).is_some_and(|b| has_bit(b, code))
    }

    /// The payload of item `select`/`subsel`, at most [`PAYLOAD_MAX`] bytes
    /// (empty: no such item).
    pub fn item(&self, sel: u8, subsel: u8) -> Vec<u8> {
        let mut out = match sel {
            select::ID_NAME if subsel == 0 => self.name.as_bytes().to_vec(),
            select::ID_SERIAL if subsel == 0 => self.serial.as_bytes().to_vec(),
            select::ID_DEVIDS if subsel == 0 => self.ids.to_le_bytes().to_vec(),
            select::PROP_BITS if subsel == 0 => self.props.clone(),
            select::EV_BITS => self
                .ev_bits
                .get(&u16::from(subsel))
                .cloned()
                .unwrap_or_default(),
            select::ABS_INFO => self
                .abs
                .get(&u16::from(subsel))
                .map(|a| a.to_le_bytes().to_vec())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        out.truncate(PAYLOAD_MAX);
        out
    }
}

/// The configuration space: the driver's selection and what it shows.
#[derive(Debug, Clone, Default)]
pub struct ConfigSpace {
    select: u8,
    subsel: u8,
}

impl ConfigSpace {
    /// The whole space as the current selection shows it.
    pub fn image(&self, profile: &Profile) -> [u8; CONFIG_SIZE] {
        let mut b = [0u8; CONFIG_SIZE];
        b[SELECT_OFFSET] = self.select;
        b[SUBSEL_OFFSET] = self.subsel;
        let item = profile.item(self.select, self.subsel);
        b[SIZE_OFFSET] = item.len() as u8;
        b[PAYLOAD_OFFSET..PAYLOAD_OFFSET + item.len()].copy_from_slice(&item);
        b
    }

    /// Reads `buf.len()` bytes at `offset`; `false` outside the space.
    pub fn read(&self, profile: &Profile, offset: u32, buf: &mut [u8]) -> bool {
        let Some(range) = range(offset, buf.len()) else {
            return false;
        };
        buf.copy_from_slice(&self.image(profile)[range]);
        true
    }

    /// A write at `offset`: the bytes over `select` and `subsel` change the
    /// selection; the rest is read-only and ignored (QEMU writes the whole
    /// space back, read-only fields included). `false` outside the space.
    pub fn write(&mut self, offset: u32, data: &[u8]) -> bool {
        let Some(range) = range(offset, data.len()) else {
            return false;
        };
        for (at, &byte) in range.zip(data) {
            match at {
                SELECT_OFFSET => self.select = byte,
                SUBSEL_OFFSET => self.subsel = byte,
                _ => {}
            }
        }
        true
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

fn range(offset: u32, len: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(len)?;
    (end <= CONFIG_SIZE).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyboard() -> Profile {
        Profile::scripted(Kind::Keyboard, "kbd".into(), "s1".into())
    }

    #[test]
    fn the_selected_item_shows_with_its_size() {
        let p = keyboard();
        let mut c = ConfigSpace::default();
        assert!(c.write(0, &[select::ID_NAME, 0]));
        let img = c.image(&p);
        assert_eq!(img[SIZE_OFFSET], 3);
        assert_eq!(&img[8..11], b"kbd");
        c.write(0, &[select::EV_BITS, ev::LED as u8]);
        assert_eq!(c.image(&p)[SIZE_OFFSET], 1);
        assert_eq!(c.image(&p)[8], 0b111);
        c.write(0, &[select::EV_BITS, ev::ABS as u8]);
        assert_eq!(c.image(&p)[SIZE_OFFSET], 0, "a keyboard has no axes");
        c.write(0, &[select::EV_BITS, ev::KEY as u8]);
        assert_eq!(usize::from(c.image(&p)[SIZE_OFFSET]), 248 / 8 + 1);
    }

    #[test]
    fn a_whole_space_write_back_changes_only_the_selection() {
        let p = Profile::scripted(Kind::Tablet, "t".into(), "s".into());
        let mut c = ConfigSpace::default();
        let mut img = [0xffu8; CONFIG_SIZE];
        img[0] = select::ABS_INFO;
        img[1] = code::ABS_Y as u8;
        assert!(c.write(0, &img));
        let mut out = [0u8; AbsInfo::SIZE];
        assert!(c.read(&p, PAYLOAD_OFFSET as u32, &mut out));
        assert_eq!(AbsInfo::from_le_bytes(out).max, 32767);
        assert!(!c.write(130, &[0; 7]), "past the end");
        assert!(!c.read(&p, u32::MAX, &mut [0; 1]));
    }
}
