//! Fresh, deterministic weights for exports that have no trained ones (zoo nets, architecture
//! files): the engine's own `ChildNet` creates every variable under its path, then each is
//! overwritten from a seeded generator, batch-norm statistics included, so that a wrong path or
//! a swapped tensor changes the logits and the same export always writes the same file.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::child::ChildNet;
use crate::error::{Error, Result};
use crate::graph::Graph;

/// The seed of every fresh export.
const SEED: u64 = 0x6e61_7321;
/// Most parameters an export with fresh weights makes (4 GiB of `f32`).
const MAX_FRESH_PARAMS: u64 = 1 << 30;

/// A `VarMap` holding the parameters and batch-norm buffers of `graph` under the engine's paths,
/// filled deterministically: Kaiming-normal weights, small biases, batch-norm scales and running
/// statistics near their identity values.
pub fn fresh_weights(graph: &Graph) -> Result<VarMap> {
    check_size(graph)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    ChildNet::new(graph, vb)?;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let data = varmap.data().lock().expect("var map lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let values = fill(name, &dims, &mut rng);
        var.set(&Tensor::from_vec(values, dims, &Device::Cpu)?)?;
    }
    drop(data);
    Ok(varmap)
}

/// Refuses, before anything is allocated, a net whose weights would not fit: at most
/// [`MAX_FRESH_PARAMS`], and at most an eighth of the available memory in parameters (4 bytes
/// each, held twice while the file is written).
fn check_size(graph: &Graph) -> Result<()> {
    let params = graph.params();
    let fits = crate::train::mem_available().map_or(u64::MAX, |bytes| bytes / 8);
    let limit = MAX_FRESH_PARAMS.min(fits);
    if params <= limit {
        return Ok(());
    }
    Err(Error::invalid(
        format!("network `{}`", graph.name),
        format!(
            "{params} parameters is more than the {limit} this machine can make weights for; \
             give a smaller input or architecture"
        ),
    ))
}

/// Values for the variable `name` of shape `dims`.
fn fill(name: &str, dims: &[usize], rng: &mut ChaCha8Rng) -> Vec<f32> {
    let count: usize = dims.iter().product();
    let leaf = name.rsplit('.').next().unwrap_or(name);
    match (leaf, dims.len()) {
        ("weight", 1) => uniform(rng, count, 0.8, 1.2),
        ("running_var", _) => uniform(rng, count, 0.5, 1.5),
        ("bias", _) | ("running_mean", _) => uniform(rng, count, -0.1, 0.1),
        _ => {
            let fan_in = (count / dims.first().copied().unwrap_or(1).max(1)).max(1);
            let std = (2.0 / fan_in as f32).sqrt();
            (0..count).map(|_| std * normal(rng)).collect()
        }
    }
}

fn uniform(rng: &mut ChaCha8Rng, count: usize, low: f32, high: f32) -> Vec<f32> {
    (0..count).map(|_| rng.random_range(low..high)).collect()
}

/// A standard normal sample (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_weights_are_deterministic_and_cover_every_variable() {
        let graph = crate::zoo::build("lenet5", [1, 28, 28], 10).unwrap();
        let a = fresh_weights(&graph).unwrap();
        let b = fresh_weights(&graph).unwrap();
        let a = a.data().lock().unwrap();
        let b = b.data().lock().unwrap();
        assert_eq!(a.len(), 10);
        for (name, var) in a.iter() {
            let x = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let y = b[name]
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(x, y, "{name}");
        }
    }
}
