//! The controller's whole state as bytes: a safetensors file whose tensors are the weights and
//! Adam's moments, and whose metadata holds a JSON header with the rest (step count, baseline,
//! RNG position, the decisions and settings it was built for). Floats travel as raw bits, so a
//! loaded controller samples and learns bit for bit like the one that was saved.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::config::ControllerConfig;
use super::controller::Controller;
use super::rng::RngState;
use crate::error::{Error, Result};
use crate::space::decision::{Decision, Decisions};

/// Version of the checkpoint layout; bump it when the layout changes. Version 1 lacks the reward
/// variance and the told children, which its settings never used.
const FORMAT_VERSION: u32 = 2;
const OLDEST_VERSION: u32 = 1;
/// The metadata key under which the JSON header is stored.
const HEADER_KEY: &str = "nas.controller";

#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    /// The settings as JSON, compared as text so float parsing cannot blur them.
    config: String,
    decisions: Vec<Decision>,
    adam_step: u64,
    baseline_bits: Option<u64>,
    #[serde(default)]
    variance_bits: Option<u64>,
    /// Children told, with their rewards as bits.
    #[serde(default)]
    told: Vec<(Decisions, u64)>,
    rng: RngState,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Checkpoint {
        what: "controller".into(),
        msg: msg.into(),
    }
}

/// The settings as compared on restore: the seed only chooses the start, so it may differ. A
/// saved text is read back first, so settings added since it was written take the values they
/// stand for in old runs.
fn saved_config_text(text: &str) -> Result<String> {
    config_text(&serde_json::from_str(text)?)
}

fn config_text(config: &ControllerConfig) -> Result<String> {
    let mut config = config.clone();
    config.seed = 0;
    Ok(serde_json::to_string(&config)?)
}

fn tensor_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let values = t.flatten_all()?.to_vec1::<f32>()?;
    Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn load_tensor(st: &SafeTensors, name: &str, like: &Tensor) -> Result<Tensor> {
    let view = st
        .tensor(name)
        .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
    if view.dtype() != Dtype::F32 || view.shape() != like.dims() {
        return Err(bad(format!(
            "tensor `{name}` is {:?} {:?}, expected F32 {:?}",
            view.dtype(),
            view.shape(),
            like.dims()
        )));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Tensor::from_vec(values, like.shape(), &Device::Cpu)?)
}

impl Controller {
    /// The whole state, as a safetensors buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = Header {
            version: FORMAT_VERSION,
            config: config_text(&self.config)?,
            decisions: self.decisions.clone(),
            adam_step: self.adam.step,
            baseline_bits: self.baseline.map(f64::to_bits),
            variance_bits: self.variance.map(f64::to_bits),
            told: self
                .told
                .iter()
                .map(|(d, r)| (d.clone(), r.to_bits()))
                .collect(),
            rng: RngState::capture(&self.rng),
        };
        let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for ((name, var), (m, v)) in self.vars.iter().zip(&self.adam.moments) {
            let dims = var.dims().to_vec();
            buffers.push((
                format!("param.{name}"),
                dims.clone(),
                tensor_bytes(var.as_tensor())?,
            ));
            buffers.push((format!("adam_m.{name}"), dims.clone(), tensor_bytes(m)?));
            buffers.push((format!("adam_v.{name}"), dims, tensor_bytes(v)?));
        }
        let views = buffers
            .iter()
            .map(|(name, dims, data)| {
                let view = TensorView::new(Dtype::F32, dims.clone(), data);
                Ok((name.clone(), view.map_err(|e| bad(e.to_string()))?))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([(HEADER_KEY.to_string(), serde_json::to_string(&header)?)]);
        safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| bad(e.to_string()))
    }

    /// A controller for `decisions` and `config` in the state that `to_bytes` saved; an error if
    /// the bytes were saved for other decisions or other settings (the seed aside).
    pub fn from_bytes(
        decisions: &[Decision],
        config: &ControllerConfig,
        bytes: &[u8],
    ) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let text = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(HEADER_KEY))
            .ok_or_else(|| bad("no controller header"))?;
        let header: Header = serde_json::from_str(text)?;
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&header.version) {
            let msg = format!(
                "layout version {}, expected {OLDEST_VERSION} to {FORMAT_VERSION}",
                header.version
            );
            return Err(bad(msg));
        }
        if header.decisions != decisions {
            return Err(bad("saved for other decision points than these"));
        }
        let saved = saved_config_text(&header.config)?;
        if saved != config_text(config)? {
            let msg = format!("saved with settings {saved}, not {}", config_text(config)?);
            return Err(bad(msg));
        }
        let mut controller = Controller::new(decisions, config)?;
        for ((name, var), (m, v)) in controller
            .vars
            .iter()
            .zip(controller.adam.moments.iter_mut())
        {
            var.set(&load_tensor(
                &st,
                &format!("param.{name}"),
                var.as_tensor(),
            )?)?;
            *m = load_tensor(&st, &format!("adam_m.{name}"), m)?;
            *v = load_tensor(&st, &format!("adam_v.{name}"), v)?;
        }
        controller.adam.step = header.adam_step;
        controller.baseline = header.baseline_bits.map(f64::from_bits);
        controller.variance = header.variance_bits.map(f64::from_bits);
        for (child, bits) in header.told {
            controller.seen.insert(child.clone());
            controller.told.push((child, f64::from_bits(bits)));
        }
        controller.set_rng(&header.rng);
        Ok(controller)
    }
}
