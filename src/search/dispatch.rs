//! What a free worker does next: promote a candidate (successive halving), take the next
//! candidate of the current batch, tell the strategy a finished batch, or ask a new one.

use super::candidate::{self, now, Prepared};
use super::halving;
use super::search::{Batch, Flight, Search};
use super::SearchEvent;
use crate::arch::Architecture;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::pool::Job;
use crate::space::{Decisions, SpaceBody};
use crate::store::Candidate;
use crate::train::TrainPlan;

impl Search {
    /// Starts the next piece of work, or settles a candidate that needs no worker; false when
    /// there is nothing to start now.
    pub(super) fn next_work(&mut self, events: &mut dyn FnMut(SearchEvent)) -> Result<bool> {
        if self.cfg.epoch_budget.is_some_and(|b| self.spent >= b) {
            return Ok(false);
        }
        if let Some((id, rung)) = self.promotion() {
            self.promote(id, rung, events)?;
            return Ok(true);
        }
        let Some(batch) = &self.batch else {
            return self.ask_batch();
        };
        if batch.next < batch.asks.len() {
            self.take_next(events)?;
            return Ok(true);
        }
        if batch.rewards.iter().all(Option::is_some) {
            self.tell(events)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The candidate to promote next, if the schedule is successive halving.
    fn promotion(&self) -> Option<(u64, usize)> {
        let (crate::search::Schedule::Halving { eta, .. }, true) =
            (self.cfg.schedule, self.rungs.len() > 1)
        else {
            return None;
        };
        let busy = self.flights.keys().copied().collect();
        halving::next_promotion(&self.ranked, eta, self.rungs.len() - 1, &busy)
    }

    /// Asks the strategy for the next batch, unless the search has what it came for.
    fn ask_batch(&mut self) -> Result<bool> {
        let counted = self.counted();
        if counted >= self.cfg.samples || self.rejected >= self.rejection_cap() {
            return Ok(false);
        }
        let base = self.step * self.cfg.batch as u64;
        // On a resume, candidates of this batch may be recorded already: the batch's size is
        // what was left before any of them.
        let before = counted - self.counted_from(base);
        let n = self.cfg.batch.min(self.cfg.samples - before);
        let timer = std::time::Instant::now();
        let asks = self.strategy.ask(n)?;
        self.strategy_seconds += timer.elapsed().as_secs_f64();
        self.batch = Some(Batch {
            base,
            rewards: vec![None; asks.len()],
            asks,
            next: 0,
        });
        Ok(true)
    }

    /// Settles or starts the next candidate of the batch.
    fn take_next(&mut self, events: &mut dyn FnMut(SearchEvent)) -> Result<()> {
        let batch = self.batch.as_mut().expect("a batch is open");
        let pos = batch.next;
        batch.next += 1;
        let id = batch.base + pos as u64;
        let decisions = batch.asks[pos].clone();
        if let Some(done) = self.store.candidate(id)? {
            self.set_reward(pos, done.reward); // recorded before an interruption
            return Ok(());
        }
        if self.looks_up() {
            return self.lookup_new(id, pos, &decisions);
        }
        let prepared = candidate::prepare(
            &self.cfg,
            &self.space,
            &self.store,
            id,
            self.step,
            &decisions,
        )?;
        match prepared {
            Prepared::Done(mut c) => {
                if let (SpaceBody::Table(_), false) = (&self.space.body, self.rungs.is_empty()) {
                    self.table_rung(&mut c, 0);
                }
                let reward = self.record_new(c, None, None, events)?;
                self.set_reward(pos, reward);
            }
            Prepared::Train {
                graph,
                mut candidate,
            } => {
                let twin = self
                    .flights
                    .values()
                    .any(|f| f.pos.is_some() && f.candidate.hash == candidate.hash);
                if twin {
                    self.waiting
                        .entry(candidate.hash.clone())
                        .or_default()
                        .push((pos, candidate));
                    return Ok(());
                }
                candidate.started_at = Some(now());
                let rung = (!self.rungs.is_empty()).then_some(0);
                self.submit(id, *graph, rung, None)?;
                self.flights.insert(
                    id,
                    Flight {
                        pos: Some(pos),
                        rung,
                        candidate,
                    },
                );
            }
        }
        Ok(())
    }

    /// Trains candidate `id` one rung further (a table looks the rung's column up).
    fn promote(&mut self, id: u64, rung: usize, events: &mut dyn FnMut(SearchEvent)) -> Result<()> {
        let mut c = self
            .ranked
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| Error::invalid("promotion", format!("candidate {id} is unknown")))?;
        if self.looks_up() {
            return self.lookup_rung(c, rung);
        }
        if matches!(self.space.body, SpaceBody::Table(_)) {
            self.table_rung(&mut c, rung);
            return self.record_rung(c, None, None, events);
        }
        let arch: Architecture = serde_json::from_value(c.arch.clone())?;
        let graph = arch.lower()?;
        let state = self.store.state(id)?;
        c.started_at = Some(now());
        self.submit(id, graph, Some(rung), state)?;
        self.flights.insert(
            id,
            Flight {
                pos: None,
                rung: Some(rung),
                candidate: c,
            },
        );
        Ok(())
    }

    fn submit(
        &mut self,
        id: u64,
        graph: Graph,
        rung: Option<usize>,
        from: Option<Vec<u8>>,
    ) -> Result<()> {
        let plan = match rung {
            None => TrainPlan::plain(self.cfg.train.epochs),
            Some(r) => TrainPlan::rung(&self.rungs, r, r + 1 < self.rungs.len()),
        };
        let job = Job {
            id,
            graph,
            seed: self.cfg.candidate_seed(id),
            plan,
            from,
        };
        self.pool
            .as_ref()
            .expect("cell spaces have a worker pool")
            .submit(job)
    }

    /// Gives a table candidate its result at `rung`: the fidelity's column, and its cost.
    fn table_rung(&mut self, c: &mut Candidate, rung: usize) {
        let SpaceBody::Table(table) = &self.space.body else {
            return;
        };
        let value = table.value(&c.decisions, &table.fidelities[rung].column);
        self.table_rung_value(c, rung, value);
    }

    /// Tells the strategy the batch's rewards, checkpoints it and records what it learnt.
    fn tell(&mut self, events: &mut dyn FnMut(SearchEvent)) -> Result<()> {
        let batch = self.batch.take().expect("a batch is open");
        let rewards: Vec<f64> = batch.rewards.iter().map(|r| r.unwrap_or(0.0)).collect();
        let mean_reward = rewards.iter().sum::<f64>() / rewards.len().max(1) as f64;
        let results: Vec<(Decisions, f64)> = batch.asks.into_iter().zip(rewards).collect();
        let timer = std::time::Instant::now();
        self.strategy.tell(&results)?;
        let checkpoint = self.strategy.checkpoint()?;
        self.strategy_seconds += timer.elapsed().as_secs_f64();
        self.step += 1;
        self.store.put_checkpoint(self.step, &checkpoint)?;
        let mut stats =
            serde_json::json!({ "mean_reward": mean_reward, "children": results.len() });
        if let (Some(extra), Some(map)) = (self.strategy.stats(), stats.as_object_mut()) {
            if let Some(extra) = extra.as_object() {
                for (k, v) in extra {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        self.store.put_update(self.step, &stats)?;
        events(SearchEvent::Updated { step: self.step });
        if self.step == 1 && !self.val_counts.is_empty() {
            if let Some(warning) = self.learning_warning()? {
                events(SearchEvent::NotLearning(warning));
            }
        }
        Ok(())
    }

    pub(super) fn set_reward(&mut self, pos: usize, reward: f64) {
        if let Some(batch) = self.batch.as_mut() {
            batch.rewards[pos] = Some(reward);
        }
    }
}
