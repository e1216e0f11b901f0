//! How a search spends its cores: several children at once on one thread each, or one child
//! at a time on all of them. A small child's kernels are too short to share between threads
//! (each op's split and join costs about as much as its work), so two such children on two
//! cores train nearly twice as many children per hour as one child on both; a large child's
//! kernels split well, and one at a time halves the memory and gives each result sooner.
//!
//! The threshold comes from `nas bench train --threads 1` against `--threads 2` on the
//! benchmark nets (see `bench/README` in the report of issue 17): below it, two threads gave
//! less than 1.6 times one thread's images/s.

/// MACs per image below which children train one thread each, side by side.
pub const SMALL_CHILD_MACS: u64 = 20_000_000;

/// `(workers, threads per worker)` for children of `macs_per_image` MACs per image on `cores`
/// cores: one worker per core for small children, one worker on every core for large ones.
/// The training results do not depend on the split: the kernels' sums do not follow the thread
/// count, so a seed gives the same history either way.
pub fn split_cores(macs_per_image: u64, cores: usize) -> (usize, usize) {
    let cores = cores.max(1);
    if macs_per_image < SMALL_CHILD_MACS {
        (cores, 1)
    } else {
        (1, cores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_children_train_side_by_side_and_large_ones_on_every_core() {
        assert_eq!(split_cores(2_000_000, 2), (2, 1));
        assert_eq!(split_cores(SMALL_CHILD_MACS - 1, 4), (4, 1));
        assert_eq!(split_cores(SMALL_CHILD_MACS, 2), (1, 2));
        assert_eq!(split_cores(500_000_000, 8), (1, 8));
    }

    #[test]
    fn one_core_is_one_worker_on_one_thread_whatever_the_child() {
        assert_eq!(split_cores(1, 1), (1, 1));
        assert_eq!(split_cores(u64::MAX, 1), (1, 1));
        assert_eq!(split_cores(1, 0), (1, 1));
    }
}
