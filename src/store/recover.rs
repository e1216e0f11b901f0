//! Opening a run's sled database so that nothing a crash leaves behind stops it: sled's own
//! half-written files are removed first, the journal's entries that the database has not seen
//! are replayed into it, and a database that sled still reports damaged is moved aside and
//! rebuilt from the journal, which holds everything it held.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::entry::Entry;
use super::journal::Frame;
use super::keys::{decode_u64, encode_u64};
use crate::error::{Error, Result};
use crate::panics::panic_message;

/// The name of the database folder inside a run folder.
pub const DB_DIR: &str = "db";
/// The meta key holding the journal offset up to which the database has applied entries.
const APPLIED_KEY: &str = "journal_applied";
/// sled releases its own file lock lazily when a handle of this process closes; we hold the
/// run lock, so only such a handle can hold it, and we wait for it.
const SLED_LOCK_RETRIES: u32 = 100;
const SLED_LOCK_PAUSE: Duration = Duration::from_millis(20);

/// The database and its trees.
pub(super) struct Db {
    pub db: sled::Db,
    pub candidate_by_id: sled::Tree,
    pub id_by_arch_hash: sled::Tree,
    pub meta: sled::Tree,
}

/// Why the database could not be used: damage that a rebuild mends, or another error.
pub(super) enum Failure {
    Damaged(String),
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

/// Opens the database of `run` and brings it up to date with the journal's `frames`, rebuilding
/// it from them if it is damaged. What was done is added to `notices`.
pub(super) fn open_replayed(
    run: &Path,
    frames: &[Frame<Entry>],
    sync: bool,
    notices: &mut Vec<String>,
) -> Result<Db> {
    remove_partial_snapshots(run, notices)?;
    let first = open_db(run, sync).and_then(|db| replay(&db, frames).map(|()| db));
    let detail = match first {
        Ok(db) => return Ok(db),
        Err(Failure::Error(e)) => return Err(e),
        Err(Failure::Damaged(detail)) => detail,
    };
    let aside = move_aside(run)?;
    let db = match open_db(run, sync).and_then(|db| replay(&db, frames).map(|()| db)) {
        Ok(db) => db,
        Err(Failure::Damaged(again)) => return Err(damaged(run, &again)),
        Err(Failure::Error(e)) => return Err(e),
    };
    let candidates = db.candidate_by_id.len();
    notices.push(format!(
        "the database of run {} was damaged ({detail}); it was moved to {} and rebuilt from the run's journal, with all {candidates} candidates: nothing was lost",
        run.display(),
        aside.display()
    ));
    Ok(db)
}

/// sled 0.34 writes a snapshot to `snap.<lsn>.generating` and renames it when whole; a kill
/// in between leaves the partial file, which sled then fails to read at start-up (sled issues
/// 1527 and 1533). The previous snapshot and the log are intact without it.
fn remove_partial_snapshots(run: &Path, notices: &mut Vec<String>) -> Result<()> {
    let dir = run.join(DB_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            notices.push(format!(
                "removed {}, a database snapshot left half-written when the run stopped",
                path.display()
            ));
        }
    }
    Ok(())
}

fn move_aside(run: &Path) -> Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let from = run.join(DB_DIR);
    let mut to = run.join(format!("{DB_DIR}.damaged-{secs}"));
    let mut n = 1;
    while to.exists() {
        n += 1;
        to = run.join(format!("{DB_DIR}.damaged-{secs}-{n}"));
    }
    fs::rename(&from, &to).map_err(|e| Error::io(&from, e))?;
    Ok(to)
}

fn open_db(run: &Path, sync: bool) -> Result<Db, Failure> {
    let config = sled::Config::new()
        .path(run.join(DB_DIR))
        .flush_every_ms(sync.then_some(1000));
    let mut attempt = 0;
    let db = loop {
        match guarded(|| config.open()) {
            Ok(db) => break db,
            Err(Failure::Error(Error::Store { msg, .. }))
                if msg.contains("could not acquire lock") && attempt < SLED_LOCK_RETRIES =>
            {
                attempt += 1;
                thread::sleep(SLED_LOCK_PAUSE);
            }
            Err(f) => return Err(relabel(run, f)),
        }
    };
    let tree = |name: &str| guarded(|| db.open_tree(name)).map_err(|f| relabel(run, f));
    Ok(Db {
        candidate_by_id: tree("candidate_by_id")?,
        id_by_arch_hash: tree("id_by_arch_hash")?,
        meta: tree("meta")?,
        db: db.clone(),
    })
}

/// Runs a sled call, turning its errors and panics into a `Failure`.
fn guarded<T>(f: impl FnOnce() -> sled::Result<T>) -> Result<T, Failure> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(e)),
        Err(payload) => Err(Failure::Damaged(panic_message(payload.as_ref()))),
    }
}

pub(super) fn classify(e: sled::Error) -> Failure {
    match e {
        sled::Error::Corruption { .. } => Failure::Damaged(e.to_string()),
        sled::Error::Unsupported(msg) | sled::Error::ReportableBug(msg) => Failure::Damaged(msg),
        sled::Error::Io(io) => Failure::Error(Error::Store {
            run: PathBuf::new(),
            msg: io_text(&io),
        }),
        other => Failure::Error(Error::Store {
            run: PathBuf::new(),
            msg: other.to_string(),
        }),
    }
}

/// An I/O error's text. sled sometimes wraps an OS error in another, whose text is then the
/// inner error's debug form (`Os { code: 27, kind: FileTooLarge, message: "File too large" }`):
/// that is turned back into the plain `File too large (os error 27)`.
fn io_text(io: &std::io::Error) -> String {
    let text = io.to_string();
    let field = |name: &str| {
        let start = text.find(name)? + name.len();
        let rest = &text[start..];
        let end = rest.find([',', '"', '}'])?;
        Some(rest[..end].trim().to_string())
    };
    match (
        text.starts_with("Os {"),
        field("code: "),
        field("message: \""),
    ) {
        (true, Some(code), Some(message)) => format!("{message} (os error {code})"),
        _ => text,
    }
}

/// Puts the run's name on a failure that sled reported without one.
pub(super) fn relabel(run: &Path, f: Failure) -> Failure {
    match f {
        Failure::Error(Error::Store { msg, .. }) => Failure::Error(db_error(run, &msg)),
        other => other,
    }
}

/// An error of the database of `run`, naming its folder.
fn db_error(run: &Path, msg: &str) -> Error {
    Error::Store {
        run: run.to_path_buf(),
        msg: format!("database {}: {msg}", run.join(DB_DIR).display()),
    }
}

/// Damage that a rebuild did not mend.
pub(super) fn damaged(run: &Path, detail: &str) -> Error {
    Error::Store {
        run: run.to_path_buf(),
        msg: format!(
            "the database in {} is damaged ({detail}) and could not be rebuilt from the journal; restore the folder from a backup or start a new run",
            run.join(DB_DIR).display()
        ),
    }
}

/// Applies, in order, the frames the database has not applied yet.
fn replay(db: &Db, frames: &[Frame<Entry>]) -> Result<(), Failure> {
    let applied = db.applied()?;
    for frame in frames {
        if frame.end > applied && frame.entry.touches_db() {
            db.apply(&frame.entry, frame.end)?;
        }
    }
    Ok(())
}

impl Db {
    /// The journal offset up to which entries are applied (0 for a fresh database).
    fn applied(&self) -> Result<u64, Failure> {
        match guarded(|| self.meta.get(APPLIED_KEY))? {
            None => Ok(0),
            Some(v) => decode_u64(&v).map_err(|e| Failure::Damaged(format!("{APPLIED_KEY}: {e}"))),
        }
    }

    /// Applies one entry that ends at journal offset `end`, atomically with that offset.
    pub fn apply(&self, entry: &Entry, end: u64) -> Result<(), Failure> {
        let end = encode_u64(end);
        match entry {
            Entry::Created { meta } => {
                let mut batch = sled::Batch::default();
                for (key, value) in meta.entries()? {
                    batch.insert(key.as_bytes(), value);
                }
                batch.insert(APPLIED_KEY, &end[..]);
                guarded(|| self.meta.apply_batch(batch))
            }
            Entry::MetaValue { key, value } => {
                let mut batch = sled::Batch::default();
                batch.insert(key.as_bytes(), value.as_bytes());
                batch.insert(APPLIED_KEY, &end[..]);
                guarded(|| self.meta.apply_batch(batch))
            }
            Entry::Candidate { candidate } => {
                let key = encode_u64(candidate.id);
                let value = serde_json::to_vec(candidate).map_err(Error::from)?;
                let hash = candidate.hash.as_bytes();
                let index = candidate.is_indexed();
                let trees = (&self.candidate_by_id, &self.id_by_arch_hash, &self.meta);
                let result = guarded(|| {
                    trees
                        .transaction(|(candidates, hashes, meta)| {
                            candidates.insert(&key[..], value.as_slice())?;
                            if index && hashes.get(hash)?.is_none() {
                                hashes.insert(hash, &key[..])?;
                            }
                            meta.insert(APPLIED_KEY, &end[..])?;
                            Ok::<(), ConflictableTransactionError<()>>(())
                        })
                        .map_err(|e| match e {
                            TransactionError::Storage(e) => e,
                            TransactionError::Abort(()) => {
                                sled::Error::ReportableBug("transaction aborted".into())
                            }
                        })
                });
                result
            }
            _ => Ok(()),
        }
    }

    /// Writes the database's buffered changes to disk.
    pub fn flush(&self) -> Result<(), Failure> {
        guarded(|| self.db.flush()).map(|_| ())
    }
}
