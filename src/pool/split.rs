//! How a search spends its cores: several children at once on one thread each, or one child
//! at a time on all of them. A small child's kernels are short, so splitting each op between
//! threads and joining them costs a good part of its work, while children side by side never
//! wait for each other; a large child's kernels split well, and one at a time halves the
//! memory and gives each result sooner.
//!
//! The threshold is measured with the default search (`resnet-cells`, seed 0, 4 children on
//! 1,000 MNIST images each) on 2 shared cores: 2 workers x 1 thread trained 64 children/h,
//! 1 worker x 2 threads 59, with the same rewards; those children have about 100M MACs per
//! image, so the side-by-side split holds at least up to there. Above the threshold one child
//! at a time keeps memory at one child's.

/// MACs per image below which children train one thread each, side by side.
pub const SMALL_CHILD_MACS: u64 = 200_000_000;

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
        assert_eq!(split_cores(102_472_576, 2), (2, 1), "a resnet-cells child");
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
