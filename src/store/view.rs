//! `RunView`: a run as a reader sees it, built from the journal alone. It takes no lock and
//! never writes, so `nas show`, `nas runs`, `nas export` and reports work while a search is
//! writing the run, and see every candidate recorded so far (a candidate is in the journal
//! before the search reports it finished).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;

use super::entry::Entry;
use super::history::StatusCounts;
use super::index::JournalIndex;
use super::journal::{self, read_blob, JOURNAL_FILE};
use super::lock::RunLock;
use super::meta::{self, RunMeta};
use super::record::Candidate;
use super::run_store::{check_run_folder, store_error};

/// Whether a run is being searched, ended, or stopped without saying so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A process is writing the run now.
    Running,
    /// The search ended by itself.
    Finished,
    /// Stopped by Ctrl-C, or killed, or crashed: `nas search --resume` continues it.
    Interrupted,
    /// Nothing was recorded about how it went.
    Unknown,
}

impl RunStatus {
    /// The lower-case name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Unknown => "unknown",
        }
    }
}

/// A read-only snapshot of a run.
#[derive(Debug)]
pub struct RunView {
    run: PathBuf,
    journal: PathBuf,
    meta: RunMeta,
    values: HashMap<String, String>,
    candidates: BTreeMap<u64, Candidate>,
    index: JournalIndex,
    writer_active: bool,
}

impl RunView {
    /// Reads the run in `dir` as it stands now.
    pub fn open(dir: &Path) -> Result<RunView> {
        check_run_folder(dir)?;
        // Probe first: a writer that ends while we read leaves a journal that says so.
        let writer_active = RunLock::writer_active(dir);
        let path = dir.join(JOURNAL_FILE);
        let scan = journal::scan::<Entry>(&path)?;
        let mut view = RunView {
            run: dir.to_path_buf(),
            journal: path,
            meta: match scan.frames.first().map(|f| &f.entry) {
                Some(Entry::Created { meta }) => meta.clone(),
                _ => return Err(store_error(dir, "the run's journal does not begin with its creation record: the folder is damaged")),
            },
            values: HashMap::new(),
            candidates: BTreeMap::new(),
            index: JournalIndex::default(),
            writer_active,
        };
        meta::check_schema_version(dir, view.meta.schema_version)?;
        for frame in scan.frames {
            view.index.note(&frame.entry, frame.blob);
            match frame.entry {
                Entry::MetaValue { key, value } => {
                    view.values.insert(key, value);
                }
                Entry::Candidate { candidate } => {
                    view.candidates.insert(candidate.id, *candidate);
                }
                _ => {}
            }
        }
        Ok(view)
    }

    /// The run folder.
    pub fn path(&self) -> &Path {
        &self.run
    }

    /// The metadata the run was created with.
    pub fn meta(&self) -> &RunMeta {
        &self.meta
    }

    /// A piece of extra state the search set (such as `status`).
    pub fn meta_value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Whether the run is being written, ended, or stopped.
    pub fn status(&self) -> RunStatus {
        if self.writer_active {
            return RunStatus::Running;
        }
        match self.meta_value("status") {
            Some("finished") => RunStatus::Finished,
            // A run that says it is running has no writer: it was killed or crashed.
            Some("running") | Some("interrupted") => RunStatus::Interrupted,
            _ => RunStatus::Unknown,
        }
    }

    /// Every candidate recorded so far, ordered by id.
    pub fn candidates(&self) -> Vec<Candidate> {
        self.candidates.values().cloned().collect()
    }

    /// The candidate with this id, if it is recorded.
    pub fn candidate(&self, id: u64) -> Option<&Candidate> {
        self.candidates.get(&id)
    }

    /// The number of candidates recorded.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether no candidate is recorded yet.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// How many candidates ended in each status.
    pub fn counts(&self) -> StatusCounts {
        StatusCounts::of(self.candidates.values())
    }

    /// A candidate's kept trained weights.
    pub fn weights(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let blob = self.index.weights.get(&id).copied();
        blob.map(|b| read_blob(&self.journal, b)).transpose()
    }

    /// The ids whose weights are kept, in increasing order.
    pub fn weights_ids(&self) -> Vec<u64> {
        self.index.weights.keys().copied().collect()
    }

    /// The weights of candidate `id`'s finalist training, if it has had one.
    pub fn final_weights(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let blob = self.index.finals.get(&id).copied();
        blob.map(|b| read_blob(&self.journal, b)).transpose()
    }

    /// When the run last recorded something (its journal's modification time), in unix
    /// seconds: the end of a run that is no longer written.
    pub fn last_write(&self) -> Option<f64> {
        let modified = std::fs::metadata(&self.journal).ok()?.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(since.as_secs_f64())
    }

    /// The statistics of every strategy update, by step.
    pub fn updates(&self) -> &[(u64, serde_json::Value)] {
        &self.index.updates
    }
}
