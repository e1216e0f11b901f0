//! `run_bench`: for each reference net, a few warm-up steps then timed training steps (forward,
//! backward, SGD with momentum and weight decay, as the trainer does them) on random data, then
//! timed inference in eval mode. Everything runs in a rayon pool of the requested size, which
//! is where nas's kernels split their work. Beside images/s: the training step's GFLOP/s
//! against the machine's measured GEMM peak, and the process's peak resident memory after each
//! net (one net per process, as `nas bench train` runs them, makes it that net's).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::nets::{all_net_names, net};
use super::peak::{gemm_peak_gflops, peak_rss_bytes};
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
    /// Whether to measure the f32 GEMM peak the GFLOP/s figures are read against.
    pub gemm_peak: bool,
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
            gemm_peak: true,
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
    /// Training GFLOP/s: 2 FLOPs per MAC, three passes (forward, input and weight gradients).
    pub train_gflops: f64,
    /// The process's peak resident memory once this net had trained and inferred (where the
    /// system reports it).
    pub peak_rss_bytes: Option<u64>,
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
    /// The measured f32 GEMM peak on the same threads ([`gemm_peak_gflops`]), if measured.
    pub gemm_peak_gflops: Option<f64>,
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
        all_net_names().iter().map(|n| n.to_string()).collect()
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
    let gemm_peak = cfg.gemm_peak.then(|| pool.install(|| gemm_peak_gflops(5)));
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
        gemm_peak_gflops: gemm_peak,
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
    // the training buffers are not the evaluation's: hand them back before it starts
    drop(workspace);

    let (xs, _) = random_batch(graph, cfg.eval_batch_size, &mut rng, &device)?;
    let mut workspace = Workspace::new();
    let mut infer = || -> Result<()> {
        // the predicted classes, as an evaluation (`train::evaluate`) computes them
        net.predict(&mut workspace, &xs)?;
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
        train_gflops: 6.0 * (graph.macs() * (cfg.steps * cfg.batch_size) as u64) as f64
            / train_seconds.max(1e-9)
            / 1e9,
        peak_rss_bytes: peak_rss_bytes(),
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
            gemm_peak: false,
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
            assert!(t.train_gflops.is_finite() && t.train_gflops > 0.0, "{t:?}");
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
