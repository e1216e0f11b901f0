//! The library's one error type. Every variant carries the context a user needs to act on it:
//! which file, which line, which field, which run. A failed child network is not an error (it is
//! a failed candidate, see `train::Outcome`); these are the failures that stop a command.

use std::path::PathBuf;

/// Everything that can go wrong in the `nas` library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A search-space file that does not parse or does not validate.
    #[error("{}:{line}:{column}: field `{field}`: {msg}", path.display())]
    Space {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        msg: String,
    },

    /// A search space that no shipped file and no path names.
    #[error("unknown search space `{name}` (known: {known}); give a name from `nas space list` or a path to a .toml file")]
    UnknownSpace { name: String, known: String },

    /// A zoo name that is not in the zoo.
    #[error("unknown zoo network `{name}` (known: {known})")]
    UnknownZoo { name: String, known: String },

    /// A graph whose shapes do not fit together (a bug in a lowering or a bad architecture file).
    #[error("graph node `{node}`: {msg}")]
    Graph { node: String, msg: String },

    /// An architecture file or decision vector that does not describe a valid network.
    #[error("architecture{}: {msg}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Arch { path: Option<PathBuf>, msg: String },

    /// A data file that is missing, truncated or not in the format it claims.
    #[error("{}: {msg}", path.display())]
    Data { path: PathBuf, msg: String },

    /// A value given by the user (flag, setting) that is out of range or malformed.
    #[error("invalid {what}: {msg}")]
    Invalid { what: String, msg: String },

    /// A run folder whose database is missing, damaged, or fails to read or write.
    #[error("run {}: {msg}", run.display())]
    Store { run: PathBuf, msg: String },

    /// A run that another holder (a search or resume in progress) has locked.
    #[error("run {} is in use by another nas process (a search or resume is running on it); wait for it to finish or stop it, then try again", run.display())]
    RunLocked { run: PathBuf },

    /// A new run whose folder is already taken.
    #[error("run {} already exists; resume it with `nas search --resume {}`, or choose another name", run.display(), run.display())]
    RunExists { run: PathBuf },

    /// A run written by a store schema other than the one this build reads.
    #[error("run {} was written by schema {found}, this nas reads schema {expected}: {}", run.display(), schema_advice(*found, *expected))]
    SchemaMismatch {
        run: PathBuf,
        found: u32,
        expected: u32,
    },
    /// A saved state (controller, strategy) that does not fit what is asked to restore it.
    #[error("{what} checkpoint: {msg}")]
    Checkpoint { what: String, msg: String },

    /// A file that could not be read or written; the message holds the cause, so it is not
    /// also a `source` (that would print it twice in an error chain).
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `text` with its control characters (newlines, tabs, NULs) written as escapes, so that a
/// message quoting what a user wrote stays one line however odd the input.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// What to do about a run whose schema version is not the one this build reads.
fn schema_advice(found: u32, expected: u32) -> &'static str {
    if found > expected {
        "upgrade nas to read it"
    } else {
        "re-run the search with this nas, or read it with the older nas that wrote it"
    }
}

impl Error {
    /// An `Io` error that names the file it happened on.
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }

    /// An `Invalid` error for a user-supplied value.
    pub fn invalid(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            msg: msg.into(),
        }
    }
}
