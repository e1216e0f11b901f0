//! What a worker does with one job: a table lookup against the run's table (fetched once per
//! fingerprint), or a child trained on the data set the job names, after checking that the
//! data this worker loads is the data the coordinator resolved. Data and tables that differ are
//! refused, never silently used.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use redis::{cmd, Connection};

use super::wire::{Answer, DataSpec, Keys, WireJob, WireTable, Work};
use super::worker::{Cache, Taken, WorkerConfig};
use crate::data::{self, Dataset, DatasetSpec, LoadOptions};
use crate::pool::{parse_devices, Job, Pool, PoolConfig, PoolMessage};
use crate::space::TableSpace;
use crate::train::{Outcome, TrainConfig};

/// Why a job was not done.
pub(super) enum Problem {
    /// This worker must not do it (other data, other table): refused aloud.
    Refuse(String),
    /// Not now (Redis lost the run's table for a moment): put back for later.
    Again(String),
}

/// A job's answer with the trained weights and state, when there are any.
pub(super) type Answered = (Answer, Option<Vec<u8>>, Option<Vec<u8>>);

/// The tables, data sets and training pool a worker keeps between jobs.
pub(super) struct Toolbox {
    threads: usize,
    device: String,
    abort: Arc<AtomicBool>,
    tables: Cache<TableSpace>,
    data: HashMap<String, (Arc<Dataset>, String)>,
    pool: Option<(String, Pool)>,
}

impl Toolbox {
    pub fn new(cfg: &WorkerConfig, abort: Arc<AtomicBool>) -> Toolbox {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Toolbox {
            threads: if cfg.threads == 0 { cores } else { cfg.threads },
            device: cfg.device.clone(),
            abort,
            tables: HashMap::new(),
            data: HashMap::new(),
            pool: None,
        }
    }

    /// Does `job`.
    pub fn answer(
        &mut self,
        conn: &mut Connection,
        taken: &Taken,
        job: &WireJob,
    ) -> Result<Answered, Problem> {
        match &job.work {
            Work::Lookup {
                table,
                decisions,
                column,
            } => {
                let space = self.table(conn, &taken.keys, table)?;
                let row = space.lookup(decisions).cloned();
                let value = column.as_ref().and_then(|c| space.value(decisions, c));
                Ok((Answer::Looked { row, value }, None, None))
            }
            Work::Train {
                graph,
                seed,
                plan,
                train,
                data,
                weights,
                ..
            } => {
                let dataset = self.dataset(data)?;
                let pool = self.pool(&data.fingerprint, train, dataset)?;
                let trained = Job {
                    id: job.id,
                    graph: graph.clone(),
                    seed: *seed,
                    plan: plan.clone(),
                    from: taken.from.clone(),
                };
                pool.submit(trained)
                    .map_err(|e| Problem::Again(e.to_string()))?;
                while let Some(message) = pool.recv() {
                    if let PoolMessage::Done(r) = message {
                        let w = r.weights.filter(|_| *weights);
                        return Ok((Answer::Trained { outcome: r.outcome }, w, r.state));
                    }
                }
                Err(Problem::Again("the training thread ended".into()))
            }
        }
    }

    fn table(
        &mut self,
        conn: &mut Connection,
        keys: &Keys,
        fingerprint: &str,
    ) -> Result<Arc<TableSpace>, Problem> {
        if let Some(t) = self.tables.get(fingerprint) {
            return Ok(t.clone());
        }
        let text: Option<String> = cmd("GET")
            .arg(&keys.table)
            .query(conn)
            .map_err(|e| Problem::Again(e.to_string()))?;
        let Some(text) = text else {
            return Err(Problem::Again(format!("{} is missing", keys.table)));
        };
        let table: WireTable = serde_json::from_str(&text)
            .map_err(|e| Problem::Refuse(format!("the run's table does not parse: {e}")))?;
        if table.fingerprint != fingerprint {
            return Err(Problem::Refuse(format!(
                "the run's table has fingerprint {}, the job was made for {}",
                short(&table.fingerprint),
                short(fingerprint)
            )));
        }
        let mut space = table.space;
        space.rows = table.rows;
        let space = Arc::new(space);
        self.tables.insert(fingerprint.to_string(), space.clone());
        Ok(space)
    }

    fn dataset(&mut self, spec: &DataSpec) -> Result<Arc<Dataset>, Problem> {
        let mut plain = spec.clone();
        plain.fingerprint.clear();
        let key = serde_json::to_string(&plain).unwrap_or_default();
        if !self.data.contains_key(&key) {
            let parsed: DatasetSpec = spec.dataset.parse().map_err(|e: crate::Error| {
                Problem::Refuse(format!("data set `{}`: {e}", spec.dataset))
            })?;
            let opts = LoadOptions {
                seed: spec.seed,
                train_size: spec.train_size,
                val_size: spec.val_size,
                augment: None,
                clamp: true,
                image_size: spec.image_size,
            };
            let loaded = data::load(&parsed, &opts).map_err(|e| {
                Problem::Refuse(format!("cannot load data set `{}`: {e}", spec.dataset))
            })?;
            let fp = super::fingerprint::data(&loaded);
            self.data.insert(key.clone(), (Arc::new(loaded), fp));
        }
        let (dataset, fp) = &self.data[&key];
        if *fp != spec.fingerprint {
            return Err(Problem::Refuse(format!(
                "this worker's data set `{}` has fingerprint {}, the job was made for {}: the data differs between the machines",
                spec.dataset,
                short(fp),
                short(&spec.fingerprint)
            )));
        }
        Ok(dataset.clone())
    }

    fn pool(
        &mut self,
        fingerprint: &str,
        train: &TrainConfig,
        data: Arc<Dataset>,
    ) -> Result<&Pool, Problem> {
        let key = format!(
            "{fingerprint}/{}",
            serde_json::to_string(train).unwrap_or_default()
        );
        if self.pool.as_ref().is_none_or(|(k, _)| *k != key) {
            self.pool = None;
            let devices =
                parse_devices(&self.device).map_err(|e| Problem::Refuse(e.to_string()))?;
            let cfg = PoolConfig {
                workers: 1,
                threads_per_worker: self.threads,
                devices,
                train: train.clone(),
            };
            let pool = Pool::with_stop(cfg, data, self.abort.clone())
                .map_err(|e| Problem::Refuse(e.to_string()))?;
            self.pool = Some((key, pool));
        }
        Ok(&self.pool.as_ref().expect("set above").1)
    }
}

/// A fingerprint's first characters, enough to tell two apart in a message.
fn short(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(12)]
}

/// One line about an answer, for the worker's log.
pub(super) fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Trained {
            outcome: Outcome::Completed(m),
        } => format!("completed, val_acc {:.4}", m.final_val_acc),
        Answer::Trained {
            outcome: Outcome::Failed { reason, .. },
        } => format!("failed: {reason}"),
        Answer::Trained {
            outcome: Outcome::Stopped,
        } => "stopped".into(),
        Answer::Looked { row: Some(r), .. } => format!("reward {}", r.reward),
        Answer::Looked { row: None, .. } => "not in the table".into(),
        Answer::Refused { reason } => format!("refused: {reason}"),
    }
}
