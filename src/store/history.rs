//! What a run accumulates: candidates with their hash index, controller checkpoints and the
//! trained weights of the winners. Every write that the search relies on after a crash is
//! flushed before it returns.

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::error::Result;

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
}

impl RunStore {
    /// Writes a candidate and, if its hash is not indexed yet, its `id_by_arch_hash` entry, in one
    /// transaction; flushed before returning. Duplicates are never indexed.
    pub fn put_candidate(&self, candidate: &Candidate) -> Result<()> {
        let key = encode_u64(candidate.id);
        let value = serde_json::to_vec(candidate)?;
        let hash = candidate.hash.as_bytes();
        let index = candidate.is_indexed();
        (&self.candidate_by_id, &self.id_by_arch_hash)
            .transaction(|(candidates, hashes)| {
                candidates.insert(&key[..], value.as_slice())?;
                if index && hashes.get(hash)?.is_none() {
                    hashes.insert(hash, &key[..])?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => self.sled_error(e),
                TransactionError::Abort(()) => self.error("candidate transaction aborted"),
            })?;
        self.flush()
    }

    /// The candidate with this id, if there is one.
    pub fn candidate(&self, id: u64) -> Result<Option<Candidate>> {
        let value = self
            .candidate_by_id
            .get(encode_u64(id))
            .map_err(|e| self.sled_error(e))?;
        value.map(|v| self.decode_candidate(id, &v)).transpose()
    }

    /// Every candidate, ordered by id.
    pub fn candidates(&self) -> Result<Vec<Candidate>> {
        let mut out = Vec::new();
        for entry in self.candidate_by_id.iter() {
            let (key, value) = entry.map_err(|e| self.sled_error(e))?;
            let id = decode_u64(&key).map_err(|e| self.error(format!("candidate_by_id: {e}")))?;
            out.push(self.decode_candidate(id, &value)?);
        }
        Ok(out)
    }

    /// The id to give the next candidate: one past the largest stored, 0 for a new run.
    pub fn next_id(&self) -> Result<u64> {
        let last = self
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
        self.candidate_by_id.len()
    }

    /// Whether no candidate is stored yet.
    pub fn is_empty(&self) -> bool {
        self.candidate_by_id.is_empty()
    }

    /// How many candidates ended in each status.
    pub fn counts(&self) -> Result<StatusCounts> {
        let mut counts = StatusCounts::default();
        for candidate in self.candidates()? {
            match candidate.status {
                Status::Completed => counts.completed += 1,
                Status::Failed => counts.failed += 1,
                Status::Rejected => counts.rejected += 1,
                Status::Duplicate => counts.duplicate += 1,
            }
        }
        Ok(counts)
    }

    /// The id of the first evaluated (non-duplicate) candidate with this architecture hash.
    pub fn id_by_hash(&self, hash: &str) -> Result<Option<u64>> {
        let value = self
            .id_by_arch_hash
            .get(hash.as_bytes())
            .map_err(|e| self.sled_error(e))?;
        value
            .map(|v| decode_u64(&v).map_err(|e| self.error(format!("id_by_arch_hash: {e}"))))
            .transpose()
    }

    /// Stores a strategy checkpoint for this step; flushed before returning.
    pub fn put_checkpoint(&self, step: u64, blob: &[u8]) -> Result<()> {
        self.checkpoint_by_step
            .insert(encode_u64(step), blob)
            .map_err(|e| self.sled_error(e))?;
        self.flush()
    }

    /// The checkpoint with the largest step, if any.
    pub fn last_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let last = self
            .checkpoint_by_step
            .last()
            .map_err(|e| self.sled_error(e))?;
        let Some((key, value)) = last else {
            return Ok(None);
        };
        let step = decode_u64(&key).map_err(|e| self.error(format!("checkpoint_by_step: {e}")))?;
        Ok(Some((step, value.to_vec())))
    }

    /// Deletes all but the `keep` latest checkpoints; returns how many were deleted.
    pub fn prune_checkpoints(&self, keep: usize) -> Result<usize> {
        let mut keys = Vec::new();
        for entry in self.checkpoint_by_step.iter().keys() {
            keys.push(entry.map_err(|e| self.sled_error(e))?);
        }
        let excess = keys.len().saturating_sub(keep);
        for key in &keys[..excess] {
            self.checkpoint_by_step
                .remove(key)
                .map_err(|e| self.sled_error(e))?;
        }
        self.flush()?;
        Ok(excess)
    }

    /// Stores a candidate's trained weights (a safetensors blob); flushed before returning.
    pub fn put_weights(&self, id: u64, blob: &[u8]) -> Result<()> {
        self.weights_by_id
            .insert(encode_u64(id), blob)
            .map_err(|e| self.sled_error(e))?;
        self.flush()
    }

    /// A candidate's trained weights, if they were kept.
    pub fn weights(&self, id: u64) -> Result<Option<Vec<u8>>> {
        let value = self
            .weights_by_id
            .get(encode_u64(id))
            .map_err(|e| self.sled_error(e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    /// Deletes a candidate's weights; returns whether there were any.
    pub fn delete_weights(&self, id: u64) -> Result<bool> {
        let old = self
            .weights_by_id
            .remove(encode_u64(id))
            .map_err(|e| self.sled_error(e))?;
        self.flush()?;
        Ok(old.is_some())
    }

    /// The ids whose weights are kept, in increasing order.
    pub fn weights_ids(&self) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for key in self.weights_by_id.iter().keys() {
            let key = key.map_err(|e| self.sled_error(e))?;
            ids.push(decode_u64(&key).map_err(|e| self.error(format!("weights_by_id: {e}")))?);
        }
        Ok(ids)
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
