//! Turning byte spans into `file:line:column: field` errors. Every error about a space file
//! goes through here, so they all look the same and all point at a line.

use std::ops::Range;
use std::path::Path;

use crate::error::{one_line, Error};

/// A space file's text and path, for locating errors in it.
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        (line, column)
    }

    /// An error at `span` about `field`.
    pub fn error(&self, span: Range<usize>, field: &str, msg: impl Into<String>) -> Error {
        let (line, column) = self.line_col(span.start);
        Error::Space {
            path: self.path.to_path_buf(),
            line,
            column,
            field: one_line(field),
            msg: one_line(&msg.into()),
        }
    }

    /// Converts a TOML parse or type error, naming the field it concerns.
    pub fn toml_error(&self, err: &toml::de::Error) -> Error {
        let span = err.span().unwrap_or(0..0);
        let msg = err.message().trim().to_string();
        let field = quoted_field(&msg).unwrap_or_else(|| self.field_at(span.start));
        self.error(span, &field, msg)
    }

    /// The dotted key (`table.key`) written on the line holding `offset`.
    pub fn field_at(&self, offset: usize) -> String {
        let (line, _) = self.line_col(offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let Some(text) = lines.get(line.saturating_sub(1)) else {
            return "(file)".into();
        };
        let key = text.split('=').next().unwrap_or("").trim();
        let table = lines[..line.saturating_sub(1)]
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        match (table, text.contains('=')) {
            (Some(t), true) => format!("{t}.{key}"),
            (None, true) => key.to_string(),
            (Some(t), false) => t,
            (None, false) => "(file)".into(),
        }
    }
}

/// The field named in serde messages such as "unknown field `x`" or "missing field `y`".
fn quoted_field(msg: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(start) = msg.find(marker) {
            let rest = &msg[start + marker.len()..];
            return rest.find('`').map(|end| rest[..end].to_string());
        }
    }
    None
}
