//! Finalists: after a search, its best candidates trained again from scratch, properly: on the
//! whole training split (not the search's subset), for `final_epochs` on one full cosine
//! schedule, measured on the validation split and, for reporting only, the test split. Their
//! records and weights go to the run; the one with the best validation accuracy is exported as
//! the model the run hands out. A finalist already trained for these epochs is not trained
//! again, so a stopped finalist phase resumes where it was.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::candidate::now;
use super::config::SearchConfig;
use super::events::{Delivered, SearchEvent};
use super::run;
use super::search::pool_config;
use crate::arch::Architecture;
use crate::data::{self, Dataset, DatasetSpec, LoadOptions};
use crate::error::{Error, Result};
use crate::export::{export_candidate, ExportOptions, Normalisation};
use crate::pool::{Job, Pool, PoolEvent, PoolMessage};
use crate::space::{Space, SpaceBody};
use crate::store::{Candidate, Finalist, RunStore, Status};
use crate::train::{Outcome, TrainPlan};

/// Trains the finalists of the run that `store` holds (those not trained yet for
/// `cfg.final_epochs`) and exports the best; `None` when the run has none (or was stopped).
pub(super) fn run(
    store: &RunStore,
    cfg: &SearchConfig,
    space: &Space,
    stop: &Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<Option<Delivered>> {
    if cfg.finalists == 0 || matches!(space.body, SpaceBody::Table(_)) {
        return Ok(None);
    }
    let mut chosen: Vec<Candidate> = store
        .candidates()?
        .into_iter()
        .filter(|c| c.status == Status::Completed)
        .collect();
    chosen.sort_by(Candidate::best_first);
    chosen.truncate(cfg.finalists);
    let data = Arc::new(full_data(cfg)?);
    let cfg = &SearchConfig {
        final_epochs: cfg.final_epochs_for(data.train.len),
        ..cfg.clone()
    };
    let todo: Vec<Candidate> = chosen
        .iter()
        .filter(|c| {
            c.finalist
                .as_ref()
                .is_none_or(|f| f.epochs != cfg.final_epochs)
        })
        .cloned()
        .collect();
    if !todo.is_empty() && !train(store, cfg, &data, todo, stop, events)? {
        return Ok(None);
    }
    deliver(store, cfg, &chosen, &data)
}

/// The search's data set with nothing left out: the whole training split and validation split.
fn full_data(cfg: &SearchConfig) -> Result<Dataset> {
    let spec: DatasetSpec = cfg.dataset.parse()?;
    let opts = LoadOptions {
        seed: cfg.seed,
        train_size: None,
        val_size: None,
        augment: None,
        clamp: true,
        image_size: cfg.image_size,
    };
    data::load(&spec, &opts)
}

/// The training seed of candidate `id`'s finalist, apart from its search seed.
fn finalist_seed(cfg: &SearchConfig, id: u64) -> u64 {
    cfg.candidate_seed(id) ^ 0xF1A1_15E0_F1A1_15E0
}

/// Trains `todo` and records each result; false when stopped first.
fn train(
    store: &RunStore,
    cfg: &SearchConfig,
    data: &Arc<Dataset>,
    todo: Vec<Candidate>,
    stop: &Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<bool> {
    let mut settings = cfg.clone();
    settings.train.epochs = cfg.final_epochs;
    let pool = Pool::with_stop(
        pool_config(&settings, cfg.workers.min(todo.len()))?,
        Arc::clone(data),
        Arc::clone(stop),
    )?;
    events(SearchEvent::FinalistsStarted {
        ids: todo.iter().map(|c| c.id).collect(),
        epochs: cfg.final_epochs,
        train_images: data.train.len,
    });
    let plan = TrainPlan {
        evaluate_test: true,
        ..TrainPlan::plain(cfg.final_epochs)
    };
    let mut waiting = std::collections::HashMap::new();
    for c in todo {
        let arch: Architecture = serde_json::from_value(c.arch.clone())?;
        pool.submit(Job {
            id: c.id,
            graph: arch.lower()?,
            seed: finalist_seed(cfg, c.id),
            plan: plan.clone(),
            from: None,
        })?;
        waiting.insert(c.id, (c, now()));
    }
    while !waiting.is_empty() {
        let message = pool
            .recv()
            .ok_or_else(|| Error::invalid("pool", "every worker has exited"))?;
        let result = match message {
            PoolMessage::Event(PoolEvent::Train { worker, id, event }) => {
                events(SearchEvent::Training { id, worker, event });
                continue;
            }
            PoolMessage::Event(PoolEvent::Started { worker, id }) => {
                let summary = waiting
                    .get(&id)
                    .and_then(|(c, _): &(Candidate, f64)| {
                        serde_json::from_value::<Architecture>(c.arch.clone()).ok()
                    })
                    .map(|a| format!("finalist: {}", a.summary()))
                    .unwrap_or_default();
                events(SearchEvent::CandidateStarted {
                    id,
                    worker,
                    summary,
                });
                continue;
            }
            PoolMessage::Event(_) | PoolMessage::Looked(_) => continue,
            PoolMessage::Done(result) => result,
        };
        let Some((mut c, started)) = waiting.remove(&result.id) else {
            continue;
        };
        let mut finalist = Finalist {
            epochs: cfg.final_epochs,
            train_images: data.train.len,
            epochs_val_acc: vec![],
            val_acc: 0.0,
            test_acc: 0.0,
            seconds: now() - started,
            mean: data.mean.clone(),
            std: data.std.clone(),
            reason: None,
        };
        match result.outcome {
            Outcome::Stopped => return Ok(false),
            Outcome::Completed(m) => {
                finalist.epochs_val_acc = m.val_acc.clone();
                finalist.val_acc = m.final_val_acc;
                finalist.test_acc = m.test_acc.unwrap_or(0.0);
                if let Some(w) = &result.weights {
                    store.put_final_weights(c.id, w)?;
                }
            }
            Outcome::Failed { reason, .. } => finalist.reason = Some(reason),
        }
        c.finalist = Some(finalist);
        store.put_candidate(&c)?;
        events(SearchEvent::FinalistFinished {
            candidate: Box::new(c),
        });
    }
    Ok(!stop.load(Ordering::SeqCst))
}

/// Exports the finalist with the best validation accuracy (never the test accuracy) into the
/// run's `export/` folder.
fn deliver(
    store: &RunStore,
    cfg: &SearchConfig,
    chosen: &[Candidate],
    data: &Dataset,
) -> Result<Option<Delivered>> {
    let ids: Vec<u64> = chosen.iter().map(|c| c.id).collect();
    let mut best: Option<(Candidate, Finalist)> = None;
    for id in ids {
        let Some(c) = store.candidate(id)? else {
            continue;
        };
        let Some(f) = c
            .finalist
            .clone()
            .filter(|f| f.reason.is_none() && f.epochs == cfg.final_epochs)
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(_, b)| f.val_acc > b.val_acc) {
            best = Some((c, f));
        }
    }
    let Some((c, f)) = best else {
        return Ok(None);
    };
    let options = ExportOptions {
        with_crate: false,
        normalisation: Some(Normalisation {
            mean: f.mean.clone(),
            std: f.std.clone(),
        }),
        generated_by: Some(format!(
            "nas search (finalist #{} of run {})",
            c.id,
            store.path().display()
        )),
        class_names: Some(data.class_names.clone()),
    };
    let exported = export_candidate(store.path(), c.id, &store.path().join("export"), &options)?;
    Ok(Some(Delivered {
        id: c.id,
        val_acc: f.val_acc,
        test_acc: f.test_acc,
        epochs: f.epochs,
        train_images: f.train_images,
        source: exported.source,
        weights: exported.weights,
        arch: exported.arch,
    }))
}

/// `nas finalize`: trains the finalists of a finished run (the best `top`, for `epochs` each;
/// by default the run's own settings) and exports the best.
pub fn finalize(
    dir: &Path,
    top: Option<usize>,
    epochs: Option<usize>,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<Option<Delivered>> {
    let (store, mut cfg, space) = run::open(dir, true)?;
    if matches!(space.body, SpaceBody::Table(_)) {
        return Err(Error::invalid(
            "run",
            format!(
                "{} searched a table space: its candidates were looked up, not trained, so there is nothing to train again",
                dir.display()
            ),
        ));
    }
    cfg.finalists = top.unwrap_or(cfg.finalists.max(1));
    cfg.final_epochs = epochs.unwrap_or(cfg.final_epochs);
    for notice in store.notices() {
        events(SearchEvent::Notice {
            message: notice.clone(),
        });
    }
    run(&store, &cfg, &space, &stop, events)
}
