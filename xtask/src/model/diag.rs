//! Load errors that name the file, the key and, where known, the line.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file as the user knows it, relative to the data root (`platforms/linux.toml`).
    pub file: String,
    /// Dotted key path (`arch.x86_64.target`), when the problem has one.
    pub key: Option<String>,
    /// 1-based line, when the parser knows it.
    pub line: Option<usize>,
    pub message: String,
}

impl LoadError {
    pub fn file(file: &str, message: impl Into<String>) -> LoadError {
        LoadError {
            file: file.to_string(),
            key: None,
            line: None,
            message: message.into(),
        }
    }

    pub fn key(file: &str, key: impl Into<String>, message: impl Into<String>) -> LoadError {
        LoadError {
            file: file.to_string(),
            key: Some(key.into()),
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one load, in the order found.
#[derive(Debug, Default, Clone)]
pub struct LoadErrors(pub Vec<LoadError>);

impl LoadErrors {
    pub fn push(&mut self, error: LoadError) {
        self.0.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// Reads and deserializes one TOML file; errors carry the key path and line.
pub fn parse_file<T: serde::de::DeserializeOwned>(
    dirs: &super::DataDirs,
    path: &std::path::Path,
    shown: &str,
) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| LoadError::file(shown, dirs.cannot_read(path, "", &err)))?;
    parse_str(&text, shown)
}

pub fn parse_str<T: serde::de::DeserializeOwned>(text: &str, shown: &str) -> Result<T, LoadError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let de = toml::de::Deserializer::parse(text).map_err(|err| LoadError {
        file: shown.to_string(),
        key: None,
        line: err.span().map(|s| line_of(s.start)),
        message: err.message().trim_end().to_string(),
    })?;
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        LoadError {
            file: shown.to_string(),
            key: (path != ".").then_some(path),
            line: inner.span().map(|s| line_of(s.start)),
            message: inner.message().trim_end().to_string(),
        }
    })
}
