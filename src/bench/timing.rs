//! `run_bench`: for each reference net, a few warm-up steps then timed training steps (forward,
//! backward, SGD with momentum and weight decay, as the trainer does them) on random data, then
//! timed inference in eval mode. Everything runs in a rayon pool of the requested size, which
//! is where nas's kernels split their work.

use std::time::Instant;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::nets::{net, net_names};
use crate::child::{init_weights, ChildNet, Kernels, Workspace};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::train::{loss_and_grads, Sgd, TrainConfig};

/// What to time and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Timed training steps per net.
    pub steps: usize,
    /// Untimed steps before the timed ones (training and inference each).
    pub warmup: usize,
    pub batch_size: usize,
    /// Inference batch; `ceil(steps * batch_size / eval_batch_size)` batches are timed, so
    /// inference sees as many images as training.
    pub eval_batch_size: usize,
    /// Rayon threads (`None`: all cores).
    pub threads: Option<usize>,
    pub kernels: Kernels,
    /// The nets to time, by name (empty: all of them).
    pub nets: Vec<String>,
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            steps: 20,
            warmup: 3,
            batch_size: 128,
            eval_batch_size: 512,
            threads: None,
            kernels: Kernels::Fast,
            nets: Vec::new(),
            seed: 0,
        }
    }
}

/// The throughput of one net.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetTiming {
    pub name: String,
    pub input: [usize; 3],
    pub params: u64,
    pub macs: u64,
    pub train_images_per_second: f64,
    pub infer_images_per_second: f64,
    pub train_seconds: f64,
    pub infer_seconds: f64,
    /// Mean loss of the timed steps, to show the steps did train something finite.
    pub loss: f64,
}

/// The whole benchmark: its settings and one timing per net.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Threads of the pool the nets ran in.
    pub threads: usize,
    pub steps: usize,
    pub warmup: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub infer_batches: usize,
    pub kernels: Kernels,
    pub nets: Vec<NetTiming>,
}

/// Times every net of `cfg` on the CPU; `done` is called after each net.
pub fn run_bench(cfg: &BenchConfig, done: &mut dyn FnMut(&NetTiming)) -> Result<BenchReport> {
    if cfg.steps == 0 || cfg.batch_size == 0 || cfg.eval_batch_size == 0 {
        return Err(Error::invalid(
            "benchmark settings",
            "steps and batch sizes must be at least 1",
        ));
    }
    let names: Vec<String> = if cfg.nets.is_empty() {
        net_names().iter().map(|n| n.to_string()).collect()
    } else {
        cfg.nets.clone()
    };
    let graphs = names
        .iter()
        .map(|n| net(n))
        .collect::<Result<Vec<Graph>>>()?;
    let threads = cfg
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::invalid("threads", e.to_string()))?;
    let mut nets = Vec::with_capacity(graphs.len());
    for (name, graph) in names.iter().zip(&graphs) {
        let timing = pool.install(|| time_net(name, graph, cfg))?;
        done(&timing);
        nets.push(timing);
    }
    Ok(BenchReport {
        threads: pool.current_num_threads(),
        steps: cfg.steps,
        warmup: cfg.warmup,
        batch_size: cfg.batch_size,
        eval_batch_size: cfg.eval_batch_size,
        infer_batches: infer_batches(cfg),
        kernels: cfg.kernels,
        nets,
    })
}

fn infer_batches(cfg: &BenchConfig) -> usize {
    (cfg.steps * cfg.batch_size).div_ceil(cfg.eval_batch_size)
}

/// Trains then evaluates one fresh net, timing both.
fn time_net(name: &str, graph: &Graph, cfg: &BenchConfig) -> Result<NetTiming> {
    let device = Device::Cpu;
    let train_cfg = TrainConfig::default();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let net = ChildNet::with_kernels(graph, vb, cfg.kernels)?;
    init_weights(graph, &varmap, cfg.seed)?;
    let mut sgd = Sgd::new(
        &varmap,
        train_cfg.momentum,
        train_cfg.nesterov,
        train_cfg.weight_decay,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let (xs, ys) = random_batch(graph, cfg.batch_size, &mut rng, &device)?;
    let mut workspace = Workspace::new();
    let mut train_step = || -> Result<f64> {
        let (loss, grads) = loss_and_grads(&net, &mut workspace, &xs, &ys, 0.0, &mut rng)?;
        if let Some(grads) = grads {
            sgd.step(&grads, train_cfg.lr)?;
        }
        Ok(loss)
    };
    for _ in 0..cfg.warmup {
        train_step()?;
    }
    let start = Instant::now();
    let mut loss_sum = 0.0;
    for _ in 0..cfg.steps {
        loss_sum += train_step()?;
    }
    let train_seconds = start.elapsed().as_secs_f64();

    let (xs, _) = random_batch(graph, cfg.eval_batch_size, &mut rng, &device)?;
    let infer = || -> Result<()> {
        // Reading the logits back is what an evaluation does with them.
        net.forward_t(&xs, false)?.argmax(1)?.to_vec1::<u32>()?;
        Ok(())
    };
    for _ in 0..cfg.warmup {
        infer()?;
    }
    let batches = infer_batches(cfg);
    let start = Instant::now();
    for _ in 0..batches {
        infer()?;
    }
    let infer_seconds = start.elapsed().as_secs_f64();
    Ok(NetTiming {
        name: name.to_string(),
        input: graph.input(),
        params: graph.params(),
        macs: graph.macs(),
        train_images_per_second: (cfg.steps * cfg.batch_size) as f64 / train_seconds.max(1e-9),
        infer_images_per_second: (batches * cfg.eval_batch_size) as f64 / infer_seconds.max(1e-9),
        train_seconds,
        infer_seconds,
        loss: loss_sum / cfg.steps as f64,
    })
}

/// Standard-normal-ish images (uniform in [-1, 1)) and uniform labels, from the seed.
fn random_batch(
    graph: &Graph,
    b_sz: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let [c, h, w] = graph.input();
    let pixels: Vec<f32> = (0..b_sz * c * h * w)
        .map(|_| rng.random_range(-1f32..1f32))
        .collect();
    let classes = graph.classes() as u32;
    let labels: Vec<u32> = (0..b_sz).map(|_| rng.random_range(0..classes)).collect();
    let xs = Tensor::from_vec(pixels, (b_sz, c, h, w), device)?;
    let ys = Tensor::from_vec(labels, b_sz, device)?;
    Ok((xs, ys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_of_lenet5_and_the_residual_net_reports_finite_throughput() {
        let cfg = BenchConfig {
            steps: 1,
            warmup: 0,
            batch_size: 8,
            eval_batch_size: 16,
            threads: Some(2),
            nets: vec!["lenet5".into(), "residual".into()],
            ..Default::default()
        };
        let mut seen = Vec::new();
        let report = run_bench(&cfg, &mut |t| seen.push(t.name.clone())).unwrap();
        assert_eq!(seen, ["lenet5", "residual"]);
        assert_eq!(report.threads, 2);
        assert_eq!(report.infer_batches, 1);
        assert_eq!(report.nets[1].params, 42_938);
        for t in &report.nets {
            assert!(t.train_images_per_second.is_finite() && t.train_images_per_second > 0.0);
            assert!(t.infer_images_per_second.is_finite() && t.infer_images_per_second > 0.0);
            assert!(t.loss.is_finite(), "{t:?}");
        }
    }

    #[test]
    fn an_unknown_net_or_zero_steps_is_refused() {
        let unknown = BenchConfig {
            nets: vec!["nope".into()],
            ..Default::default()
        };
        assert!(run_bench(&unknown, &mut |_| {}).is_err());
        let zero = BenchConfig {
            steps: 0,
            ..Default::default()
        };
        assert!(run_bench(&zero, &mut |_| {}).is_err());
    }
}
