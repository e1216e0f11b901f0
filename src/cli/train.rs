//! `nas train (--zoo NAME | --arch FILE.json)`: trains one network on a data set, shows a bar
//! per epoch, evaluates once on the test split and writes weights, architecture and metrics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nas::arch::Architecture;
use nas::atomic_file::write_atomic;
use nas::child::ChildNet;
use nas::data::{load, Dataset, DatasetSpec, ImageSize, LoadOptions, SplitKind};
use nas::graph::Graph;
use nas::pool::parse_devices;
use nas::train::{
    evaluate, read_init_weights, set_weights, train, train_from_weights, weights_to_safetensors,
    Metrics, Outcome, TrainConfig, TrainEvent,
};
use serde_json::{json, Value};

use super::bench::KernelsArg;
use super::table::{print_json, thousands};

/// Exit code of a training that failed or was stopped.
const EXIT_FAILED: i32 = 1;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// A zoo network (`lenet5`, `resnet18`, ...), re-targeted to the data set.
    #[arg(long, required_unless_present = "arch", conflicts_with = "arch")]
    zoo: Option<String>,
    /// An architecture JSON file; its input shape and classes are replaced by the data set's.
    #[arg(long)]
    arch: Option<PathBuf>,
    /// mnist, idx:DIR, cifar10:DIR, folder:DIR or synthetic.
    #[arg(long, default_value = "mnist")]
    dataset: String,
    #[arg(long, value_parser = super::values::positive_usize)]
    epochs: Option<usize>,
    #[arg(long, value_parser = super::values::positive_usize)]
    batch_size: Option<usize>,
    /// Peak learning rate per 128 images.
    #[arg(long, value_parser = super::values::positive_f64)]
    lr: Option<f64>,
    /// Stochastic depth: drop the branch of the deepest residual cell with this probability
    /// in training, shallower ones linearly less.
    #[arg(long, value_name = "RATE", value_parser = super::values::unit_fraction)]
    drop_path: Option<f64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep only this many training images.
    #[arg(long, value_parser = super::values::positive_usize)]
    train_size: Option<usize>,
    /// Keep only this many validation images.
    #[arg(long, value_parser = super::values::positive_usize)]
    val_size: Option<usize>,
    /// Fit folder images to N x N or H x W pixels: scale to cover, then crop the centre
    /// [default: the folder's own size, or for mixed sizes the median shorter side, at most 64].
    #[arg(long, value_parser = super::values::image_size)]
    image_size: Option<ImageSize>,
    /// cpu or cuda:N (the first device given is used).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// CPU threads for the kernels (default: all cores).
    #[arg(long, value_parser = super::values::count_up_to::<{ super::values::MAX_THREADS }>)]
    threads: Option<usize>,
    /// nas's own kernels and backward pass, or candle's ops and autograd (for checking).
    #[arg(long, value_enum, default_value_t = KernelsArg::Fast)]
    kernels: KernelsArg,
    /// Start from these weights instead of random ones (fine-tuning): a safetensors file whose
    /// keys and shapes are exactly the net's, such as a previous `nas train`'s or `nas
    /// export`'s `weights.safetensors`, or torchvision's converted as the README shows.
    #[arg(long, value_name = "FILE.safetensors")]
    init: Option<PathBuf>,
    /// Output folder (default runs/train-NAME-SEED).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON document on stdout and no progress bars.
    #[arg(long)]
    json: bool,
}

/// The network to train and how to describe it in `arch.json`.
struct Model {
    name: String,
    graph: Graph,
    arch_json: String,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let spec: DatasetSpec = args.dataset.parse()?;
    let opts = LoadOptions {
        seed: args.seed,
        train_size: args.train_size,
        val_size: args.val_size,
        augment: None,
        clamp: false,
        image_size: args.image_size,
    };
    let data = load(&spec, &opts).with_context(|| format!("loading data set {spec}"))?;
    let model = model(&args, &data)?;
    let device = parse_devices(&args.device)?.remove(0);
    if !args.json {
        super::data::lines(&data.summary())
            .iter()
            .for_each(|l| eprintln!("{l}"));
    }
    let defaults = TrainConfig::default();
    let cfg = TrainConfig {
        epochs: args.epochs.unwrap_or(defaults.epochs),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        lr: args.lr.unwrap_or(defaults.lr),
        seed: args.seed,
        kernels: args.kernels.into(),
        drop_path: args.drop_path.unwrap_or(defaults.drop_path),
        ..defaults
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("trained/{}-s{}", model.name, args.seed)));
    let stop = super::interrupt::install()?;
    let threads = match args.threads {
        Some(n) => Some(rayon::ThreadPoolBuilder::new().num_threads(n).build()?),
        None => None,
    };
    let init = match &args.init {
        Some(path) => Some(initial_weights(
            &model, &data, &cfg, &device, path, args.json,
        )?),
        None => None,
    };
    let work = || {
        let init = init.as_ref();
        run_training(&model, &data, &cfg, &device, &stop, &out, init, args.json)
    };
    match threads {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

/// The graph of the zoo net or architecture file, fitted to the data set.
fn model(args: &TrainArgs, data: &Dataset) -> Result<Model> {
    if let Some(name) = &args.zoo {
        let graph = nas::zoo::build(name, data.input, data.classes)?;
        let arch_json = json!({"zoo": name, "input": data.input, "classes": data.classes});
        return Ok(Model {
            name: name.clone(),
            graph,
            arch_json: serde_json::to_string_pretty(&arch_json)?,
        });
    }
    let path = args.arch.as_ref().expect("clap requires --zoo or --arch");
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading architecture {}", path.display()))?;
    let mut arch = Architecture::from_json(&text, Some(path))?;
    arch.input = data.input;
    arch.classes = data.classes;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "arch".into());
    let graph = arch.lower().map_err(|e| nas::Error::Arch {
        path: Some(path.clone()),
        msg: e.to_string(),
    })?;
    Ok(Model {
        name,
        graph,
        arch_json: arch.to_json(),
    })
}

/// Weights to start from, read and checked against the net (the error names the file and
/// the first bad key), with the validation accuracy they give before any training.
struct Init {
    weights: HashMap<String, Tensor>,
    val_acc: f64,
}

fn initial_weights(
    model: &Model,
    data: &Dataset,
    cfg: &TrainConfig,
    device: &Device,
    path: &Path,
    json: bool,
) -> Result<Init> {
    let varmap = VarMap::new();
    let net = ChildNet::new(
        &model.graph,
        VarBuilder::from_varmap(&varmap, DType::F32, device),
    )?;
    let weights = read_init_weights(&varmap, path)?;
    set_weights(&varmap, &weights)?;
    let val_acc = evaluate(&net, data, SplitKind::Val, cfg.eval_batch_size, device)?;
    if !json {
        println!(
            "epoch 0: validation accuracy {:.2}% (weights from {})",
            100.0 * val_acc,
            path.display()
        );
    }
    Ok(Init { weights, val_acc })
}

#[allow(clippy::too_many_arguments)]
fn run_training(
    model: &Model,
    data: &Dataset,
    cfg: &TrainConfig,
    device: &Device,
    stop: &AtomicBool,
    out: &Path,
    init: Option<&Init>,
    json: bool,
) -> Result<()> {
    let mut progress = Progress::new(json);
    let mut events = |e: TrainEvent| progress.on(e);
    let graph = &model.graph;
    let trained = match init {
        Some(init) => {
            train_from_weights(graph, data, cfg, &init.weights, device, stop, &mut events)
        }
        None => train(graph, data, cfg, device, stop, &mut events),
    };
    progress.finish();
    let (metrics, varmap) = match (trained.outcome, trained.varmap) {
        (Outcome::Completed(metrics), Some(varmap)) => (metrics, varmap),
        (Outcome::Stopped, _) => fail(json, "stopped (interrupted)".into()),
        (Outcome::Failed { reason, .. }, _) => fail(json, reason),
        (Outcome::Completed(_), None) => bail!("training completed without weights"),
    };
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let net = ChildNet::new(&model.graph, vb)?;
    let test_acc = evaluate(&net, data, SplitKind::Test, cfg.eval_batch_size, device)?;
    let mut report = report(model, data, cfg, &metrics, test_acc, out);
    if let Some(init) = init {
        report["init_val_acc"] = json!(init.val_acc);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_atomic(
        &out.join("weights.safetensors"),
        &weights_to_safetensors(&varmap)?,
    )?;
    write_atomic(&out.join("arch.json"), model.arch_json.as_bytes())?;
    write_atomic(
        &out.join("metrics.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    if json {
        return print_json(&report);
    }
    println!(
        "test accuracy {:.2}% (validation {:.2}%), {} epochs in {:.1} s, {} images/s, {} params, {} MACs",
        100.0 * test_acc,
        100.0 * metrics.final_val_acc,
        metrics.epochs,
        metrics.seconds,
        thousands(metrics.images_per_second.round() as u64),
        thousands(metrics.params),
        thousands(metrics.macs),
    );
    println!("wrote {}", out.display());
    Ok(())
}

/// Reports a failed or stopped training and exits with [`EXIT_FAILED`].
fn fail(json: bool, reason: String) -> ! {
    if json {
        let _ = print_json(&json!({"status": "failed", "reason": reason}));
    }
    eprintln!("training failed: {reason}");
    std::process::exit(EXIT_FAILED);
}

/// What `metrics.json` and `--json` hold.
fn report(
    model: &Model,
    data: &Dataset,
    cfg: &TrainConfig,
    metrics: &Metrics,
    test_acc: f64,
    out: &Path,
) -> Value {
    json!({
        "status": "completed",
        "name": model.name,
        "dataset": data.name,
        "val_acc": metrics.final_val_acc,
        "best_val_acc": metrics.best_val_acc,
        "val_acc_per_epoch": metrics.val_acc,
        "train_loss_per_epoch": metrics.train_loss,
        "test_acc": test_acc,
        "epochs": metrics.epochs,
        "seconds": metrics.seconds,
        "images_per_second": metrics.images_per_second,
        "params": metrics.params,
        "macs": metrics.macs,
        "train_images": data.train.len,
        "val_images": data.val.len,
        "test_images": data.test.len,
        "image_size": data.image_size,
        "data": data.summary(),
        "config": cfg,
        "out": out,
    })
}

/// The per-epoch progress bar on stderr, and the validation line after each epoch.
struct Progress {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Progress { quiet, bar: None }
    }

    fn on(&mut self, event: TrainEvent) {
        if self.quiet {
            return;
        }
        match event {
            TrainEvent::EpochStarted {
                epoch,
                epochs,
                batches,
            } => {
                let style = ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
                )
                .expect("valid template")
                .progress_chars("=> ");
                let bar = ProgressBar::new(batches as u64).with_style(style);
                bar.set_prefix(format!("{epoch}/{epochs}"));
                self.bar = Some(bar);
            }
            TrainEvent::Batch {
                batch,
                loss,
                images_per_second,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(batch as u64);
                    bar.set_message(format!("loss {loss:.4}, {images_per_second:.0} images/s"));
                }
            }
            TrainEvent::Validated {
                epoch,
                val_acc,
                train_loss,
            } => {
                self.finish();
                println!(
                    "epoch {epoch}: validation accuracy {:.2}%, training loss {train_loss:.4}",
                    100.0 * val_acc
                );
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
