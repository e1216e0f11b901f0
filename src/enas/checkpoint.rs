//! The state a weight-sharing search checkpoints to the store once per epoch, and once more
//! when the derived architectures are chosen: one safetensors blob whose tensors are the shared
//! values, their velocities and the controller's own checkpoint bytes, and whose metadata holds
//! the rest as JSON. f32 values are stored as they are, so a resumed search is exact.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::bad_checkpoint;
use super::events::{Derived, EpochStats};
use crate::error::Result;

/// The metadata key of the JSON header.
const HEADER: &str = "nas.enas";
/// The tensor holding the controller's checkpoint bytes.
const CONTROLLER: &str = "controller";

/// Where a search stood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub(super) enum Phase {
    /// `epoch` epochs done (the shared weights and controller are in the tensors).
    Trained { epoch: usize },
    /// The derived architectures are chosen; only their stand-alone training is left.
    Derived {
        sampled: usize,
        /// Wall time of the sampling and rating.
        seconds: f64,
        top: Vec<Derived>,
    },
}

/// The JSON part of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Header {
    pub phase: Phase,
    pub history: Vec<EpochStats>,
    /// Architectures rated with shared weights so far.
    pub rated: u64,
}

/// A decoded checkpoint.
pub(super) struct Checkpoint {
    pub header: Header,
    /// Shared values and velocities (see `Blocks::tensors`); empty once derived.
    pub shared: HashMap<String, Tensor>,
    pub controller: Option<Vec<u8>>,
}

/// Serialises a checkpoint; `shared` and `controller` may be empty.
pub(super) fn to_bytes(
    header: &Header,
    shared: Vec<(String, Tensor)>,
    controller: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let mut tensors = shared;
    if let Some(bytes) = controller {
        let t = Tensor::from_vec(bytes.to_vec(), bytes.len(), &Device::Cpu)?;
        tensors.push((CONTROLLER.to_string(), t));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = HashMap::from([(HEADER.to_string(), serde_json::to_string(header)?)]);
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| bad_checkpoint(format!("cannot serialise: {e}")))
}

/// Reads what [`to_bytes`] wrote.
pub(super) fn from_bytes(bytes: &[u8]) -> Result<Checkpoint> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad_checkpoint(format!("not a weight-sharing checkpoint ({e})")))?;
    let header = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(HEADER))
        .ok_or_else(|| bad_checkpoint("not a weight-sharing checkpoint (no header)"))?;
    let header: Header = serde_json::from_str(header)
        .map_err(|e| bad_checkpoint(format!("the header does not parse ({e})")))?;
    let mut shared = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
    let controller = match shared.remove(CONTROLLER) {
        Some(t) if t.dtype() == DType::U8 => Some(t.to_vec1::<u8>()?),
        Some(_) => return Err(bad_checkpoint("the controller is not stored as bytes")),
        None => None,
    };
    Ok(Checkpoint {
        header,
        shared,
        controller,
    })
}
