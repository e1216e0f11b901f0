//! The derived best, trained from scratch by the ordinary trainer (`pool::Pool`, the same
//! settings as a plain search's children) and recorded as ordinary candidates of the run,
//! their shared rating in `metrics` beside their stand-alone accuracy. Candidate ids are the
//! derived ranks, so a resumed search trains only the ones not yet recorded.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::events::Derived;
use crate::data::Dataset;
use crate::error::Result;
use crate::pool::{parse_devices, Job, Pool, PoolConfig, PoolEvent, PoolMessage};
use crate::search::{SearchConfig, SearchEvent};
use crate::space::Space;
use crate::store::{Candidate, RunStore, Status};
use crate::train::{Metrics, Outcome};

/// Records candidates and keeps the weights of the best `keep_top`.
pub(super) struct Recorder<'a> {
    store: &'a RunStore,
    cfg: &'a SearchConfig,
    kept: Vec<(f64, u64)>,
    pub best: Option<(u64, f64)>,
    /// Longest time from a result to its record being durable.
    pub max_record_seconds: f64,
}

impl<'a> Recorder<'a> {
    /// Picks up what the store already holds (a resumed search).
    pub fn new(store: &'a RunStore, cfg: &'a SearchConfig) -> Result<Self> {
        let mut recorder = Recorder {
            store,
            cfg,
            kept: vec![],
            best: None,
            max_record_seconds: 0.0,
        };
        let candidates = store.candidates()?;
        let rewards: HashMap<u64, f64> = candidates.iter().map(|c| (c.id, c.reward)).collect();
        for c in candidates.iter().filter(|c| c.status == Status::Completed) {
            recorder.note_best(c);
        }
        for id in store.weights_ids()? {
            match rewards.get(&id) {
                Some(&r) => recorder.kept.push((r, id)),
                // weights written just before a crash, whose candidate was never recorded
                None => {
                    store.delete_weights(id)?;
                }
            }
        }
        Ok(recorder)
    }

    fn note_best(&mut self, c: &Candidate) {
        if c.reward.is_finite() && self.best.is_none_or(|(_, r)| c.reward > r) {
            self.best = Some((c.id, c.reward));
        }
    }

    /// Makes a candidate durable, weights first.
    fn record(&mut self, c: Candidate, weights: Option<Vec<u8>>) -> Result<()> {
        let timer = std::time::Instant::now();
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
            let worst = (0..self.kept.len())
                .min_by(|&a, &b| self.kept[a].0.total_cmp(&self.kept[b].0))
                .expect("kept is not empty");
            let (_, id) = self.kept.swap_remove(worst);
            self.store.delete_weights(id)?;
        }
        if c.status == Status::Completed {
            self.note_best(&c);
        }
        Ok(())
    }
}

/// Trains the derived `top` not yet recorded; returns false when stopped before the end.
pub(super) fn train_top(
    recorder: &mut Recorder,
    space: &Space,
    data: Arc<Dataset>,
    top: &[Derived],
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<bool> {
    let cfg = recorder.cfg;
    let mut pending: HashMap<u64, (Candidate, String)> = HashMap::new();
    let mut jobs = Vec::new();
    for d in top {
        let id = d.rank as u64;
        if recorder.store.candidate(id)?.is_some() {
            continue;
        }
        let arch = space.decode(&d.decisions)?;
        let graph = arch.lower()?;
        let candidate = blank(d, id, &arch, &graph)?;
        pending.insert(id, (candidate, d.summary.clone()));
        let seed = cfg.candidate_seed(id);
        jobs.push(Job::plain(id, graph, seed, cfg.train.epochs));
    }
    if jobs.is_empty() {
        return Ok(true);
    }
    let pool = pool(cfg, data, stop)?;
    for job in jobs {
        pool.submit(job)?;
    }
    let mut stopped = false;
    while !pending.is_empty() {
        let Some(message) = pool.recv() else { break };
        match message {
            PoolMessage::Event(PoolEvent::Started { worker, id }) => {
                let summary = pending.get(&id).map(|p| p.1.clone()).unwrap_or_default();
                events(SearchEvent::CandidateStarted {
                    id,
                    worker,
                    summary,
                });
            }
            PoolMessage::Event(PoolEvent::Train { worker, id, event }) => {
                events(SearchEvent::Training { id, worker, event })
            }
            PoolMessage::Event(PoolEvent::Finished { .. } | PoolEvent::Notice { .. }) => {}
            PoolMessage::Looked(_) => {}
            PoolMessage::Done(result) => {
                let Some((mut c, _)) = pending.remove(&result.id) else {
                    continue;
                };
                c.finished_at = Some(now());
                match result.outcome {
                    Outcome::Completed(m) => completed(cfg, &mut c, &m),
                    Outcome::Failed { reason, .. } => c.reason = Some(reason),
                    Outcome::Stopped => {
                        stopped = true;
                        continue;
                    }
                }
                recorder.record(c.clone(), result.weights)?;
                events(SearchEvent::CandidateFinished {
                    candidate: Box::new(c),
                    done: recorder.store.len(),
                    best: recorder.best,
                });
            }
        }
    }
    Ok(!stopped && pending.is_empty())
}

/// Workers as a plain search has them.
fn pool(cfg: &SearchConfig, data: Arc<Dataset>, stop: Arc<AtomicBool>) -> Result<Pool> {
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
    Pool::with_stop(pool_cfg, data, stop)
}

/// A derived candidate before training: failed until its result says otherwise.
fn blank(
    d: &Derived,
    id: u64,
    arch: &crate::arch::Architecture,
    graph: &crate::graph::Graph,
) -> Result<Candidate> {
    let metrics = BTreeMap::from([
        ("shared_acc".to_string(), d.shared_acc),
        ("shared_rank".to_string(), d.rank as f64),
    ]);
    Ok(Candidate {
        id,
        step: 0,
        decisions: d.decisions.clone(),
        arch: serde_json::to_value(arch)?,
        hash: d.hash.clone(),
        status: Status::Failed,
        reward: 0.0,
        metrics,
        params: graph.params(),
        macs: graph.macs(),
        epochs_val_acc: vec![],
        started_at: Some(now()),
        finished_at: None,
        seconds: 0.0,
        reason: None,
        duplicate_of: None,
        rungs: vec![],
        finalist: None,
    })
}

/// Fills a trained candidate's measurements, as a plain search records them.
fn completed(cfg: &SearchConfig, c: &mut Candidate, m: &Metrics) {
    c.status = Status::Completed;
    c.reward = cfg.reward(m.final_val_acc, c.params);
    c.epochs_val_acc = m.val_acc.clone();
    c.seconds = m.seconds;
    c.metrics.insert("val_acc".into(), m.final_val_acc);
    c.metrics.insert("best_val_acc".into(), m.best_val_acc);
    c.metrics.insert("epochs".into(), m.epochs as f64);
    c.metrics
        .insert("images_per_second".into(), m.images_per_second);
    c.metrics.insert("train_seconds".into(), m.seconds);
    if let Some(loss) = m.train_loss.last() {
        c.metrics.insert("train_loss".into(), *loss);
    }
}

/// Unix time in seconds.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
