//! The ready crate around an exported module (`--crate`): `DIR/NAME/Cargo.toml`, the module,
//! the weights beside the manifest, and a `main.rs` that predicts one class per input image of
//! an IDX file (raw or gzip) or a PNG, normalised as the engine normalised training images.

use std::fs;
use std::path::Path;

use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};

/// Writes the crate for module `name` (its source and weights) into `dir`.
pub(super) fn write_crate(dir: &Path, name: &str, source: &str, weights: &[u8]) -> Result<()> {
    let src = dir.join("src");
    fs::create_dir_all(&src).map_err(|e| Error::io(&src, e))?;
    write_atomic(&dir.join("Cargo.toml"), manifest(name).as_bytes())?;
    write_atomic(&src.join("main.rs"), main_source(name)?.as_bytes())?;
    write_atomic(&src.join(format!("{name}.rs")), source.as_bytes())?;
    write_atomic(&dir.join(format!("{name}.safetensors")), weights)?;
    write_atomic(&dir.join(".gitignore"), b"/target\n")
}

/// The crate's manifest; `[workspace]` keeps it standalone wherever it is written.
pub fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
candle-core = "=0.11.1"
candle-nn = "=0.11.1"
flate2 = "1"
image = {{ version = "0.25", default-features = false, features = ["png"] }}

[workspace]
"#,
        name.replace('_', "-")
    )
}

/// The crate's `main.rs` for module `name`, rustfmt-clean.
pub fn main_source(name: &str) -> Result<String> {
    super::source::rustfmt(&MAIN.replace("NAME", name))
}

const MAIN: &str = r#"//! Predicts the class of each image in the files given: `cargo run --release -- FILE...`, where
//! FILE is an IDX image file (raw or gzip, as MNIST ships) or a PNG. Prints one class per line,
//! one line per image, in file order. The weights are read from beside `Cargo.toml`.

mod NAME;

use std::error::Error;
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::VarBuilder;

use NAME::{Net, INPUT_SHAPE, MEAN, NUM_CLASSES, STD};

/// The trained (or exported) weights, copied into the crate folder by `nas export --crate`.
const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/NAME.safetensors");

/// Images per forward pass.
const BATCH: usize = 256;

fn main() {
    if let Err(err) = run() {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        return Err("usage: cargo run --release -- FILE... (IDX images, raw or .gz, or PNG)".into());
    }
    let device = Device::Cpu;
    // SAFETY: the weights file is not modified while the program runs.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[WEIGHTS], DType::F32, &device)? };
    let net = Net::new(vb)?;
    let image_len: usize = INPUT_SHAPE.iter().product();
    for file in &files {
        let path = Path::new(file);
        let images = read_images(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for batch in images.chunks(BATCH * image_len) {
            let logits = net.forward_t(&normalise(batch, &device)?, false)?;
            assert_eq!(logits.dim(1)?, NUM_CLASSES);
            for class in logits.argmax(1)?.to_vec1::<u32>()? {
                println!("{class}");
            }
        }
    }
    Ok(())
}

/// The images of a file as bytes, channel planes in `INPUT_SHAPE` order, one after another.
fn read_images(path: &Path) -> Result<Vec<u8>, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(b"\x89PNG") {
        return read_png(&bytes);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut raw)?;
        return read_idx(&raw);
    }
    read_idx(&bytes)
}

/// An IDX file of unsigned bytes: magic `0 0 8 D`, D big-endian u32 sizes, then the data.
fn read_idx(bytes: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    if bytes.len() < 4 || bytes[..3] != [0, 0, 8] || bytes[3] < 2 {
        return Err("not an IDX file of unsigned bytes (nor a PNG)".into());
    }
    let dims = bytes[3] as usize;
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err("truncated IDX header".into());
    }
    let sizes: Vec<usize> = bytes[4..header]
        .chunks(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let image_len: usize = INPUT_SHAPE.iter().product();
    let per_image: usize = sizes[1..].iter().product();
    if per_image != image_len {
        return Err(format!("images of {:?} do not fit the input {INPUT_SHAPE:?}", &sizes[1..]).into());
    }
    let data = &bytes[header..];
    if data.len() != sizes[0] * image_len {
        return Err(format!("expected {} images, the file is truncated", sizes[0]).into());
    }
    Ok(data.to_vec())
}

/// A PNG of the input's size, as grey or RGB to match the input's channels.
fn read_png(bytes: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?;
    let [channels, h, w] = INPUT_SHAPE;
    if (image.height() as usize, image.width() as usize) != (h, w) {
        return Err(format!("the image is {}x{}, the net takes {h}x{w}", image.width(), image.height()).into());
    }
    let pixels = match channels {
        1 => image.to_luma8().into_raw(),
        3 => image.to_rgb8().into_raw(),
        other => return Err(format!("the net takes {other} channels; PNGs give 1 or 3").into()),
    };
    // Interleaved pixels to channel planes.
    let mut planes = vec![0u8; pixels.len()];
    for (i, &v) in pixels.iter().enumerate() {
        planes[(i % channels) * h * w + i / channels] = v;
    }
    Ok(planes)
}

/// A batch tensor of `images`, each byte mapped to `(v / 255 - MEAN[c]) / STD[c]` as in training.
fn normalise(images: &[u8], device: &Device) -> candle_core::Result<Tensor> {
    let [channels, h, w] = INPUT_SHAPE;
    let plane = h * w;
    let values: Vec<f32> = images
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / plane) % channels;
            (v as f32 / 255.0 - MEAN[c]) / STD[c]
        })
        .collect();
    let b_sz = images.len() / (channels * plane);
    Tensor::from_vec(values, (b_sz, channels, h, w), device)
}
"#;
