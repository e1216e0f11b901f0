//! `TrainPlan`: how far one piece of training goes, on which learning-rate schedule, and what it
//! hands back. Plain training is one cosine cycle over all its epochs. Successive halving trains
//! a child in segments, one per rung, and continues a promoted child from its stored state: each
//! segment is its own cosine cycle ending at the rung (a warm restart at every rung, as in
//! SGDR), so the accuracy measured at a rung is that of an annealed net, and training to rung k
//! in one go or rung by rung, stopping and continuing from the state, is the same computation.

use serde::{Deserialize, Serialize};

/// One piece of training of a child.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainPlan {
    /// Train until this many epochs are done in all (counting those of the state continued).
    pub until_epoch: usize,
    /// The epochs at which the learning rate's cosine cycles end, increasing; the last is the
    /// end of the whole schedule.
    pub cycle_ends: Vec<usize>,
    /// Hand back the state to continue from (weights, optimiser, progress).
    pub keep_state: bool,
    /// Measure the test split at the end (finalists only: it is reported, never used to choose).
    pub evaluate_test: bool,
}

impl TrainPlan {
    /// `epochs` epochs on one cosine cycle.
    pub fn plain(epochs: usize) -> TrainPlan {
        TrainPlan {
            until_epoch: epochs,
            cycle_ends: vec![epochs],
            keep_state: false,
            evaluate_test: false,
        }
    }

    /// Rung `rung` of successive halving with rungs ending at epochs `rungs`.
    pub fn rung(rungs: &[usize], rung: usize, keep_state: bool) -> TrainPlan {
        TrainPlan {
            until_epoch: rungs[rung],
            cycle_ends: rungs.to_vec(),
            keep_state,
            evaluate_test: false,
        }
    }
}
