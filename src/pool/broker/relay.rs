//! The coordinator's relay thread: the only code that talks to Redis for a search. It keeps
//! every open job in memory (so it can re-submit them all if Redis loses its data), answers
//! each job key once, and turns Redis troubles into notices and retries rather than errors.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{cmd, Connection};

use super::coordinator::{Arrived, Queued, BLOCK};
use super::link::{classify, Backoff, Endpoint, Trouble};
use super::wire::{Answer, Keys, WireJob, WireResult, GROUP, RUNS_KEY, WIRE_VERSION};
use crate::pool::{JobResult, Looked, PoolEvent, PoolMessage};
use crate::train::Outcome;

/// A job the search asked for, until it is answered.
pub struct Pending {
    pub job: WireJob,
    pub from: Option<Vec<u8>>,
    /// `Some(rung)` for a table lookup.
    pub lookup: Option<Option<usize>>,
}

/// A result read from Redis.
pub struct Arrival {
    entry: String,
    result: WireResult,
    weights: Option<Vec<u8>>,
    state: Option<Vec<u8>>,
}

type Step<T> = std::result::Result<T, Trouble>;

pub struct Relay {
    endpoint: Endpoint,
    keys: Keys,
    info: String,
    table: Option<String>,
    out: Sender<PoolMessage>,
    inbox: Receiver<Pending>,
    stop: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    open: HashMap<String, Pending>,
    unsent: Vec<String>,
    queued: Queued,
    arrived: Arrived,
    answered: HashSet<String>,
    last_id: String,
    checked: Instant,
    backoff: Backoff,
}

impl Relay {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: Endpoint,
        keys: Keys,
        info: String,
        table: Option<String>,
        out: Sender<PoolMessage>,
        inbox: Receiver<Pending>,
        stop: Arc<AtomicBool>,
        closing: Arc<AtomicBool>,
    ) -> Relay {
        Relay {
            endpoint,
            keys,
            info,
            table,
            out,
            inbox,
            stop,
            closing,
            open: HashMap::new(),
            unsent: vec![],
            queued: HashSet::new(),
            arrived: HashMap::new(),
            answered: HashSet::new(),
            last_id: "0".into(),
            checked: Instant::now(),
            backoff: Backoff::default(),
        }
    }

    /// Sets the run's keys up, and notes what an earlier process of the run left queued and
    /// which results arrived while no coordinator listened.
    pub fn attach(&mut self, conn: &mut Connection) -> Step<()> {
        self.setup(conn)?;
        let jobs: StreamRangeReply = cmd("XRANGE")
            .arg(&self.keys.jobs)
            .arg("-")
            .arg("+")
            .query(conn)
            .map_err(classify)?;
        for entry in jobs.ids {
            if let Some(job) = entry
                .get::<String>("job")
                .and_then(|t| serde_json::from_str::<WireJob>(&t).ok())
            {
                self.queued.insert(job.key);
            }
        }
        self.read_results(conn, None)
    }

    fn setup(&self, conn: &mut Connection) -> Step<()> {
        let created = cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.jobs)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query::<()>(conn);
        if let Err(e) = created {
            if e.code() != Some("BUSYGROUP") {
                return Err(classify(e));
            }
        }
        if let Some(table) = &self.table {
            cmd("SET")
                .arg(&self.keys.table)
                .arg(table)
                .query::<()>(conn)
                .map_err(classify)?;
        }
        // the info key last: its presence says the rest is there
        cmd("SET")
            .arg(&self.keys.info)
            .arg(&self.info)
            .query::<()>(conn)
            .map_err(classify)?;
        cmd("SADD")
            .arg(RUNS_KEY)
            .arg(&self.keys.run)
            .query::<()>(conn)
            .map_err(classify)
    }

    /// Relays until the broker closes.
    pub fn run(mut self, conn: Connection) {
        let mut conn = Some(conn);
        while !self.closing.load(Ordering::SeqCst) {
            if self.stop.load(Ordering::SeqCst) {
                self.answer_stopped();
            }
            let wait = match self.open.is_empty() && self.unsent.is_empty() {
                true => BLOCK,
                false => Duration::ZERO,
            };
            self.take_jobs(wait);
            let Some(c) = conn.as_mut() else {
                conn = self.reconnect();
                continue;
            };
            if let Err(trouble) = self.step(c) {
                self.notice(format!(
                    "Redis at {} unreachable ({trouble}); retrying with back-off",
                    self.endpoint.shown
                ));
                conn = None;
            }
        }
    }

    fn reconnect(&mut self) -> Option<Connection> {
        std::thread::sleep(self.backoff.next());
        let mut conn = self.endpoint.connect().ok()?;
        cmd("PING").query::<String>(&mut conn).ok()?;
        self.backoff.reset();
        // Redis may have come back from an older snapshot that lacks some jobs: queue every
        // open job again; an answer that comes twice is recorded once.
        self.unsent = self.open.keys().cloned().collect();
        self.unsent.sort();
        self.notice(format!(
            "reconnected to Redis at {}; re-queued {} open jobs",
            self.endpoint.shown,
            self.unsent.len()
        ));
        self.checked = Instant::now() - Duration::from_secs(10);
        Some(conn)
    }

    fn step(&mut self, conn: &mut Connection) -> Step<()> {
        self.check_data(conn)?;
        self.send_unsent(conn)?;
        if self.open.is_empty() {
            return Ok(());
        }
        self.read_results(conn, Some(BLOCK))
    }

    /// Takes the search's new jobs, waiting up to `wait` for the first.
    fn take_jobs(&mut self, wait: Duration) {
        let mut first = match wait.is_zero() {
            true => None,
            false => self.inbox.recv_timeout(wait).ok(),
        };
        while let Some(p) = first.take().or_else(|| self.inbox.try_recv().ok()) {
            let key = p.job.key.clone();
            self.answered.remove(&key);
            if self.stop.load(Ordering::SeqCst) {
                self.deliver_stopped(&p);
                continue;
            }
            if let Some(arrival) = self.arrived.remove(&key) {
                self.deliver(p, arrival);
                continue;
            }
            if !self.queued.remove(&key) {
                self.unsent.push(key.clone());
            }
            self.open.insert(key, p);
        }
    }

    /// Every second: if the run's info key is gone, Redis lost its data; set the queue up
    /// again and re-submit every open job.
    fn check_data(&mut self, conn: &mut Connection) -> Step<()> {
        if self.checked.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        self.checked = Instant::now();
        let exists: bool = cmd("EXISTS")
            .arg(&self.keys.info)
            .query(conn)
            .map_err(classify)?;
        if exists {
            return Ok(());
        }
        self.setup(conn)?;
        self.last_id = "0".into();
        self.unsent = self.open.keys().cloned().collect();
        self.unsent.sort();
        self.notice(format!(
            "Redis at {} lost the run's queue; re-submitting {} open jobs from the store",
            self.endpoint.shown,
            self.unsent.len()
        ));
        Ok(())
    }

    fn send_unsent(&mut self, conn: &mut Connection) -> Step<()> {
        while let Some(key) = self.unsent.last() {
            if let Some(p) = self.open.get(key) {
                let text = serde_json::to_string(&p.job).unwrap_or_default();
                let mut add = cmd("XADD");
                add.arg(&self.keys.jobs).arg("*").arg("job").arg(text);
                if let Some(from) = &p.from {
                    add.arg("from").arg(from.as_slice());
                }
                add.query::<String>(conn).map_err(classify)?;
            }
            self.unsent.pop();
        }
        Ok(())
    }

    /// Reads new results (blocking up to `block`), answering the open jobs they belong to.
    fn read_results(&mut self, conn: &mut Connection, block: Option<Duration>) -> Step<()> {
        loop {
            let mut read = cmd("XREAD");
            read.arg("COUNT").arg(256);
            if let Some(b) = block {
                read.arg("BLOCK").arg(b.as_millis() as u64);
            }
            read.arg("STREAMS")
                .arg(&self.keys.results)
                .arg(&self.last_id);
            let reply: Option<StreamReadReply> = read.query(conn).map_err(classify)?;
            let entries: Vec<StreamId> = reply
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                .unwrap_or_default();
            let n = entries.len();
            let mut done = vec![];
            for entry in entries {
                self.last_id = entry.id.clone();
                if let Some(id) = self.take_result(entry) {
                    done.push(id);
                }
            }
            if !done.is_empty() {
                cmd("XDEL")
                    .arg(&self.keys.results)
                    .arg(&done)
                    .query::<()>(conn)
                    .map_err(classify)?;
            }
            if block.is_some() || n < 256 {
                return Ok(());
            }
        }
    }

    /// Handles one result; returns its entry id when it can be deleted from Redis.
    fn take_result(&mut self, entry: StreamId) -> Option<String> {
        let parsed = entry
            .get::<String>("result")
            .and_then(|t| serde_json::from_str::<WireResult>(&t).ok());
        let Some(result) = parsed.filter(|r| r.version == WIRE_VERSION) else {
            self.notice(format!(
                "a result in Redis ({}) is unreadable or of another wire version; ignored",
                entry.id
            ));
            return Some(entry.id);
        };
        if let Answer::Refused { reason } = &result.answer {
            self.notice(format!(
                "worker {} refused job {}: {reason}",
                result.worker, result.key
            ));
            return Some(entry.id);
        }
        let arrival = Arrival {
            entry: entry.id.clone(),
            weights: entry.get::<Vec<u8>>("weights"),
            state: entry.get::<Vec<u8>>("state"),
            result,
        };
        let key = arrival.result.key.clone();
        if let Some(p) = self.open.remove(&key) {
            self.unsent.retain(|k| *k != key);
            self.deliver(p, arrival);
            return Some(entry.id);
        }
        if self.answered.contains(&key) {
            return Some(entry.id); // a duplicate: recorded once already
        }
        self.arrived.insert(key, arrival);
        None
    }

    fn deliver(&mut self, p: Pending, a: Arrival) {
        let _ = a.entry;
        self.answered.insert(p.job.key.clone());
        let id = p.job.id;
        let message = match (a.result.answer, p.lookup) {
            (Answer::Looked { row, value }, Some(rung)) => PoolMessage::Looked(Looked {
                id,
                rung,
                row,
                value,
                stopped: false,
            }),
            (Answer::Trained { outcome }, None) => PoolMessage::Done(JobResult {
                id,
                outcome,
                weights: a.weights,
                state: a.state,
            }),
            (_, lookup) => failed(id, lookup, "the worker answered another kind of job"),
        };
        let _ = self.out.send(message);
    }

    fn deliver_stopped(&mut self, p: &Pending) {
        let message = match p.lookup {
            Some(rung) => PoolMessage::Looked(Looked {
                id: p.job.id,
                rung,
                row: None,
                value: None,
                stopped: true,
            }),
            None => PoolMessage::Done(JobResult {
                id: p.job.id,
                outcome: Outcome::Stopped,
                weights: None,
                state: None,
            }),
        };
        let _ = self.out.send(message);
    }

    /// Answers every open job `Stopped`; they stay queued in Redis for a resume.
    fn answer_stopped(&mut self) {
        let open: Vec<Pending> = self.open.drain().map(|(_, p)| p).collect();
        self.unsent.clear();
        for p in &open {
            self.deliver_stopped(p);
        }
    }

    fn notice(&self, message: String) {
        let _ = self
            .out
            .send(PoolMessage::Event(PoolEvent::Notice { message }));
    }
}

fn failed(id: u64, lookup: Option<Option<usize>>, reason: &str) -> PoolMessage {
    match lookup {
        Some(rung) => PoolMessage::Looked(Looked {
            id,
            rung,
            row: None,
            value: None,
            stopped: false,
        }),
        None => PoolMessage::Done(JobResult {
            id,
            outcome: Outcome::failed(reason.to_string()),
            weights: None,
            state: None,
        }),
    }
}

/// Deletes a finished run's keys.
pub fn forget(conn: &mut Connection, keys: &Keys) -> redis::RedisResult<()> {
    cmd("SREM").arg(RUNS_KEY).arg(&keys.run).query::<()>(conn)?;
    cmd("DEL")
        .arg(&keys.info)
        .arg(&keys.jobs)
        .arg(&keys.results)
        .arg(&keys.table)
        .query(conn)
}
