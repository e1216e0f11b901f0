//! `nas bench train`: training and inference throughput of the benchmark nets, as a table or
//! JSON (the input of `bench/compare.sh`); `nas bench nets`: the nets themselves, whose graphs
//! `bench/pytorch_bench.py` rebuilds in PyTorch; `nas bench search` (in `bench_search`) beside them.

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use nas::bench::NetTiming;
use nas::bench::{all_net_names, gemm_peak_gflops, net, run_bench, BenchConfig, BenchReport};
use nas::child::Kernels;

use super::table::{print_json, render, thousands};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Images/s of training (batch 128) and inference (batch 512) of the benchmark nets, their
    /// training GFLOP/s and peak memory.
    Train(TrainBenchArgs),
    /// The benchmark nets: input, parameters, MACs; with --json, their graphs too.
    Nets {
        #[arg(long)]
        json: bool,
    },
    /// Search strategies compared on a table space over budgets and seeds (mean ± std, rank).
    Search(Box<super::bench_search::SearchBenchArgs>),
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct TrainBenchArgs {
    /// Timed training steps per net.
    #[arg(long, default_value_t = 20, value_parser = super::values::positive_usize)]
    steps: usize,
    /// Untimed warm-up steps before the timed ones.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    #[arg(long, default_value_t = 128, value_parser = super::values::positive_usize)]
    batch_size: usize,
    #[arg(long, default_value_t = 512, value_parser = super::values::positive_usize)]
    eval_batch_size: usize,
    /// CPU threads (default: all cores).
    #[arg(long, value_parser = super::values::count_up_to::<{ super::values::MAX_THREADS }>)]
    threads: Option<usize>,
    #[arg(long, value_enum, default_value_t = KernelsArg::Fast)]
    kernels: KernelsArg,
    /// Only this net (see `nas bench nets`); repeatable.
    #[arg(long = "net")]
    nets: Vec<String>,
    #[arg(long)]
    json: bool,
    /// Time every net in this process instead of one process per net (then the peak memory
    /// of a net includes the nets before it).
    #[arg(long)]
    in_process: bool,
}

/// `child::Kernels` on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KernelsArg {
    Fast,
    Reference,
}

impl From<KernelsArg> for Kernels {
    fn from(arg: KernelsArg) -> Self {
        match arg {
            KernelsArg::Fast => Kernels::Fast,
            KernelsArg::Reference => Kernels::Reference,
        }
    }
}

/// Runs a benchmark; returns whether Ctrl-C cut it short.
pub fn run(cmd: BenchCommand) -> Result<bool> {
    match cmd {
        BenchCommand::Train(args) => train(args).map(|()| false),
        BenchCommand::Nets { json } => nets(json).map(|()| false),
        BenchCommand::Search(args) => super::bench_search::run(*args),
    }
}

/// One row per benchmark net; the JSON holds each graph.
fn nets(json: bool) -> Result<()> {
    let mut listed = Vec::new();
    for name in all_net_names() {
        let graph = net(name)?;
        listed.push(serde_json::json!({
            "name": name,
            "input": graph.input(),
            "params": graph.params(),
            "macs": graph.macs(),
            "graph": graph,
        }));
    }
    if json {
        return print_json(&listed);
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|n| {
            let input = n["input"].as_array().into_iter().flatten();
            let input: Vec<String> = input.map(|v| v.to_string()).collect();
            vec![
                n["name"].as_str().unwrap_or_default().to_string(),
                input.join("x"),
                thousands(n["params"].as_u64().unwrap_or(0)),
                thousands(n["macs"].as_u64().unwrap_or(0)),
            ]
        })
        .collect();
    print!("{}", render(&["NET", "INPUT", "PARAMS", "MACS"], &rows));
    Ok(())
}

fn train(args: TrainBenchArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        // candle sizes its own pools (used by the reference kernels and matmuls) from these,
        // once, on first use: set them before any tensor exists.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    }
    let cfg = BenchConfig {
        steps: args.steps,
        warmup: args.warmup,
        batch_size: args.batch_size,
        eval_batch_size: args.eval_batch_size,
        threads: args.threads,
        kernels: args.kernels.into(),
        nets: args.nets.clone(),
        gemm_peak: !args.in_process,
        ..Default::default()
    };
    let quiet = args.json;
    let mut done = |t: &NetTiming| {
        if !quiet {
            eprintln!("timed {}", t.name);
        }
    };
    let report = if args.in_process {
        run_bench(&cfg, &mut done)?
    } else {
        one_process_per_net(&args, &cfg, &mut done)?
    };
    if args.json {
        return print_json(&report);
    }
    print_table(&report);
    Ok(())
}

/// Runs each net in a child process of this binary (`--in-process --net NAME`), so that each
/// net's peak memory is its own, and measures the GEMM peak here.
fn one_process_per_net(
    args: &TrainBenchArgs,
    cfg: &BenchConfig,
    done: &mut dyn FnMut(&NetTiming),
) -> Result<BenchReport> {
    let names: Vec<String> = match args.nets.is_empty() {
        true => all_net_names().iter().map(|n| n.to_string()).collect(),
        false => args.nets.clone(),
    };
    for name in &names {
        net(name)?;
    }
    let exe = std::env::current_exe().context("finding the nas binary")?;
    let mut report: Option<BenchReport> = None;
    for name in &names {
        let mut child = Command::new(&exe);
        child.args(["bench", "train", "--in-process", "--json", "--net", name]);
        child.args(["--steps", &args.steps.to_string()]);
        child.args(["--warmup", &args.warmup.to_string()]);
        child.args(["--batch-size", &args.batch_size.to_string()]);
        child.args(["--eval-batch-size", &args.eval_batch_size.to_string()]);
        child.args(["--kernels", kernels_name(cfg.kernels)]);
        if let Some(threads) = args.threads {
            child.args(["--threads", &threads.to_string()]);
        }
        let output = child.output().context("running a benchmark process")?;
        if !output.status.success() {
            bail!(
                "benchmark of {name} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let one: BenchReport = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("reading the benchmark of {name}"))?;
        done(&one.nets[0]);
        match &mut report {
            None => report = Some(one),
            Some(r) => r.nets.extend(one.nets),
        }
    }
    let mut report = report.context("no net to time")?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(report.threads)
        .build()?;
    report.gemm_peak_gflops = Some(pool.install(|| gemm_peak_gflops(5)));
    Ok(report)
}

fn kernels_name(kernels: Kernels) -> &'static str {
    match kernels {
        Kernels::Fast => "fast",
        Kernels::Reference => "reference",
    }
}

fn print_table(report: &BenchReport) {
    let rows: Vec<Vec<String>> = report
        .nets
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                thousands(t.params),
                thousands(t.train_images_per_second.round() as u64),
                thousands(t.infer_images_per_second.round() as u64),
                format!("{:.1}", t.train_gflops),
                t.peak_rss_bytes
                    .map_or("-".into(), |b| thousands(b.div_ceil(1 << 20))),
            ]
        })
        .collect();
    let header = [
        "NET",
        "PARAMS",
        "TRAIN IMG/S",
        "INFER IMG/S",
        "TRAIN GFLOP/S",
        "PEAK RSS MB",
    ];
    print!("{}", render(&header, &rows));
    if let Some(peak) = report.gemm_peak_gflops {
        let residual = report.nets.iter().find(|t| t.name == "residual");
        let share = residual.map_or(String::new(), |t| {
            format!(
                "; residual training {:.1} GFLOP/s = {:.0}% of it",
                t.train_gflops,
                100.0 * t.train_gflops / peak
            )
        });
        println!("f32 GEMM peak measured here: {peak:.1} GFLOP/s{share}");
    }
    println!(
        "{} kernels, {} threads; training: batch {}, {} steps after {} warm-up; inference: batch {}, {} batches",
        kernels_name(report.kernels),
        report.threads,
        report.batch_size,
        report.steps,
        report.warmup,
        report.eval_batch_size,
        report.infer_batches
    );
}
