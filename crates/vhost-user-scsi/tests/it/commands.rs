//! Data-driven command cases: `commands.txt` holds one command per line
//! and, on the next (indented), the response it must get, rendered by
//! [`render`].
//! Run with `UPDATE_GOLDEN=1` to print the file with the responses the
//! back-end gives now (to review, then paste into `commands.txt`).

use super::*;

const CASES: &str = include_str!("commands.txt");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// One response on one line.
fn render(r: &CmdResult) -> String {
    let sense = match r.sense_key() {
        Some((k, a, q)) => format!("{k:x}/{a:02x}/{q:02x}"),
        None if r.sense.is_empty() => "-".into(),
        None => hex(&r.sense),
    };
    format!(
        "response={} status={} sense={sense} residual={} data={}",
        r.response,
        r.status,
        r.residual,
        if r.data.is_empty() {
            "-".into()
        } else {
            hex(&r.data)
        }
    )
}

#[test]
fn every_command_case_gets_its_golden_response() {
    let disks = Disks::create();
    let backend = disks.start(&[]);
    let mut dev = connect(&backend);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut out = String::new();
    let mut failures = Vec::new();
    let mut lines = CASES.lines().peekable();
    let mut count = 0;
    while let Some(line) = lines.next() {
        if line.starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // `name | lun | cdb hex | data-in bytes`
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(f.len(), 4, "bad case line: {line}");
        let lun_field: [u8; 8] = match f[1].parse::<u16>() {
            Ok(l) => vu_protocol::virtio::scsi::LunAddress { target: 0, lun: l }.encode(),
            Err(_) => unhex(f[1]).try_into().expect("an 8-byte LUN field"),
        };
        let r = dev
            .command_to(lun_field, &unhex(f[2]), &[], f[3].parse().unwrap())
            .unwrap();
        let got = render(&r);
        let want = match lines.peek() {
            Some(l) if l.starts_with("  ") => lines.next().unwrap_or_default().trim(),
            _ => "",
        };
        count += 1;
        if got != want {
            failures.push(format!("{}:\n  want {want}\n  got  {got}", f[0]));
        }
        out.push_str(line);
        out.push('\n');
        out.push_str(&format!("  {got}\n"));
    }
    if update {
        eprintln!("{out}");
    }
    assert!(count > 20, "{count} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    drop(dev);
    assert_still_serving(&backend);
}
