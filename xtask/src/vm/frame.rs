//! Reading what the guest runner (`guest/runner.sh`) printed on the serial
//! console: its markers, and the files it sent framed, base64-encoded and
//! checksummed. Console noise (kernel messages, a shell echoing input) and
//! carriage returns are tolerated between frames; inside a frame, anything
//! that is not the file's base64 makes the frame corrupt, and a frame whose
//! end never arrived is truncated. A damaged frame is never read as data.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::digest::hex;

const PREFIX: &str = "@@VHU-";
const SUFFIX: &str = "@@";

/// Everything the runner said, in console order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// `@@VHU-BOOTED <kernel release>@@`, from the Linux guests' init.
    pub booted: Option<String>,
    /// `@@VHU-START <n>@@`: the runner started and will run `n` executables.
    pub start: Option<usize>,
    /// `@@VHU-RUN …@@` markers, each with its byte offset in the console text.
    pub runs: Vec<RunMarker>,
    /// Frames by file name: the file's bytes, or why they cannot be trusted.
    pub frames: BTreeMap<String, Result<Vec<u8>, FrameError>>,
    /// `@@VHU-DONE <n>@@`: the runner finished after `n` executables.
    pub done: Option<usize>,
    /// Other markers the guest printed (`ERROR …`, `WARN …`), in order.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMarker {
    pub index: usize,
    pub package: String,
    pub name: String,
    pub offset: usize,
}

/// Why a frame's content is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The console ended (or another frame began) before this frame's end marker.
    Truncated { received_lines: usize },
    /// The frame ended but its content does not match its header.
    Corrupt(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Truncated { received_lines } => {
                write!(
                    f,
                    "truncated: its end never arrived ({received_lines} lines received)"
                )
            }
            FrameError::Corrupt(why) => write!(f, "corrupt: {why}"),
        }
    }
}

impl Scan {
    /// The frames that could not be trusted, as `name: problem` lines.
    pub fn damaged(&self) -> Vec<(String, FrameError)> {
        self.frames
            .iter()
            .filter_map(|(name, r)| r.as_ref().err().map(|e| (name.clone(), e.clone())))
            .collect()
    }

    pub fn frame(&self, name: &str) -> Option<&Result<Vec<u8>, FrameError>> {
        self.frames.get(name)
    }
}

struct Open {
    name: String,
    size: usize,
    sha256: String,
    lines: Vec<String>,
    problem: Option<String>,
}

/// Reads the whole console text.
pub fn scan(console: &str) -> Scan {
    let mut scan = Scan::default();
    let mut open: Option<Open> = None;
    let mut offset = 0;
    for raw in console.split_inclusive('\n') {
        let line_offset = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']).trim_start_matches('\r');
        let marker = marker_of(line);
        if let Some(frame) = open.as_mut() {
            match marker {
                Some(("END", rest)) if rest == frame.name => {
                    let frame = open.take().expect("a frame is open");
                    let name = frame.name.clone();
                    scan.frames.insert(name, close(frame));
                    continue;
                }
                Some(_) => {
                    // Another marker inside a frame: this frame was cut short.
                    let frame = open.take().expect("a frame is open");
                    scan.frames.insert(
                        frame.name,
                        Err(FrameError::Truncated {
                            received_lines: frame.lines.len(),
                        }),
                    );
                }
                None => {
                    frame.lines.push(line.to_string());
                    continue;
                }
            }
        }
        let Some((kind, rest)) = marker else { continue };
        let mut words = rest.split_whitespace();
        match kind {
            "BOOTED" => scan.booted = Some(rest.trim().to_string()),
            "START" => scan.start = words.next().and_then(|w| w.parse().ok()),
            "DONE" => scan.done = words.next().and_then(|w| w.parse().ok()),
            "RUN" => {
                let (Some(index), Some(package), Some(name)) = (
                    words.next().and_then(|w| w.parse().ok()),
                    words.next(),
                    words.next(),
                ) else {
                    scan.notes.push(format!("unreadable marker: {line}"));
                    continue;
                };
                scan.runs.push(RunMarker {
                    index,
                    package: package.to_string(),
                    name: name.to_string(),
                    offset: line_offset,
                });
            }
            "BEGIN" => {
                let parts: Vec<&str> = words.collect();
                match parts.as_slice() {
                    [name, size, sha] if size.parse::<usize>().is_ok() && sha.len() == 64 => {
                        open = Some(Open {
                            name: name.to_string(),
                            size: size.parse().expect("checked"),
                            sha256: sha.to_ascii_lowercase(),
                            lines: Vec::new(),
                            problem: None,
                        })
                    }
                    [name, ..] => {
                        scan.frames.insert(
                            name.to_string(),
                            Err(FrameError::Corrupt(format!(
                                "unreadable frame header `{line}`"
                            ))),
                        );
                    }
                    [] => scan.notes.push(format!("unreadable marker: {line}")),
                }
            }
            "END" => scan
                .notes
                .push(format!("frame end without a beginning: {line}")),
            _ => scan.notes.push(format!("{kind} {}", rest.trim())),
        }
    }
    if let Some(frame) = open {
        scan.frames.insert(
            frame.name,
            Err(FrameError::Truncated {
                received_lines: frame.lines.len(),
            }),
        );
    }
    scan
}

/// `@@VHU-KIND rest@@` anywhere on the line (noise may precede it), as (KIND, rest).
fn marker_of(line: &str) -> Option<(&str, &str)> {
    let start = line.find(PREFIX)?;
    let body = line[start + PREFIX.len()..].strip_suffix(SUFFIX)?;
    let (kind, rest) = body.split_once(' ').unwrap_or((body, ""));
    (!kind.is_empty() && kind.bytes().all(|b| b.is_ascii_uppercase() || b == b'-'))
        .then_some((kind, rest))
}

fn close(mut frame: Open) -> Result<Vec<u8>, FrameError> {
    if let Some(problem) = frame.problem.take() {
        return Err(FrameError::Corrupt(problem));
    }
    // `uuencode -m` wraps the base64 in `begin-base64 <mode> <name>` and `====`.
    let mut lines = frame
        .lines
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty());
    match lines.next() {
        Some(first) if first.starts_with("begin-base64 ") => {}
        Some(first) => {
            return Err(FrameError::Corrupt(format!(
                "expected a `begin-base64` line, got `{}`",
                shorten(first)
            )))
        }
        None => return Err(FrameError::Corrupt("empty frame".into())),
    }
    let body: Vec<&str> = lines.collect();
    match body.last() {
        Some(&"====") => {}
        _ => {
            return Err(FrameError::Corrupt(
                "the base64 trailer `====` is missing".into(),
            ))
        }
    }
    let mut text = String::new();
    for l in &body[..body.len() - 1] {
        if let Some(bad) = l
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '+' || *c == '/' || *c == '='))
        {
            return Err(FrameError::Corrupt(format!(
                "unexpected {bad:?} in the base64 line `{}`",
                shorten(l)
            )));
        }
        text.push_str(l);
    }
    let data = base64_decode(&text).map_err(FrameError::Corrupt)?;
    if data.len() != frame.size {
        return Err(FrameError::Corrupt(format!(
            "{} bytes decoded, the header says {}",
            data.len(),
            frame.size
        )));
    }
    let sum = hex(&Sha256::digest(&data));
    if sum != frame.sha256 {
        return Err(FrameError::Corrupt(format!(
            "SHA-256 {sum} does not match the header's {}",
            frame.sha256
        )));
    }
    Ok(data)
}

fn shorten(line: &str) -> String {
    let mut s: String = line.chars().take(60).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

/// Standard base64 with `=` padding, the alphabet `uuencode -m` writes.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{} base64 characters is not a multiple of 4",
            bytes.len()
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err("misplaced `=` padding".into());
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | value(c).ok_or_else(|| format!("{:?} is not base64", c as char))?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Ok(out)
}

/// What the runner prints for one file: the same framing, for tests and for
/// host-side tools that want to speak the protocol.
pub fn encode(name: &str, data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!(
        "@@VHU-BEGIN {name} {} {}@@\r\nbegin-base64 644 {name}\r\n",
        data.len(),
        hex(&Sha256::digest(data))
    );
    for line in b64.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push_str("\r\n");
    }
    out.push_str(&format!("====\r\n@@VHU-END {name}@@\r\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary of a scan that a reader can check at a glance.
    fn render(scan: &Scan) -> String {
        let mut out = String::new();
        if let Some(b) = &scan.booted {
            out.push_str(&format!("booted {b}\n"));
        }
        out.push_str(&format!("start {:?} done {:?}\n", scan.start, scan.done));
        for r in &scan.runs {
            out.push_str(&format!("run {} {} {}\n", r.index, r.package, r.name));
        }
        for (name, frame) in &scan.frames {
            match frame {
                Ok(data) => out.push_str(&format!(
                    "frame {name}: {:?}\n",
                    String::from_utf8_lossy(data)
                )),
                Err(e) => out.push_str(&format!("frame {name}: {e}\n")),
            }
        }
        for n in &scan.notes {
            out.push_str(&format!("note {n}\n"));
        }
        out
    }

    fn good_console() -> String {
        format!(
            "SeaBIOS noise\r\n@@VHU-BOOTED 6.1.0-56-amd64@@\r\n@@VHU-START 1@@\r\n{}@@VHU-RUN 1 demo lib@@\r\n{}{}{}@@VHU-DONE 1@@\r\n",
            encode("info", b"Linux vhu 6.1.0\n"),
            encode("1.out", b"{ \"type\": \"test\", \"name\": \"t::ok\", \"event\": \"ok\" }\n"),
            encode("1.err", b""),
            encode("1.status", b"0\n"),
        )
    }

    /// Each case: a name, a change to a good console transcript, and what the scan says.
    #[test]
    fn scans_noisy_cut_and_flipped_consoles() {
        let good = good_console();
        let out_frame = encode(
            "1.out",
            b"{ \"type\": \"test\", \"name\": \"t::ok\", \"event\": \"ok\" }\n",
        );
        let b64_line = out_frame.lines().nth(2).unwrap().to_string();
        let cases: Vec<(&str, String)> = vec![
            ("intact", good.clone()),
            (
                // Kernel messages and a shell's echo between frames are harmless.
                "noise between frames",
                good.replace("@@VHU-RUN", "[   12.345678] virtio_blk virtio1: [vda] 20 512-byte logical blocks\r\n# sh runner.sh\r\n@@VHU-RUN"),
            ),
            ("noise before a marker on its line", good.replace("@@VHU-DONE 1@@", "[ 1.0] x@@VHU-DONE 1@@")),
            // A kernel message inside a frame: the frame is corrupt, not misread.
            ("noise inside a frame", good.replacen(&b64_line, &format!("{b64_line}\r\n[   13.0] random: crng init done"), 1)),
            ("one flipped bit", good.replacen(&b64_line, &flip_one(&b64_line), 1)),
            ("a line lost", good.replacen(&format!("{b64_line}\r\n"), "", 1)),
            ("cut inside a frame", good[..good.find(&b64_line).unwrap() + 10].to_string()),
            ("cut before DONE", good[..good.find("@@VHU-DONE").unwrap()].to_string()),
            ("size in the header is wrong", good.replacen(" 1.out 51 ", " 1.out 52 ", 1)),
            ("a new frame before the end", good.replacen("@@VHU-END 1.out@@\r\n", "", 1)),
            ("header without a checksum", good.replacen("@@VHU-BEGIN 1.status 2 ", "@@VHU-BEGIN 1.status 2 x", 1)),
        ];
        let mut out = String::new();
        for (name, console) in cases {
            out.push_str(&format!("== {name}\n{}", render(&scan(&console))));
        }
        expect_test::expect_file!["frame_cases.txt"].assert_eq(&out);
    }

    /// Flips the lowest bit of one base64 character's value, keeping it base64.
    fn flip_one(line: &str) -> String {
        let mut chars: Vec<char> = line.chars().collect();
        let i = chars.len() / 2;
        chars[i] = match chars[i] {
            'A' => 'B',
            'B' => 'A',
            c if c.is_ascii_lowercase() && c != 'z' => ((c as u8) ^ 1) as char,
            c if c.is_ascii_uppercase() => ((c as u8) ^ 1) as char,
            '0' => '1',
            _ => 'Q',
        };
        chars.into_iter().collect()
    }

    #[test]
    fn base64_round_trips() {
        for data in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0, 255, 128, 7][..],
        ] {
            let framed = encode("x", data);
            assert_eq!(scan(&framed).frames["x"].as_ref().unwrap(), data);
        }
        assert!(base64_decode("Zm9v=").is_err());
        assert!(base64_decode("Zg==Zg==").is_err());
    }

    /// The runner itself, run by the host's busybox: what it prints is what the host reads.
    #[test]
    #[ignore = "slow: needs busybox on PATH; run with `cargo xtask test`"]
    fn the_runner_script_speaks_this_protocol() {
        let (_dir, tools, payload) = super::super::guest::runner_sandbox(&[]);
        std::fs::write(payload.join("manifest"), "demo lib t/1\ndemo it t/2\n").unwrap();
        std::fs::write(payload.join("args"), "--one --two\n").unwrap();
        std::fs::write(payload.join("env"), "RUSTC_BOOTSTRAP=1\n").unwrap();
        let script = "#!/bin/sh\necho \"args=$* bootstrap=$RUSTC_BOOTSTRAP bin=${MATRIX_BIN_DIR##*/}\"\necho oops >&2\nexit 3\n";
        for t in ["t/1", "t/2"] {
            std::fs::write(payload.join(t), script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(payload.join(t), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let out = crate::cmd::Cmd::new(tools.join("sh"))
            .arg(payload.join("runner.sh"))
            .env("PATH", &tools)
            .run()
            .unwrap()
            .ok()
            .unwrap();
        let scan = scan(&out.stdout_str());
        assert_eq!((scan.start, scan.done), (Some(2), Some(2)));
        assert_eq!(
            scan.runs
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["lib", "it"]
        );
        let text = |name: &str| String::from_utf8(scan.frames[name].clone().unwrap()).unwrap();
        assert_eq!(text("2.out"), "args=--one --two bootstrap=1 bin=bin\n");
        assert_eq!(text("2.err"), "oops\n");
        assert_eq!(text("2.status"), "3\n");
        assert!(text("info").starts_with("Linux"), "{}", text("info"));
    }
}
