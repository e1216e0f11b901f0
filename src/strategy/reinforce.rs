//! The `reinforce` strategy: asks sample children from the LSTM controller, each tell is one
//! update (REINFORCE or PPO) over the children it reports.

use super::strategy::{check_results, Strategy};
use crate::controller::{Controller, ControllerConfig, UpdateStats};
use crate::error::Result;
use crate::space::decision::{Decision, Decisions};

/// The controller as a strategy.
pub struct Reinforce {
    controller: Controller,
    /// What the last update did (not checkpointed: it is for reports only).
    last: Option<UpdateStats>,
}

impl Reinforce {
    /// A fresh controller seeded with `seed` (which replaces `config.seed`).
    pub fn new(decisions: &[Decision], config: &ControllerConfig, seed: u64) -> Result<Self> {
        let config = ControllerConfig {
            seed,
            ..config.clone()
        };
        Ok(Self {
            controller: Controller::new(decisions, &config)?,
            last: None,
        })
    }

    /// The strategy that `checkpoint` saved.
    pub fn restore(
        decisions: &[Decision],
        config: &ControllerConfig,
        bytes: &[u8],
    ) -> Result<Self> {
        Ok(Self {
            controller: Controller::from_bytes(decisions, config, bytes)?,
            last: None,
        })
    }

    /// The controller behind the strategy.
    pub fn controller(&self) -> &Controller {
        &self.controller
    }
}

impl Strategy for Reinforce {
    fn ask(&mut self, n: usize) -> Result<Vec<Decisions>> {
        self.controller.propose(n)
    }

    fn tell(&mut self, results: &[(Decisions, f64)]) -> Result<()> {
        check_results(self.controller.decisions(), results)?;
        if !results.is_empty() {
            self.last = Some(self.controller.update(results)?);
        }
        Ok(())
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        self.controller.to_bytes()
    }

    fn name(&self) -> &'static str {
        "reinforce"
    }

    fn stats(&self) -> Option<serde_json::Value> {
        self.last
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
    }
}
