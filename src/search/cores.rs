//! How a CPU search shares the cores between children when the user chose neither
//! `--workers` nor `--threads`: from the size of the space's children (`pool::split_cores`).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::{Schedule, SearchConfig};
use super::SearchEvent;
use crate::pool::split_cores;
use crate::space::{Space, SpaceBody};
use crate::strategy::StrategyKind;

/// Architectures sampled for the median child size.
const SIZE_SAMPLES: usize = 200;
/// The sample's own random stream, apart from the strategy's and the limits' estimate.
const SIZE_STREAM: u64 = 22;

/// Replaces `workers == 0` ("choose for me") by a split of the cores, and says which. Only a
/// plain CPU search of a cell space trains children side by side: there the strategy hears a
/// batch only when all of it is in, so the history does not depend on which child finishes
/// first; halving promotes whatever is best when a worker frees, and weight sharing trains one
/// network, so those keep one worker on every core. The choice is stored with the run.
pub fn choose_split(cfg: &mut SearchConfig, space: &Space, events: &mut dyn FnMut(SearchEvent)) {
    if cfg.workers != 0 {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cfg.workers = 1;
    let side_by_side = cfg.device == "cpu"
        && matches!(cfg.schedule, Schedule::Plain)
        && cfg.strategy != StrategyKind::Enas
        && cfg.threads_per_worker == 0
        && !matches!(space.body, SpaceBody::Table(_));
    if !side_by_side {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(SIZE_STREAM);
    let mut macs: Vec<u64> = (0..SIZE_SAMPLES)
        .filter_map(|_| {
            let decisions = space.sample(&mut rng);
            let graph = space.decode(&decisions).and_then(|a| a.lower()).ok()?;
            Some(graph.macs())
        })
        .collect();
    if macs.is_empty() {
        return;
    }
    macs.sort_unstable();
    let median = macs[macs.len() / 2];
    let (workers, _) = split_cores(median, cores);
    // threads stay "the cores shared evenly", so finalists, trained one at a time, get them all
    cfg.workers = workers.min(cfg.samples.max(1));
    let threads = (cores / cfg.workers).max(1);
    events(SearchEvent::Notice {
        message: format!(
            "cores: {} worker(s) x {threads} thread(s), for children of about {:.0}M MACs per image on {cores} cores (--workers and --threads choose otherwise)",
            cfg.workers,
            median as f64 / 1e6
        ),
    });
}
