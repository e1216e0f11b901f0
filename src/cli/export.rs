//! `nas export`: a run's best candidates, a zoo net or an architecture file as Rust code,
//! safetensors weights and JSON (and, with `--crate`, a ready crate around them).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{ArgGroup, Args};
use nas::data::{DatasetSpec, ImageSize, LoadOptions};
use nas::export::{self, ExportOptions, Exported, Normalisation};
use nas::store::RunView;
use nas::zoo;

use super::shape::parse_input;
use super::table::{print_json, render};

/// `nas export RUN [--id N | --top K]`, `nas export --zoo NAME`, `nas export --arch FILE.json`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["run", "zoo", "arch"])))]
#[command(allow_negative_numbers = true)]
pub struct ExportArgs {
    /// The run whose candidates to export (name under runs/ or path).
    run: Option<PathBuf>,
    /// The candidate to export (it must have stored weights).
    #[arg(long, requires = "run", conflicts_with = "top")]
    id: Option<u64>,
    /// Export the best K completed candidates by reward [default: 1].
    #[arg(long, requires = "run", value_parser = super::values::positive_usize)]
    top: Option<usize>,
    /// A zoo network to export with fresh weights.
    #[arg(long, conflicts_with = "arch")]
    zoo: Option<String>,
    /// Input shape CxHxW for --zoo (default: the network's standard input).
    #[arg(long, requires = "zoo")]
    input: Option<String>,
    /// Number of classes for --zoo (default: the network's standard count).
    #[arg(long, requires = "zoo", value_parser = super::values::class_count)]
    classes: Option<usize>,
    /// An architecture JSON file to export with fresh weights.
    #[arg(long)]
    arch: Option<PathBuf>,
    /// Output folder [default: RUN/export, or export/NAME].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write a ready crate (DIR/NAME/) that classifies PNG, JPEG or BMP images of any size
    /// (fitted as training fitted them) or IDX files.
    #[arg(long = "crate")]
    with_crate: bool,
    /// Per-channel training mean on the 0..1 scale, comma separated (default for a run: the
    /// statistics of its data set's training split).
    #[arg(long, value_delimiter = ',', requires = "std", value_parser = super::values::pixel_mean)]
    mean: Vec<f32>,
    /// Per-channel training standard deviation, comma separated.
    #[arg(long, value_delimiter = ',', requires = "mean", value_parser = super::values::pixel_std)]
    std: Vec<f32>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let command: Vec<String> = std::env::args().collect();
    let mut options = ExportOptions {
        with_crate: args.with_crate,
        normalisation: None,
        generated_by: Some(format!("nas {}", command[1..].join(" "))),
        class_names: None,
    };
    if !args.mean.is_empty() {
        if args.mean.len() != args.std.len() {
            bail!("--mean and --std need one value per channel each");
        }
        options.normalisation = Some(Normalisation {
            mean: args.mean.clone(),
            std: args.std.clone(),
        });
    }
    let exported = if let Some(run) = &args.run {
        // a bare name is a run under runs/, as for `nas show`
        let run = &nas::search::run_dir(&run.to_string_lossy());
        if let Some((normalisation, class_names)) = run_data(run)? {
            options.normalisation.get_or_insert(normalisation);
            options.class_names = Some(class_names);
        }
        let ids = match args.id {
            Some(id) => vec![id],
            None => export::best_candidates(run, args.top.unwrap_or(1))?,
        };
        if ids.is_empty() {
            bail!("run {} has no completed candidate to export", run.display());
        }
        let out = args.out.clone().unwrap_or_else(|| run.join("export"));
        ids.iter()
            .map(|&id| export::export_candidate(run, id, &out, &options))
            .collect::<nas::Result<Vec<_>>>()?
    } else if let Some(name) = &args.zoo {
        let (std_input, std_classes) = zoo::standard_input(name)?;
        let input = args
            .input
            .as_deref()
            .map(parse_input)
            .transpose()?
            .unwrap_or(std_input);
        let out = default_out(&args.out, name);
        let classes = args.classes.unwrap_or(std_classes);
        vec![export::export_zoo(name, input, classes, &out, &options)?]
    } else {
        let path = args
            .arch
            .as_ref()
            .expect("clap requires one of run, zoo, arch");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("arch");
        let out = default_out(&args.out, &export::identifier(stem));
        vec![export::export_arch(path, &out, &options)?]
    };
    report(&exported, args.json)
}

fn default_out(out: &Option<PathBuf>, name: &str) -> PathBuf {
    out.clone()
        .unwrap_or_else(|| Path::new("export").join(name))
}

/// The training statistics and class names of the run's data set, loaded as the search loaded
/// it (same seed, sizes and image size); `None` (with a warning) when the run's settings do not
/// say or the data set is not where they say.
fn run_data(run: &Path) -> Result<Option<(Normalisation, Vec<String>)>> {
    let settings = RunView::open(run)?.meta().settings.clone();
    let Some(spec) = settings.get("dataset").and_then(|d| d.as_str()) else {
        eprintln!("warning: the run records no data set; inputs will not be normalised (give --mean and --std)");
        return Ok(None);
    };
    let spec: DatasetSpec = spec.parse()?;
    let size = |key: &str| {
        settings
            .get(key)
            .and_then(|v| v.as_u64())
            .map(|v| v as usize)
    };
    let opts = LoadOptions {
        seed: settings.get("seed").and_then(|v| v.as_u64()).unwrap_or(0),
        train_size: size("train_size"),
        val_size: size("val_size"),
        augment: None,
        clamp: true, // as the search loaded it
        image_size: settings
            .get("image_size")
            .and_then(|v| v.as_str())
            .map(str::parse::<ImageSize>)
            .transpose()?,
    };
    match nas::data::load(&spec, &opts) {
        Ok(data) => Ok(Some((
            Normalisation {
                mean: data.mean,
                std: data.std,
            },
            data.class_names,
        ))),
        Err(err) => {
            eprintln!("warning: cannot load the run's data set to read its statistics ({err}); inputs will not be normalised (give --mean and --std)");
            Ok(None)
        }
    }
}

fn report(exported: &[Exported], json: bool) -> Result<()> {
    if json {
        return print_json(&exported);
    }
    let rows: Vec<Vec<String>> = exported
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.source.display().to_string(),
                e.weights.display().to_string(),
                e.crate_dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", render(&["NAME", "CODE", "WEIGHTS", "CRATE"], &rows));
    Ok(())
}
