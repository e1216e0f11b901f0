//! The zoo's logits against PyTorch's: torchvision's models and nas's zoo nets, given the same
//! weights and inputs, computed by one formula on both sides (`tests/fixtures/make_logits.py`,
//! which wrote the fixture, documents it), must give the same logits in eval mode, on the
//! candle path and on nas's own kernels. The fixture holds PyTorch's logits only, so it stays
//! a few kilobytes however large the nets.

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::Deserialize;

use super::build;
use crate::child::{ChildNet, Workspace};
use crate::graph::{Graph, Op};

const FIXTURE: &str = include_str!("../../tests/fixtures/zoo_logits.json");

#[derive(Deserialize)]
struct Fixture {
    batch: usize,
    classes: usize,
    nets: std::collections::BTreeMap<String, Logits>,
}

#[derive(Deserialize)]
struct Logits {
    input: [usize; 3],
    logits: Vec<f32>,
}

/// `make_logits.py`'s `noise`: `2 * fract(sin(12.9898 * i + phase) * 43758.5453) - 1`.
fn noise(len: usize, phase: f64) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let t = (12.9898 * i as f64 + phase).sin() * 43758.5453;
            2.0 * (t - t.floor()) - 1.0
        })
        .collect()
}

/// `make_logits.py`'s `formula`: the value of every entry of parameter or buffer `key`.
fn formula(key: &str, dims: &[usize], bn: bool) -> Vec<f32> {
    let len = dims.iter().product();
    let s = noise(len, 0.1 * (key.len() % 11) as f64);
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let fan_in: usize = dims.iter().skip(1).product();
    let value = |s: f64| match leaf {
        "running_var" => 1.0 + 0.5 * s * s,
        "running_mean" => 0.1 * s,
        "weight" if bn => 1.0 + 0.2 * s,
        "weight" if dims.len() > 1 => (6.0 / fan_in as f64).sqrt() * s,
        _ => 0.1 * s,
    };
    s.into_iter().map(|s| value(s) as f32).collect()
}

/// A net of `graph` with every variable set by [`formula`].
fn net_with_formula_weights(graph: &Graph) -> ChildNet {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = ChildNet::new(graph, vb).unwrap();
    let bn_layers: Vec<&str> = graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::BatchNorm { .. }))
        .map(|n| n.name.as_str())
        .collect();
    for (key, var) in varmap.data().lock().unwrap().iter() {
        let layer = key.rsplit_once('.').map_or("", |(layer, _)| layer);
        let dims = var.dims().to_vec();
        let values = formula(key, &dims, bn_layers.contains(&layer));
        var.set(&Tensor::from_vec(values, dims, &Device::Cpu).unwrap())
            .unwrap();
    }
    net
}

/// Largest difference relative to the largest logit.
fn rel_diff(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

#[test]
fn zoo_logits_equal_torchvisions_on_the_same_weights() {
    let fixture: Fixture = serde_json::from_str(FIXTURE).unwrap();
    assert!(fixture.nets.contains_key("googlenet"));
    for (name, want) in &fixture.nets {
        let graph = build(name, want.input, fixture.classes).unwrap();
        let net = net_with_formula_weights(&graph);
        let [c, h, w] = want.input;
        let pixels = noise(fixture.batch * c * h * w, 0.5);
        let pixels: Vec<f32> = pixels.into_iter().map(|v| v as f32).collect();
        let xs = Tensor::from_vec(pixels, (fixture.batch, c, h, w), &Device::Cpu).unwrap();
        let candle: Vec<f32> = net
            .forward_t(&xs, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let own = net.eval_logits(&mut Workspace::new(), &xs).unwrap();
        for (path, got) in [("candle", &candle), ("nas kernels", &own)] {
            let d = rel_diff(got, &want.logits);
            // float rounding: summation orders differ through up to 80 layers
            assert!(
                d < 1e-4,
                "{name} on {path}: logits differ by {d} (relative)"
            );
        }
    }
}
