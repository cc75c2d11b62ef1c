//! The scripted event source's text format, one event per line:
//!
//! ```text
//! # comment
//! EV_KEY KEY_A 1      type, code, value: names or numbers (decimal, 0x hex)
//! EV_SYN SYN_REPORT 0
//! tap KEY_B           press, report, release, report
//! ```
//!
//! Values are signed 32-bit numbers (a relative move of -5 is `-5`).

use vu_protocol::virtio::input::{ev, Event};

/// A line that is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct ScriptError {
    pub line: usize,
    pub what: String,
}

/// Longest line accepted: a script is a few words per line, and a FIFO
/// writer that never sends a newline must not grow the buffer forever.
pub const MAX_LINE: usize = 256;

const TYPES: &[(&str, u16)] = &[
    ("EV_SYN", ev::SYN),
    ("EV_KEY", ev::KEY),
    ("EV_REL", ev::REL),
    ("EV_ABS", ev::ABS),
    ("EV_MSC", ev::MSC),
    ("EV_SW", ev::SW),
    ("EV_LED", ev::LED),
    ("EV_SND", ev::SND),
    ("EV_REP", ev::REP),
];

/// Codes by name (linux/input-event-codes.h): enough for scripts; any code
/// can be given as a number.
const CODES: &[(&str, u16)] = &[
    ("SYN_REPORT", 0),
    ("KEY_ESC", 1),
    ("KEY_1", 2),
    ("KEY_2", 3),
    ("KEY_3", 4),
    ("KEY_4", 5),
    ("KEY_5", 6),
    ("KEY_6", 7),
    ("KEY_7", 8),
    ("KEY_8", 9),
    ("KEY_9", 10),
    ("KEY_0", 11),
    ("KEY_MINUS", 12),
    ("KEY_EQUAL", 13),
    ("KEY_BACKSPACE", 14),
    ("KEY_TAB", 15),
    ("KEY_Q", 16),
    ("KEY_W", 17),
    ("KEY_E", 18),
    ("KEY_R", 19),
    ("KEY_T", 20),
    ("KEY_Y", 21),
    ("KEY_U", 22),
    ("KEY_I", 23),
    ("KEY_O", 24),
    ("KEY_P", 25),
    ("KEY_ENTER", 28),
    ("KEY_LEFTCTRL", 29),
    ("KEY_A", 30),
    ("KEY_S", 31),
    ("KEY_D", 32),
    ("KEY_F", 33),
    ("KEY_G", 34),
    ("KEY_H", 35),
    ("KEY_J", 36),
    ("KEY_K", 37),
    ("KEY_L", 38),
    ("KEY_LEFTSHIFT", 42),
    ("KEY_Z", 44),
    ("KEY_X", 45),
    ("KEY_C", 46),
    ("KEY_V", 47),
    ("KEY_B", 48),
    ("KEY_N", 49),
    ("KEY_M", 50),
    ("KEY_DOT", 52),
    ("KEY_LEFTALT", 56),
    ("KEY_SPACE", 57),
    ("KEY_CAPSLOCK", 58),
    ("BTN_LEFT", 0x110),
    ("BTN_RIGHT", 0x111),
    ("BTN_MIDDLE", 0x112),
    ("REL_X", 0),
    ("REL_Y", 1),
    ("REL_WHEEL", 8),
    ("ABS_X", 0),
    ("ABS_Y", 1),
    ("LED_NUML", 0),
    ("LED_CAPSL", 1),
    ("LED_SCROLLL", 2),
];

fn number(word: &str) -> Option<i64> {
    let (neg, digits) = match word.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let v = match digits.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

fn name_or_number(word: &str, names: &[(&str, u16)], what: &str) -> Result<u16, String> {
    if let Some(&(_, v)) = names.iter().find(|(n, _)| *n == word) {
        return Ok(v);
    }
    number(word)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| format!("`{word}` is not a known {what} nor a number in 0..=65535"))
}

/// Parses one line into `out` (nothing for a blank line or a comment).
pub fn parse_line(text: &str, line: usize, out: &mut Vec<Event>) -> Result<(), ScriptError> {
    let err = |what: String| ScriptError { line, what };
    if text.len() > MAX_LINE {
        return Err(err(format!("longer than {MAX_LINE} bytes")));
    }
    let text = text.split('#').next().unwrap_or_default().trim();
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(()),
        ["tap", key] => {
            let code = name_or_number(key, CODES, "code").map_err(err)?;
            for value in [1, 0] {
                out.push(Event {
                    kind: ev::KEY,
                    code,
                    value,
                });
                out.push(Event {
                    kind: ev::SYN,
                    code: 0,
                    value: 0,
                });
            }
            Ok(())
        }
        [kind, code, value] => {
            let kind = name_or_number(kind, TYPES, "event type").map_err(err)?;
            if kind > ev::MAX {
                return Err(err(format!("event type {kind} is above {}", ev::MAX)));
            }
            let code = name_or_number(code, CODES, "code").map_err(err)?;
            let value = number(value)
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| err(format!("`{value}` is not a 32-bit signed number")))?;
            out.push(Event {
                kind,
                code,
                value: value as u32,
            });
            Ok(())
        }
        _ => Err(err(format!(
            "expected `TYPE CODE VALUE` or `tap KEY`, found `{text}`"
        ))),
    }
}

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Vec<Event>, ScriptError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        parse_line(line, i + 1, &mut out)?;
    }
    Ok(out)
}

/// Splits a stream (a FIFO) into lines as bytes arrive; a partial line
/// waits for the rest.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
    line: usize,
}

impl LineBuffer {
    /// Bytes of an unfinished line kept (at most [`MAX_LINE`]).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Adds `bytes` and parses every complete line into `out`; the bad
    /// lines are skipped and returned.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Vec<ScriptError> {
        let mut errors = Vec::new();
        self.pending.extend_from_slice(bytes);
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            self.line += 1;
            let parsed = match std::str::from_utf8(&line) {
                Ok(text) => parse_line(text, self.line, out),
                Err(_) => Err(ScriptError {
                    line: self.line,
                    what: "not UTF-8".into(),
                }),
            };
            errors.extend(parsed.err());
        }
        if self.pending.len() > MAX_LINE {
            self.pending.clear();
            self.line += 1;
            errors.push(ScriptError {
                line: self.line,
                what: format!("longer than {MAX_LINE} bytes"),
            });
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_taps_and_comments() {
        let evs =
            parse("# hello\n\nEV_KEY KEY_A 1\n0x1 30 0 # release\ntap KEY_B\nEV_REL REL_X -5\n")
                .unwrap();
        let e = |kind, code, value: i32| Event {
            kind,
            code,
            value: value as u32,
        };
        assert_eq!(
            evs,
            [
                e(1, 30, 1),
                e(1, 30, 0),
                e(1, 48, 1),
                e(0, 0, 0),
                e(1, 48, 0),
                e(0, 0, 0),
                e(2, 0, -5)
            ]
        );
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        for (text, says) in [
            ("EV_KEY KEY_A\n", "line 1: expected"),
            (
                "\nEV_NOPE 1 1\n",
                "line 2: `EV_NOPE` is not a known event type",
            ),
            ("EV_KEY 70000 1", "not a known code nor a number"),
            ("EV_KEY 1 4294967296", "not a 32-bit signed number"),
            ("0x20 1 1", "event type 32 is above 31"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_stream_is_parsed_as_its_lines_complete() {
        let mut b = LineBuffer::default();
        let mut out = Vec::new();
        assert!(b.push(b"EV_KEY KEY_", &mut out).is_empty());
        assert!(out.is_empty());
        assert!(b.push(b"A 1\nEV_SYN 0 0\nEV_K", &mut out).is_empty());
        assert_eq!(out.len(), 2);
        let e = b.push(&[b'x'; 300], &mut out);
        assert_eq!(e[0].line, 3);
        let e = b.push(b"bad\ntap KEY_A\n", &mut out);
        assert_eq!((e.len(), e[0].line, out.len()), (1, 4, 6));
    }
}
