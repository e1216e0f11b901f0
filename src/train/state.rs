//! A child's resumable training state as bytes: the weights, SGD's velocities and the progress
//! so far (epochs done, accuracies, losses), as a safetensors file with a JSON header in its
//! metadata. Continuing from it trains exactly as if training had never stopped: the batch
//! order and dropout masks of each epoch depend only on the seed and the epoch.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use super::sgd::Sgd;
use super::weights::load_weights;
use crate::error::{Error, Result};

const HEADER_KEY: &str = "nas.train_state";
const VELOCITY_PREFIX: &str = "velocity/";
const FORMAT_VERSION: u32 = 1;

/// What training has done so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub epochs_done: usize,
    pub val_acc: Vec<f64>,
    pub train_loss: Vec<f64>,
    pub train_images: u64,
    pub train_seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    progress: Progress,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Checkpoint {
        what: "training state".into(),
        msg: msg.into(),
    }
}

/// Serialises the weights of `varmap`, the velocities of `sgd` and `progress`.
pub fn save_state(varmap: &VarMap, sgd: &Sgd, progress: &Progress) -> Result<Vec<u8>> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    {
        let data = varmap.data().lock().expect("VarMap lock poisoned");
        for (name, var) in data.iter() {
            tensors.push((name.clone(), var.as_tensor().to_device(&Device::Cpu)?));
        }
    }
    for (name, velocity) in sgd.velocities() {
        if let Some(v) = velocity {
            tensors.push((
                format!("{VELOCITY_PREFIX}{name}"),
                v.to_device(&Device::Cpu)?,
            ));
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let header = serde_json::to_string(&Header {
        version: FORMAT_VERSION,
        progress: progress.clone(),
    })?;
    let metadata = HashMap::from([(HEADER_KEY.to_string(), header)]);
    let refs: Vec<(&String, &Tensor)> = tensors.iter().map(|(n, t)| (n, t)).collect();
    safetensors::serialize(refs, Some(metadata)).map_err(|e| bad(format!("cannot serialise: {e}")))
}

/// Restores weights and velocities from `bytes` into `varmap` and `sgd`; returns the progress.
pub fn load_state(bytes: &[u8], varmap: &VarMap, sgd: &mut Sgd) -> Result<Progress> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a training state: {e}")))?;
    let header = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(HEADER_KEY))
        .ok_or_else(|| bad("no header"))?;
    let header: Header =
        serde_json::from_str(header).map_err(|e| bad(format!("bad header: {e}")))?;
    if header.version != FORMAT_VERSION {
        return Err(bad(format!(
            "format {} (this nas reads {FORMAT_VERSION})",
            header.version
        )));
    }
    load_weights(varmap, bytes)?;
    let device = {
        let data = varmap.data().lock().expect("VarMap lock poisoned");
        data.values().next().map(|v| v.device().clone())
    };
    let Some(device) = device else {
        return Ok(header.progress);
    };
    let tensors = candle_core::safetensors::load_buffer(bytes, &device)?;
    for (name, tensor) in tensors {
        if let Some(var) = name.strip_prefix(VELOCITY_PREFIX) {
            if !sgd.set_velocity(var, tensor) {
                return Err(bad(format!("a velocity for unknown variable `{var}`")));
            }
        }
    }
    Ok(header.progress)
}
