//! The wire format between a coordinator and its workers, and the Redis keys it lives under.
//! One JSON document per job and per result, with a version both sides check before acting;
//! the bulky bytes (a training state to continue from, trained weights) travel raw in fields of
//! their own. Every key of a run starts with `nas:RUN@CREATED:`, so searches can share one Redis.

use serde::{Deserialize, Serialize};

use crate::data::ImageSize;
use crate::graph::Graph;
use crate::space::TableRow;
use crate::train::{Outcome, TrainConfig, TrainPlan};

/// The version of [`WireJob`] and [`WireResult`]; a worker refuses a job of another version.
pub const WIRE_VERSION: u32 = 1;

/// The consumer group every worker of every run reads jobs with.
pub const GROUP: &str = "workers";

/// The set of runs whose queues workers serve.
pub const RUNS_KEY: &str = "nas:runs";

/// The keys of one run.
#[derive(Clone, Debug)]
pub struct Keys {
    pub run: String,
    /// Stream of jobs, read by the workers' consumer group.
    pub jobs: String,
    /// Stream of results, read by the coordinator.
    pub results: String,
    /// The run's [`RunInfo`]; its absence tells the coordinator that Redis lost its data.
    pub info: String,
    /// The table of a table space, for workers to answer lookups from.
    pub table: String,
}

impl Keys {
    pub fn of(run: &str) -> Keys {
        let base = format!("nas:{run}");
        Keys {
            run: run.to_string(),
            jobs: format!("{base}:jobs"),
            results: format!("{base}:results"),
            info: format!("{base}:info"),
            table: format!("{base}:table"),
        }
    }
}

/// What workers need to know about a run besides its jobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub version: u32,
    /// A job pending this long with no heartbeat belongs to a dead worker and is reclaimed.
    pub reclaim_ms: u64,
}

/// One job: what to do and everything needed to do it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireJob {
    pub version: u32,
    pub run: String,
    /// The job's identity within the run (candidate id and rung), for idempotent recording.
    pub key: String,
    pub id: u64,
    pub work: Work,
}

/// Training a child, or looking a table candidate up.
// A job is built once per candidate and sent as JSON: the size of the lookup variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Work {
    Train {
        graph: Graph,
        seed: u64,
        plan: TrainPlan,
        train: TrainConfig,
        data: DataSpec,
        /// Whether the coordinator keeps weights, so whether to send them.
        weights: bool,
        /// Whether the job carries a training state to continue from (field `from`).
        from: bool,
    },
    Lookup {
        /// Fingerprint of the table the coordinator resolved (`Keys::table` holds it).
        table: String,
        decisions: Vec<usize>,
        /// The fidelity column to read as well as the row (successive halving).
        column: Option<String>,
    },
}

/// A data set as a worker loads it, and the fingerprint of what the coordinator loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    pub dataset: String,
    pub seed: u64,
    pub train_size: Option<usize>,
    pub val_size: Option<usize>,
    pub image_size: Option<ImageSize>,
    pub fingerprint: String,
}

/// The answer to one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireResult {
    pub version: u32,
    pub key: String,
    pub id: u64,
    pub worker: String,
    /// Seconds the worker spent on the job.
    pub seconds: f64,
    pub answer: Answer,
}

/// What a worker made of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Answer {
    /// Weights and state, when present, are in the fields `weights` and `state`.
    Trained { outcome: Outcome },
    Looked {
        row: Option<TableRow>,
        value: Option<f64>,
    },
    /// The worker cannot do this job (other data, other wire version) and put it back.
    Refused { reason: String },
}

/// The table of a table space as stored for workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireTable {
    pub fingerprint: String,
    pub space: crate::space::TableSpace,
    /// The rows, which a space's own serialisation leaves out.
    pub rows: std::collections::HashMap<String, TableRow>,
}

/// The key of a job: the candidate and how far it trains (or which rung it looks up).
pub fn job_key(id: u64, stage: &str) -> String {
    format!("{id}@{stage}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_job_round_trips_through_json() {
        let job = WireJob {
            version: WIRE_VERSION,
            run: "r".into(),
            key: job_key(3, "L0"),
            id: 3,
            work: Work::Lookup {
                table: "abc".into(),
                decisions: vec![1, 2, 3],
                column: Some("val_12".into()),
            },
        };
        let text = serde_json::to_string(&job).unwrap();
        assert!(text.contains("\"kind\":\"lookup\""), "{text}");
        assert_eq!(serde_json::from_str::<WireJob>(&text).unwrap(), job);
    }

    #[test]
    fn keys_are_namespaced_by_run() {
        let keys = Keys::of("a-run");
        for key in [&keys.jobs, &keys.results, &keys.info, &keys.table] {
            assert!(key.starts_with("nas:a-run:"), "{key}");
        }
    }
}
