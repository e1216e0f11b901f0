//! `RunStore`: one run folder (`runs/RUN/`) holding a sled database in `db/` and the run lock in
//! `lock`. Opening takes the lock first, then sled, then checks the schema version, so each
//! failure has its own clear message naming the run and never a panic.

use crate::panics::panic_message;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result};

use super::lock::{RunLock, LOCK_FILE};
use super::meta::{self, RunMeta, RESERVED_KEYS, SCHEMA_VERSION_KEY};

/// The name of the database folder inside a run folder.
pub const DB_DIR: &str = "db";

/// How often, and how long apart, to retry sled's own file lock when it is still held by a
/// handle of this process that is being torn down (sled releases it lazily).
const SLED_LOCK_RETRIES: u32 = 100;
const SLED_LOCK_PAUSE: Duration = Duration::from_millis(20);

/// An open run: its sled trees and the exclusive run lock, released on drop.
pub struct RunStore {
    pub(super) run: PathBuf,
    pub(super) db: sled::Db,
    pub(super) candidate_by_id: sled::Tree,
    pub(super) id_by_arch_hash: sled::Tree,
    pub(super) checkpoint_by_step: sled::Tree,
    pub(super) weights_by_id: sled::Tree,
    pub(super) meta: sled::Tree,
    // Declared last so it is dropped last: the lock outlives the database handles.
    _lock: RunLock,
}

impl std::fmt::Debug for RunStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStore").field("run", &self.run).finish()
    }
}

impl RunStore {
    /// Creates a new run in `dir` (created if missing); an error if `dir` already holds a run.
    pub fn create(dir: &Path, meta: &RunMeta) -> Result<RunStore> {
        refuse_existing(dir)?;
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = RunLock::acquire(dir)?;
        refuse_existing(dir)?;
        let store = RunStore::from_db(dir, open_db(dir)?, lock)?;
        store.write_meta(meta)?;
        Ok(store)
    }

    /// Opens the existing run in `dir`, taking its lock and checking its schema version.
    pub fn open(dir: &Path) -> Result<RunStore> {
        if !dir.is_dir() {
            return Err(store_error(dir, "no such run folder"));
        }
        let db_dir = dir.join(DB_DIR);
        if !db_dir.is_dir() && !dir.join(LOCK_FILE).exists() {
            return Err(no_database(dir));
        }
        let lock = RunLock::acquire(dir)?;
        if !db_dir.is_dir() {
            return Err(no_database(dir));
        }
        let store = RunStore::from_db(dir, open_db(dir)?, lock)?;
        let version = store
            .meta_bytes(SCHEMA_VERSION_KEY)?
            .ok_or_else(|| store_error(dir, "the database has no schema_version: it is damaged, or its creation was interrupted; restore the folder from a backup or delete it and start again"))?;
        let version = String::from_utf8_lossy(&version);
        meta::check_schema_version(dir, meta::parse_schema_version(dir, &version)?)?;
        Ok(store)
    }

    fn from_db(dir: &Path, db: sled::Db, lock: RunLock) -> Result<RunStore> {
        let tree = |name: &str| db.open_tree(name).map_err(|e| sled_error(dir, e));
        Ok(RunStore {
            run: dir.to_path_buf(),
            candidate_by_id: tree("candidate_by_id")?,
            id_by_arch_hash: tree("id_by_arch_hash")?,
            checkpoint_by_step: tree("checkpoint_by_step")?,
            weights_by_id: tree("weights_by_id")?,
            meta: tree("meta")?,
            db,
            _lock: lock,
        })
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
        self.meta
            .insert(key.as_bytes(), value.as_bytes())
            .map_err(|e| self.sled_error(e))?;
        self.flush()
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

    /// Makes every write so far durable on disk.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map_err(|e| self.sled_error(e))?;
        Ok(())
    }

    fn meta_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let value = self
            .meta
            .get(key.as_bytes())
            .map_err(|e| self.sled_error(e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn write_meta(&self, meta: &RunMeta) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (key, value) in meta.entries()? {
            batch.insert(key.as_bytes(), value);
        }
        self.meta
            .apply_batch(batch)
            .map_err(|e| self.sled_error(e))?;
        self.flush()
    }

    pub(super) fn sled_error(&self, e: sled::Error) -> Error {
        sled_error(&self.run, e)
    }

    pub(super) fn error(&self, msg: impl Into<String>) -> Error {
        store_error(&self.run, msg)
    }
}

fn refuse_existing(dir: &Path) -> Result<()> {
    if dir.join(DB_DIR).exists() {
        return Err(store_error(
            dir,
            "the folder already holds a run; resume it, or choose another run name",
        ));
    }
    Ok(())
}

/// Opens sled on `run/db`, turning its errors and panics into errors that name the run.
fn open_db(run: &Path) -> Result<sled::Db> {
    let config = sled::Config::new().path(run.join(DB_DIR));
    let mut attempt = 0;
    loop {
        match panic::catch_unwind(AssertUnwindSafe(|| config.open())) {
            Ok(Ok(db)) => return Ok(db),
            Ok(Err(e)) if is_sled_lock_error(&e) && attempt < SLED_LOCK_RETRIES => {
                attempt += 1;
                thread::sleep(SLED_LOCK_PAUSE);
            }
            Ok(Err(e)) => return Err(sled_error(run, e)),
            Err(payload) => return Err(damaged(run, &panic_message(payload.as_ref()))),
        }
    }
}

/// sled's own lock on its data file: we hold the run lock, so only a handle of this process that
/// is still closing can hold it, and it lets go shortly.
fn is_sled_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// An error that names the run; corruption gets advice on what to do.
pub(super) fn sled_error(run: &Path, e: sled::Error) -> Error {
    match e {
        sled::Error::Corruption { .. } => damaged(run, &e.to_string()),
        sled::Error::Unsupported(msg) => damaged(run, &msg),
        sled::Error::ReportableBug(msg) => damaged(run, &msg),
        other => store_error(run, format!("database error: {other}")),
    }
}

fn damaged(run: &Path, detail: &str) -> Error {
    store_error(
        run,
        format!("the database in {} is damaged ({detail}); restore the folder from a backup or start a new run", run.join(DB_DIR).display()),
    )
}

fn no_database(run: &Path) -> Error {
    store_error(
        run,
        "the folder holds no run database (no db/ inside); is it a run folder?",
    )
}

pub(super) fn store_error(run: &Path, msg: impl Into<String>) -> Error {
    Error::Store {
        run: run.to_path_buf(),
        msg: msg.into(),
    }
}
