//! `nas bench train`: training and inference throughput of the reference nets, as a table or
//! JSON (the input of `bench/compare.sh`).

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use nas::bench::{run_bench, BenchConfig, NetTiming};
use nas::child::Kernels;

use super::table::{print_json, render, thousands};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Images/s of training (batch 128) and inference (batch 512) of the reference nets.
    Train(TrainBenchArgs),
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
    /// Only this net (lenet5, residual, dense, inception); repeatable.
    #[arg(long = "net")]
    nets: Vec<String>,
    #[arg(long)]
    json: bool,
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

pub fn run(cmd: BenchCommand) -> Result<()> {
    let BenchCommand::Train(args) = cmd;
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
        nets: args.nets,
        ..Default::default()
    };
    let quiet = args.json;
    let report = run_bench(&cfg, &mut |t: &NetTiming| {
        if !quiet {
            eprintln!("timed {}", t.name);
        }
    })?;
    if args.json {
        return print_json(&report);
    }
    let rows: Vec<Vec<String>> = report
        .nets
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                thousands(t.params),
                thousands(t.train_images_per_second.round() as u64),
                thousands(t.infer_images_per_second.round() as u64),
            ]
        })
        .collect();
    let header = ["NET", "PARAMS", "TRAIN IMG/S", "INFER IMG/S"];
    print!("{}", render(&header, &rows));
    println!(
        "{} kernels, {} threads; training: batch {}, {} steps after {} warm-up; inference: batch {}, {} batches",
        match report.kernels {
            Kernels::Fast => "fast",
            Kernels::Reference => "reference",
        },
        report.threads,
        report.batch_size,
        report.steps,
        report.warmup,
        report.eval_batch_size,
        report.infer_batches
    );
    Ok(())
}
