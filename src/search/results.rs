//! What the search does with a result: record it durably (weights and training state first, so
//! a recorded candidate always has them), keep the best candidates' weights, count it, and
//! report it.

use std::time::Instant;

use super::candidate;
use super::search::Search;
use super::SearchEvent;
use crate::arch::Architecture;
use crate::error::{Error, Result};
use crate::pool::{JobResult, PoolEvent, PoolMessage};
use crate::space::SpaceBody;
use crate::store::{Candidate, Rung, Status};
use crate::train::Outcome;

impl Search {
    /// Waits for the next message of the workers and handles it.
    pub(super) fn await_result(&mut self, events: &mut dyn FnMut(SearchEvent)) -> Result<()> {
        let message = self
            .pool
            .as_ref()
            .and_then(|p| p.recv())
            .ok_or_else(|| Error::invalid("pool", "every worker has exited"))?;
        match message {
            PoolMessage::Event(event) => {
                if let Some(e) = self.translate(event) {
                    events(e);
                }
                Ok(())
            }
            PoolMessage::Done(result) => self.finished(result, events),
            PoolMessage::Looked(looked) => self.looked(looked, events),
        }
    }

    fn finished(&mut self, result: JobResult, events: &mut dyn FnMut(SearchEvent)) -> Result<()> {
        let Some(flight) = self.flights.remove(&result.id) else {
            return Ok(());
        };
        let mut c = flight.candidate;
        c.finished_at = Some(candidate::now());
        let (weights, state) = (result.weights, result.state);
        match (result.outcome, flight.pos, flight.rung) {
            (Outcome::Stopped, _, _) => {
                self.interrupted = true;
                Ok(())
            }
            (Outcome::Completed(m), Some(pos), rung) => {
                self.spent += m.epochs as f64;
                let mut c = candidate::completed(&self.cfg, c, &m);
                if let Some(rung) = rung {
                    c.rungs.push(Rung {
                        rung,
                        epochs: self.rungs[rung],
                        val_acc: m.final_val_acc,
                        seconds: m.seconds,
                    });
                }
                self.settle_new(pos, c, weights, state, events)
            }
            (Outcome::Failed { reason, metrics }, Some(pos), _) => {
                self.spent += metrics.map_or(0, |m| m.epochs) as f64;
                self.settle_new(pos, candidate::failed(c, reason), None, None, events)
            }
            (Outcome::Completed(m), None, Some(rung)) => {
                self.spent += (self.rungs[rung] - self.rungs[rung - 1]) as f64;
                c.rungs.push(Rung {
                    rung,
                    epochs: self.rungs[rung],
                    val_acc: m.final_val_acc,
                    seconds: m.seconds,
                });
                c.epochs_val_acc = m.val_acc.clone();
                c.seconds += m.seconds;
                c.metrics.extend(candidate::metrics_map(&m));
                self.record_rung(c, weights, state, events)
            }
            (Outcome::Failed { reason, .. }, None, Some(rung)) => {
                // the rung-0 result stands; the failed rung counts as nothing reached
                c.rungs.push(Rung {
                    rung,
                    epochs: self.rungs[rung],
                    val_acc: 0.0,
                    seconds: 0.0,
                });
                c.reason = Some(format!("rung {rung}: {reason}"));
                self.record_rung(c, None, None, events)
            }
            (_, None, None) => Ok(()),
        }
    }

    /// Records a new candidate of the batch and every same-batch twin that waited for it.
    fn settle_new(
        &mut self,
        pos: usize,
        c: Candidate,
        weights: Option<Vec<u8>>,
        state: Option<Vec<u8>>,
        events: &mut dyn FnMut(SearchEvent),
    ) -> Result<()> {
        let original = c.clone();
        let reward = self.record_new(c, weights, state, events)?;
        self.set_reward(pos, reward);
        for (twin_pos, twin) in self.waiting.remove(&original.hash).unwrap_or_default() {
            let reward =
                self.record_new(candidate::duplicate(twin, &original), None, None, events)?;
            self.set_reward(twin_pos, reward);
        }
        Ok(())
    }

    /// Records a candidate seen for the first time; returns its reward.
    pub(super) fn record_new(
        &mut self,
        c: Candidate,
        weights: Option<Vec<u8>>,
        state: Option<Vec<u8>>,
        events: &mut dyn FnMut(SearchEvent),
    ) -> Result<f64> {
        if let SpaceBody::Table(t) = &self.space.body {
            self.spent += match (self.rungs.is_empty(), c.status) {
                (true, Status::Completed) => t.reward_epochs(),
                (true, _) => 0,
                (false, _) => c.rungs.last().map_or(0, |r| r.epochs),
            } as f64;
        }
        if c.status == Status::Rejected {
            self.rejected += 1;
        }
        self.statuses.insert(c.id, c.status);
        let reward = c.reward;
        self.record(c, weights, state, events)?;
        Ok(reward)
    }

    /// Records a candidate that reached another rung.
    pub(super) fn record_rung(
        &mut self,
        c: Candidate,
        weights: Option<Vec<u8>>,
        state: Option<Vec<u8>>,
        events: &mut dyn FnMut(SearchEvent),
    ) -> Result<()> {
        if let (SpaceBody::Table(_), Some(r)) = (&self.space.body, c.rungs.last()) {
            if r.rung > 0 {
                self.spent += (r.epochs - c.rungs[r.rung - 1].epochs) as f64;
            }
        }
        self.record(c, weights, state, events)
    }

    /// Makes a candidate durable (weights and state first) and reports it.
    fn record(
        &mut self,
        c: Candidate,
        weights: Option<Vec<u8>>,
        state: Option<Vec<u8>>,
        events: &mut dyn FnMut(SearchEvent),
    ) -> Result<()> {
        let timer = Instant::now();
        let rank = c.rank_key();
        let kept_already = self.kept.iter().any(|&(_, id)| id == c.id);
        let keep = c.status == Status::Completed
            && self.cfg.keep_top > 0
            && (kept_already
                || self.kept.len() < self.cfg.keep_top
                || self.kept.iter().any(|&(r, _)| rank > r));
        if let (true, Some(w)) = (keep, weights) {
            // a promoted candidate's new weights replace its old ones, at its new rank
            self.store.put_weights(c.id, &w)?;
            self.kept.retain(|&(_, id)| id != c.id);
            self.kept.push((rank, c.id));
        }
        let last_rung = c
            .rungs
            .last()
            .is_some_and(|r| r.rung + 1 >= self.rungs.len());
        match state {
            Some(s) if !last_rung => self.store.put_state(c.id, &s)?,
            _ if last_rung => {
                self.store.delete_state(c.id)?;
            }
            _ => {}
        }
        self.store.put_candidate(&c)?;
        self.max_record_seconds = self.max_record_seconds.max(timer.elapsed().as_secs_f64());
        while self.kept.len() > self.cfg.keep_top {
            self.evict_worst()?;
        }
        self.note_best(&c);
        if c.status == Status::Completed && !self.rungs.is_empty() {
            self.ranked.retain(|r| r.id != c.id);
            self.ranked.push(c.clone());
        }
        events(SearchEvent::CandidateFinished {
            candidate: Box::new(c),
            done: self.counted(),
            best: self.best,
        });
        Ok(())
    }

    /// Epochs spent on a recorded candidate (a table fidelity counts its cost).
    pub(super) fn cost_of(&self, c: &Candidate) -> f64 {
        if let Some(r) = c.rungs.last() {
            return r.epochs as f64;
        }
        match (&self.space.body, c.status) {
            (SpaceBody::Table(t), Status::Completed) => t.reward_epochs() as f64,
            (SpaceBody::Table(_), _) => 0.0,
            _ => c.epochs_val_acc.len() as f64,
        }
    }

    /// The search event of a pool event, naming the candidate's architecture when it starts.
    fn translate(&self, event: PoolEvent) -> Option<SearchEvent> {
        match event {
            PoolEvent::Started { worker, id } => {
                let summary = self
                    .flights
                    .get(&id)
                    .and_then(|f| {
                        serde_json::from_value::<Architecture>(f.candidate.arch.clone()).ok()
                    })
                    .map(|a| a.summary())
                    .unwrap_or_default();
                Some(SearchEvent::CandidateStarted {
                    id,
                    worker,
                    summary,
                })
            }
            PoolEvent::Train { worker, id, event } => {
                Some(SearchEvent::Training { id, worker, event })
            }
            PoolEvent::Finished { .. } => None,
            PoolEvent::Notice { message } => Some(SearchEvent::Notice { message }),
        }
    }
}
