//! BSD guest images pinned to official checksums: SHA-512 pins, and
//! OpenBSD's signify check against a local server serving an image and a
//! `SHA256.sig` signed here with a test key (signify's embedded format).

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::Digest;
use xtask::model::vm_image::{DigestAlgo, DownloadSource, Pin, SignifyCheck};
use xtask::model::{DataDirs, Model};
use xtask::vm::{bsd, download};

use super::platform_data::{ok, serve};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn image() -> Vec<u8> {
    (0..70_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

#[test]
fn a_sha512_pin_accepts_its_file_and_discards_another() {
    let data = image();
    let (base, _) = serve(vec![("/images/NetBSD-11.0-amd64.iso", ok(data.clone()))]);
    let url = format!("{base}/images/NetBSD-11.0-amd64.iso");
    let cache = tempfile::tempdir().unwrap();
    let pin = Pin {
        algo: DigestAlgo::Sha512,
        hex: hex(&sha2::Sha512::digest(&data)),
    };
    let (path, got) = download::fetch_pinned(&url, Some(&pin), cache.path(), &|_| {}).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(got, pin.hex);
    let wrong = Pin {
        algo: DigestAlgo::Sha512,
        hex: "0".repeat(128),
    };
    let err = download::fetch_pinned(
        &url,
        Some(&wrong),
        tempfile::tempdir().unwrap().path(),
        &|_| {},
    )
    .unwrap_err();
    let err = format!("{err:#}");
    assert!(err.contains("the pinned SHA-512 is 000"), "{err}");
    assert!(err.contains("the download was discarded"), "{err}");
}

/// A signify key pair for the test, the public half as a release page prints it.
fn test_key() -> (Ed25519KeyPair, String) {
    let pair = Ed25519KeyPair::from_seed_unchecked(&[42; 32]).unwrap();
    let mut raw = b"Ed".to_vec();
    raw.extend([7u8; 8]);
    raw.extend(pair.public_key().as_ref());
    (pair, base64::engine::general_purpose::STANDARD.encode(raw))
}

fn signed(pair: &Ed25519KeyPair, list: &str) -> Vec<u8> {
    let mut raw = b"Ed".to_vec();
    raw.extend([7u8; 8]);
    raw.extend(pair.sign(list.as_bytes()).as_ref());
    format!(
        "untrusted comment: verify with openbsd-79-base.pub\n{}\n{list}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
    .into_bytes()
}

#[test]
fn signify_vouches_for_a_pinned_miniroot_or_says_why_it_could_not() {
    let data = image();
    let sum = hex(&sha2::Sha256::digest(&data));
    let (pair, public_key) = test_key();
    let list = format!(
        "SHA256 (INSTALL.amd64) = {}\nSHA256 (miniroot79.img) = {sum}\n",
        "1".repeat(64)
    );
    let tampered = list.replace("INSTALL.amd64", "INSTALL.amd65");
    let mut forged = signed(&pair, &list);
    let at = forged.len() - tampered.len();
    forged[at..].copy_from_slice(tampered.as_bytes());
    let (base, _) = serve(vec![
        ("/good/miniroot79.img", ok(data.clone())),
        ("/good/SHA256.sig", ok(signed(&pair, &list))),
        ("/forged/miniroot79.img", ok(data.clone())),
        ("/forged/SHA256.sig", ok(forged)),
        ("/nosig/miniroot79.img", ok(data.clone())),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let pin = Pin {
        algo: DigestAlgo::Sha256,
        hex: sum.clone(),
    };
    let mut got = Vec::new();
    for dir in ["good", "forged", "nosig"] {
        let src = DownloadSource {
            url: format!("{base}/{dir}/miniroot79.img"),
            sha256: Some(sum.clone()),
            sha512: None,
            signify: Some(SignifyCheck {
                public_key: public_key.clone(),
                key_name: "openbsd-79-base.pub".into(),
                sig_url: None,
            }),
            compression: Default::default(),
            format: Default::default(),
        };
        let (file, _) =
            download::fetch_pinned(&src.url, Some(&pin), &cache.path().join(dir), &|_| {}).unwrap();
        let verdict = bsd::verify_signature(&src, &pin, &file, &|_| {});
        got.push(match verdict {
            Ok(v) => format!("{dir}: ok: {}", v.replace(&base, "<server>")),
            Err(e) => format!(
                "{dir}: rejected: {}",
                format!("{e:#}").replace(&base, "<server>")
            ),
        });
    }
    expect_test::expect![[r#"
        [
            "good: ok: sha256 pin; signify: <server>/good/SHA256.sig verified with openbsd-79-base.pub",
            "forged: rejected: signify rejects miniroot79.img: <server>/forged/SHA256.sig with openbsd-79-base.pub: the signature does not verify: the list was altered or not signed by this key",
            "nosig: ok: sha256 pin; signify not checked: GET <server>/nosig/SHA256.sig: HTTP 404 Not Found",
        ]
    "#]]
    .assert_debug_eq(&got);
}

/// Tidy: every BSD guest the matrix boots has an official pin, except the
/// one whose official checksum this project has not got (it says so).
#[test]
fn every_bsd_guest_in_the_matrix_is_pinned_to_an_official_checksum() {
    let model = Model::load(&DataDirs::under(&xtask::repo_root())).unwrap();
    let awaiting_tofu = ["freebsd-14.4-i386"];
    for p in model.platforms.iter().filter(|p| p.os != "linux") {
        let id = p.vm_image.as_ref().unwrap();
        let src = model.vm_images[id].download.as_ref().unwrap();
        if awaiting_tofu.contains(&id.as_str()) {
            assert!(
                src.pin().is_none(),
                "{id} is pinned now: drop it from this list"
            );
            continue;
        }
        assert!(
            src.pin().is_some(),
            "{} boots {id}, which has no pinned checksum",
            p.id
        );
        if p.os == "openbsd" {
            assert!(
                src.signify.is_some(),
                "{id}: OpenBSD images are also checked with signify"
            );
        }
    }
}
