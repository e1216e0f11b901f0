//! The test that matters for export: exported code compiles in a fresh crate and gives the
//! engine's own logits (`ChildNet`, eval mode) on the same input with the same weights, for
//! searched architectures of every cell kind (skip inputs included) and for zoo nets; and a
//! `--crate` export builds and classifies an IDX file by itself.
//!
//! The generated crates build with `cargo build --release --offline` against nas's own
//! `Cargo.lock`, in a target folder that persists across runs (`target/tmp/export-test`), so
//! candle is compiled in release once, not on every run.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::VarBuilder;
use common::folders::Shapes;
use nas::arch::{Architecture, Block, Cell, Reduce, Stage, Stem};
use nas::child::ChildNet;
use nas::data::{LoadOptions, SplitKind};
use nas::export::{
    export_arch, export_candidate, export_zoo, manifest, ExportOptions, Exported, Normalisation,
};
use nas::graph::Graph;
use nas::space::Space;
use rand::SeedableRng;

/// The persistent target folder of the generated crates.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("export-test")
}

/// A fresh crate folder with nas's lock file, so an offline build finds the same versions.
fn fresh_crate(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(name).tempdir().unwrap();
    fs::create_dir_all(dir.path().join("src")).unwrap();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    fs::copy(lock, dir.path().join("Cargo.lock")).unwrap();
    dir
}

/// `cargo ARGS` in `dir` against the persistent target folder; panics with cargo's output.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rustfmt_check(file: &Path) {
    let out = Command::new("rustfmt")
        .args(["--check", "--edition", "2021"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not rustfmt-clean:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A few decoded architectures of each shipped cells space, with skip inputs wherever the
/// space has them.
fn sampled_architectures(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut out = Vec::new();
    let mut any_skips = false;
    for space_name in [
        "resnet-cells",
        "bottleneck-cells",
        "inception-cells",
        "dense-cells",
        "mixed-cells",
        "mobile-cells",
    ] {
        let space = Space::load(space_name).unwrap();
        // mobile-cells has no skip inputs: two samples, kept few for the crate's build time
        let most = if space_name == "mobile-cells" { 2 } else { 3 };
        let mut picked = Vec::new();
        let mut with_skips = false;
        for _ in 0..200 {
            let arch = space.decode(&space.sample(&mut rng)).unwrap();
            let skips = arch
                .stages
                .iter()
                .any(|s| s.cells.iter().any(|c| !c.skips.is_empty()));
            if picked.len() < 2 || (skips && !with_skips) {
                with_skips |= skips;
                picked.push(arch);
            }
            if picked.len() >= most || (picked.len() >= 2 && with_skips) {
                break;
            }
        }
        any_skips |= with_skips;
        for (i, arch) in picked.iter().enumerate() {
            let name = format!("{}_{i}", space_name.replace('-', "_"));
            let path = dir.join(format!("{name}.json"));
            fs::write(&path, arch.to_json()).unwrap();
            out.push((name, path));
        }
    }
    assert!(any_skips, "no sampled architecture has skip inputs");
    let path = dir.join("new_kinds.json");
    fs::write(&path, new_kinds().to_json()).unwrap();
    out.push(("new_kinds".into(), path));
    out
}

/// One net holding every cell struct a sample may miss: pre-activated residual (projected)
/// and grouped bottleneck cells, fire, fractal and mobile cells, with skip inputs, ending
/// pre-activated.
fn new_kinds() -> Architecture {
    let cell = |block, skips| Cell { block, skips };
    let stage = |reduce, channels, cells| Stage {
        reduce,
        channels,
        cells,
    };
    let cells1 = vec![
        cell(
            Block::Residual {
                kernel: 3,
                out: 12,
                preact: true,
            },
            vec![],
        ),
        cell(
            Block::Fire {
                kernel: 3,
                squeeze: 4,
                expand1: 6,
                expand3: 10,
            },
            vec![0],
        ),
    ];
    let cells2 = vec![
        cell(
            Block::Fractal {
                kernel: 3,
                out: 16,
                columns: 3,
            },
            vec![],
        ),
        // a mobile cell at stride 1 behind a conv reduction, reading a skip (as in mixed-cells)
        cell(
            Block::Mobile {
                kernel: 5,
                out: 16,
                expansion: 3,
                se: true,
                stride: 1,
            },
            vec![0],
        ),
        cell(
            Block::Bottleneck {
                kernel: 3,
                out: 16,
                expansion: 2,
                groups: 2,
                preact: true,
            },
            vec![0],
        ),
    ];
    Architecture {
        input: [1, 12, 12],
        classes: 10,
        stem: Stem {
            channels: 8,
            kernel: 3,
        },
        stages: vec![
            stage(None, 8, cells1),
            stage(Some(Reduce::Conv), 16, cells2),
        ],
        dropout: 0.0,
    }
}

/// A fixed, varied input batch of two images.
fn fixed_input(shape: [usize; 3]) -> Tensor {
    let [c, h, w] = shape;
    let values: Vec<f32> = (0..2 * c * h * w)
        .map(|i| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 3.0)
        .collect();
    Tensor::from_vec(values, (2, c, h, w), &Device::Cpu).unwrap()
}

/// The engine's logits for `graph` with the weights in `weights`, in evaluation mode.
fn engine_logits(graph: &Graph, weights: &Path, xs: &Tensor) -> Tensor {
    let bytes = fs::read(weights).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu).unwrap();
    let net = ChildNet::with_kernels(graph, vb, nas::child::Kernels::Reference).unwrap();
    net.forward_t(xs, false).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn test_crate_main(nets: &[(Exported, Graph)]) -> String {
    let mut text = String::from(
        "#![allow(dead_code)]\n\n\
         use candle_core::{DType, Device, ModuleT};\n\
         use candle_nn::VarBuilder;\n\n",
    );
    for (e, _) in nets {
        text.push_str(&format!("mod {};\n", e.name));
    }
    text.push_str(
        "\nfn main() -> candle_core::Result<()> {\n\
         let args: Vec<String> = std::env::args().collect();\n\
         let dir = std::path::Path::new(&args[1]);\n\
         let inputs = candle_core::safetensors::load(&args[2], &Device::Cpu)?;\n\
         let mut outputs = std::collections::HashMap::new();\n",
    );
    for (e, g) in nets {
        let n = &e.name;
        text.push_str(&format!(
            "assert_eq!({n}::INPUT_SHAPE, {:?});\n\
             assert_eq!({n}::NUM_CLASSES, {});\n\
             let vb = unsafe {{ VarBuilder::from_mmaped_safetensors(&[dir.join(\"{n}.safetensors\")], DType::F32, &Device::Cpu)? }};\n\
             let net = {n}::Net::new(vb)?;\n\
             outputs.insert(\"{n}\".to_string(), net.forward_t(&inputs[\"{n}\"], false)?);\n",
            g.input(),
            g.classes()
        ));
    }
    text.push_str("candle_core::safetensors::save(&outputs, &args[3])\n}\n");
    text
}

#[test]
fn exported_nets_compile_in_one_crate_and_match_the_engine_logits() {
    let krate = fresh_crate("nas-export-check");
    let root = krate.path();
    let src = root.join("src");
    // The nets' own code needs little optimisation (candle, a dependency, does the work at
    // opt-level 3 either way), and sixteen forward passes compile much faster at opt-level 1.
    let manifest =
        manifest("export_check") + "\n[profile.release.package.export-check]\nopt-level = 1\n";
    fs::write(root.join("Cargo.toml"), manifest).unwrap();
    let options = ExportOptions::default();
    let mut nets = Vec::new();
    let archs = root.join("archs");
    fs::create_dir_all(&archs).unwrap();
    for (_, path) in sampled_architectures(&archs) {
        let exported = export_arch(&path, &src, &options).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let graph = nas::arch::Architecture::from_json(&text, None)
            .unwrap()
            .lower()
            .unwrap();
        nets.push((exported, graph));
    }
    // A candidate of a real search, exported with the weights its finalist training kept.
    let run = root.join("runs").join("search");
    let cfg = nas::search::SearchConfig {
        space: "mixed-cells".into(),
        samples: 2,
        batch: 2,
        dataset: "synthetic".into(),
        train_size: Some(256),
        val_size: Some(128),
        seed: 3,
        final_epochs: 1,
        ..Default::default()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let summary = nas::search::start(&run, cfg, stop, &mut |_| {}).unwrap();
    let best = summary.best_id.expect("a completed candidate");
    let exported = export_candidate(&run, best, &src, &options).unwrap();
    let text = fs::read_to_string(&exported.arch).unwrap();
    let graph = nas::arch::Architecture::from_json(&text, None)
        .unwrap()
        .lower()
        .unwrap();
    nets.push((exported, graph));
    for (name, input) in [
        ("lenet5", [1, 28, 28]),
        ("resnet18", [1, 28, 28]),
        ("mobilenet_v2", [1, 28, 28]),
        ("squeezenet1_1", [1, 28, 28]),
        ("densenet121", [3, 32, 32]),
        ("googlenet", [3, 32, 32]),
        ("squeezenet1_0", [3, 32, 32]),
        ("zfnet", [3, 64, 64]),
        ("efficientnet_b0", [1, 28, 28]),
    ] {
        let exported = export_zoo(name, input, 10, &src, &options).unwrap();
        nets.push((exported, nas::zoo::build(name, input, 10).unwrap()));
    }
    let mut inputs = HashMap::new();
    for (e, g) in &nets {
        rustfmt_check(&e.source);
        assert!(e.arch.is_file() && e.weights.is_file());
        inputs.insert(e.name.clone(), fixed_input(g.input()));
    }
    candle_core::safetensors::save(&inputs, root.join("inputs.safetensors")).unwrap();
    fs::write(src.join("main.rs"), test_crate_main(&nets)).unwrap();

    let start = Instant::now();
    cargo(root, &["build", "--release", "--offline", "--quiet"]);
    eprintln!(
        "built the crate of {} exported nets in {:.1}s",
        nets.len(),
        start.elapsed().as_secs_f64()
    );
    let out_path = root.join("outputs.safetensors");
    let binary = target_dir().join("release/export-check");
    let status = Command::new(&binary)
        .arg(&src)
        .arg(root.join("inputs.safetensors"))
        .arg(&out_path)
        .status()
        .unwrap();
    assert!(status.success());
    let outputs = candle_core::safetensors::load(&out_path, &Device::Cpu).unwrap();
    for (e, g) in &nets {
        let expected = engine_logits(g, &e.weights, &inputs[&e.name]);
        let diff = max_abs_diff(&outputs[&e.name], &expected);
        eprintln!("{}: max |exported - engine| = {diff:e}", e.name);
        let spread = max_abs_diff(&expected, &expected.zeros_like().unwrap());
        assert!(spread > 1e-3, "{}: logits are all near zero", e.name);
        // float rounding only: the code paths sum in different orders (direct convolution in
        // the engine, the exported ops' batch sizes), which over resnet18's 20 layers reaches
        // about 1e-5; a wrong op or weight moves logits by a share of their spread
        assert!(
            diff <= 1e-4 && diff <= 1e-3 * spread,
            "{}: logits differ by {diff} (spread {spread})",
            e.name
        );
    }
}

/// An IDX file of `n` grey 28x28 images with bytes from a fixed pattern.
fn idx_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for size in [n as u32, 28, 28] {
        bytes.extend(size.to_be_bytes());
    }
    bytes.extend((0..n * 28 * 28).map(|i| ((i * 37 + i / 28 * 11) % 256) as u8));
    bytes
}

#[test]
fn an_exported_crate_classifies_an_idx_file_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let options = ExportOptions {
        with_crate: true,
        normalisation: Some(Normalisation {
            mean: vec![0.1307],
            std: vec![0.3081],
        }),
        ..ExportOptions::default()
    };
    let exported = export_zoo("lenet5", [1, 28, 28], 10, dir.path(), &options).unwrap();
    let krate = exported.crate_dir.clone().unwrap();
    rustfmt_check(&krate.join("src/main.rs"));
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    fs::copy(lock, krate.join("Cargo.lock")).unwrap();

    let images = 3;
    let raw = idx_bytes(images);
    fs::write(dir.path().join("images.idx"), &raw).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    fs::write(dir.path().join("images.idx.gz"), gz.finish().unwrap()).unwrap();

    let start = Instant::now();
    cargo(&krate, &["build", "--release", "--offline", "--quiet"]);
    eprintln!(
        "built the lenet5 crate in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    let stdout = cargo(
        &krate,
        &[
            "run",
            "--release",
            "--offline",
            "--quiet",
            "--",
            dir.path().join("images.idx").to_str().unwrap(),
            dir.path().join("images.idx.gz").to_str().unwrap(),
        ],
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2 * images, "{stdout}");

    // The engine's predictions on the same images, normalised as in training.
    let values: Vec<f32> = raw[16..]
        .iter()
        .map(|&v| (v as f32 / 255.0 - 0.1307) / 0.3081)
        .collect();
    let xs = Tensor::from_vec(values, (images, 1, 28, 28), &Device::Cpu).unwrap();
    let graph = nas::zoo::build("lenet5", [1, 28, 28], 10).unwrap();
    let logits = engine_logits(&graph, &krate.join("lenet5.safetensors"), &xs);
    let expected: Vec<String> = logits
        .argmax(1)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(lines[..images], expected[..]);
    assert_eq!(lines[images..], expected[..]);
}

/// The image files of `dir/CLASS/`, classes and files sorted: the order nas reads a split in.
fn split_files(dir: &Path) -> Vec<PathBuf> {
    let mut classes: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    classes
        .iter()
        .flat_map(|class| {
            let mut files: Vec<PathBuf> = fs::read_dir(class)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            files
        })
        .collect()
}

#[test]
fn a_crate_exported_from_a_mixed_size_folder_classifies_png_and_jpeg_of_other_sizes_as_the_engine()
{
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let folder = root.join("shapes");
    Shapes {
        per_class: 60,
        ..Shapes::default()
    }
    .write(&folder.join("train"));
    // Test images of sizes the training images never had: larger, smaller, long and thin.
    for (prefix, sides, seed) in [("big", (30, 60), 1), ("small", (6, 9), 2)] {
        Shapes {
            per_class: 4,
            sides,
            seed,
            prefix,
            ..Shapes::default()
        }
        .write(&folder.join("test"));
    }
    let space = root.join("tiny.toml");
    fs::write(
        &space,
        "version = 1\nname = \"tiny\"\n[skeleton]\nstem_channels = 8\nstages = 2\nreduce = \"conv\"\n\
         channel_growth = 2.0\n[choices]\ncells_per_stage = [1]\ncell = [\"residual\"]\nkernel = [3]\n",
    )
    .unwrap();
    let nas = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nas"))
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "nas {args:?}:\n{stderr}");
        out.stdout
    };
    let dataset = format!("folder:{}", folder.display());
    nas(&[
        "search",
        "--space",
        space.to_str().unwrap(),
        "--dataset",
        &dataset,
        "--samples",
        "1",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--run",
        "r",
        "--json",
    ]);
    let exported: Vec<Exported> = {
        let stdout = nas(&["export", "runs/r", "--crate", "--json"]);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&stdout).unwrap();
        v.iter()
            .map(|e| {
                let path = |k: &str| root.join(e[k].as_str().unwrap());
                Exported {
                    name: e["name"].as_str().unwrap().into(),
                    source: path("source"),
                    weights: path("weights"),
                    arch: path("arch"),
                    preprocess: path("preprocess"),
                    crate_dir: Some(path("crate_dir")),
                }
            })
            .collect()
    };
    let exported = &exported[0];
    let source = fs::read_to_string(&exported.source).unwrap();
    assert!(
        source.contains(r#"CLASS_NAMES: [&str; 3] = ["disc", "square", "stripe"]"#),
        "{source}"
    );
    assert!(exported.preprocess.is_file());

    // The engine's predictions: the test split as the search loaded it, through the trained net.
    let shown: serde_json::Value =
        serde_json::from_slice(&nas(&["show", "runs/r", "--json"])).unwrap();
    let settings = &shown["run"]["settings"];
    let opts = LoadOptions {
        seed: settings["seed"].as_u64().unwrap(),
        train_size: settings["train_size"].as_u64().map(|v| v as usize),
        val_size: settings["val_size"].as_u64().map(|v| v as usize),
        clamp: true,
        image_size: Some(settings["image_size"].as_str().unwrap().parse().unwrap()),
        ..LoadOptions::default()
    };
    let data = nas::data::load(&dataset.parse().unwrap(), &opts).unwrap();
    let graph =
        nas::arch::Architecture::from_json(&fs::read_to_string(&exported.arch).unwrap(), None)
            .unwrap()
            .lower()
            .unwrap();
    let mut expected = Vec::new();
    for batch in data
        .batches(SplitKind::Test, 64, None, false, &Device::Cpu)
        .unwrap()
    {
        let (xs, _) = batch.unwrap();
        let logits = engine_logits(&graph, &exported.weights, &xs);
        let classes = logits.argmax(1).unwrap().to_vec1::<u32>().unwrap();
        expected.extend(
            classes
                .iter()
                .map(|&c| data.class_names[c as usize].clone()),
        );
    }
    let distinct: std::collections::HashSet<&String> = expected.iter().collect();
    assert!(
        distinct.len() >= 2,
        "the net predicts one class only: {expected:?}"
    );

    let krate = exported.crate_dir.clone().unwrap();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    fs::copy(lock, krate.join("Cargo.lock")).unwrap();
    let start = Instant::now();
    cargo(&krate, &["build", "--release", "--offline", "--quiet"]);
    eprintln!(
        "built the exported crate in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    let files = split_files(&folder.join("test"));
    assert!(files.iter().any(|f| f.extension().unwrap() == "jpg"));
    assert!(files.iter().any(|f| f.extension().unwrap() == "png"));
    let mut args = vec!["run", "--release", "--offline", "--quiet", "--"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let stdout = cargo(&krate, &args);
    let predicted: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        predicted, expected,
        "the crate's predictions against the engine's"
    );
}
