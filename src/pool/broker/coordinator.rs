//! `Broker`: the coordinator's side of the Redis queue, behind the same submit / recv interface
//! as the local pool. One relay thread owns the traffic: it adds jobs to the run's stream, reads
//! results, drops a result whose job was already answered (delivery is at-least-once, recording
//! is once per job key), re-attaches to a queue left by an earlier process of the same run,
//! rides out an unreachable Redis with back-off, and re-submits every open job when Redis comes
//! back without the run's keys (the store, not Redis, is the truth).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::link::Endpoint;
use super::relay::{Pending, Relay};
use super::wire::{job_key, DataSpec, Keys, RunInfo, WireJob, WireTable, Work, WIRE_VERSION};
use super::worker::{serve, WorkerConfig};
use crate::error::{Error, Result};
use crate::pool::{Job, Lookup, PoolMessage};
use crate::space::TableSpace;
use crate::train::TrainConfig;

/// How a search uses a broker.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerConfig {
    /// `redis://[:PASSWORD@]HOST:PORT[/DB]`.
    pub url: String,
    /// Workers of this process that join the queue; `None`: the search's usual count.
    pub local_workers: Option<usize>,
    /// A job pending this long without a heartbeat is taken from its (dead) worker.
    pub reclaim: Duration,
}

/// What the coordinator tells the broker about its run when it attaches.
pub struct Attach<'a> {
    pub run: String,
    pub table: Option<&'a TableSpace>,
    pub data: Option<DataSpec>,
    pub train: TrainConfig,
    pub keep_weights: bool,
    pub local_workers: usize,
    pub threads: usize,
    pub device: String,
    pub stop: Arc<AtomicBool>,
}

/// The coordinator's end of a run's Redis queue.
pub struct Broker {
    endpoint: Endpoint,
    keys: Keys,
    data: Option<DataSpec>,
    train: TrainConfig,
    keep_weights: bool,
    table: Option<String>,
    jobs: Sender<Pending>,
    messages: Receiver<PoolMessage>,
    closing: Arc<AtomicBool>,
    relay: Option<JoinHandle<()>>,
    locals: Vec<JoinHandle<()>>,
}

impl Broker {
    /// Connects (a refused password or an unreachable server is an error at once), sets the
    /// run's queue up or re-attaches to it, and starts the local workers.
    pub fn attach(cfg: &BrokerConfig, at: Attach) -> Result<Broker> {
        let endpoint = Endpoint::parse(&cfg.url)?;
        let mut conn = endpoint.connect_now()?;
        let keys = Keys::of(&at.run);
        let info = RunInfo {
            version: WIRE_VERSION,
            reclaim_ms: cfg.reclaim.as_millis() as u64,
        };
        let table = at.table.map(|t| WireTable {
            fingerprint: super::fingerprint::table(t),
            space: t.clone(),
            rows: t.rows.clone(),
        });
        let table_fp = table.as_ref().map(|t| t.fingerprint.clone());
        let (jobs, inbox) = channel();
        let (out, messages) = channel();
        let closing = Arc::new(AtomicBool::new(false));
        let mut relay = Relay::new(
            endpoint.clone(),
            keys.clone(),
            serde_json::to_string(&info)?,
            table.map(|t| serde_json::to_string(&t)).transpose()?,
            out,
            inbox,
            at.stop.clone(),
            closing.clone(),
        );
        relay.attach(&mut conn).map_err(|t| endpoint.error(t))?;
        let handle = std::thread::Builder::new()
            .name("nas-broker".into())
            .spawn(move || relay.run(conn))
            .map_err(|e| Error::invalid("broker", format!("cannot start its thread: {e}")))?;
        let mut broker = Broker {
            endpoint,
            keys,
            data: at.data,
            train: at.train,
            keep_weights: at.keep_weights,
            table: table_fp,
            jobs,
            messages,
            closing,
            relay: Some(handle),
            locals: vec![],
        };
        broker.start_locals(cfg, at.local_workers, at.threads, &at.device, at.stop)?;
        Ok(broker)
    }

    fn start_locals(
        &mut self,
        cfg: &BrokerConfig,
        n: usize,
        threads: usize,
        device: &str,
        stop: Arc<AtomicBool>,
    ) -> Result<()> {
        let host = super::worker::host_name();
        for k in 0..n {
            let wcfg = WorkerConfig {
                url: cfg.url.clone(),
                name: format!("{host}-{}-local{k}", std::process::id()),
                device: device.to_string(),
                threads,
            };
            let (drain, abort) = (self.closing.clone(), stop.clone());
            let handle = std::thread::Builder::new()
                .name(format!("nas-local-worker-{k}"))
                .spawn(move || {
                    // a local worker's troubles show through the coordinator's own notices
                    let _ = serve(&wcfg, &drain, abort, &mut |_| {});
                })
                .map_err(|e| Error::invalid("broker", format!("cannot start a worker: {e}")))?;
            self.locals.push(handle);
        }
        Ok(())
    }

    /// Queues a training job.
    pub fn submit(&self, job: Job) -> Result<()> {
        let Some(data) = self.data.clone() else {
            return Err(Error::invalid("broker", "a training job needs a data set"));
        };
        let from = job.from.is_some();
        let work = Work::Train {
            graph: job.graph,
            seed: job.seed,
            plan: job.plan.clone(),
            train: self.train.clone(),
            data,
            weights: self.keep_weights,
            from,
        };
        let key = job_key(job.id, &format!("e{}", job.plan.until_epoch));
        self.send(job.id, key, work, job.from, None)
    }

    /// Queues a table lookup.
    pub fn lookup(&self, lookup: Lookup) -> Result<()> {
        let Some(table) = self.table.clone() else {
            return Err(Error::invalid("broker", "a lookup needs a table space"));
        };
        let key = job_key(lookup.id, &format!("L{}", lookup.rung.unwrap_or(0)));
        let work = Work::Lookup {
            table,
            decisions: lookup.decisions,
            column: lookup.column,
        };
        self.send(lookup.id, key, work, None, Some(lookup.rung))
    }

    fn send(
        &self,
        id: u64,
        key: String,
        work: Work,
        from: Option<Vec<u8>>,
        lookup: Option<Option<usize>>,
    ) -> Result<()> {
        let job = WireJob {
            version: WIRE_VERSION,
            run: self.keys.run.clone(),
            key,
            id,
            work,
        };
        self.jobs
            .send(Pending { job, from, lookup })
            .map_err(|_| Error::invalid("broker", "its thread has ended"))
    }

    /// The next message, blocking.
    pub fn recv(&self) -> Option<PoolMessage> {
        self.messages.recv().ok()
    }

    /// Stops the relay and the local workers; a finished run's keys are deleted from Redis.
    pub fn close(mut self, finished: bool) {
        self.shut();
        if finished {
            if let Ok(mut conn) = self.endpoint.connect() {
                let _ = super::relay::forget(&mut conn, &self.keys);
            }
        }
    }

    fn shut(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        if let Some(handle) = self.relay.take() {
            let _ = handle.join();
        }
        for handle in self.locals.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Keys of jobs found in a queue (for the relay's re-attachment).
pub(super) type Queued = HashSet<String>;
/// Results found in a queue, by job key.
pub(super) type Arrived = HashMap<String, super::relay::Arrival>;

/// How long the relay waits on Redis in one read.
pub(super) const BLOCK: Duration = Duration::from_millis(100);
