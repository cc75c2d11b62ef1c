//! Guest image downloads against a local HTTP server (no network needed):
//! resuming with `Range`, restarting when the server refuses ranges, and
//! discarding a file whose checksum does not match.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use xtask::vm::download;

#[derive(Clone, Copy)]
struct Behaviour {
    /// The first GET declares the whole length but sends only this many bytes.
    cut_first_at: Option<usize>,
    /// Answer ranged requests with 206 (else the whole file, 200).
    ranges: bool,
}

/// A one-file HTTP/1.1 server on 127.0.0.1; records each GET's `Range` header.
struct Server {
    url: String,
    ranges_seen: Arc<Mutex<Vec<Option<String>>>>,
}

fn serve(body: Vec<u8>, behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/images/guest.raw.xz",
        listener.local_addr().unwrap()
    );
    let ranges_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges_seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            let mut range = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: ") {
                    range = Some(v.trim().to_string());
                }
                if request.is_empty() {
                    request = line;
                }
            }
            if !request.starts_with("GET") {
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                continue;
            }
            let first = {
                let mut s = seen.lock().unwrap();
                s.push(range.clone());
                s.len() == 1
            };
            let start = range.as_deref().filter(|_| behaviour.ranges).and_then(|r| {
                r.strip_prefix("bytes=")?
                    .strip_suffix('-')?
                    .parse::<usize>()
                    .ok()
            });
            let (head, part) = match start {
                Some(s) if s < body.len() => (
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {s}-{}/{}\r\nConnection: close\r\n\r\n",
                        body.len() - s,
                        body.len() - 1,
                        body.len()
                    ),
                    &body[s..],
                ),
                _ => (format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n", body.len()), &body[..]),
            };
            let _ = conn.write_all(head.as_bytes());
            let sent = match behaviour.cut_first_at {
                Some(at) if first => &part[..at],
                _ => part,
            };
            let _ = conn.write_all(sent);
            let _ = conn.flush();
        }
    });
    Server { url, ranges_seen }
}

fn body() -> Vec<u8> {
    // Incompressible enough that nothing along the way could shortcut it.
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_broken_transfer_resumes_with_a_range_request() {
    let data = body();
    let server = serve(
        data.clone(),
        Behaviour {
            cut_first_at: Some(100_000),
            ranges: true,
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let (path, sum) =
        download::fetch(&server.url, Some(&sha(&data)), cache.path(), &|_| {}).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(sum, sha(&data));
    assert_eq!(
        *server.ranges_seen.lock().unwrap(),
        [None, Some("bytes=100000-".to_string())]
    );
    // A second fetch finds the verified file and asks the server nothing.
    download::fetch(&server.url, Some(&sha(&data)), cache.path(), &|_| {}).unwrap();
    assert_eq!(server.ranges_seen.lock().unwrap().len(), 2);
}

#[test]
fn a_server_that_refuses_ranges_gets_a_fresh_transfer() {
    let data = body();
    let server = serve(
        data.clone(),
        Behaviour {
            cut_first_at: Some(100_000),
            ranges: false,
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let (path, _) = download::fetch(&server.url, Some(&sha(&data)), cache.path(), &|_| {}).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    // Cut, resume refused (200 to a ranged request), then a whole new transfer.
    assert_eq!(
        *server.ranges_seen.lock().unwrap(),
        [None, Some("bytes=100000-".to_string()), None]
    );
}

#[test]
fn a_checksum_mismatch_discards_the_download() {
    let data = body();
    let server = serve(
        data,
        Behaviour {
            cut_first_at: None,
            ranges: true,
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let err = download::fetch(&server.url, Some(&wrong), cache.path(), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "checksum mismatch for {}: the pinned SHA-256 is {wrong}",
            server.url
        )),
        "{err}"
    );
    assert!(err.ends_with("the download was discarded"), "{err}");
    let left: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| !p.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn an_unreachable_server_is_named() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/x.img");
    let cache = tempfile::tempdir().unwrap();
    let err = download::fetch(&url, Some(&"0".repeat(64)), cache.path(), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("cannot download {url}: cannot reach the server")),
        "{err}"
    );
    assert!(download::reachable(&url)
        .unwrap_err()
        .starts_with(&format!("cannot reach 127.0.0.1:{port}")));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}
