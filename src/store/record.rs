//! The records the store keeps, as serde JSON. They are deliberately generic (the architecture is
//! a JSON value, the metrics a string map) so the store depends on no other module of the crate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a candidate's evaluation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Trained and evaluated; `reward` and `metrics` are meaningful.
    Completed,
    /// Training failed (NaN loss, out of memory, panic); `reason` says why.
    Failed,
    /// Refused before training (over a size or compute limit); `reason` says why.
    Rejected,
    /// The same architecture was already evaluated; `duplicate_of` names the first one.
    Duplicate,
}

impl Status {
    /// The lower-case name used in JSON and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
            Status::Duplicate => "duplicate",
        }
    }
}

/// One sampled architecture and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Unique, increasing id within the run (the key of `candidate_by_id`).
    pub id: u64,
    /// The controller update this candidate belongs to.
    pub step: u64,
    /// One index per decision point of the search space.
    pub decisions: Vec<usize>,
    /// The decoded architecture, kept as JSON so the store stays independent of `arch`.
    pub arch: serde_json::Value,
    /// Canonical architecture hash, used for de-duplication (`id_by_arch_hash`).
    pub hash: String,
    pub status: Status,
    /// The reward given to the strategy (0 or a penalty for failures).
    pub reward: f64,
    /// Named measurements (`val_acc`, `test_acc`, `train_loss`, ...).
    pub metrics: BTreeMap<String, f64>,
    pub params: u64,
    pub macs: u64,
    /// Validation accuracy after each training epoch.
    pub epochs_val_acc: Vec<f64>,
    /// Unix seconds when training started, if it did.
    pub started_at: Option<f64>,
    /// Unix seconds when training finished, if it did.
    pub finished_at: Option<f64>,
    /// Wall-clock seconds spent on this candidate.
    pub seconds: f64,
    /// Why the candidate failed or was rejected.
    pub reason: Option<String>,
    /// For a duplicate, the id of the first candidate with the same hash.
    pub duplicate_of: Option<u64>,
    /// Successive halving: every rung the candidate reached, lowest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<Rung>,
    /// The candidate's finalist training (from scratch, on the whole training split), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalist: Option<Finalist>,
}

/// What a candidate reached at one rung of successive halving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    /// The rung's index, 0 for the first.
    pub rung: usize,
    /// Training epochs (or, for a table, the fidelity's cost in epochs) behind the accuracy.
    pub epochs: usize,
    /// Validation accuracy at the end of the rung (for a table, the fidelity's column).
    pub val_acc: f64,
    /// Wall-clock seconds this rung's training took (0 for a table).
    pub seconds: f64,
}

/// A candidate trained again from scratch, properly: what `nas export` hands out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finalist {
    pub epochs: usize,
    /// Images in the training split it was trained on.
    pub train_images: usize,
    /// Validation accuracy after each epoch.
    pub epochs_val_acc: Vec<f64>,
    pub val_acc: f64,
    /// Test accuracy, for reporting only: nothing is ever chosen by it.
    pub test_acc: f64,
    pub seconds: f64,
    /// The per-channel input normalisation of the data it was trained on (0..1 scale).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Why its training failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Candidate {
    /// How candidates compare as results: the highest rung reached, then the accuracy there
    /// (the reward for a candidate without rungs). Larger is better.
    pub fn rank_key(&self) -> (usize, f64) {
        match self.rungs.last() {
            Some(r) => (r.rung + 1, r.val_acc),
            None => (0, self.reward),
        }
    }

    /// Orders candidates best first: completed ones by `rank_key`, then the rest; ties by id.
    pub fn best_first(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
        let done = |c: &Candidate| c.status == Status::Completed;
        let (ra, rb) = (a.rank_key(), b.rank_key());
        done(b)
            .cmp(&done(a))
            .then(rb.0.cmp(&ra.0))
            .then(rb.1.total_cmp(&ra.1))
            .then(a.id.cmp(&b.id))
    }

    /// Whether this candidate may be the target of the `id_by_arch_hash` index: every status
    /// except `Duplicate`, which points at another candidate instead.
    pub fn is_indexed(&self) -> bool {
        self.status != Status::Duplicate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serialises_in_snake_case() {
        let json = serde_json::to_string(&Status::Duplicate).unwrap();
        assert_eq!(json, "\"duplicate\"");
        let back: Status = serde_json::from_str("\"rejected\"").unwrap();
        assert_eq!(back, Status::Rejected);
        assert_eq!(Status::Completed.as_str(), "completed");
    }

    #[test]
    fn a_candidate_round_trips_through_json() {
        let candidate = Candidate {
            id: 7,
            step: 2,
            decisions: vec![0, 3, 1],
            arch: serde_json::json!({"cells": [{"kind": "residual", "width": 32}]}),
            hash: "abc".into(),
            status: Status::Failed,
            reward: 0.0,
            metrics: BTreeMap::from([("val_acc".to_string(), 0.5)]),
            params: 1234,
            macs: 5678,
            epochs_val_acc: vec![0.3, 0.5],
            started_at: Some(1.5),
            finished_at: None,
            seconds: 3.25,
            reason: Some("loss became NaN".into()),
            duplicate_of: None,
            rungs: vec![],
            finalist: None,
        };
        let json = serde_json::to_vec(&candidate).unwrap();
        let back: Candidate = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, candidate);
    }
}
