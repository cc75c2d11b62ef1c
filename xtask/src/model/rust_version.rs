//! Rust release numbers as packagers spell them (`1.85.0+dfsg3-1~deb12u3`,
//! `1.86.0_1`, `1.86.0p0`, `1.86.0nb1`) and as `rust-version` does (`1.85`).

use std::fmt;
use std::str::FromStr;

/// `major.minor.patch`; a missing patch is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RustVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl RustVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> RustVersion {
        RustVersion {
            major,
            minor,
            patch,
        }
    }

    /// The Rust release inside a packager's version string: the first
    /// `N.N[.N]` run, whatever precedes or follows it (epochs, `+dfsg`,
    /// `_1`, `p0`, `nb1`). `None` when there is none.
    pub fn from_package_version(text: &str) -> Option<RustVersion> {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit()
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b':')
            {
                if let Some(v) = parse_prefix(&text[i..]) {
                    return Some(v);
                }
            }
            i += 1;
        }
        None
    }

    /// The `1.85` form `rust-version` uses; the patch is left out when it is 0.
    pub fn short(&self) -> String {
        if self.patch == 0 {
            format!("{}.{}", self.major, self.minor)
        } else {
            self.to_string()
        }
    }
}

/// `N.N` or `N.N.N` at the start of `text`, followed by a non-digit or the end.
fn parse_prefix(text: &str) -> Option<RustVersion> {
    let mut parts = [0u32; 3];
    let mut count = 0;
    let mut rest = text;
    while count < 3 {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        parts[count] = rest[..digits].parse().ok()?;
        count += 1;
        rest = &rest[digits..];
        match rest.strip_prefix('.') {
            Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) && count < 3 => rest = r,
            _ => break,
        }
    }
    (count >= 2).then_some(RustVersion::new(parts[0], parts[1], parts[2]))
}

impl FromStr for RustVersion {
    type Err = String;

    /// Strict: `1.85` or `1.85.0`, nothing else.
    fn from_str(s: &str) -> Result<RustVersion, String> {
        let parts: Vec<&str> = s.split('.').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(format!("`{s}` is not a Rust version (`1.85` or `1.85.0`)"));
        }
        let n = |i: usize| {
            parts
                .get(i)
                .map(|p| p.parse::<u32>().map_err(|e| format!("`{s}`: {e}")))
                .unwrap_or(Ok(0))
        };
        Ok(RustVersion::new(n(0)?, n(1)?, n(2)?))
    }
}

impl fmt::Display for RustVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl serde::Serialize for RustVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for RustVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RustVersion, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_packagers_write() {
        let cases = [
            ("1.85.0+dfsg3-1~deb12u3", Some("1.85.0")),
            ("1.63.0+dfsg1-2", Some("1.63.0")),
            ("1:1.70.0-1", Some("1.70.0")),
            ("1.86.0_1", Some("1.86.0")),
            ("1.86.0p0", Some("1.86.0")),
            ("1.86.0nb1", Some("1.86.0")),
            ("rust-1.90.0", Some("1.90.0")),
            ("1.85", Some("1.85.0")),
            ("r2", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = RustVersion::from_package_version(text).map(|v| v.to_string());
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn rust_versions_parse_strictly_and_order_numerically() {
        assert_eq!(
            "1.85".parse::<RustVersion>().unwrap(),
            RustVersion::new(1, 85, 0)
        );
        assert!("1.85.0-beta".parse::<RustVersion>().is_err());
        assert!("1".parse::<RustVersion>().is_err());
        assert!(RustVersion::new(1, 9, 0) < RustVersion::new(1, 10, 0));
        assert_eq!(RustVersion::new(1, 85, 0).short(), "1.85");
        assert_eq!(RustVersion::new(1, 85, 1).short(), "1.85.1");
    }
}
