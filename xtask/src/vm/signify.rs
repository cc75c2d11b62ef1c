//! OpenBSD's signify, verifying side only: a release's `SHA256.sig` is a
//! checksum list signed with the release's Ed25519 key (signify's embedded
//! form, `signify -S -e`), and the key is printed on the release page.
//!
//! Formats (signify(1)): a key or signature file is an `untrusted comment:`
//! line and a base64 line. The public key decodes to `Ed`, an 8-byte key
//! number and the 32-byte Ed25519 key; the signature to `Ed`, the signing
//! key's number and the 64-byte signature. In the embedded form the signed
//! message is everything after the second line. Ed25519 comes from ring,
//! which the tree already has through rustls.

use anyhow::{bail, Context, Result};
use base64::Engine;

const ALGORITHM: &[u8; 2] = b"Ed";

/// A signify public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub keynum: [u8; 8],
    pub key: [u8; 32],
}

fn base64_line(text: &str) -> Result<Vec<u8>> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .context("no base64 line")?;
    base64::engine::general_purpose::STANDARD
        .decode(line)
        .with_context(|| format!("`{line}` is not base64"))
}

impl PublicKey {
    /// From the key's base64 line, or a whole `.pub` file.
    pub fn parse(text: &str) -> Result<PublicKey> {
        let raw = base64_line(text).context("not a signify public key")?;
        if raw.len() != 42 || &raw[..2] != ALGORITHM {
            bail!("not a signify Ed25519 public key ({} bytes)", raw.len());
        }
        let mut keynum = [0u8; 8];
        keynum.copy_from_slice(&raw[2..10]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&raw[10..]);
        Ok(PublicKey { keynum, key })
    }
}

/// Checks an embedded-form signature file with `key`; returns the signed
/// message (the checksum list).
pub fn verify_embedded<'a>(key: &PublicKey, file: &'a [u8]) -> Result<&'a [u8]> {
    let mut lines = file.splitn(3, |b| *b == b'\n');
    let comment = lines.next().unwrap_or_default();
    if !comment.starts_with(b"untrusted comment:") {
        bail!("not a signify signature: the first line is not an `untrusted comment:`");
    }
    let sig_line = std::str::from_utf8(lines.next().unwrap_or_default())
        .context("the signature line is not text")?;
    let message = lines.next().unwrap_or_default();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sig_line.trim())
        .context("the signature line is not base64")?;
    if raw.len() != 74 || &raw[..2] != ALGORITHM {
        bail!("not a signify Ed25519 signature ({} bytes)", raw.len());
    }
    if raw[2..10] != key.keynum {
        bail!(
            "signed with another key (key number {}, this key's is {})",
            hex(&raw[2..10]),
            hex(&key.keynum)
        );
    }
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key.key)
        .verify(message, &raw[10..])
        .map_err(|_| {
            anyhow::anyhow!(
                "the signature does not verify: the list was altered or not signed by this key"
            )
        })?;
    Ok(message)
}

/// The SHA-256 a checksum list gives for `file` (`SHA256 (file) = hex`).
pub fn listed_sha256(list: &str, file: &str) -> Option<String> {
    list.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("SHA256 (")?;
        let (name, hex) = rest.split_once(") = ")?;
        (name == file).then(|| hex.trim().to_ascii_lowercase())
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies that `sig_file`, signed by `key`, lists `file` with `sha256`.
pub fn check(key: &PublicKey, sig_file: &[u8], file: &str, sha256: &str) -> Result<()> {
    let message = verify_embedded(key, sig_file)?;
    let list = std::str::from_utf8(message).context("the signed list is not text")?;
    match listed_sha256(list, file) {
        None => bail!("the signed list does not name {file}"),
        Some(listed) if listed != sha256 => {
            bail!("the signed list gives {file} the SHA-256 {listed}, the pin is {sha256}")
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    const KEYNUM: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A test key (fixed seed) in signify's formats, and a signer.
    fn test_key(seed: u8) -> (Ed25519KeyPair, String) {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let mut raw = b"Ed".to_vec();
        raw.extend(KEYNUM);
        raw.extend(pair.public_key().as_ref());
        let public = format!("untrusted comment: test public key\n{}\n", b64(&raw));
        (pair, public)
    }

    fn sign(pair: &Ed25519KeyPair, message: &str) -> Vec<u8> {
        let mut raw = b"Ed".to_vec();
        raw.extend(KEYNUM);
        raw.extend(pair.sign(message.as_bytes()).as_ref());
        format!(
            "untrusted comment: verify with test.pub\n{}\n{message}",
            b64(&raw)
        )
        .into_bytes()
    }

    const LIST: &str = "SHA256 (INSTALL.amd64) = 1111\nSHA256 (miniroot79.img) = abcd\n";

    #[test]
    fn a_signature_made_with_the_key_verifies_and_names_the_file() {
        let (pair, public) = test_key(7);
        let key = PublicKey::parse(&public).unwrap();
        let sig = sign(&pair, LIST);
        assert_eq!(verify_embedded(&key, &sig).unwrap(), LIST.as_bytes());
        check(&key, &sig, "miniroot79.img", "abcd").unwrap();
        let wrong = check(&key, &sig, "miniroot79.img", "ef01").unwrap_err();
        assert_eq!(
            format!("{wrong:#}"),
            "the signed list gives miniroot79.img the SHA-256 abcd, the pin is ef01"
        );
        let missing = check(&key, &sig, "miniroot78.img", "abcd").unwrap_err();
        assert_eq!(
            format!("{missing:#}"),
            "the signed list does not name miniroot78.img"
        );
    }

    #[test]
    fn an_altered_list_or_another_key_fails() {
        let (pair, public) = test_key(7);
        let key = PublicKey::parse(&public).unwrap();
        let mut sig = sign(&pair, LIST);
        let last = sig.len() - 2;
        sig[last] ^= 1;
        let err = verify_embedded(&key, &sig).unwrap_err();
        assert!(format!("{err:#}").contains("does not verify"), "{err:#}");

        let (other, _) = test_key(9);
        let err = verify_embedded(&key, &sign(&other, LIST)).unwrap_err();
        assert!(format!("{err:#}").contains("does not verify"), "{err:#}");

        let mut raw = b"Ed".to_vec();
        raw.extend([9u8; 8]);
        raw.extend([0u8; 64]);
        let foreign = format!("untrusted comment: x\n{}\n{LIST}", b64(&raw));
        let err = verify_embedded(&key, foreign.as_bytes()).unwrap_err();
        assert!(
            format!("{err:#}").contains("signed with another key"),
            "{err:#}"
        );
    }

    #[test]
    fn the_release_keys_in_vm_images_parse() {
        for line in [
            "RWS3/nvFmk4SWSmt/5QIk9yB4+uoAGoiYvFhVlDQBG3rWENeeIys0LWB",
            "RWTSdNN9A3yvWNn7mUjXwv9DOCOUnyfuV+mq1iGPIfD+NhN8EYnEQ1at",
        ] {
            PublicKey::parse(line).unwrap();
        }
        assert!(PublicKey::parse("untrusted comment: x\nAAAA\n").is_err());
    }
}
