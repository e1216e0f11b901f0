//! `RunStore`: the one writer of a run folder (`runs/RUN/`). It holds the run lock, appends
//! every change to the journal (durable before the call returns), applies it to the sled
//! database in `db/`, and keeps the strategy's checkpoint in its own file. Opening mends what a
//! crash leaves behind (see `recover`) and says what it did in `notices`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

use super::create::create_run_dir;
use super::entry::Entry;
use super::index::JournalIndex;
use super::journal::{self, JournalWriter, JOURNAL_FILE};
use super::lock::RunLock;
use super::meta::{self, RunMeta, RESERVED_KEYS};
use super::recover::{classify, open_replayed, relabel, Db, Failure, DB_DIR};

/// An open run, written by this process alone (the run lock is held until it drops).
pub struct RunStore {
    pub(super) run: PathBuf,
    pub(super) db: Db,
    pub(super) journal: Mutex<JournalWriter>,
    pub(super) index: Mutex<JournalIndex>,
    /// False for throwaway runs (`temporary`): nothing is fsynced.
    pub(super) sync: bool,
    notices: Vec<String>,
    // Dropped after the database handles: the lock outlives them, the folder outlives both.
    _lock: RunLock,
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for RunStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStore").field("run", &self.run).finish()
    }
}

impl RunStore {
    /// Creates a new run in `dir`; `RunExists` if `dir` already holds one (or anything else).
    pub fn create(dir: &Path, meta: &RunMeta) -> Result<RunStore> {
        let created = create_run_dir(dir, meta, true)?;
        RunStore::assemble(dir, created.lock, Some(created.journal), true, None)
    }

    /// A run in a temporary folder that disappears when the store drops, written without
    /// fsyncs: the search loop's full code path for benchmarks that keep no runs.
    pub fn temporary(meta: &RunMeta) -> Result<RunStore> {
        let temp = tempfile::Builder::new()
            .prefix("nas-run-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let dir = temp.path().join("run");
        let created = create_run_dir(&dir, meta, false)?;
        RunStore::assemble(&dir, created.lock, Some(created.journal), false, Some(temp))
    }

    /// Opens the existing run in `dir` for writing: takes its lock, checks its schema, cuts a
    /// torn write off the journal and brings the database up to date with it.
    pub fn open(dir: &Path) -> Result<RunStore> {
        check_run_folder(dir)?;
        let lock = RunLock::acquire(dir)?;
        RunStore::assemble(dir, lock, None, true, None)
    }

    fn assemble(
        dir: &Path,
        lock: RunLock,
        writer: Option<JournalWriter>,
        sync: bool,
        temp: Option<tempfile::TempDir>,
    ) -> Result<RunStore> {
        let path = dir.join(JOURNAL_FILE);
        let scan = journal::scan::<Entry>(&path)?;
        let meta = created_meta(dir, &scan.frames)?;
        meta::check_schema_version(dir, meta.schema_version)?;
        let mut notices = Vec::new();
        let writer = match writer {
            Some(w) => w,
            None => {
                if scan.trailing() > 0 {
                    notices.push(format!(
                        "cut {} bytes of an unfinished write off {}: an entry being written when the run stopped, never reported as done",
                        scan.trailing(),
                        path.display()
                    ));
                }
                JournalWriter::open(&path, scan.end, sync)?
            }
        };
        let db = open_replayed(dir, &scan.frames, sync, &mut notices)?;
        let mut index = JournalIndex::default();
        for frame in &scan.frames {
            index.note(&frame.entry, frame.blob);
        }
        Ok(RunStore {
            run: dir.to_path_buf(),
            db,
            journal: Mutex::new(writer),
            index: Mutex::new(index),
            sync,
            notices,
            _lock: lock,
            _temp: temp,
        })
    }

    /// What opening the run mended (a torn write cut off, a damaged database rebuilt), one
    /// sentence each, for the user to read.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The run folder.
    pub fn path(&self) -> &Path {
        &self.run
    }

    /// The metadata the run was created with.
    pub fn meta(&self) -> Result<RunMeta> {
        RunMeta::from_lookup(&self.run, |key| self.meta_bytes(key))
    }

    /// Sets a small piece of extra state (such as `status`); the keys `RunMeta` owns are refused.
    pub fn set_meta_value(&self, key: &str, value: &str) -> Result<()> {
        if RESERVED_KEYS.contains(&key) {
            return Err(Error::invalid(
                "meta key",
                format!("`{key}` is set when the run is created and cannot be changed"),
            ));
        }
        self.record(
            &Entry::MetaValue {
                key: key.to_string(),
                value: value.to_string(),
            },
            None,
        )
    }

    /// A piece of extra state set with `set_meta_value` (or a `RunMeta` field, as text).
    pub fn meta_value(&self, key: &str) -> Result<Option<String>> {
        let Some(bytes) = self.meta_bytes(key)? else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| self.error(format!("meta key `{key}` is not UTF-8 text")))
    }

    /// Writes the database's buffered changes to disk. Not needed for durability (the journal
    /// has every change), but it shortens the replay of the next open.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map_err(|f| self.failure(f))
    }

    /// Appends `entry` to the journal (durable on return), then applies it to the database.
    pub(super) fn record(&self, entry: &Entry, blob: Option<&[u8]>) -> Result<()> {
        let mut journal = self.journal_lock();
        let blob_ref = journal.append(entry, blob)?;
        if entry.touches_db() {
            self.db
                .apply(entry, journal.end())
                .map_err(|f| self.failure(f))?;
        }
        self.index_lock().note(entry, blob.map(|_| blob_ref));
        Ok(())
    }

    pub(super) fn journal_lock(&self) -> MutexGuard<'_, JournalWriter> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn index_lock(&self) -> MutexGuard<'_, JournalIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn meta_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let value = self
            .db
            .meta
            .get(key.as_bytes())
            .map_err(|e| self.sled_error(e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    /// A database failure during a search: the journal already holds the change, so the
    /// advice is to resume, which rebuilds what is damaged.
    pub(super) fn failure(&self, f: Failure) -> Error {
        match relabel(&self.run, f) {
            Failure::Error(e) => e,
            Failure::Damaged(detail) => self.error(format!(
                "the database in {} is damaged ({detail}); every change is in the run's journal: `nas search --resume {}` rebuilds it",
                self.run.join(DB_DIR).display(),
                self.run.display()
            )),
        }
    }

    pub(super) fn sled_error(&self, e: sled::Error) -> Error {
        self.failure(classify(e))
    }

    pub(super) fn error(&self, msg: impl Into<String>) -> Error {
        store_error(&self.run, msg)
    }
}

impl Drop for RunStore {
    fn drop(&mut self) {
        if self.sync {
            let _ = self.db.flush();
        }
    }
}

/// The `RunMeta` of the journal's first entry.
fn created_meta(dir: &Path, frames: &[journal::Frame<Entry>]) -> Result<RunMeta> {
    match frames.first().map(|f| &f.entry) {
        Some(Entry::Created { meta }) => Ok(meta.clone()),
        _ => Err(store_error(
            dir,
            "the run's journal does not begin with its creation record: the folder is damaged; restore it from a backup or start a new run",
        )),
    }
}

/// An error unless `dir` looks like a run folder of this nas (a journal), naming what is wrong.
pub(super) fn check_run_folder(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(store_error(dir, "no such run folder"));
    }
    if dir.join(JOURNAL_FILE).is_file() {
        return Ok(());
    }
    if dir.join(DB_DIR).is_dir() {
        // Runs of schema 1 had a database and no journal.
        return Err(Error::SchemaMismatch {
            run: dir.to_path_buf(),
            found: 1,
            expected: meta::SCHEMA_VERSION,
        });
    }
    Err(store_error(
        dir,
        "the folder holds no run (no journal inside); is it a run folder?",
    ))
}

pub(super) fn store_error(run: &Path, msg: impl Into<String>) -> Error {
    Error::Store {
        run: run.to_path_buf(),
        msg: msg.into(),
    }
}
