//! `Pool`: K worker threads over a job channel and a message channel. A worker answers every job
//! it takes, with a `JobResult`, even when building or training the child panics; the stop flag
//! makes every trainer return `Stopped` before its next batch, and queued jobs are then answered
//! `Stopped` at once. Dropping the pool (or `shutdown`) closes the job channel and joins.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::train::{
    mem_available, train_plan, weights_to_safetensors, Outcome, TrainConfig, TrainEvent, TrainPlan,
};

/// How many workers, on which devices, with how many threads, training how.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub workers: usize,
    /// Threads of each worker's rayon pool (candle's CPU kernels run on it).
    pub threads_per_worker: usize,
    /// Workers take these round-robin: worker `k` runs on `devices[k % len]`.
    pub devices: Vec<Device>,
    /// Settings of every child; each job's seed replaces `train.seed`.
    pub train: TrainConfig,
}

/// One piece of a child's training.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: u64,
    pub graph: Graph,
    pub seed: u64,
    /// How far to train and on which schedule.
    pub plan: TrainPlan,
    /// The training state to continue from (a promotion), or `None` for a fresh child.
    pub from: Option<Vec<u8>>,
}

impl Job {
    /// A fresh child trained for `epochs` on one cosine cycle.
    pub fn plain(id: u64, graph: Graph, seed: u64, epochs: usize) -> Job {
        Job {
            id,
            graph,
            seed,
            plan: TrainPlan::plain(epochs),
            from: None,
        }
    }
}

/// The answer to one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub id: u64,
    pub outcome: Outcome,
    /// safetensors bytes of the trained net, only for `Completed`.
    #[serde(skip)]
    pub weights: Option<Vec<u8>>,
    /// The state to continue from, when the plan asked for it.
    #[serde(skip)]
    pub state: Option<Vec<u8>>,
}

/// Progress of the workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PoolEvent {
    Started {
        worker: usize,
        id: u64,
    },
    Train {
        worker: usize,
        id: u64,
        event: TrainEvent,
    },
    Finished {
        worker: usize,
        id: u64,
    },
    /// Something the user should know about where children train (a broker's troubles).
    Notice {
        message: String,
    },
}

/// What comes out of the pool: events, and one `Done` per job.
#[derive(Clone, Debug, PartialEq)]
pub enum PoolMessage {
    Event(PoolEvent),
    Done(JobResult),
    /// The answer to a table lookup (a broker's workers only).
    Looked(super::Looked),
}

/// Worker threads training children.
pub struct Pool {
    jobs: Option<Sender<Job>>,
    messages: Receiver<PoolMessage>,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

/// What one worker owns.
struct Worker {
    index: usize,
    workers: usize,
    device: Device,
    threads: rayon::ThreadPool,
    train: TrainConfig,
    data: Arc<Dataset>,
    stop: Arc<AtomicBool>,
    jobs: Arc<Mutex<Receiver<Job>>>,
    out: Sender<PoolMessage>,
}

impl Pool {
    /// Starts `cfg.workers` workers sharing `data`.
    pub fn new(cfg: PoolConfig, data: Arc<Dataset>) -> Result<Pool> {
        Pool::with_stop(cfg, data, Arc::new(AtomicBool::new(false)))
    }

    /// Like [`Pool::new`], with a stop flag shared with the caller (a Ctrl-C handler).
    pub fn with_stop(cfg: PoolConfig, data: Arc<Dataset>, stop: Arc<AtomicBool>) -> Result<Pool> {
        if cfg.workers == 0 || cfg.threads_per_worker == 0 || cfg.devices.is_empty() {
            return Err(Error::invalid(
                "pool",
                "workers, threads per worker and devices must each be at least 1",
            ));
        }
        let (job_tx, job_rx) = channel::<Job>();
        let (out_tx, out_rx) = channel();
        let jobs = Arc::new(Mutex::new(job_rx));
        let mut handles = Vec::with_capacity(cfg.workers);
        for index in 0..cfg.workers {
            let threads = rayon::ThreadPoolBuilder::new()
                .num_threads(cfg.threads_per_worker)
                .thread_name(move |t| format!("nas-worker-{index}-{t}"))
                .build()
                .map_err(|e| Error::invalid("pool", format!("cannot start threads: {e}")))?;
            let worker = Worker {
                index,
                workers: cfg.workers,
                device: cfg.devices[index % cfg.devices.len()].clone(),
                threads,
                train: cfg.train.clone(),
                data: Arc::clone(&data),
                stop: Arc::clone(&stop),
                jobs: Arc::clone(&jobs),
                out: out_tx.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("nas-worker-{index}"))
                .spawn(move || worker.run())
                .map_err(|e| Error::invalid("pool", format!("cannot start a worker: {e}")))?;
            handles.push(handle);
        }
        Ok(Pool {
            jobs: Some(job_tx),
            messages: out_rx,
            stop,
            handles,
        })
    }

    /// Queues a job; its `Done` comes later on [`Pool::messages`].
    pub fn submit(&self, job: Job) -> Result<()> {
        let sender = self
            .jobs
            .as_ref()
            .expect("jobs channel open until shutdown");
        sender
            .send(job)
            .map_err(|_| Error::invalid("pool", "every worker has exited"))
    }

    /// The channel of events and results.
    pub fn messages(&self) -> &Receiver<PoolMessage> {
        &self.messages
    }

    /// The next message, blocking; `None` once every worker has exited.
    pub fn recv(&self) -> Option<PoolMessage> {
        self.messages.recv().ok()
    }

    /// The shared stop flag (for a Ctrl-C handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Asks every trainer to stop before its next batch; queued jobs are answered `Stopped`.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Closes the job channel and waits for the workers to finish the jobs already queued.
    pub fn shutdown(mut self) {
        self.close();
    }

    fn close(&mut self) {
        self.jobs = None;
        for handle in self.handles.drain(..) {
            // A worker catches its jobs' panics; a panic here would be in the worker's own
            // bookkeeping, and there is nothing left to answer.
            let _ = handle.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.close();
    }
}

impl Worker {
    fn run(self) {
        loop {
            let job = match self.jobs.lock() {
                Ok(jobs) => jobs.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            let id = job.id;
            self.send(PoolMessage::Event(PoolEvent::Started {
                worker: self.index,
                id,
            }));
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.threads.install(|| self.train(job))
            }))
            .unwrap_or_else(|panic| JobResult {
                id,
                outcome: Outcome::failed(format!(
                    "panicked: {}",
                    crate::panics::panic_message(panic.as_ref())
                )),
                weights: None,
                state: None,
            });
            self.send(PoolMessage::Event(PoolEvent::Finished {
                worker: self.index,
                id,
            }));
            self.send(PoolMessage::Done(result));
        }
    }

    /// A closed output channel means nobody listens any more; the job is still run to the end.
    fn send(&self, message: PoolMessage) {
        let _ = self.out.send(message);
    }

    fn train(&self, job: Job) -> JobResult {
        let mut cfg = self.train.clone();
        cfg.seed = job.seed;
        if cfg.memory_limit_bytes.is_none() && self.device.is_cpu() {
            cfg.memory_limit_bytes = mem_available().map(|m| m / self.workers as u64);
        }
        let (worker, id) = (self.index, job.id);
        let mut events = |event: TrainEvent| {
            self.send(PoolMessage::Event(PoolEvent::Train { worker, id, event }));
        };
        let trained = train_plan(
            &job.graph,
            &self.data,
            &cfg,
            &job.plan,
            job.from.as_deref(),
            &self.device,
            &self.stop,
            &mut events,
        );
        let mut outcome = trained.outcome;
        let weights = match (&outcome, &trained.varmap) {
            (Outcome::Completed(_), Some(varmap)) => match weights_to_safetensors(varmap) {
                Ok(bytes) => Some(bytes),
                Err(err) => {
                    outcome = Outcome::failed(format!("cannot save the weights: {err}"));
                    None
                }
            },
            _ => None,
        };
        let state = match outcome {
            Outcome::Completed(_) => trained.state,
            _ => None,
        };
        JobResult {
            id,
            outcome,
            weights,
            state,
        }
    }
}
