//! Times forward and forward+backward of `nas::kernels` against candle's own ops on
//! the shapes of a small residual net's 16-channel stage (batch 128, 28x28).
//! Run with `cargo run --release --example kernels_bench [conv] [convs] [bn]`.
//! Uses mimalloc, as the `nas` binary does; "autograd floor" rows time an identity
//! op, to show what candle's gradient bookkeeping alone costs on that shape.

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use nas::kernels::{batch_norm_relu_train, batch_norm_train, conv2d, ConvParams};

/// Fastest milliseconds per call of `f` over `iters` calls after two warm-up calls
/// (the fastest because on a shared machine the slower ones measure other people's work).
/// Also returns the process CPU time per call (all threads, 10 ms ticks summed over
/// the calls), which is what the call costs regardless of who else runs.
fn time_ms(iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    for _ in 0..2 {
        f()?;
    }
    let mut times = Vec::with_capacity(iters);
    let cpu_start = cpu_ms();
    for _ in 0..iters {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let cpu = (cpu_ms() - cpu_start) / iters as f64;
    times.sort_by(f64::total_cmp);
    Ok((times[0], cpu))
}

/// User plus system CPU time of this process so far, from `/proc/self/stat` (Linux).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(") ").next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the file, 11 and 12 after the name.
    (ticks(11) + ticks(12)) * 10.0
}

/// Prints the forward time of `f` and the time of `backward()` from its output
/// (seeded with ones by candle, so only the op itself and gradient accumulation run).
fn report(name: &str, iters: usize, f: impl Fn(&Tensor) -> Result<Tensor>, xs: &Var) -> Result<()> {
    let (fwd, fwd_cpu) = time_ms(iters, || f(xs).map(|_| ()))?;
    let ys = f(xs)?;
    let (bwd, bwd_cpu) = time_ms(iters, || {
        let grads = ys.backward()?;
        assert!(grads.get(xs).is_some());
        Ok(())
    })?;
    println!(
        "{name:<38} wall fwd {fwd:7.2} bwd {bwd:7.2} sum {:7.2} ms | cpu fwd {fwd_cpu:6.1} bwd {bwd_cpu:6.1} ms",
        fwd + bwd
    );
    Ok(())
}

/// One conv shape (`c -> o`, `k x k`, on `n x c x hw x hw`), candle then ours.
fn conv_benches(n: usize, c: usize, o: usize, k: usize, stride: usize, hw: usize) -> Result<()> {
    grouped_conv_benches(n, c, o, k, stride, hw, 1)
}

/// As `conv_benches`, with `groups` groups (`groups == c` is depthwise).
fn grouped_conv_benches(
    n: usize,
    c: usize,
    o: usize,
    k: usize,
    stride: usize,
    hw: usize,
    groups: usize,
) -> Result<()> {
    let (dev, iters) = (Device::Cpu, if n > 8 { 20 } else { 40 });
    let pad = k / 2;
    let xs = Var::randn(0f32, 1.0, (n, c, hw, hw), &dev)?;
    let ws = Var::randn(0f32, 0.1, (o, c / groups, k, k), &dev)?;
    let cfg = ConvParams {
        stride,
        padding: pad,
        groups,
        ..Default::default()
    };
    let tag = format!("{c}->{o} {k}x{k} s{stride} g{groups} {n}x{hw}x{hw}");
    let identity = |x: &Tensor| x.affine(1.0, 0.0);
    report(&format!("autograd floor (x*1) {tag}"), iters, identity, &xs)?;
    if !std::env::args().any(|a| a == "nas-only") {
        let reference = |x: &Tensor| x.conv2d(&ws, pad, stride, 1, groups);
        report(&format!("conv {tag} candle"), iters, reference, &xs)?;
    }
    let ours = |x: &Tensor| conv2d(x, &ws, None, cfg);
    report(&format!("conv {tag} nas"), iters, ours, &xs)
}

fn main() -> Result<()> {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "nas-only")
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    println!("rayon threads: {}", rayon::current_num_threads());
    if wanted("conv") {
        conv_benches(128, 16, 16, 3, 1, 28)?;
    }
    if wanted("convs") {
        conv_benches(128, 1, 16, 3, 1, 28)?;
        conv_benches(128, 16, 32, 3, 2, 28)?;
        conv_benches(128, 16, 32, 1, 2, 28)?;
        conv_benches(128, 32, 32, 3, 1, 14)?;
        conv_benches(8, 16, 16, 3, 1, 28)?;
        grouped_conv_benches(128, 32, 32, 3, 1, 14, 32)?;
    }
    if wanted("bn") {
        bn_benches()?;
    }
    Ok(())
}

/// Batch norm (and with ReLU) on 128x16x28x28, candle's op-by-op expression then ours.
fn bn_benches() -> Result<()> {
    let dev = Device::Cpu;
    let xs = Var::randn(0f32, 1.0, (128, 16, 28, 28), &dev)?;
    let gamma = Var::ones(16, candle_core::DType::F32, &dev)?;
    let beta = Var::zeros(16, candle_core::DType::F32, &dev)?;
    let reference = |x: &Tensor| {
        let mean = x.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred
            .sqr()?
            .mean_keepdim(0)?
            .mean_keepdim(2)?
            .mean_keepdim(3)?;
        let g = gamma.reshape((1, 16, 1, 1))?;
        let b = beta.reshape((1, 16, 1, 1))?;
        centred
            .broadcast_div(&(var + 1e-5)?.sqrt()?)?
            .broadcast_mul(&g)?
            .broadcast_add(&b)
    };
    report("autograd floor (x*1)", 10, |x| x.affine(1.0, 0.0), &xs)?;
    if !std::env::args().any(|a| a == "nas-only") {
        report("bn 128x16x28x28 candle", 10, reference, &xs)?;
        let with_relu = |x: &Tensor| reference(x)?.relu();
        report("bn+relu 128x16x28x28 candle", 10, with_relu, &xs)?;
    }
    report(
        "bn 128x16x28x28 nas",
        10,
        |x| Ok(batch_norm_train(x, &gamma, &beta, 1e-5)?.0),
        &xs,
    )?;
    let fused = |x: &Tensor| Ok(batch_norm_relu_train(x, &gamma, &beta, 1e-5)?.0);
    report("bn+relu 128x16x28x28 nas", 10, fused, &xs)
}
