//! The largest and the smallest child of the shared network, which the sandwich rule trains
//! beside the sampled ones (`EnasConfig::sandwich`, `EnasConfig::smallest`). Size is by
//! multiply-accumulates, and the extremes are found greedily: a
//! space names its options freely (`width = [1.5, 0.5]` is as valid as the other order), so
//! no option index means "largest", but one decision at a time can be set to the option that
//! adds the most work, until no single change adds more. Every child it tries must be one the
//! shared network holds and the run's limits admit, so a `--max-macs` run trains the largest
//! child it could ever rate, not one it rejects. Without limits the ascent reaches the space's
//! largest child; under a cap it stops at a local maximum, within 2% of the largest of 300
//! random children under the same cap (`tests`).

use super::alternate::Trainer;
use crate::graph::Graph;
use crate::space::Decisions;

/// Rounds of single-decision changes; the greedy ascent settles in two on the shipped spaces.
const ROUNDS: usize = 4;

impl Trainer<'_> {
    /// The graph of the largest admitted child the shared network holds, or `None` when it
    /// holds none of the starting points (the sandwich step is then skipped).
    pub(super) fn largest_child(&mut self) -> Option<Graph> {
        self.extreme_child(Extreme::Largest)
    }

    /// The graph of the smallest admitted child the shared network holds, or `None` as above.
    pub(super) fn smallest_child(&mut self) -> Option<Graph> {
        self.extreme_child(Extreme::Smallest)
    }

    fn extreme_child(&mut self, which: Extreme) -> Option<Graph> {
        let lens: Vec<usize> = self.space.decisions().iter().map(|d| d.len()).collect();
        let (_, graph) = extreme(
            &lens,
            |d| match self.graph(d) {
                Some((graph, true)) => Some(graph),
                _ => None,
            },
            which,
        )?;
        Some(graph)
    }
}

/// Which end of the space's sizes to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Extreme {
    Largest,
    Smallest,
}

impl Extreme {
    /// Whether a child of `a` MACs is further towards this end than one of `b`.
    fn beyond(self, a: u64, b: u64) -> bool {
        match self {
            Self::Largest => a > b,
            Self::Smallest => a < b,
        }
    }
}

/// The assignment (one option index per decision of `lens` options) of most (or fewest) MACs
/// that `admitted` admits, greedily from the all-last and all-first assignments.
pub(super) fn extreme(
    lens: &[usize],
    mut admitted: impl FnMut(&Decisions) -> Option<Graph>,
    which: Extreme,
) -> Option<(Decisions, Graph)> {
    let last: Decisions = lens.iter().map(|n| n - 1).collect();
    let first: Decisions = vec![0; lens.len()];
    let mut best = [last, first]
        .into_iter()
        .filter_map(|d| admitted(&d).map(|g| (d, g)))
        // on a tie the later one, as `max_by_key` chose before the smallest existed
        .reduce(|a, b| {
            if which.beyond(a.1.macs(), b.1.macs()) {
                a
            } else {
                b
            }
        })?;
    for _ in 0..ROUNDS {
        let mut changed = false;
        for (i, &n) in lens.iter().enumerate() {
            for option in 0..n {
                if option == best.0[i] {
                    continue;
                }
                let mut trial = best.0.clone();
                trial[i] = option;
                if let Some(g) = admitted(&trial) {
                    if which.beyond(g.macs(), best.1.macs()) {
                        best = (trial, g);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    Some(best)
}
