//! The search loop: ask the strategy for a batch, settle or train each candidate, record each
//! one durably as it finishes, tell the strategy, checkpoint it. Candidate ids are fixed by
//! the step and the position in the batch, so a resumed search knows which candidates of the
//! interrupted batch are already recorded and trains only the rest.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::candidate::{self, now, Prepared};
use super::config::SearchConfig;
use super::events::{SearchEvent, Summary};
use super::learning::{self, NotLearning};
use super::run;
use crate::arch::Architecture;
use crate::data::{self, Dataset, DatasetSpec, LoadOptions, SplitKind};
use crate::error::Result;
use crate::pool::{parse_devices, Job, Pool, PoolConfig, PoolEvent, PoolMessage};
use crate::space::{Decisions, Space, SpaceBody};
use crate::store::{Candidate, RunStore, Status};
use crate::strategy::{self, Strategy};
use crate::train::Outcome;

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
        events(SearchEvent::DataLoaded(Box::new(data.summary())));
    }
    let strategy = strategy::build(
        cfg.strategy,
        space.decisions(),
        &cfg.strategy_config,
        cfg.seed,
    )?;
    let store = match place {
        Where::Exactly(dir) => run::create(dir, false, &cfg, &space)?,
        Where::Unique(dir) => run::create(dir, true, &cfg, &space)?,
        Where::Temporary => run::create_temporary(&cfg, &space)?,
    };
    let temporary = matches!(place, Where::Temporary);
    let mut search = Search::new(store, cfg, space, data, strategy, 0, stop)?;
    let summary = search.run(events, false)?;
    let candidates = match temporary {
        true => search.store.candidates()?,
        false => Vec::new(),
    };
    Ok((summary, candidates))
}

/// Resumes the search in run folder `dir` from its last checkpoint.
pub fn resume(
    dir: &Path,
    force: bool,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<Summary> {
    let (store, cfg, space) = run::open(dir, force)?;
    let (space, data) = with_data(&cfg, space)?;
    if let Some(data) = &data {
        events(SearchEvent::DataLoaded(Box::new(data.summary())));
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

struct Search {
    store: RunStore,
    cfg: SearchConfig,
    space: Space,
    strategy: Box<dyn Strategy>,
    pool: Option<Pool>,
    step: u64,
    stop: Arc<AtomicBool>,
    strategy_seconds: f64,
    max_record_seconds: f64,
    /// (reward, id) of the candidates whose weights are kept, at most `keep_top`.
    kept: Vec<(f64, u64)>,
    best: Option<(u64, f64)>,
    /// Images per class of the validation split, for the not-learning check (empty for tables).
    val_counts: Vec<usize>,
}

impl Search {
    fn new(
        store: RunStore,
        cfg: SearchConfig,
        space: Space,
        data: Option<Arc<Dataset>>,
        strategy: Box<dyn Strategy>,
        step: u64,
        stop: Arc<AtomicBool>,
    ) -> Result<Search> {
        let val_counts = data.as_ref().map(|d| d.class_counts(SplitKind::Val));
        let pool = match data {
            Some(data) => {
                let cores = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1);
                let threads = match cfg.threads_per_worker {
                    0 => (cores / cfg.workers).max(1),
                    n => n,
                };
                let pool_cfg = PoolConfig {
                    workers: cfg.workers,
                    threads_per_worker: threads,
                    devices: parse_devices(&cfg.device)?,
                    train: cfg.train.clone(),
                };
                Some(Pool::with_stop(pool_cfg, data, stop.clone())?)
            }
            None => None,
        };
        let mut search = Search {
            store,
            cfg,
            space,
            strategy,
            pool,
            step,
            stop,
            strategy_seconds: 0.0,
            max_record_seconds: 0.0,
            kept: vec![],
            best: None,
            val_counts: val_counts.unwrap_or_default(),
        };
        search.load_history()?;
        Ok(search)
    }

    /// Rebuilds the best candidate and the kept-weights list from the store.
    fn load_history(&mut self) -> Result<()> {
        let candidates = self.store.candidates()?;
        for c in candidates.iter().filter(|c| c.status == Status::Completed) {
            self.note_best(c);
        }
        let rewards: HashMap<u64, f64> = candidates.iter().map(|c| (c.id, c.reward)).collect();
        for id in self.store.weights_ids()? {
            match rewards.get(&id) {
                Some(&r) => self.kept.push((r, id)),
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

    fn note_best(&mut self, c: &Candidate) {
        if c.reward.is_finite() && self.best.is_none_or(|(_, r)| c.reward > r) {
            self.best = Some((c.id, c.reward));
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
            done: self.store.len(),
            resumed,
            workers: self.cfg.workers,
        });
        let mut interrupted = false;
        while (self.step as usize) * self.cfg.batch < self.cfg.samples {
            if self.stop.load(Ordering::SeqCst) || !self.run_step(events)? {
                interrupted = true;
                break;
            }
            if self.step == 1 {
                if let Some(warning) = self.learning_warning()? {
                    events(SearchEvent::NotLearning(warning));
                }
            }
        }
        let status = if interrupted {
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
            seconds: started.elapsed().as_secs_f64(),
            strategy_seconds: self.strategy_seconds,
            max_record_seconds: self.max_record_seconds,
            interrupted,
            warning: self.learning_warning()?,
        })
    }

    /// The not-learning warning over the candidates completed so far, when it applies.
    fn learning_warning(&self) -> Result<Option<NotLearning>> {
        let accuracies: Vec<f64> = self
            .store
            .candidates()?
            .iter()
            .filter(|c| c.status == Status::Completed)
            .filter_map(|c| c.metrics.get("val_acc").copied())
            .collect();
        Ok(learning::check(&accuracies, &self.val_counts))
    }

    /// Evaluates one batch and updates the strategy; false when stopped before the batch ended.
    fn run_step(&mut self, events: &mut dyn FnMut(SearchEvent)) -> Result<bool> {
        let base = self.step * self.cfg.batch as u64;
        let n = self.cfg.batch.min(self.cfg.samples - base as usize);
        let timer = Instant::now();
        let asks = self.strategy.ask(n)?;
        self.strategy_seconds += timer.elapsed().as_secs_f64();
        let mut rewards: Vec<Option<f64>> = vec![None; n];
        let mut training: HashMap<u64, (usize, Candidate)> = HashMap::new();
        let mut training_hash: HashMap<String, u64> = HashMap::new();
        let mut waiting: HashMap<String, Vec<(usize, Candidate)>> = HashMap::new();
        for (i, decisions) in asks.iter().enumerate() {
            let id = base + i as u64;
            if let Some(done) = self.store.candidate(id)? {
                rewards[i] = Some(done.reward); // recorded before an interruption
                continue;
            }
            match candidate::prepare(
                &self.cfg,
                &self.space,
                &self.store,
                id,
                self.step,
                decisions,
            )? {
                Prepared::Done(c) => rewards[i] = Some(self.record(c, None, events)?),
                Prepared::Train {
                    graph,
                    mut candidate,
                } => {
                    if training_hash.contains_key(&candidate.hash) {
                        waiting
                            .entry(candidate.hash.clone())
                            .or_default()
                            .push((i, candidate));
                        continue;
                    }
                    training_hash.insert(candidate.hash.clone(), id);
                    candidate.started_at = Some(now());
                    let seed = self.cfg.candidate_seed(id);
                    self.pool().submit(Job {
                        id,
                        graph: *graph,
                        seed,
                    })?;
                    training.insert(id, (i, candidate));
                }
            }
        }
        let mut stopped = false;
        while !training.is_empty() {
            let Some(message) = self.pool().recv() else {
                break;
            };
            match message {
                PoolMessage::Event(event) => {
                    if let Some(e) = translate(event, &training) {
                        events(e);
                    }
                }
                PoolMessage::Done(result) => {
                    let Some((i, mut c)) = training.remove(&result.id) else {
                        continue;
                    };
                    c.finished_at = Some(now());
                    let c = match result.outcome {
                        Outcome::Completed(m) => candidate::completed(&self.cfg, c, &m),
                        Outcome::Failed { reason, .. } => candidate::failed(c, reason),
                        Outcome::Stopped => {
                            stopped = true;
                            continue;
                        }
                    };
                    let original = c.clone();
                    rewards[i] = Some(self.record(c, result.weights, events)?);
                    for (j, dup) in waiting.remove(&original.hash).unwrap_or_default() {
                        rewards[j] = Some(self.record(
                            candidate::duplicate(dup, &original),
                            None,
                            events,
                        )?);
                    }
                }
            }
        }
        if stopped || rewards.iter().any(Option::is_none) {
            events(SearchEvent::Stopping);
            return Ok(false);
        }
        let results: Vec<(Decisions, f64)> = asks
            .into_iter()
            .zip(rewards.into_iter().map(|r| r.unwrap_or(0.0)))
            .collect();
        let timer = Instant::now();
        self.strategy.tell(&results)?;
        let checkpoint = self.strategy.checkpoint()?;
        self.strategy_seconds += timer.elapsed().as_secs_f64();
        self.step += 1;
        self.store.put_checkpoint(self.step, &checkpoint)?;
        events(SearchEvent::Updated { step: self.step });
        Ok(true)
    }

    fn pool(&self) -> &Pool {
        self.pool.as_ref().expect("cell spaces have a worker pool")
    }

    /// Makes a candidate durable (weights first, so a recorded winner always has them) and
    /// returns its reward.
    fn record(
        &mut self,
        c: Candidate,
        weights: Option<Vec<u8>>,
        events: &mut dyn FnMut(SearchEvent),
    ) -> Result<f64> {
        let timer = Instant::now();
        let keep = c.status == Status::Completed
            && self.cfg.keep_top > 0
            && (self.kept.len() < self.cfg.keep_top
                || self.kept.iter().any(|&(r, _)| c.reward > r));
        if let (true, Some(w)) = (keep, weights) {
            self.store.put_weights(c.id, &w)?;
            self.kept.push((c.reward, c.id));
        }
        self.store.put_candidate(&c)?;
        self.max_record_seconds = self.max_record_seconds.max(timer.elapsed().as_secs_f64());
        while self.kept.len() > self.cfg.keep_top {
            self.evict_worst()?;
        }
        if c.status == Status::Completed {
            self.note_best(&c);
        }
        let reward = c.reward;
        events(SearchEvent::CandidateFinished {
            candidate: Box::new(c),
            done: self.store.len(),
            best: self.best,
        });
        Ok(reward)
    }

    fn evict_worst(&mut self) -> Result<()> {
        let worst = (0..self.kept.len()).min_by(|&a, &b| {
            self.kept[a]
                .0
                .total_cmp(&self.kept[b].0)
                .then(self.kept[b].1.cmp(&self.kept[a].1))
        });
        if let Some(i) = worst {
            let (_, id) = self.kept.swap_remove(i);
            self.store.delete_weights(id)?;
        }
        Ok(())
    }
}

/// The search event of a pool event, naming the candidate's architecture when it starts.
fn translate(event: PoolEvent, training: &HashMap<u64, (usize, Candidate)>) -> Option<SearchEvent> {
    match event {
        PoolEvent::Started { worker, id } => {
            let summary = training
                .get(&id)
                .and_then(|(_, c)| serde_json::from_value::<Architecture>(c.arch.clone()).ok())
                .map(|a| a.summary())
                .unwrap_or_default();
            Some(SearchEvent::CandidateStarted {
                id,
                worker,
                summary,
            })
        }
        PoolEvent::Train { worker, id, event } => Some(SearchEvent::Training { id, worker, event }),
        PoolEvent::Finished { .. } => None,
    }
}
