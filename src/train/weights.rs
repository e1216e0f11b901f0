//! A trained net's variables as safetensors bytes and back. The keys are the `VarMap` names,
//! running statistics included, which are also the `VarBuilder` paths of `ChildNet` and of
//! exported code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

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

/// Reads the weights file `path` to start a net from (`nas train --init`): every variable of
/// `varmap` must be there with its shape, and nothing else may be, so a file of another net
/// is refused rather than half used. The error names the file and the first bad key in key
/// order. Returns the tensors on the CPU, by variable name.
pub fn read_init_weights(varmap: &VarMap, path: &Path) -> Result<HashMap<String, Tensor>> {
    let what = format!("initial weights {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| Error::invalid(&what, e.to_string()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu)
        .map_err(|e| Error::invalid(&what, format!("not a safetensors file: {e}")))?;
    let expected: BTreeMap<String, Vec<usize>> = {
        let data = varmap.data().lock().expect("VarMap lock poisoned");
        data.iter()
            .map(|(name, var)| (name.clone(), var.dims().to_vec()))
            .collect()
    };
    let keys: BTreeSet<&String> = expected.keys().chain(tensors.keys()).collect();
    for key in keys {
        let msg = match (expected.get(key), tensors.get(key)) {
            (Some(_), None) => format!("key `{key}` is missing (the net has it)"),
            (None, Some(_)) => format!("key `{key}` is not a parameter of the net"),
            (Some(want), Some(got)) if got.dims() != want.as_slice() => format!(
                "key `{key}` has shape {:?}, the net expects {want:?}",
                got.dims()
            ),
            _ => continue,
        };
        return Err(Error::invalid(what, msg));
    }
    Ok(tensors)
}

/// Sets every variable of `varmap` from `tensors` (checked by [`read_init_weights`]).
pub fn set_weights(varmap: &VarMap, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let data = varmap.data().lock().expect("VarMap lock poisoned");
    for (name, var) in data.iter() {
        let tensor = tensors
            .get(name)
            .ok_or_else(|| Error::invalid("weights", format!("no tensor named `{name}`")))?;
        var.set(&tensor.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
