//! The worker pool: K threads, each training one child at a time on its device inside its own
//! rayon thread pool, so the cores are split between workers as asked. Jobs go in, results and
//! progress events come out of one channel; every job is answered, even when its child panics,
//! and one shared stop flag ends every worker's training within a batch.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use candle_core::Device;

use super::devices::parse_devices;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::train::{train, weights_to_safetensors, Outcome, TrainConfig, TrainEvent};

/// One child to train.
pub struct Job {
    pub id: u64,
    pub graph: Graph,
    /// Seed of the child's initialisation, shuffling and augmentation.
    pub seed: u64,
}

/// What became of a job.
pub struct JobResult {
    pub id: u64,
    pub outcome: Outcome,
    /// The trained weights as safetensors bytes (completed jobs only).
    pub weights: Option<Vec<u8>>,
}

/// Progress of a worker.
#[derive(Clone, Debug)]
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
}

/// Everything the pool sends back.
pub enum PoolMessage {
    Event(PoolEvent),
    Done(JobResult),
}

/// A fixed set of training workers.
pub struct Pool {
    jobs: Option<Sender<Job>>,
    results: Receiver<PoolMessage>,
    threads: Vec<JoinHandle<()>>,
}

struct Worker {
    index: usize,
    device: Device,
    data: Arc<Dataset>,
    config: TrainConfig,
    stop: Arc<AtomicBool>,
    out: Sender<PoolMessage>,
}

impl Pool {
    /// Starts `workers` workers on the devices in `devices` (`cpu`, `cuda:0,cuda:1`, assigned
    /// round-robin), each with `threads_per_worker` threads (0: the cores shared evenly).
    pub fn new(
        workers: usize,
        devices: &str,
        threads_per_worker: usize,
        data: Arc<Dataset>,
        config: TrainConfig,
        stop: Arc<AtomicBool>,
    ) -> Result<Pool> {
        if workers == 0 {
            return Err(Error::invalid("--workers", "must be at least 1"));
        }
        let devices = parse_devices(devices)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let threads = if threads_per_worker == 0 {
            (cores / workers).max(1)
        } else {
            threads_per_worker
        };
        let (job_tx, job_rx) = channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (out_tx, out_rx) = channel();
        let mut handles = Vec::with_capacity(workers);
        for index in 0..workers {
            let worker = Worker {
                index,
                device: devices[index % devices.len()].clone(),
                data: data.clone(),
                config: config.clone(),
                stop: stop.clone(),
                out: out_tx.clone(),
            };
            let rayon_pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("nas-worker{index}-{i}"))
                .build()
                .map_err(|e| Error::invalid("thread pool", e.to_string()))?;
            let jobs = job_rx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("nas-worker{index}"))
                .spawn(move || rayon_pool.install(|| worker.serve(&jobs)))
                .map_err(|e| Error::invalid("worker thread", e.to_string()))?;
            handles.push(handle);
        }
        Ok(Pool {
            jobs: Some(job_tx),
            results: out_rx,
            threads: handles,
        })
    }

    /// Queues a job; a free worker takes it.
    pub fn submit(&self, job: Job) -> Result<()> {
        let sender = self.jobs.as_ref().expect("the pool is running");
        sender
            .send(job)
            .map_err(|_| Error::invalid("worker pool", "every worker has stopped"))
    }

    /// The next event or result; `None` once every worker has exited.
    pub fn recv(&self) -> Option<PoolMessage> {
        self.results.recv().ok()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.take(); // closing the queue ends each worker's loop
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Worker {
    fn serve(&self, jobs: &Mutex<Receiver<Job>>) {
        loop {
            let job = match jobs.lock() {
                Ok(queue) => queue.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            let id = job.id;
            self.send(PoolMessage::Event(PoolEvent::Started {
                worker: self.index,
                id,
            }));
            let result =
                catch_unwind(AssertUnwindSafe(|| self.run(&job))).unwrap_or_else(|panic| {
                    JobResult {
                        id,
                        outcome: Outcome::failed(format!(
                            "panicked: {}",
                            panic_text(panic.as_ref())
                        )),
                        weights: None,
                    }
                });
            self.send(PoolMessage::Event(PoolEvent::Finished {
                worker: self.index,
                id,
            }));
            self.send(PoolMessage::Done(result));
        }
    }

    fn run(&self, job: &Job) -> JobResult {
        let mut config = self.config.clone();
        config.seed = job.seed;
        let worker = self.index;
        let id = job.id;
        let out = self.out.clone();
        let mut events = |event: TrainEvent| {
            let _ = out.send(PoolMessage::Event(PoolEvent::Train { worker, id, event }));
        };
        let trained = train(
            &job.graph,
            &self.data,
            &config,
            &self.device,
            &self.stop,
            &mut events,
        );
        let (outcome, weights) = match (trained.outcome, trained.varmap) {
            (Outcome::Completed(m), Some(varmap)) => match weights_to_safetensors(&varmap) {
                Ok(bytes) => (Outcome::Completed(m), Some(bytes)),
                Err(e) => (Outcome::failed(format!("saving weights: {e}")), None),
            },
            (outcome, _) => (outcome, None),
        };
        JobResult {
            id,
            outcome,
            weights,
        }
    }

    fn send(&self, message: PoolMessage) {
        let _ = self.out.send(message);
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
