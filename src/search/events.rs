//! What a search reports while it runs. The library never prints: the CLI turns these events
//! into progress bars or JSON lines.

use std::path::PathBuf;

use serde::Serialize;

use super::learning::NotLearning;
use crate::data::DataSummary;
use crate::enas::EnasEvent;
use crate::store::Candidate;
use crate::train::TrainEvent;

/// One thing that happened in a search.
#[derive(Clone, Debug)]
pub enum SearchEvent {
    /// The search (new or resumed) is about to evaluate candidates.
    Started {
        run: PathBuf,
        samples: usize,
        done: usize,
        resumed: bool,
        workers: usize,
    },
    /// A worker started training candidate `id`.
    CandidateStarted {
        id: u64,
        worker: usize,
        summary: String,
    },
    /// Progress of candidate `id`'s training.
    Training {
        id: u64,
        worker: usize,
        event: TrainEvent,
    },
    /// A candidate's record is durable in the store.
    CandidateFinished {
        candidate: Box<Candidate>,
        done: usize,
        best: Option<(u64, f64)>,
    },
    /// The strategy was updated and checkpointed after `step` batches.
    Updated { step: u64 },
    /// The stop flag was seen; running children finish their batch and the search ends.
    Stopping,
    /// Something the user should know that is not an error (a repair made when the run was
    /// opened, a default chosen for them).
    Notice { message: String },
    /// The finalists' training starts: these candidates, this many epochs each, on this many
    /// training images.
    FinalistsStarted {
        ids: Vec<u64>,
        epochs: usize,
        train_images: usize,
    },
    /// A finalist's record (with its `finalist` figures) is durable.
    FinalistFinished { candidate: Box<Candidate> },
    /// The data set is loaded: classes, per-class counts of each split, the image size (and
    /// why, when a default was picked) and what the image cache did. Sent before `Started`.
    DataLoaded(Box<DataSummary>),
    /// After the first batch: the trained candidates score what a constant answer scores.
    NotLearning(NotLearning),
    /// Progress of a weight-sharing search (`--strategy enas`).
    Enas(EnasEvent),
}

/// How a search ended.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub run: PathBuf,
    pub best_id: Option<u64>,
    pub best_reward: Option<f64>,
    /// Candidates recorded in the run.
    pub samples: usize,
    /// Epochs of training spent over the whole run (a table fidelity counts its cost).
    pub epochs_spent: f64,
    /// Wall time of this invocation.
    pub seconds: f64,
    /// Time spent in the strategy (ask, tell, checkpoint serialisation).
    pub strategy_seconds: f64,
    /// Longest time from a candidate's result to its record being durable (written, flushed).
    pub max_record_seconds: f64,
    /// True when the search stopped early (Ctrl-C) and can be resumed.
    pub interrupted: bool,
    /// The model the run hands out: its best finalist, exported.
    pub delivered: Option<Delivered>,
    /// Set when the completed candidates look like the search learned nothing.
    pub warning: Option<NotLearning>,
}

/// The model a search hands out: the finalist with the best validation accuracy, exported as
/// code and weights.
#[derive(Clone, Debug, Serialize)]
pub struct Delivered {
    pub id: u64,
    pub val_acc: f64,
    /// Reported, never used to choose.
    pub test_acc: f64,
    pub epochs: usize,
    pub train_images: usize,
    /// The exported files: code, weights, architecture.
    pub source: PathBuf,
    pub weights: PathBuf,
    pub arch: PathBuf,
}
