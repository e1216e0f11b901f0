//! Turning one assignment into a candidate: looked up (table spaces), rejected by a limit,
//! recognised as a duplicate, or lowered to a graph ready to train.

use std::collections::BTreeMap;

use super::config::SearchConfig;
use crate::graph::Graph;
use crate::space::{Decisions, Space, SpaceBody, TableRow, TableSpace};
use crate::store::{Candidate, RunStore, Status};
use crate::train::Metrics;
use crate::Result;

/// What to do with an assignment.
pub enum Prepared {
    /// Settled without training (table row, missing row, rejection, bad architecture,
    /// duplicate of a stored candidate).
    Done(Candidate),
    /// Needs training.
    Train {
        graph: Box<Graph>,
        candidate: Candidate,
    },
}

/// A candidate record with nothing measured yet.
pub fn blank(id: u64, step: u64, decisions: &Decisions) -> Candidate {
    Candidate {
        id,
        step,
        decisions: decisions.clone(),
        arch: serde_json::Value::Null,
        hash: String::new(),
        status: Status::Failed,
        reward: 0.0,
        metrics: BTreeMap::new(),
        params: 0,
        macs: 0,
        epochs_val_acc: vec![],
        started_at: None,
        finished_at: None,
        seconds: 0.0,
        reason: None,
        duplicate_of: None,
        rungs: vec![],
        finalist: None,
    }
}

/// Prepares assignment `decisions` as candidate `id` of update `step`.
pub fn prepare(
    cfg: &SearchConfig,
    space: &Space,
    store: &RunStore,
    id: u64,
    step: u64,
    decisions: &Decisions,
) -> Result<Prepared> {
    let mut c = blank(id, step, decisions);
    if let SpaceBody::Table(table) = &space.body {
        return Ok(Prepared::Done(from_table(c, table, decisions)));
    }
    let arch = match space.decode(decisions) {
        Ok(a) => a,
        Err(e) => return Ok(Prepared::Done(failed(c, e.to_string()))),
    };
    c.hash = arch.hash();
    c.arch = serde_json::to_value(&arch)?;
    if let Some(first) = store.id_by_hash(&c.hash)? {
        if let Some(original) = store.candidate(first)? {
            return Ok(Prepared::Done(duplicate(c, &original)));
        }
    }
    let graph = match arch.lower() {
        Ok(g) => g,
        Err(e) => return Ok(Prepared::Done(failed(c, e.to_string()))),
    };
    c.params = graph.params();
    c.macs = graph.macs();
    if let Some(reason) = cfg.rejection(c.params, c.macs) {
        c.status = Status::Rejected;
        c.reason = Some(reason);
        return Ok(Prepared::Done(c));
    }
    Ok(Prepared::Train {
        graph: Box::new(graph),
        candidate: c,
    })
}

fn from_table(c: Candidate, table: &TableSpace, decisions: &Decisions) -> Candidate {
    from_row(c, table, table.lookup(decisions))
}

/// A table candidate from its row (looked up here or by a worker), or failed for a key the
/// table lacks.
pub fn from_row(mut c: Candidate, table: &TableSpace, row: Option<&TableRow>) -> Candidate {
    c.hash = TableSpace::key(&c.decisions);
    c.arch = serde_json::Value::String(c.hash.clone());
    match row {
        Some(row) => {
            c.status = Status::Completed;
            c.reward = row.reward;
            c.metrics = row.metrics.clone();
            c.metrics.insert(table.reward.clone(), row.reward);
            c.params = row.metrics.get("params").map(|p| *p as u64).unwrap_or(0);
        }
        None => {
            c.reason = Some(format!(
                "key `{}` is not in the table {}",
                c.hash,
                table.table.display()
            ));
        }
    }
    c
}

/// A failed candidate with reward 0.
pub fn failed(mut c: Candidate, reason: String) -> Candidate {
    c.status = Status::Failed;
    c.reward = 0.0;
    c.reason = Some(reason);
    c
}

/// A duplicate of `original`: its reward and measurements, reused without training.
pub fn duplicate(mut c: Candidate, original: &Candidate) -> Candidate {
    c.status = Status::Duplicate;
    c.duplicate_of = Some(original.id);
    c.reward = original.reward;
    c.metrics = original.metrics.clone();
    c.params = original.params;
    c.macs = original.macs;
    c.epochs_val_acc = original.epochs_val_acc.clone();
    c.reason = original.reason.clone();
    c
}

/// Fills a trained candidate's measurements and reward.
pub fn completed(cfg: &SearchConfig, mut c: Candidate, m: &Metrics) -> Candidate {
    c.status = Status::Completed;
    c.reward = cfg.reward(m.final_val_acc, c.params);
    c.epochs_val_acc = m.val_acc.clone();
    c.seconds = m.seconds;
    c.metrics = metrics_map(m);
    c
}

/// The named measurements stored with a candidate.
pub fn metrics_map(m: &Metrics) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    out.insert("val_acc".into(), m.final_val_acc);
    out.insert("best_val_acc".into(), m.best_val_acc);
    out.insert("epochs".into(), m.epochs as f64);
    out.insert("images_per_second".into(), m.images_per_second);
    out.insert("train_seconds".into(), m.seconds);
    if let Some(loss) = m.train_loss.last() {
        out.insert("train_loss".into(), *loss);
    }
    out
}

/// Unix time in seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
