//! A weight-sharing search from start (or resume) to summary: the epochs of alternating
//! training, each checkpointed; the deriving, checkpointed too; the stand-alone training of the
//! derived best. A search killed at any point resumes from its last checkpoint: an epoch cut
//! short is run again from its start, and comes out the same.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::alternate::Trainer;
use super::checkpoint::{self, Checkpoint, Header, Phase};
use super::derive::kendall_tau;
use super::events::{Derived, EnasEvent, EpochStats};
use super::shared::SharedNet;
use super::standalone::{train_top, Recorder};
use crate::child::Workspace;
use crate::controller::{Controller, ControllerConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::search::{SearchConfig, SearchEvent, Summary};
use crate::space::{CellType, CellsSpace, Space, SpaceBody};
use crate::store::{RunStore, RunView, Status};

/// Seed stream of the shared weights' initialisation, apart from the controller's.
const SHARED_SEED: u64 = 0x5EED_5A4E_D000_0001;

/// Checks a weight-sharing search can run on `space` with `cfg`, before its run is created.
pub fn check(cfg: &SearchConfig, space: &Space) -> Result<()> {
    cfg.strategy_config.enas.validate()?;
    match &space.body {
        SpaceBody::Cells(cells) if cells.choices.cell.iter().all(|&c| c == CellType::Mobile) => {
            Err(Error::invalid(
                "--strategy enas",
                format!(
                    "space `{}` offers only mobile cells, which the shared network cannot hold (their expansion width follows each cell's input width); search it with --strategy reinforce, random or evolution",
                    space.name
                ),
            ))
        }
        SpaceBody::Cells(_) => Ok(()),
        SpaceBody::Table(_) => Err(Error::invalid(
            "--strategy enas",
            format!(
                "space `{}` is a table space: weight sharing needs a cell space, whose children are networks",
                space.name
            ),
        )),
    }
}

/// Runs (or resumes, with `resumed`) the weight-sharing search of `store`, up to its derived
/// candidates trained stand-alone; the caller runs the finalists and sets the run's status.
pub fn run(
    store: &RunStore,
    cfg: &SearchConfig,
    space: &Space,
    data: Option<Arc<Dataset>>,
    stop: &Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
    resumed: bool,
) -> Result<Summary> {
    let started = Instant::now();
    check(cfg, space)?;
    for notice in store.notices() {
        events(SearchEvent::Notice {
            message: notice.clone(),
        });
    }
    let (SpaceBody::Cells(cells), Some(data)) = (&space.body, data) else {
        return Err(Error::invalid(
            "--strategy enas",
            "needs a cell space and a data set",
        ));
    };
    let enas = &cfg.strategy_config.enas;
    events(SearchEvent::Started {
        run: store.path().to_path_buf(),
        samples: enas.top,
        done: store.len(),
        resumed,
        workers: cfg.workers,
    });
    store.set_meta_value("status", "running")?;
    let saved = match store.last_checkpoint()? {
        Some((_, bytes)) => Some(checkpoint::from_bytes(&bytes)?),
        None => None,
    };
    let timer = Instant::now();
    let derived = match saved {
        Some(Checkpoint {
            header:
                Header {
                    phase: Phase::Derived { top, .. },
                    ..
                },
            ..
        }) => Some(top),
        saved => {
            let mut trainer = trainer(cfg, space, cells, &data, saved.as_ref())?;
            let history = saved.map(|s| s.header.history).unwrap_or_default();
            on_threads(cfg.threads_per_worker, events, |emit| {
                shared_phase(store, &mut trainer, history, stop, emit)
            })?
        }
    };
    let strategy_seconds = timer.elapsed().as_secs_f64();
    let mut recorder = Recorder::new(store, cfg)?;
    let finished = match &derived {
        Some(top) => train_top(&mut recorder, space, data, top, stop.clone(), events)?,
        None => false,
    };
    let interrupted = !finished || stop.load(Ordering::SeqCst);
    if !interrupted {
        correlation(store, events)?;
    }
    // the stand-alone training; the shared network's passes are not children's epochs
    let epochs_spent = store
        .candidates()?
        .iter()
        .filter_map(|c| c.metrics.get("epochs"))
        .sum();
    Ok(Summary {
        run: store.path().to_path_buf(),
        best_id: recorder.best.map(|b| b.0),
        best_reward: recorder.best.map(|b| b.1),
        samples: store.len(),
        seconds: started.elapsed().as_secs_f64(),
        strategy_seconds,
        epochs_spent,
        max_record_seconds: recorder.max_record_seconds,
        interrupted,
        delivered: None,
        // derived children are the controller's picks under shared weights, not a sample to judge
        warning: None,
    })
}

/// Runs `phase` on a thread pool of `threads` threads (0: one per core), as a worker of a
/// plain search runs its child; its events come back to this thread, which draws them.
fn on_threads<T: Send>(
    threads: usize,
    events: &mut dyn FnMut(SearchEvent),
    phase: impl FnOnce(&mut dyn FnMut(EnasEvent)) -> Result<T> + Send,
) -> Result<T> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|t| format!("nas-enas-{t}"))
        .build()
        .map_err(|e| Error::invalid("--threads", format!("cannot start threads: {e}")))?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let worker =
            scope.spawn(move || pool.install(|| phase(&mut |event| drop(sender.send(event)))));
        for event in receiver {
            events(SearchEvent::Enas(event));
        }
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The shared network and controller, fresh or as checkpointed.
fn trainer<'a>(
    cfg: &'a SearchConfig,
    space: &'a Space,
    cells: &CellsSpace,
    data: &'a Dataset,
    saved: Option<&Checkpoint>,
) -> Result<Trainer<'a>> {
    let enas = &cfg.strategy_config.enas;
    let controller_cfg = ControllerConfig {
        seed: cfg.seed,
        ..cfg.strategy_config.controller.clone()
    };
    let seed = cfg.seed ^ SHARED_SEED;
    let (shared, controller, rated) = match saved {
        None => (
            SharedNet::new(cells, enas.kernels, seed)?,
            Controller::new(space.decisions(), &controller_cfg)?,
            0,
        ),
        Some(saved) => {
            let bytes = saved
                .controller
                .as_deref()
                .ok_or_else(|| Error::Checkpoint {
                    what: "enas".into(),
                    msg: "no controller in an epoch checkpoint".into(),
                })?;
            (
                SharedNet::from_tensors(cells, enas.kernels, seed, &saved.shared)?,
                Controller::from_bytes(space.decisions(), &controller_cfg, bytes)?,
                saved.header.rated,
            )
        }
    };
    let mut trainer = Trainer {
        cfg,
        enas,
        space,
        data,
        shared,
        controller,
        workspace: Workspace::new(),
        rated,
        largest: None,
        smallest: None,
    };
    if enas.sandwich > 0 {
        trainer.largest = trainer.largest_child();
        if enas.smallest {
            trainer.smallest = trainer.smallest_child();
        }
    }
    Ok(trainer)
}

/// The epochs not yet done, then the deriving; each ends with a checkpoint. Returns the derived
/// best, or `None` when stopped.
fn shared_phase(
    store: &RunStore,
    trainer: &mut Trainer,
    mut history: Vec<EpochStats>,
    stop: &AtomicBool,
    events: &mut dyn FnMut(EnasEvent),
) -> Result<Option<Vec<Derived>>> {
    let epochs = trainer.enas.epochs;
    let first = history.len() + 1;
    if first <= epochs {
        events(EnasEvent::Training {
            epoch: first,
            epochs,
            batches: trainer.batches(),
        });
    }
    for epoch in first..=epochs {
        let Some(stats) = trainer.epoch(epoch, stop, events)? else {
            return Ok(None);
        };
        history.push(stats.clone());
        let header = Header {
            phase: Phase::Trained { epoch },
            history: history.clone(),
            rated: trainer.rated,
        };
        let shared = trainer.shared.tensors()?.into_iter().collect();
        let controller = trainer.controller.to_bytes()?;
        save(store, epoch, &header, shared, Some(&controller))?;
        events(EnasEvent::Epoch(stats));
    }
    let Some((sampled, seconds, top)) = trainer.derive(stop, events)? else {
        return Ok(None);
    };
    let header = Header {
        phase: Phase::Derived {
            sampled,
            seconds,
            top: top.clone(),
        },
        history,
        rated: trainer.rated,
    };
    save(store, epochs + 1, &header, vec![], None)?;
    Ok(Some(top))
}

/// Writes the checkpoint (durable on return; it replaces the last one) and keeps the history
/// readable in the run's metadata.
fn save(
    store: &RunStore,
    step: usize,
    header: &Header,
    shared: Vec<(String, candle_core::Tensor)>,
    controller: Option<&[u8]>,
) -> Result<()> {
    let bytes = checkpoint::to_bytes(header, shared, controller)?;
    store.put_checkpoint(step as u64, &bytes)?;
    store.set_meta_value("enas", &serde_json::to_string(header)?)
}

/// Reports Kendall's tau between shared rating and stand-alone accuracy, and stores it.
fn correlation(store: &RunStore, events: &mut dyn FnMut(SearchEvent)) -> Result<()> {
    let pairs: Vec<(f64, f64)> = store
        .candidates()?
        .iter()
        .filter(|c| c.status == Status::Completed)
        .filter_map(|c| Some((*c.metrics.get("shared_acc")?, *c.metrics.get("val_acc")?)))
        .collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let tau = kendall_tau(&xs, &ys);
    if let Some(tau) = tau {
        store.set_meta_value("enas_tau", &tau.to_string())?;
    }
    events(SearchEvent::Enas(EnasEvent::Correlation {
        tau,
        candidates: pairs.len(),
    }));
    Ok(())
}

/// A weight-sharing run's progress (its epochs, what it derived), for readers (`nas show`).
pub fn progress(run: &RunView) -> Result<Option<serde_json::Value>> {
    run.meta_value("enas")
        .map(|text| Ok(serde_json::from_str(text)?))
        .transpose()
}
