//! A trained net's variables as safetensors bytes and back. The keys are the `VarMap` names,
//! running statistics included, which are also the `VarBuilder` paths of `ChildNet` and of
//! exported code.

use std::collections::HashMap;

use candle_core::Tensor;
use candle_nn::VarMap;

use crate::error::{Error, Result};

/// Serialises every variable of `varmap` (on any device) to safetensors bytes, keys sorted.
pub fn weights_to_safetensors(varmap: &VarMap) -> Result<Vec<u8>> {
    let data = varmap.data().lock().expect("VarMap lock poisoned");
    let tensors: HashMap<String, Tensor> = data
        .iter()
        .map(|(name, var)| {
            Ok((
                name.clone(),
                var.as_tensor().to_device(&candle_core::Device::Cpu)?,
            ))
        })
        .collect::<Result<_>>()?;
    let mut sorted: Vec<(&String, &Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    safetensors::serialize(sorted, None)
        .map_err(|e| Error::invalid("weights", format!("cannot serialise: {e}")))
}

/// Sets every variable of `varmap` from safetensors `bytes`; every variable must be present
/// with its shape.
pub fn load_weights(varmap: &VarMap, bytes: &[u8]) -> Result<()> {
    let data = varmap.data().lock().expect("VarMap lock poisoned");
    let Some(device) = data.values().next().map(|v| v.device().clone()) else {
        return Ok(());
    };
    let tensors = candle_core::safetensors::load_buffer(bytes, &device)?;
    for (name, var) in data.iter() {
        let tensor = tensors
            .get(name)
            .ok_or_else(|| Error::invalid("weights", format!("no tensor named `{name}`")))?;
        if tensor.dims() != var.dims() {
            return Err(Error::invalid(
                "weights",
                format!(
                    "`{name}` has shape {:?}, the net expects {:?}",
                    tensor.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(&tensor.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
