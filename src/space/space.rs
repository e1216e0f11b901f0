//! `Space`: a search space loaded from its file, found by name among the shipped spaces or by
//! path. Parsing happens in two phases (raw serde types, then validation) so every error names
//! the file, the line and the field.

use std::path::{Path, PathBuf};

use num_bigint::BigUint;
use rand::Rng;

use super::cells::CellsSpace;
use super::decision::{Decision, Decisions};
use super::location::Source;
use super::raw::{RawCellsSpace, RawTableSpace};
use super::table::TableSpace;
use super::validate;
use crate::arch::Architecture;
use crate::error::{Error, Result};

/// A validated search space.
#[derive(Clone, Debug)]
pub struct Space {
    pub name: String,
    pub description: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's text, kept so a run can store an exact copy.
    pub text: String,
    pub body: SpaceBody,
    decisions: Vec<Decision>,
}

/// The two kinds of space.
// One space per search: a few hundred bytes of choices are not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum SpaceBody {
    Cells(CellsSpace),
    Table(TableSpace),
}

/// Folder of the shipped spaces: `./search_spaces` when present, else the one in the source tree.
pub fn shipped_dir() -> PathBuf {
    let local = PathBuf::from("search_spaces");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/search_spaces"))
    }
}

/// Every shipped space, sorted by name.
pub fn shipped() -> Result<Vec<Space>> {
    let dir = shipped_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(&dir, e))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| Space::from_file(p)).collect()
}

impl Space {
    /// Loads a space by shipped name (`resnet-cells`) or by path to a `.toml` file.
    pub fn load(name_or_path: &str) -> Result<Space> {
        let as_path = Path::new(name_or_path);
        let looks_like_path = name_or_path.contains(std::path::MAIN_SEPARATOR)
            || name_or_path.ends_with(".toml")
            || as_path.is_file();
        if looks_like_path {
            return Space::from_file(as_path);
        }
        let file = shipped_dir().join(format!("{name_or_path}.toml"));
        if file.is_file() {
            return Space::from_file(&file);
        }
        let known: Vec<String> = shipped()
            .map(|v| v.into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
        Err(Error::UnknownSpace {
            name: name_or_path.to_string(),
            known: known.join(", "),
        })
    }

    /// Reads and validates a space file.
    pub fn from_file(path: &Path) -> Result<Space> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Space::parse(&text, path)
    }

    /// Validates the text of a space file; `path` locates errors and table files.
    pub fn parse(text: &str, path: &Path) -> Result<Space> {
        let src = Source { path, text };
        let doc: toml::Table = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let kind = match doc.get("kind") {
            None => "cells".to_string(),
            Some(toml::Value::String(k)) => k.clone(),
            Some(_) => return Err(src.error(key_span(text, "kind"), "kind", "must be a string")),
        };
        let (name, description, body) = match kind.as_str() {
            "cells" => {
                let raw: RawCellsSpace = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
                let name = raw.name.get_ref().clone();
                let description = raw.description.clone();
                (
                    name,
                    description,
                    SpaceBody::Cells(validate::cells(&src, raw)?),
                )
            }
            "table" => {
                let raw: RawTableSpace = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
                let name = raw.name.get_ref().clone();
                let description = raw.description.clone();
                (
                    name,
                    description,
                    SpaceBody::Table(super::table::table(&src, raw)?),
                )
            }
            other => {
                return Err(src.error(
                    key_span(text, "kind"),
                    "kind",
                    format!("unknown kind `{other}`; expected cells or table"),
                ))
            }
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(src.error(
                key_span(text, "name"),
                "name",
                "must be letters, digits, - and _",
            ));
        }
        let decisions = match &body {
            SpaceBody::Cells(c) => c.decisions(),
            SpaceBody::Table(t) => t.decisions(),
        };
        Ok(Space {
            name,
            description,
            path: path.to_path_buf(),
            text: text.to_string(),
            body,
            decisions,
        })
    }

    /// The decision points a strategy fills, in order.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// `cells` or `table`.
    pub fn kind(&self) -> &'static str {
        match self.body {
            SpaceBody::Cells(_) => "cells",
            SpaceBody::Table(_) => "table",
        }
    }

    /// The cell kinds a cell space offers (empty for a table space).
    pub fn cell_kinds(&self) -> Vec<&'static str> {
        match &self.body {
            SpaceBody::Cells(c) => c.choices.cell.iter().map(|t| t.name()).collect(),
            SpaceBody::Table(_) => vec![],
        }
    }

    /// Exact number of distinct architectures (table spaces: number of assignments).
    pub fn size(&self) -> BigUint {
        match &self.body {
            SpaceBody::Cells(c) => c.size(),
            SpaceBody::Table(t) => t.size(),
        }
    }

    /// The architecture of an assignment; table spaces have none.
    pub fn decode(&self, values: &[usize]) -> Result<Architecture> {
        match &self.body {
            SpaceBody::Cells(c) => c.decode(values),
            SpaceBody::Table(_) => Err(Error::Arch {
                path: None,
                msg: format!(
                    "space `{}` is a table space: its candidates have no network",
                    self.name
                ),
            }),
        }
    }

    /// The same space for another input shape and class count (a data set's).
    pub fn with_input(mut self, input: [usize; 3], classes: usize) -> Space {
        if let SpaceBody::Cells(c) = &mut self.body {
            c.input = input;
            c.classes = classes;
        }
        self
    }

    /// A uniformly random assignment.
    pub fn sample(&self, rng: &mut impl Rng) -> Decisions {
        self.decisions
            .iter()
            .map(|d| rng.random_range(0..d.len()))
            .collect()
    }
}

/// Byte span of the first `key =` line, for errors about top-level keys.
fn key_span(text: &str, key: &str) -> std::ops::Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with(key) && trimmed[key.len()..].trim_start().starts_with('=') {
            let start = offset + (line.len() - trimmed.len());
            return start..start + key.len();
        }
        offset += line.len();
    }
    0..0
}
