//! A small YAML writer for the generated CI files: block style only, with
//! comments, and every scalar either plain (when unambiguous) or
//! double-quoted with JSON escapes (which YAML 1.2 reads the same way).
//!
//! Writing by hand rather than through a YAML library keeps the comments a
//! reader of the generated files needs, and the output byte-stable; tests
//! parse every generated file back with a YAML parser.

use std::fmt::Write;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    Str(String),
    Int(i64),
    Bool(bool),
}

/// One key of a mapping, with the comment lines written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub comment: Vec<String>,
    /// A blank line before the entry (between jobs, say).
    pub blank_before: bool,
    pub key: String,
    pub value: Node,
}

pub fn s(text: impl Into<String>) -> Node {
    Node::Str(text.into())
}

pub fn seq<I: IntoIterator<Item = Node>>(items: I) -> Node {
    Node::Seq(items.into_iter().collect())
}

pub fn strs<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Node {
    Node::Seq(items.into_iter().map(|i| Node::Str(i.into())).collect())
}

/// Builds a mapping entry by entry.
#[derive(Debug, Default, Clone)]
pub struct MapBuilder {
    entries: Vec<Entry>,
    pending_comment: Vec<String>,
    pending_blank: bool,
}

impl MapBuilder {
    pub fn new() -> MapBuilder {
        MapBuilder::default()
    }

    /// Comment lines for the next entry.
    pub fn comment(mut self, line: impl Into<String>) -> MapBuilder {
        self.pending_comment.push(line.into());
        self
    }

    /// A blank line before the next entry.
    pub fn blank(mut self) -> MapBuilder {
        self.pending_blank = true;
        self
    }

    pub fn entry(mut self, key: impl Into<String>, value: Node) -> MapBuilder {
        self.entries.push(Entry {
            comment: std::mem::take(&mut self.pending_comment),
            blank_before: std::mem::take(&mut self.pending_blank),
            key: key.into(),
            value,
        });
        self
    }

    pub fn str(self, key: impl Into<String>, value: impl Into<String>) -> MapBuilder {
        self.entry(key, Node::Str(value.into()))
    }

    pub fn build(self) -> Node {
        Node::Map(self.entries)
    }
}

/// The document: `header` lines as comments, then `root`.
pub fn document(header: &[String], root: &Node) -> String {
    let mut out = String::new();
    for line in header {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    out.push('\n');
    write_node(&mut out, root, 0);
    out
}

fn write_node(out: &mut String, node: &Node, indent: usize) {
    match node {
        Node::Map(entries) => write_map(out, entries, indent, false),
        Node::Seq(items) => write_seq(out, items, indent),
        scalar => {
            let _ = writeln!(out, "{:indent$}{}", "", scalar_text(scalar));
        }
    }
}

/// Writes a mapping; with `first_inline`, the first key continues a `- ` already written.
fn write_map(out: &mut String, entries: &[Entry], indent: usize, first_inline: bool) {
    for (i, e) in entries.iter().enumerate() {
        let inline = first_inline && i == 0;
        if e.blank_before && !inline && i > 0 {
            out.push('\n');
        }
        for line in &e.comment {
            comment(out, indent, line);
        }
        let pad = if inline { 0 } else { indent };
        let key = key_text(&e.key);
        match &e.value {
            Node::Map(m) if !m.is_empty() => {
                let _ = writeln!(out, "{:pad$}{key}:", "");
                write_map(out, m, indent + 2, false);
            }
            Node::Seq(s) if !s.is_empty() => {
                let _ = writeln!(out, "{:pad$}{key}:", "");
                write_seq(out, s, indent + 2);
            }
            Node::Map(_) => {
                let _ = writeln!(out, "{:pad$}{key}: {{}}", "");
            }
            Node::Seq(_) => {
                let _ = writeln!(out, "{:pad$}{key}: []", "");
            }
            scalar => {
                let _ = writeln!(out, "{:pad$}{key}: {}", "", scalar_text(scalar));
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Node], indent: usize) {
    for item in items {
        match item {
            Node::Map(entries) if !entries.is_empty() => {
                // Comments of the first key go above the `- `.
                for line in &entries[0].comment {
                    comment(out, indent, line);
                }
                let _ = write!(out, "{:indent$}- ", "");
                let mut first = entries.to_vec();
                first[0].comment.clear();
                write_map(out, &first, indent + 2, true);
            }
            Node::Seq(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{:indent$}-", "");
                write_seq(out, inner, indent + 2);
            }
            Node::Map(_) => {
                let _ = writeln!(out, "{:indent$}- {{}}", "");
            }
            Node::Seq(_) => {
                let _ = writeln!(out, "{:indent$}- []", "");
            }
            scalar => {
                let _ = writeln!(out, "{:indent$}- {}", "", scalar_text(scalar));
            }
        }
    }
}

fn comment(out: &mut String, indent: usize, line: &str) {
    if line.is_empty() {
        let _ = writeln!(out, "{:indent$}#", "");
    } else {
        let _ = writeln!(out, "{:indent$}# {line}", "");
    }
}

fn scalar_text(node: &Node) -> String {
    match node {
        Node::Str(text) => quote(text),
        Node::Int(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Map(_) | Node::Seq(_) => unreachable!("not a scalar"),
    }
}

fn key_text(key: &str) -> String {
    quote(key)
}

/// `text` as a YAML scalar that reads back as exactly this string.
pub fn quote(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_string()
    } else {
        // JSON string syntax is a valid YAML double-quoted scalar with the same meaning.
        serde_json::to_string(text).expect("strings serialise")
    }
}

/// Plain only when no YAML rule can read it as anything but this string:
/// a conservative character set, no `: ` or ` #`, and nothing that resolves
/// to a boolean, null or number.
fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || matches!(first, '_' | '.' | '/' | '$')) {
        return false;
    }
    if text.ends_with(' ') || text.contains("  ") {
        return false;
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _-./,=*$+()@".contains(c))
    {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) {
        return false;
    }
    // Anything a YAML 1.1 or 1.2 reader could take for a number: quote it.
    let numeric = lower.trim_start_matches(['+', '-']);
    let looks_numeric = numeric.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && numeric.chars().all(|c| {
            c.is_ascii_hexdigit() || matches!(c, '.' | '_' | 'x' | 'o' | 'e' | '+' | '-' | ':')
        });
    !(looks_numeric || lower == ".inf" || lower == ".nan")
}
