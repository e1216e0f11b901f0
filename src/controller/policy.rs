//! The controller's network: an LSTM that reads the previous choice's embedding at each step and
//! emits that decision's logits, through its own linear head for a categorical choice or through
//! Zoph and Le's anchor attention for a skip connection.

use std::collections::HashMap;

use candle_core::{Device, Module, Tensor, D};
use candle_nn::rnn::{LSTMConfig, LSTMState, LSTM, RNN};
use candle_nn::{Embedding, Init, Linear, VarBuilder};
use rand_chacha::ChaCha8Rng;

use super::rng::sample_logits;
use crate::error::{Error, Result};
use crate::space::decision::{Decision, DecisionKind};

/// Attention of a skip decision over the hidden states recorded at anchors.
struct Attention {
    w_prev: Linear,
    w_curr: Linear,
    v: Linear,
    /// Stands in for the hidden state of an anchor that no step recorded.
    missing: Tensor,
}

/// The LSTM policy over a fixed list of decisions.
pub(crate) struct Policy {
    decisions: Vec<Decision>,
    lstm: LSTM,
    /// Input of the first step, `[1, hidden]`.
    start: Tensor,
    /// `embeds[i]` embeds the choice made at decision `i`, the input of step `i + 1`.
    embeds: Vec<Embedding>,
    heads: Vec<Option<Linear>>,
    attention: Option<Attention>,
    hidden: usize,
    tanh_c: f64,
    temperature: f64,
}

/// Log-probability and entropy of a batch of assignments, both `[batch]` and differentiable.
pub(crate) struct Scores {
    pub log_prob: Tensor,
    pub entropy: Tensor,
}

/// The running state of one batched pass over the decisions.
struct Pass {
    input: Tensor,
    state: LSTMState,
    /// `w_prev(h)` of the step that recorded each anchor.
    anchors: HashMap<usize, Tensor>,
}

fn linear(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", Init::Const(0.0))?;
    let bias = match bias {
        true => Some(vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?),
        false => None,
    };
    Ok(Linear::new(weight, bias))
}

impl Policy {
    /// Creates the network's variables under `vb` (their values are set by the caller).
    pub fn new(
        decisions: &[Decision],
        hidden: usize,
        tanh_c: f64,
        temperature: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        check_decisions(decisions)?;
        let lstm = candle_nn::rnn::lstm(hidden, hidden, LSTMConfig::default(), vb.pp("lstm"))?;
        let start = vb.get_with_hints((1, hidden), "start", Init::Const(0.0))?;
        let mut embeds = Vec::new();
        let mut heads = Vec::new();
        for (i, d) in decisions.iter().enumerate() {
            if i + 1 < decisions.len() {
                let table = vb.pp("embed").get_with_hints(
                    (d.len(), hidden),
                    &i.to_string(),
                    Init::Const(0.0),
                )?;
                embeds.push(Embedding::new(table, hidden));
            }
            heads.push(match d.kind {
                DecisionKind::Choice => Some(linear(hidden, d.len(), true, vb.pp("head").pp(i))?),
                DecisionKind::Skip { .. } => None,
            });
        }
        let has_skip = decisions
            .iter()
            .any(|d| matches!(d.kind, DecisionKind::Skip { .. }));
        let attention = match has_skip {
            true => {
                let vb = vb.pp("attention");
                Some(Attention {
                    w_prev: linear(hidden, hidden, false, vb.pp("w_prev"))?,
                    w_curr: linear(hidden, hidden, false, vb.pp("w_curr"))?,
                    v: linear(hidden, 1, false, vb.pp("v"))?,
                    missing: vb.get_with_hints((1, hidden), "missing", Init::Const(0.0))?,
                })
            }
            false => None,
        };
        Ok(Self {
            decisions: decisions.to_vec(),
            lstm,
            start,
            embeds,
            heads,
            attention,
            hidden,
            tanh_c,
            temperature,
        })
    }

    fn begin(&self, batch: usize) -> Result<Pass> {
        Ok(Pass {
            input: self
                .start
                .broadcast_as((batch, self.hidden))?
                .contiguous()?,
            state: self.lstm.zero_state(batch)?,
            anchors: HashMap::new(),
        })
    }

    /// Advances the pass by decision `i` and returns its squashed logits, `[batch, options]`.
    fn step(&self, i: usize, pass: &mut Pass) -> Result<Tensor> {
        pass.state = self.lstm.step(&pass.input, &pass.state)?;
        let h = pass.state.h();
        let decision = &self.decisions[i];
        let raw = match (&decision.kind, &self.heads[i], &self.attention) {
            (DecisionKind::Choice, Some(head), _) => head.forward(h)?,
            (DecisionKind::Skip { from, .. }, _, Some(attn)) => {
                let prev = match pass.anchors.get(from) {
                    Some(prev) => prev.clone(),
                    None => attn
                        .w_prev
                        .forward(&attn.missing)?
                        .broadcast_as(h.shape())?,
                };
                let score = attn.v.forward(&(prev + attn.w_curr.forward(h)?)?.tanh()?)?;
                Tensor::cat(&[score.zeros_like()?, score], 1)?
            }
            _ => unreachable!("heads and attention are built from the decisions"),
        };
        if let (Some(anchor), Some(attn)) = (decision.anchor, &self.attention) {
            pass.anchors.insert(anchor, attn.w_prev.forward(h)?);
        }
        Ok(raw
            .affine(1.0 / self.temperature, 0.0)?
            .tanh()?
            .affine(self.tanh_c, 0.0)?)
    }

    /// Feeds the choices made at decision `i` (one per batch row) to the next step.
    fn feed(&self, i: usize, choices: &[u32], pass: &mut Pass) -> Result<()> {
        if i + 1 < self.decisions.len() {
            let ids = Tensor::new(choices, &Device::Cpu)?;
            pass.input = self.embeds[i].forward(&ids)?;
        }
        Ok(())
    }

    /// Samples `n` assignments, drawing step by step (all children at once) from `rng`.
    pub fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<usize>>> {
        let mut out = vec![Vec::with_capacity(self.decisions.len()); n];
        if n == 0 {
            return Ok(out);
        }
        let mut pass = self.begin(n)?;
        for i in 0..self.decisions.len() {
            let logits = self.step(i, &mut pass)?.detach().to_vec2::<f32>()?;
            let choices: Vec<u32> = logits
                .iter()
                .map(|row| sample_logits(row, rng) as u32)
                .collect();
            for (child, &c) in out.iter_mut().zip(&choices) {
                child.push(c as usize);
            }
            self.feed(i, &choices, &mut pass)?;
        }
        Ok(out)
    }

    /// Log-probability and entropy of each assignment in `batch` under the policy.
    pub fn score(&self, batch: &[Vec<usize>]) -> Result<Scores> {
        for assignment in batch {
            self.check_assignment(assignment)?;
        }
        let mut pass = self.begin(batch.len())?;
        let mut log_prob: Option<Tensor> = None;
        let mut entropy: Option<Tensor> = None;
        for i in 0..self.decisions.len() {
            let logits = self.step(i, &mut pass)?;
            let choices: Vec<u32> = batch.iter().map(|a| a[i] as u32).collect();
            let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let ids = Tensor::new(choices.as_slice(), &Device::Cpu)?.unsqueeze(1)?;
            let chosen = log_p.gather(&ids, 1)?.squeeze(1)?;
            let ent = (log_p.exp()? * &log_p)?.sum(1)?.neg()?;
            log_prob = Some(match log_prob {
                Some(acc) => (acc + chosen)?,
                None => chosen,
            });
            entropy = Some(match entropy {
                Some(acc) => (acc + ent)?,
                None => ent,
            });
            self.feed(i, &choices, &mut pass)?;
        }
        let zeros = || Tensor::zeros(batch.len(), candle_core::DType::F32, &Device::Cpu);
        Ok(Scores {
            log_prob: log_prob.map_or_else(zeros, Ok)?,
            entropy: entropy.map_or_else(zeros, Ok)?,
        })
    }

    /// An error unless `assignment` has one valid option index per decision.
    pub fn check_assignment(&self, assignment: &[usize]) -> Result<()> {
        check_assignment(&self.decisions, assignment)
    }
}

/// An error unless `assignment` has one valid option index per decision of `decisions`.
pub fn check_assignment(decisions: &[Decision], assignment: &[usize]) -> Result<()> {
    if assignment.len() != decisions.len() {
        let msg = format!(
            "{} choices for {} decisions",
            assignment.len(),
            decisions.len()
        );
        return Err(Error::invalid("assignment", msg));
    }
    for (d, &c) in decisions.iter().zip(assignment) {
        if c >= d.len() {
            let msg = format!("option {c} of `{}`, which has {}", d.name, d.len());
            return Err(Error::invalid("assignment", msg));
        }
    }
    Ok(())
}

/// An error unless every decision has options and every skip decision is binary.
pub fn check_decisions(decisions: &[Decision]) -> Result<()> {
    for d in decisions {
        if d.is_empty() {
            return Err(Error::invalid(
                "decisions",
                format!("`{}` has no options", d.name),
            ));
        }
        if matches!(d.kind, DecisionKind::Skip { .. }) && d.len() != 2 {
            let msg = format!("skip decision `{}` has {} options, not 2", d.name, d.len());
            return Err(Error::invalid("decisions", msg));
        }
    }
    Ok(())
}
