//! What a run accumulates: candidates with their hash index, the strategy's checkpoint and
//! update statistics, the trained weights of the winners, the resumable training states of
//! candidates that may train further, and finalists' weights. Every write is durable in the
//! journal before it returns.

use crate::error::Result;

use super::checkpoint_file;
use super::entry::Entry;
use super::journal::read_blob;
use super::keys::{decode_u64, encode_u64};
use super::record::{Candidate, Status};
use super::run_store::RunStore;

/// How many candidates ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    pub completed: u64,
    pub failed: u64,
    pub rejected: u64,
    pub duplicate: u64,
}

impl StatusCounts {
    /// All candidates, whatever their status.
    pub fn total(&self) -> u64 {
        self.completed + self.failed + self.rejected + self.duplicate
    }

    /// Counts of `candidates` by status.
    pub fn of<'a>(candidates: impl IntoIterator<Item = &'a Candidate>) -> StatusCounts {
        let mut counts = StatusCounts::default();
        for candidate in candidates {
            match candidate.status {
                Status::Completed => counts.completed += 1,
                Status::Failed => counts.failed += 1,
                Status::Rejected => counts.rejected += 1,
                Status::Duplicate => counts.duplicate += 1,
            }
        }
        counts
    }
}

impl RunStore {
    /// Records a candidate (new, or replacing the one with its id) and, if its hash is not
    /// indexed yet, its `id_by_arch_hash` entry. Duplicates are never indexed.
    pub fn put_candidate(&self, candidate: &Candidate) -> Result<()> {
        self.record(
            &Entry::Candidate {
                candidate: Box::new(candidate.clone()),
            },
            None,
        )
    }

    /// The candidate with this id, if there is one.
    pub fn candidate(&self, id: u64) -> Result<Option<Candidate>> {
        let value = self
            .db
            .candidate_by_id
            .get(encode_u64(id))
            .map_err(|e| self.sled_error(e))?;
        value.map(|v| self.decode_candidate(id, &v)).transpose()
    }

    /// Every candidate, ordered by id.
    pub fn candidates(&self) -> Result<Vec<Candidate>> {
        let mut out = Vec::new();
        for entry in self.db.candidate_by_id.iter() {
            let (key, value) = entry.map_err(|e| self.sled_error(e))?;
            let id = decode_u64(&key).map_err(|e| self.error(format!("candidate_by_id: {e}")))?;
            out.push(self.decode_candidate(id, &value)?);
        }
        Ok(out)
    }

    /// The id to give the next candidate: one past the largest stored, 0 for a new run.
    pub fn next_id(&self) -> Result<u64> {
        let last = self
            .db
            .candidate_by_id
            .last()
            .map_err(|e| self.sled_error(e))?;
        match last {
            Some((key, _)) => {
                let id =
                    decode_u64(&key).map_err(|e| self.error(format!("candidate_by_id: {e}")))?;
                Ok(id + 1)
            }
            None => Ok(0),
        }
    }

    /// The number of stored candidates.
    pub fn len(&self) -> usize {
        self.db.candidate_by_id.len()
    }

    /// Whether no candidate is stored yet.
    pub fn is_empty(&self) -> bool {
        self.db.candidate_by_id.is_empty()
    }

    /// How many candidates ended in each status.
    pub fn counts(&self) -> Result<StatusCounts> {
        Ok(StatusCounts::of(&self.candidates()?))
    }

    /// The id of the first evaluated (non-duplicate) candidate with this architecture hash.
    pub fn id_by_hash(&self, hash: &str) -> Result<Option<u64>> {
        let value = self
            .db
            .id_by_arch_hash
            .get(hash.as_bytes())
            .map_err(|e| self.sled_error(e))?;
        value
            .map(|v| decode_u64(&v).map_err(|e| self.error(format!("id_by_arch_hash: {e}"))))
            .transpose()
    }

    /// Replaces the strategy's checkpoint with the state after `step` updates; durable on
    /// return.
    pub fn put_checkpoint(&self, step: u64, blob: &[u8]) -> Result<()> {
        checkpoint_file::write(&self.run, step, blob, self.sync)
    }

    /// The latest checkpoint as `(step, blob)`, if any.
    pub fn last_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        checkpoint_file::read(&self.run)
    }

    /// Records what strategy update `step` did (for reports; nothing reads it back to search).
    pub fn put_update(&self, step: u64, stats: &serde_json::Value) -> Result<()> {
        self.record(
            &Entry::Update {
                step,
                stats: stats.clone(),
            },
            None,
        )
    }

    /// Stores a candidate's trained weights (a safetensors blob).
    pub fn put_weights(&self, id: u64, blob: &[u8]) -> Result<()> {
        self.record(&Entry::Weights { id }, Some(blob))
    }

    /// A candidate's trained weights, if they are kept.
    pub fn weights(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let blob = self.index_lock().weights.get(&id).copied();
        blob.map(|b| read_blob(&self.journal_path(), b)).transpose()
    }

    /// Drops a candidate's weights; returns whether there were any.
    pub fn delete_weights(&self, id: u64) -> Result<bool> {
        if !self.index_lock().weights.contains_key(&id) {
            return Ok(false);
        }
        self.record(&Entry::WeightsDropped { id }, None)?;
        Ok(true)
    }

    /// The ids whose weights are kept, in increasing order.
    pub fn weights_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index_lock().weights.keys().copied().collect())
    }

    /// Stores a candidate's resumable training state.
    pub fn put_state(&self, id: u64, blob: &[u8]) -> Result<()> {
        self.record(&Entry::State { id }, Some(blob))
    }

    /// A candidate's resumable training state, if it is kept.
    pub fn state(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let blob = self.index_lock().states.get(&id).copied();
        blob.map(|b| read_blob(&self.journal_path(), b)).transpose()
    }

    /// Drops a candidate's training state; returns whether there was one.
    pub fn delete_state(&self, id: u64) -> Result<bool> {
        if !self.index_lock().states.contains_key(&id) {
            return Ok(false);
        }
        self.record(&Entry::StateDropped { id }, None)?;
        Ok(true)
    }

    /// Stores the weights of candidate `id`'s finalist training.
    pub fn put_final_weights(&self, id: u64, blob: &[u8]) -> Result<()> {
        self.record(&Entry::FinalWeights { id }, Some(blob))
    }

    /// The weights of candidate `id`'s finalist training, if it has had one.
    pub fn final_weights(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let blob = self.index_lock().finals.get(&id).copied();
        blob.map(|b| read_blob(&self.journal_path(), b)).transpose()
    }

    fn journal_path(&self) -> std::path::PathBuf {
        self.journal_lock().path().to_path_buf()
    }

    fn decode_candidate(&self, id: u64, bytes: &[u8]) -> Result<Candidate> {
        let candidate: Candidate = serde_json::from_slice(bytes)
            .map_err(|e| self.error(format!("candidate {id} is not a valid record: {e}")))?;
        if candidate.id != id {
            return Err(self.error(format!(
                "candidate stored under id {id} says its id is {}",
                candidate.id
            )));
        }
        Ok(candidate)
    }
}
