//! What the journal records: every change to a run, in the order it happened. Replaying the
//! entries in order rebuilds the run; a later entry for the same key replaces an earlier one.

use serde::{Deserialize, Serialize};

use super::meta::RunMeta;
use super::record::Candidate;

/// One change to a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The first entry of every journal: what the run was created with.
    Created { meta: RunMeta },
    /// A small piece of state beside the metadata (`status`, ...).
    MetaValue { key: String, value: String },
    /// A candidate's record, new or replacing the one with the same id.
    Candidate { candidate: Box<Candidate> },
    /// A candidate's trained weights (safetensors), in the frame's blob.
    Weights { id: u64 },
    /// The weights of a candidate that left the kept set.
    WeightsDropped { id: u64 },
    /// A candidate's resumable training state (weights, optimiser, progress), in the blob.
    State { id: u64 },
    /// A training state that will not be resumed again.
    StateDropped { id: u64 },
    /// The weights of a candidate's finalist training (the whole training split).
    FinalWeights { id: u64 },
    /// What one strategy update did (mean reward, baseline, entropy, ...), for reports.
    Update { step: u64, stats: serde_json::Value },
}

impl Entry {
    /// Whether applying the entry changes the sled database (the rest lives in the journal
    /// alone and is indexed in memory).
    pub fn touches_db(&self) -> bool {
        matches!(
            self,
            Entry::Created { .. } | Entry::MetaValue { .. } | Entry::Candidate { .. }
        )
    }
}
