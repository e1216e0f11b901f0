//! Asynchronous successive halving (ASHA; Li et al., 2020): the rungs, and which candidate a
//! free worker promotes. A candidate that reached rung `k` and is among the best `1/eta` of
//! everything that reached rung `k` is promoted to rung `k + 1`, the highest rung first; a worker
//! with nothing to promote starts a new candidate. The choice is a function of the recorded
//! rungs alone, so a resumed search makes the same promotions as one that never stopped.

use std::collections::HashSet;

use crate::store::{Candidate, Status};

/// The rungs' epochs: `min_epochs`, `min_epochs * eta`, ... while below `max_epochs`, then
/// `max_epochs` itself.
pub fn rungs(min_epochs: usize, eta: usize, max_epochs: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut epochs = min_epochs.max(1);
    while epochs < max_epochs {
        out.push(epochs);
        epochs = epochs.saturating_mul(eta.max(2));
    }
    out.push(max_epochs.max(1));
    out
}

/// The candidate to promote next, as `(id, rung to train)`, if any. `busy` holds the ids being
/// trained now; `top_rung` is the index of the last rung.
pub fn next_promotion(
    candidates: &[Candidate],
    eta: usize,
    top_rung: usize,
    busy: &HashSet<u64>,
) -> Option<(u64, usize)> {
    for rung in (0..top_rung).rev() {
        let mut at_rung: Vec<(f64, u64, bool)> = candidates
            .iter()
            .filter(|c| c.status == Status::Completed)
            .filter_map(|c| {
                let r = c.rungs.get(rung)?;
                Some((r.val_acc, c.id, c.rungs.len() > rung + 1))
            })
            .collect();
        at_rung.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let top = at_rung.len() / eta.max(2);
        let pick = at_rung[..top]
            .iter()
            .find(|(_, id, promoted)| !promoted && !busy.contains(id));
        if let Some(&(_, id, _)) = pick {
            return Some((id, rung + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Rung;

    #[test]
    fn rungs_grow_by_eta_and_end_at_the_maximum() {
        assert_eq!(rungs(1, 3, 9), [1, 3, 9]);
        assert_eq!(rungs(1, 3, 10), [1, 3, 9, 10]);
        assert_eq!(rungs(2, 2, 8), [2, 4, 8]);
        assert_eq!(rungs(3, 3, 3), [3]);
    }

    fn candidate(id: u64, accs: &[f64]) -> Candidate {
        let mut c: Candidate = serde_json::from_value(serde_json::json!({
            "id": id, "step": 0, "decisions": [], "arch": null, "hash": id.to_string(),
            "status": "completed", "reward": accs[0], "metrics": {}, "params": 0, "macs": 0,
            "epochs_val_acc": [], "started_at": null, "finished_at": null, "seconds": 0.0,
            "reason": null, "duplicate_of": null
        }))
        .unwrap();
        c.rungs = accs
            .iter()
            .enumerate()
            .map(|(rung, &val_acc)| Rung {
                rung,
                epochs: 3usize.pow(rung as u32),
                val_acc,
                seconds: 0.0,
            })
            .collect();
        c
    }

    #[test]
    fn the_best_third_is_promoted_highest_rung_first() {
        let busy = HashSet::new();
        // two candidates at rung 0: the top third of 2 is nobody
        let two = [candidate(0, &[0.5]), candidate(1, &[0.9])];
        assert_eq!(next_promotion(&two, 3, 2, &busy), None);
        // three: the best one
        let mut three = two.to_vec();
        three.push(candidate(2, &[0.7]));
        assert_eq!(next_promotion(&three, 3, 2, &busy), Some((1, 1)));
        // while it trains, nobody else qualifies
        assert_eq!(next_promotion(&three, 3, 2, &HashSet::from([1])), None);
        // six at rung 0, one of them at rung 1 already: the second best goes next
        let mut six = vec![
            candidate(0, &[0.5]),
            candidate(1, &[0.9, 0.95]),
            candidate(2, &[0.7]),
            candidate(3, &[0.8]),
            candidate(4, &[0.1]),
            candidate(5, &[0.2]),
        ];
        assert_eq!(next_promotion(&six, 3, 2, &busy), Some((3, 1)));
        six[3] = candidate(3, &[0.8, 0.85]);
        six.extend([6, 7, 8].map(|id| candidate(id, &[0.0])));
        // nine at rung 0 (top 3: #1, #3, #2), two at rung 1 (top third of 2: nobody)
        assert_eq!(next_promotion(&six, 3, 2, &busy), Some((2, 1)));
        six[2] = candidate(2, &[0.7, 0.99]);
        // three at rung 1: #2 goes up to rung 2 before anything else
        assert_eq!(next_promotion(&six, 3, 2, &busy), Some((2, 2)));
    }

    #[test]
    fn failed_candidates_and_ties_are_handled() {
        let mut failed = candidate(9, &[1.0]);
        failed.status = Status::Failed;
        let cands = [
            candidate(0, &[0.5]),
            candidate(1, &[0.5]),
            candidate(2, &[0.5]),
            failed,
        ];
        // ties break by id; the failed one is not in the rung at all
        assert_eq!(next_promotion(&cands, 3, 1, &HashSet::new()), Some((0, 1)));
    }
}
