//! Where a search's children train, chosen once: local worker threads, or a Redis broker whose
//! workers may be anywhere. Through a broker, table candidates are looked up by the workers as
//! jobs (so a table search measures the broker's throughput, and has the history of a local
//! search with the same seed: the same records, only in the order answers arrive).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::candidate;
use super::config::SearchConfig;
use super::search::{pool_config, Flight, Search};
use super::SearchEvent;
use crate::data::Dataset;
use crate::error::Result;
use crate::pool::broker::{data_fingerprint, Attach, Broker, DataSpec};
use crate::pool::{Looked, Lookup, Pool, Workers};
use crate::space::{Decisions, Space, SpaceBody, TableSpace};
use crate::store::{Candidate, RunStore, Rung};

/// The workers of a search: a broker when the settings name one, local threads for a cell
/// space, none for a local table search (its lookups happen inline).
pub(super) fn workers(
    store: &RunStore,
    cfg: &SearchConfig,
    space: &Space,
    data: Option<&Arc<Dataset>>,
    stop: &Arc<AtomicBool>,
) -> Result<Option<Workers>> {
    let Some(broker) = &cfg.broker else {
        return match data {
            Some(data) => Ok(Some(Workers::Local(Pool::with_stop(
                pool_config(cfg, cfg.workers)?,
                Arc::clone(data),
                stop.clone(),
            )?))),
            None => Ok(None),
        };
    };
    let local = broker.local_workers.unwrap_or(cfg.workers.max(1));
    let threads = pool_config(cfg, local.max(1))?.threads_per_worker;
    // A folder name alone is not unique among the searches sharing one Redis (two users' `--run
    // exp1`), so the queue's name also carries the run's creation time, which a resume reads back
    // unchanged from the store.
    let name = store
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let run = format!("{name}@{}", store.meta()?.created_at);
    let table = match &space.body {
        SpaceBody::Table(t) => Some(t),
        _ => None,
    };
    let data = data.map(|d| DataSpec {
        dataset: cfg.dataset.clone(),
        seed: cfg.seed,
        train_size: cfg.train_size,
        val_size: cfg.val_size,
        image_size: cfg.image_size,
        fingerprint: data_fingerprint(d),
    });
    let attach = Attach {
        run,
        table,
        data,
        train: cfg.train.clone(),
        keep_weights: cfg.keep_top > 0,
        local_workers: local,
        threads,
        device: cfg.device.clone(),
        stop: stop.clone(),
    };
    Ok(Some(Workers::Broker(Broker::attach(broker, attach)?)))
}

impl Search {
    /// Whether table candidates are looked up by the workers (through a broker).
    pub(super) fn looks_up(&self) -> bool {
        matches!(self.space.body, SpaceBody::Table(_))
            && self.pool.as_ref().is_some_and(Workers::looks_up)
    }

    /// Sends a new table candidate of the batch to the workers.
    pub(super) fn lookup_new(&mut self, id: u64, pos: usize, decisions: &Decisions) -> Result<()> {
        let mut c = candidate::blank(id, self.step, decisions);
        c.hash = TableSpace::key(decisions);
        c.arch = serde_json::Value::String(c.hash.clone());
        let rung = (!self.rungs.is_empty()).then_some(0);
        self.send_lookup(id, decisions, rung)?;
        let flight = Flight {
            pos: Some(pos),
            rung,
            candidate: c,
        };
        self.flights.insert(id, flight);
        Ok(())
    }

    /// Sends a table candidate's promotion to `rung` to the workers.
    pub(super) fn lookup_rung(&mut self, c: Candidate, rung: usize) -> Result<()> {
        self.send_lookup(c.id, &c.decisions, Some(rung))?;
        let flight = Flight {
            pos: None,
            rung: Some(rung),
            candidate: c,
        };
        self.flights.insert(flight.candidate.id, flight);
        Ok(())
    }

    fn send_lookup(&self, id: u64, decisions: &Decisions, rung: Option<usize>) -> Result<()> {
        let column = match (&self.space.body, rung) {
            (SpaceBody::Table(t), Some(r)) => Some(t.fidelities[r].column.clone()),
            _ => None,
        };
        let lookup = Lookup {
            id,
            decisions: decisions.to_vec(),
            rung,
            column,
        };
        self.pool
            .as_ref()
            .expect("a broker looks tables up")
            .lookup(lookup)
    }

    /// Records a worker's answer to a table lookup as a local search would have recorded it.
    pub(super) fn looked(&mut self, l: Looked, events: &mut dyn FnMut(SearchEvent)) -> Result<()> {
        let Some(flight) = self.flights.remove(&l.id) else {
            return Ok(()); // answered already: recorded once
        };
        if l.stopped {
            self.interrupted = true;
            return Ok(());
        }
        let SpaceBody::Table(table) = &self.space.body else {
            return Ok(());
        };
        let mut c = flight.candidate;
        match flight.pos {
            Some(pos) => {
                c = candidate::from_row(c, table, l.row.as_ref());
                if let Some(rung) = flight.rung {
                    self.table_rung_value(&mut c, rung, l.value);
                }
                let reward = self.record_new(c, None, None, events)?;
                self.set_reward(pos, reward);
                Ok(())
            }
            None => {
                self.table_rung_value(&mut c, flight.rung.unwrap_or(0), l.value);
                self.record_rung(c, None, None, events)
            }
        }
    }

    /// Gives a table candidate its result at `rung`: the fidelity's value, and its cost.
    pub(super) fn table_rung_value(&mut self, c: &mut Candidate, rung: usize, value: Option<f64>) {
        let SpaceBody::Table(table) = &self.space.body else {
            return;
        };
        let value = value.unwrap_or(0.0);
        c.rungs.push(Rung {
            rung,
            epochs: table.fidelities[rung].epochs,
            val_acc: value,
            seconds: 0.0,
        });
        if rung == 0 {
            c.reward = value;
        }
    }
}
