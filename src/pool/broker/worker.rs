//! `nas worker`'s loop, also run by a coordinator's own local workers: take a job from any
//! run's queue (first one a dead worker left behind, found with XAUTOCLAIM), check it is meant
//! for this worker's data and wire version, do it while a heartbeat keeps the job claimed, send
//! the result, then acknowledge. A job this worker cannot do honestly is put back and refused
//! aloud; a job cut short by a stop is put back for another worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::{cmd, Connection};

use super::heartbeat::Heartbeat;
use super::link::{classify, Backoff, Endpoint, Trouble};
use super::wire::{
    Answer, Keys, RunInfo, WireJob, WireResult, Work, GROUP, RUNS_KEY, WIRE_VERSION,
};
use super::worker_jobs::{Problem, Toolbox};
use crate::error::{Error, Result};

/// Who a worker is and how it trains.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub url: String,
    pub name: String,
    pub device: String,
    pub threads: usize,
}

/// What a worker tells its user.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerEvent {
    Connected {
        redis: String,
    },
    /// A job of another worker, pending longer than the run's reclaim timeout, was taken.
    Reclaimed {
        run: String,
        key: String,
    },
    Took {
        run: String,
        key: String,
        what: String,
    },
    Finished {
        run: String,
        key: String,
        seconds: f64,
        result: String,
    },
    /// The job went back to the queue (stopped, or refused).
    Returned {
        run: String,
        key: String,
    },
    Trouble {
        message: String,
    },
    Reconnected,
}

/// A job taken from a run's stream.
pub(super) struct Taken {
    pub keys: Keys,
    pub entry: String,
    pub text: String,
    pub from: Option<Vec<u8>>,
    pub reclaim_ms: u64,
}

type Step<T> = std::result::Result<T, Trouble>;

/// Serves jobs until `drain` is set (finishing the current job) or `abort` is (stopping it
/// and putting it back). Returns the number of jobs done.
pub fn serve(
    cfg: &WorkerConfig,
    drain: &AtomicBool,
    abort: Arc<AtomicBool>,
    events: &mut dyn FnMut(WorkerEvent),
) -> Result<usize> {
    let endpoint = Endpoint::parse(&cfg.url)?;
    let mut backoff = Backoff::default();
    let mut conn = loop {
        match endpoint.connect_now() {
            Ok(conn) => break conn,
            Err(e) if !e.to_string().contains("cannot reach") => return Err(e),
            Err(e) => {
                if backoff.first() {
                    events(WorkerEvent::Trouble {
                        message: format!("{e}; retrying with back-off"),
                    });
                }
                if drain.load(Ordering::SeqCst) || abort.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                std::thread::sleep(backoff.next());
            }
        }
    };
    events(WorkerEvent::Connected {
        redis: endpoint.shown.clone(),
    });
    let mut tools = Toolbox::new(cfg, abort.clone());
    let mut done = 0;
    while !drain.load(Ordering::SeqCst) && !abort.load(Ordering::SeqCst) {
        let taken = match next_job(&mut conn, &cfg.name, events) {
            Ok(t) => t,
            Err(trouble) => {
                events(WorkerEvent::Trouble {
                    message: format!(
                        "Redis at {} unreachable ({trouble}); retrying with back-off",
                        endpoint.shown
                    ),
                });
                conn = reconnect(&endpoint, drain, &abort)?;
                events(WorkerEvent::Reconnected);
                continue;
            }
        };
        let Some(taken) = taken else { continue };
        done += work(&endpoint, &mut conn, cfg, &mut tools, taken, &abort, events)? as usize;
    }
    Ok(done)
}

/// A new connection after a trouble, retried with back-off until it comes or the worker stops.
fn reconnect(endpoint: &Endpoint, drain: &AtomicBool, abort: &AtomicBool) -> Result<Connection> {
    let mut backoff = Backoff::default();
    loop {
        std::thread::sleep(backoff.next());
        match endpoint.connect() {
            Ok(mut conn) => {
                if cmd("PING").query::<String>(&mut conn).is_ok() {
                    return Ok(conn);
                }
            }
            Err(t @ Trouble::Refused(_)) => return Err(endpoint.error(t)),
            Err(Trouble::Down(_)) => {}
        }
        if drain.load(Ordering::SeqCst) || abort.load(Ordering::SeqCst) {
            return Err(Error::invalid(
                "worker",
                "stopped while Redis was unreachable",
            ));
        }
    }
}

/// The next job of any run: one a dead worker left, else a new one.
fn next_job(
    conn: &mut Connection,
    name: &str,
    events: &mut dyn FnMut(WorkerEvent),
) -> Step<Option<Taken>> {
    let runs: Vec<String> = cmd("SMEMBERS")
        .arg(RUNS_KEY)
        .query(conn)
        .map_err(classify)?;
    let mut live = vec![];
    for run in runs {
        let keys = Keys::of(&run);
        let info: Option<String> = cmd("GET").arg(&keys.info).query(conn).map_err(classify)?;
        if let Some(info) = info.and_then(|t| serde_json::from_str::<RunInfo>(&t).ok()) {
            live.push((keys, info.reclaim_ms));
        }
    }
    if live.is_empty() {
        std::thread::sleep(Duration::from_millis(300));
        return Ok(None);
    }
    for (keys, reclaim_ms) in &live {
        let claimed = cmd("XAUTOCLAIM")
            .arg(&keys.jobs)
            .arg(GROUP)
            .arg(name)
            .arg(*reclaim_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(1)
            .query::<StreamAutoClaimReply>(conn);
        let Ok(claimed) = claimed else { continue }; // no group: the run is ending
        if let Some(entry) = claimed.claimed.into_iter().next() {
            let taken = taken(keys, *reclaim_ms, entry);
            events(WorkerEvent::Reclaimed {
                run: keys.run.clone(),
                key: job_key_of(&taken.text),
            });
            return Ok(Some(taken));
        }
    }
    let mut read = cmd("XREADGROUP");
    read.arg("GROUP").arg(GROUP).arg(name);
    read.arg("COUNT")
        .arg(1)
        .arg("BLOCK")
        .arg(500)
        .arg("STREAMS");
    for (keys, _) in &live {
        read.arg(&keys.jobs);
    }
    for _ in &live {
        read.arg(">");
    }
    let reply = match read.query::<Option<StreamReadReply>>(conn) {
        Ok(r) => r,
        // a run ended (its keys deleted) while this worker waited on its stream
        Err(e) if matches!(e.code(), Some("NOGROUP" | "UNBLOCKED")) => {
            std::thread::sleep(Duration::from_millis(200));
            return Ok(None);
        }
        Err(e) => return Err(classify(e)),
    };
    for stream in reply.map(|r| r.keys).unwrap_or_default() {
        let Some((keys, reclaim_ms)) = live.iter().find(|(k, _)| k.jobs == stream.key) else {
            continue;
        };
        if let Some(entry) = stream.ids.into_iter().next() {
            return Ok(Some(taken(keys, *reclaim_ms, entry)));
        }
    }
    Ok(None)
}

fn taken(keys: &Keys, reclaim_ms: u64, entry: StreamId) -> Taken {
    Taken {
        keys: keys.clone(),
        text: entry.get::<String>("job").unwrap_or_default(),
        from: entry.get::<Vec<u8>>("from"),
        entry: entry.id,
        reclaim_ms,
    }
}

fn job_key_of(text: &str) -> String {
    serde_json::from_str::<WireJob>(text)
        .map(|j| j.key)
        .unwrap_or_else(|_| "?".into())
}

/// Does one job and answers it; true when it was done (not put back).
fn work(
    endpoint: &Endpoint,
    conn: &mut Connection,
    cfg: &WorkerConfig,
    tools: &mut Toolbox,
    taken: Taken,
    abort: &AtomicBool,
    events: &mut dyn FnMut(WorkerEvent),
) -> Result<bool> {
    let run = taken.keys.run.clone();
    let job = match serde_json::from_str::<WireJob>(&taken.text) {
        Ok(job) if job.version == WIRE_VERSION => job,
        Ok(job) => {
            let reason = format!(
                "the job is of wire version {}, this worker speaks {WIRE_VERSION}; run the same nas version on both sides",
                job.version
            );
            return refuse(
                endpoint, conn, cfg, &taken, &job.key, job.id, reason, events,
            );
        }
        Err(e) => {
            let reason =
                format!("the job does not parse ({e}); run the same nas version on both sides");
            return refuse(endpoint, conn, cfg, &taken, "?", 0, reason, events);
        }
    };
    let what = match &job.work {
        Work::Train { plan, .. } => format!("train to epoch {}", plan.until_epoch),
        Work::Lookup { .. } => "table lookup".to_string(),
    };
    events(WorkerEvent::Took {
        run: run.clone(),
        key: job.key.clone(),
        what,
    });
    let started = Instant::now();
    let heartbeat = matches!(job.work, Work::Train { .. })
        .then(|| Heartbeat::start(endpoint.clone(), &taken, &cfg.name));
    let answer = tools.answer(conn, &taken, &job);
    drop(heartbeat);
    let (answer, weights, state) = match answer {
        Ok(a) => a,
        Err(Problem::Refuse(reason)) => {
            return refuse(
                endpoint, conn, cfg, &taken, &job.key, job.id, reason, events,
            );
        }
        Err(Problem::Again(why)) => {
            put_back(endpoint, conn, &taken)?;
            events(WorkerEvent::Trouble {
                message: format!("run {run}: job {} put back for now: {why}", job.key),
            });
            std::thread::sleep(Duration::from_millis(300));
            return Ok(false);
        }
    };
    if abort.load(Ordering::SeqCst)
        && matches!(&answer, Answer::Trained { outcome } if *outcome == crate::train::Outcome::Stopped)
    {
        put_back(endpoint, conn, &taken)?;
        events(WorkerEvent::Returned { run, key: job.key });
        return Ok(false);
    }
    let result = WireResult {
        version: WIRE_VERSION,
        key: job.key.clone(),
        id: job.id,
        worker: cfg.name.clone(),
        seconds: started.elapsed().as_secs_f64(),
        answer,
    };
    let summary = super::worker_jobs::describe(&result.answer);
    let seconds = result.seconds;
    answer_job(endpoint, conn, &taken, &result, weights, state)?;
    events(WorkerEvent::Finished {
        run,
        key: job.key,
        seconds,
        result: summary,
    });
    Ok(true)
}

/// Puts a job back for another worker, tells the coordinator why, and ends this worker.
#[allow(clippy::too_many_arguments)]
fn refuse(
    endpoint: &Endpoint,
    conn: &mut Connection,
    cfg: &WorkerConfig,
    taken: &Taken,
    key: &str,
    id: u64,
    reason: String,
    events: &mut dyn FnMut(WorkerEvent),
) -> Result<bool> {
    let result = WireResult {
        version: WIRE_VERSION,
        key: key.to_string(),
        id,
        worker: cfg.name.clone(),
        seconds: 0.0,
        answer: Answer::Refused {
            reason: reason.clone(),
        },
    };
    put_back(endpoint, conn, taken)?;
    retry(endpoint, conn, |c| {
        add_result(c, &taken.keys, &result, None, None)
    })?;
    events(WorkerEvent::Returned {
        run: taken.keys.run.clone(),
        key: key.to_string(),
    });
    Err(Error::invalid(
        "worker",
        format!("refused job {key} of run {}: {reason}", taken.keys.run),
    ))
}

/// Adds a copy of the job to the queue and acknowledges the taken one.
fn put_back(endpoint: &Endpoint, conn: &mut Connection, taken: &Taken) -> Result<()> {
    retry(endpoint, conn, |c| {
        let mut add = cmd("XADD");
        add.arg(&taken.keys.jobs)
            .arg("*")
            .arg("job")
            .arg(&taken.text);
        if let Some(from) = &taken.from {
            add.arg("from").arg(from.as_slice());
        }
        add.query::<String>(c)?;
        acknowledge(c, taken)
    })
}

/// Sends the result, then acknowledges and deletes the job: a crash in between sends the
/// result twice at worst, which the coordinator records once.
fn answer_job(
    endpoint: &Endpoint,
    conn: &mut Connection,
    taken: &Taken,
    result: &WireResult,
    weights: Option<Vec<u8>>,
    state: Option<Vec<u8>>,
) -> Result<()> {
    retry(endpoint, conn, |c| {
        add_result(c, &taken.keys, result, weights.as_deref(), state.as_deref())?;
        acknowledge(c, taken)
    })
}

fn add_result(
    conn: &mut Connection,
    keys: &Keys,
    result: &WireResult,
    weights: Option<&[u8]>,
    state: Option<&[u8]>,
) -> redis::RedisResult<()> {
    let text = serde_json::to_string(result).unwrap_or_default();
    let mut add = cmd("XADD");
    add.arg(&keys.results).arg("*").arg("result").arg(text);
    if let Some(w) = weights {
        add.arg("weights").arg(w);
    }
    if let Some(s) = state {
        add.arg("state").arg(s);
    }
    add.query::<String>(conn).map(|_| ())
}

fn acknowledge(conn: &mut Connection, taken: &Taken) -> redis::RedisResult<()> {
    let acked = cmd("XACK")
        .arg(&taken.keys.jobs)
        .arg(GROUP)
        .arg(&taken.entry)
        .query::<()>(conn);
    match acked {
        // Redis lost the run's queue meanwhile: nothing to acknowledge
        Err(e) if e.code() == Some("NOGROUP") => Ok(()),
        other => other,
    }?;
    cmd("XDEL")
        .arg(&taken.keys.jobs)
        .arg(&taken.entry)
        .query(conn)
}

/// Runs `op` until it succeeds, reconnecting with back-off while Redis is unreachable.
fn retry(
    endpoint: &Endpoint,
    conn: &mut Connection,
    mut op: impl FnMut(&mut Connection) -> redis::RedisResult<()>,
) -> Result<()> {
    let mut backoff = Backoff::default();
    loop {
        match op(conn) {
            Ok(()) => return Ok(()),
            Err(e) => match classify(e) {
                t @ Trouble::Refused(_) => return Err(endpoint.error(t)),
                Trouble::Down(_) => {
                    std::thread::sleep(backoff.next());
                    if let Ok(c) = endpoint.connect() {
                        *conn = c;
                    }
                }
            },
        }
    }
}

/// This machine's name, for default worker names.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into())
}

/// Tables and data sets a worker has loaded, by fingerprint.
pub(super) type Cache<T> = HashMap<String, Arc<T>>;
