//! What the journal holds beside the database: where each kept blob (weights, training states,
//! finalist weights) lies in the journal, and the strategy's update statistics. The writer and
//! every reader build it the same way, by noting the journal's entries in order.

use std::collections::BTreeMap;

use super::entry::Entry;
use super::journal::BlobRef;

/// The journal's blobs and statistics, as of the last entry noted.
#[derive(Debug, Default)]
pub(super) struct JournalIndex {
    pub weights: BTreeMap<u64, BlobRef>,
    pub states: BTreeMap<u64, BlobRef>,
    pub finals: BTreeMap<u64, BlobRef>,
    pub updates: Vec<(u64, serde_json::Value)>,
}

impl JournalIndex {
    /// Takes one entry (and where its blob lies) into account.
    pub fn note(&mut self, entry: &Entry, blob: Option<BlobRef>) {
        let empty = BlobRef { offset: 0, len: 0 };
        match entry {
            Entry::Weights { id } => {
                self.weights.insert(*id, blob.unwrap_or(empty));
            }
            Entry::WeightsDropped { id } => {
                self.weights.remove(id);
            }
            Entry::State { id } => {
                self.states.insert(*id, blob.unwrap_or(empty));
            }
            Entry::StateDropped { id } => {
                self.states.remove(id);
            }
            Entry::FinalWeights { id } => {
                self.finals.insert(*id, blob.unwrap_or(empty));
            }
            Entry::Update { step, stats } => {
                // A step replayed after a resume replaces the record of its first attempt.
                self.updates.retain(|(s, _)| s < step);
                self.updates.push((*step, stats.clone()));
            }
            Entry::Created { .. } | Entry::MetaValue { .. } | Entry::Candidate { .. } => {}
        }
    }
}
