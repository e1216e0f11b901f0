//! The search loop. Whenever a worker is free it takes the next piece of work: a promotion
//! (successive halving), else the next candidate of the strategy's current batch; when a batch's
//! rewards are all in, the strategy learns from them, is checkpointed, and asks the next batch.
//! Every result is recorded durably as it arrives. Candidate ids are fixed by the batch and the
//! position in it, and every choice is a function of what is recorded, so a resumed search
//! knows what is done, retrains only what was running, and (on one worker) makes the same
//! choices as a search that never stopped. Table spaces take the same path; their "training"
//! is a lookup that finishes at once.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::config::{Schedule, SearchConfig};
use super::events::{SearchEvent, Summary};
use super::learning::{self, NotLearning};
use super::{cores, finalists, halving, limits, run};
use crate::data::{self, Dataset, DatasetSpec, LoadOptions, SplitKind};
use crate::error::Result;
use crate::pool::broker::BrokerConfig;
use crate::pool::{parse_devices, PoolConfig, Workers};
use crate::space::{Decisions, Space, SpaceBody};
use crate::store::{Candidate, RunStore, Status};
use crate::strategy::{self, Strategy, StrategyKind};

/// Starts a new search in run folder `dir`; an error if `dir` already holds a run.
pub fn start(
    dir: &Path,
    cfg: SearchConfig,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<Summary> {
    start_in(Where::Exactly(dir), cfg, stop, events).map(|(summary, _)| summary)
}

/// Starts a new search in run folder `dir`, or `dir-2`, `dir-3`, ... if it is taken (for
/// default run names); the summary says which.
pub fn start_unique(
    dir: &Path,
    cfg: SearchConfig,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<Summary> {
    start_in(Where::Unique(dir), cfg, stop, events).map(|(summary, _)| summary)
}

/// Runs a whole search in a temporary run folder that is deleted afterwards, through the same
/// loop as `start`; returns its summary and every candidate, by id.
pub fn start_temporary(
    cfg: SearchConfig,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<(Summary, Vec<Candidate>)> {
    start_in(Where::Temporary, cfg, stop, events)
}

enum Where<'a> {
    Exactly(&'a Path),
    Unique(&'a Path),
    Temporary,
}

fn start_in(
    place: Where,
    mut cfg: SearchConfig,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<(Summary, Vec<Candidate>)> {
    cfg.validate()?;
    let space = Space::load(&cfg.space)?;
    cfg.space_path = space.path.clone();
    let (space, data) = with_data(&cfg, space)?;
    if let Some(data) = &data {
        cfg.image_size = data.image_size;
        cfg.resolve_budget(data.train.len);
        events(SearchEvent::DataLoaded(Box::new(data.summary())));
    }
    limits::check_feasible(&cfg, &space, events)?;
    cores::choose_split(&mut cfg, &space, events);
    if cfg.strategy == StrategyKind::Enas {
        crate::enas::check(&cfg, &space)?;
        let store = create(&place, &cfg, &space)?;
        let summary = weight_sharing(&store, cfg, space, data, stop, events, false)?;
        let candidates = match place {
            Where::Temporary => store.candidates()?,
            _ => Vec::new(),
        };
        return Ok((summary, candidates));
    }
    let strategy = strategy::build(
        cfg.strategy,
        space.decisions(),
        &cfg.strategy_config,
        cfg.seed,
    )?;
    let store = create(&place, &cfg, &space)?;
    let mut search = Search::new(store, cfg, space, data, strategy, 0, stop)?;
    let summary = search.run(events, false)?;
    let candidates = match place {
        Where::Temporary => search.store.candidates()?,
        _ => Vec::new(),
    };
    Ok((summary, candidates))
}

/// Creates the run of a new search.
fn create(place: &Where, cfg: &SearchConfig, space: &Space) -> Result<RunStore> {
    match place {
        Where::Exactly(dir) => run::create(dir, false, cfg, space),
        Where::Unique(dir) => run::create(dir, true, cfg, space),
        Where::Temporary => run::create_temporary(cfg, space),
    }
}

/// A weight-sharing search (`crate::enas`, its own loop), then the run's finalists.
fn weight_sharing(
    store: &RunStore,
    cfg: SearchConfig,
    space: Space,
    data: Option<Arc<Dataset>>,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
    resumed: bool,
) -> Result<Summary> {
    let mut summary = crate::enas::run(store, &cfg, &space, data, &stop, events, resumed)?;
    if !summary.interrupted {
        summary.delivered = finalists::run(store, &cfg, &space, &stop, events)?;
        summary.interrupted = stop.load(Ordering::SeqCst);
    }
    let status = if summary.interrupted {
        "interrupted"
    } else {
        "finished"
    };
    store.set_meta_value("status", status)?;
    Ok(summary)
}

/// Resumes the search in run folder `dir` from its last checkpoint.
pub fn resume(
    dir: &Path,
    force: bool,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<Summary> {
    resume_with(dir, force, None, stop, events)
}

/// Resumes the search in run folder `dir`, its children trained through `broker` if given
/// (a broker is where the search runs, not what it is, so it is not stored with the run).
pub fn resume_with(
    dir: &Path,
    force: bool,
    broker: Option<BrokerConfig>,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<Summary> {
    let (store, mut cfg, space) = run::open(dir, force)?;
    cfg.broker = broker;
    let (space, data) = with_data(&cfg, space)?;
    if let Some(data) = &data {
        events(SearchEvent::DataLoaded(Box::new(data.summary())));
    }
    if cfg.strategy == StrategyKind::Enas {
        return weight_sharing(&store, cfg, space, data, stop, events, true);
    }
    let (step, strategy) = match store.last_checkpoint()? {
        Some((step, bytes)) => (
            step,
            strategy::restore(
                cfg.strategy,
                space.decisions(),
                &cfg.strategy_config,
                &bytes,
            )?,
        ),
        None => (
            0,
            strategy::build(
                cfg.strategy,
                space.decisions(),
                &cfg.strategy_config,
                cfg.seed,
            )?,
        ),
    };
    Search::new(store, cfg, space, data, strategy, step, stop)?.run(events, true)
}

/// Loads the data set of a cell space and re-targets the space to its input; table spaces
/// need none.
fn with_data(cfg: &SearchConfig, space: Space) -> Result<(Space, Option<Arc<Dataset>>)> {
    if matches!(space.body, SpaceBody::Table(_)) {
        return Ok((space, None));
    }
    let spec: DatasetSpec = cfg.dataset.parse()?;
    let opts = LoadOptions {
        seed: cfg.seed,
        train_size: cfg.train_size,
        val_size: cfg.val_size,
        augment: None,
        clamp: true,
        image_size: cfg.image_size,
    };
    let data = data::load(&spec, &opts)?;
    let space = space.with_input(data.input, data.classes);
    Ok((space, Some(Arc::new(data))))
}

/// The strategy's current batch of new candidates.
pub(super) struct Batch {
    /// The id of the batch's first candidate (`step * batch`).
    pub base: u64,
    pub asks: Vec<Decisions>,
    pub rewards: Vec<Option<f64>>,
    /// The next position to take.
    pub next: usize,
}

/// A candidate being trained.
pub(super) struct Flight {
    /// Its position in the current batch, for a new candidate; `None` for a promotion.
    pub pos: Option<usize>,
    /// The rung it trains to (`None` on the plain schedule).
    pub rung: Option<usize>,
    pub candidate: Candidate,
}

/// A search in progress: what it owns and what it has counted.
pub(super) struct Search {
    pub store: RunStore,
    pub cfg: SearchConfig,
    pub space: Space,
    pub strategy: Box<dyn Strategy>,
    pub pool: Option<Workers>,
    pub stop: Arc<AtomicBool>,
    /// Strategy updates done.
    pub step: u64,
    pub batch: Option<Batch>,
    pub flights: HashMap<u64, Flight>,
    /// Candidates of the current batch waiting for one of the same architecture in flight.
    pub waiting: HashMap<String, Vec<(usize, Candidate)>>,
    /// The epochs of each rung of successive halving; empty on the plain schedule.
    pub rungs: Vec<usize>,
    /// The status of every recorded candidate.
    pub statuses: BTreeMap<u64, Status>,
    /// Rejected candidates (over a limit): they do not count towards `samples`.
    pub rejected: usize,
    /// Completed candidates with their rungs, for promotions (successive halving only).
    pub ranked: Vec<Candidate>,
    /// Epochs spent so far (a table fidelity counts its cost).
    pub spent: f64,
    /// A child ended with `Stopped`, or the stop flag was seen.
    pub interrupted: bool,
    pub strategy_seconds: f64,
    pub max_record_seconds: f64,
    /// (rank, id) of the candidates whose weights are kept, at most `keep_top`.
    pub kept: Vec<((usize, f64), u64)>,
    /// The best candidate as (id, accuracy at its highest rung), and its rank.
    pub best: Option<(u64, f64)>,
    pub best_key: Option<(usize, f64)>,
    /// Images per class of the validation split, for the not-learning check (empty for tables).
    pub val_counts: Vec<usize>,
}

impl Search {
    pub(super) fn new(
        store: RunStore,
        cfg: SearchConfig,
        space: Space,
        data: Option<Arc<Dataset>>,
        strategy: Box<dyn Strategy>,
        step: u64,
        stop: Arc<AtomicBool>,
    ) -> Result<Search> {
        let pool = super::brokered::workers(&store, &cfg, &space, data.as_ref(), &stop)?;
        let rungs = match (cfg.schedule, &space.body) {
            (Schedule::Plain, _) => vec![],
            (Schedule::Halving { .. }, SpaceBody::Table(t)) => {
                t.fidelities.iter().map(|f| f.epochs).collect()
            }
            (Schedule::Halving { min_epochs, eta }, _) => {
                halving::rungs(min_epochs, eta, cfg.train.epochs)
            }
        };
        let val_counts = data
            .as_ref()
            .map(|d| d.class_counts(SplitKind::Val))
            .unwrap_or_default();
        let mut search = Search {
            store,
            cfg,
            space,
            strategy,
            pool,
            stop,
            step,
            batch: None,
            flights: HashMap::new(),
            waiting: HashMap::new(),
            rungs,
            statuses: BTreeMap::new(),
            rejected: 0,
            ranked: vec![],
            spent: 0.0,
            interrupted: false,
            strategy_seconds: 0.0,
            max_record_seconds: 0.0,
            kept: vec![],
            best: None,
            best_key: None,
            val_counts,
        };
        search.load_history()?;
        Ok(search)
    }

    /// Rebuilds the counters, the best candidate and the kept-weights list from the store.
    fn load_history(&mut self) -> Result<()> {
        let candidates = self.store.candidates()?;
        for c in &candidates {
            self.note_best(c);
            self.spent += self.cost_of(c);
            self.statuses.insert(c.id, c.status);
            if c.status == Status::Rejected {
                self.rejected += 1;
            }
            if c.status == Status::Completed && !self.rungs.is_empty() {
                self.ranked.push(c.clone());
            }
        }
        let ranks: HashMap<u64, (usize, f64)> =
            candidates.iter().map(|c| (c.id, c.rank_key())).collect();
        for id in self.store.weights_ids()? {
            match ranks.get(&id) {
                Some(&rank) => self.kept.push((rank, id)),
                // weights written just before a crash, whose candidate was never recorded
                None => {
                    self.store.delete_weights(id)?;
                }
            }
        }
        while self.kept.len() > self.cfg.keep_top {
            self.evict_worst()?;
        }
        Ok(())
    }

    pub(super) fn note_best(&mut self, c: &Candidate) {
        let key = c.rank_key();
        if c.status != Status::Completed || !key.1.is_finite() {
            return;
        }
        let better = match self.best_key {
            None => true,
            Some(best) => key.0 > best.0 || (key.0 == best.0 && key.1 > best.1),
        };
        if better {
            self.best_key = Some(key);
            self.best = Some((c.id, key.1));
        }
    }

    fn run(&mut self, events: &mut dyn FnMut(SearchEvent), resumed: bool) -> Result<Summary> {
        let started = Instant::now();
        for notice in self.store.notices() {
            events(SearchEvent::Notice {
                message: notice.clone(),
            });
        }
        self.store.set_meta_value("status", "running")?;
        events(SearchEvent::Started {
            run: self.store.path().to_path_buf(),
            samples: self.cfg.samples,
            done: self.counted(),
            resumed,
            workers: self.cfg.workers,
        });
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.interrupted = true;
            }
            while !self.interrupted && self.flights.len() < self.capacity() {
                // A table candidate is answered without going in flight, so a table search
                // lives in this loop: it must see Ctrl-C here, not only between results.
                if self.stop.load(Ordering::SeqCst) {
                    self.interrupted = true;
                    break;
                }
                if !self.next_work(events)? {
                    break;
                }
            }
            if self.flights.is_empty() {
                break;
            }
            self.await_result(events)?;
        }
        if let Some(workers) = self.pool.take() {
            workers.close(!self.interrupted);
        }
        if self.interrupted {
            events(SearchEvent::Stopping);
        } else if self.rejected >= self.rejection_cap() && self.counted() < self.cfg.samples {
            events(SearchEvent::Notice {
                message: limits::gave_up(&self.cfg, self.rejected, self.counted()),
            });
        }
        let delivered = match self.interrupted {
            true => None,
            false => finalists::run(&self.store, &self.cfg, &self.space, &self.stop, events)?,
        };
        self.interrupted |= self.stop.load(Ordering::SeqCst);
        let status = if self.interrupted {
            "interrupted"
        } else {
            "finished"
        };
        self.store.set_meta_value("status", status)?;
        Ok(Summary {
            run: self.store.path().to_path_buf(),
            best_id: self.best.map(|b| b.0),
            best_reward: self.best.map(|b| b.1),
            samples: self.store.len(),
            epochs_spent: self.spent,
            seconds: started.elapsed().as_secs_f64(),
            strategy_seconds: self.strategy_seconds,
            max_record_seconds: self.max_record_seconds,
            interrupted: self.interrupted,
            delivered,
            warning: self.learning_warning()?,
        })
    }

    /// The not-learning warning over the candidates completed so far, when it applies.
    pub(super) fn learning_warning(&self) -> Result<Option<NotLearning>> {
        let accuracies: Vec<f64> = self
            .store
            .candidates()?
            .iter()
            .filter(|c| c.status == Status::Completed)
            .filter_map(|c| c.metrics.get("val_acc").copied())
            .collect();
        Ok(learning::check(&accuracies, &self.val_counts))
    }

    /// How many candidates may train at once: the workers, or one for a table (whose lookups
    /// finish as they start); through a broker, whose workers come and go, a whole batch.
    fn capacity(&self) -> usize {
        match self.pool {
            Some(Workers::Local(_)) => self.cfg.workers,
            Some(Workers::Broker(_)) => self.cfg.batch.max(self.cfg.workers).max(1),
            None => 1,
        }
    }

    /// Candidates that count towards `samples`: all but the rejected.
    pub(super) fn counted(&self) -> usize {
        self.statuses.len() - self.rejected
    }

    /// Counted candidates with an id of `base` or more.
    pub(super) fn counted_from(&self, base: u64) -> usize {
        self.statuses
            .range(base..)
            .filter(|(_, s)| **s != Status::Rejected)
            .count()
    }

    /// The most rejections a search makes before it gives up on finding `samples` candidates
    /// within its limits.
    pub(super) fn rejection_cap(&self) -> usize {
        limits::rejection_cap(self.cfg.samples)
    }

    pub(super) fn evict_worst(&mut self) -> Result<()> {
        let worst = (0..self.kept.len()).min_by(|&a, &b| {
            let ((ra, ia), (rb, ib)) = (self.kept[a], self.kept[b]);
            ra.0.cmp(&rb.0)
                .then(ra.1.total_cmp(&rb.1))
                .then(ib.cmp(&ia))
        });
        if let Some(i) = worst {
            let (_, id) = self.kept.swap_remove(i);
            self.store.delete_weights(id)?;
        }
        Ok(())
    }
}

/// The pool settings of a search's children.
pub(super) fn pool_config(cfg: &SearchConfig, workers: usize) -> Result<PoolConfig> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = match cfg.threads_per_worker {
        0 => (cores / workers.max(1)).max(1),
        n => n,
    };
    Ok(PoolConfig {
        workers: workers.max(1),
        threads_per_worker: threads,
        devices: parse_devices(&cfg.device)?,
        train: cfg.train.clone(),
    })
}
