//! The ready crate around an exported module (`--crate`): `DIR/NAME/Cargo.toml`, the module,
//! `preprocess.rs` (nas's own image fitting, word for word), the weights beside the manifest,
//! and a `main.rs` that predicts one class per input image of an IDX file (raw or gzip) or of a
//! PNG, JPEG or BMP of any size, fitted and normalised as the engine fitted and normalised its
//! training images.

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
    write_atomic(&src.join("preprocess.rs"), PREPROCESS.as_bytes())?;
    write_atomic(&dir.join(format!("{name}.safetensors")), weights)?;
    write_atomic(&dir.join(".gitignore"), b"/target\n")
}

/// nas's image fitting (`data::preprocess`), written beside exported code and into the crate.
pub const PREPROCESS: &str = include_str!("../data/preprocess.rs");

/// The `image` version nas fits training images with (its `Cargo.lock`), pinned in the crate
/// so that the crate resamples exactly as training did.
pub const IMAGE_VERSION: &str = "0.25.10";

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
image = {{ version = "={IMAGE_VERSION}", default-features = false, features = ["png", "jpeg", "bmp"] }}

[workspace]
"#,
        name.replace('_', "-")
    )
}

/// The crate's `main.rs` for module `name`, rustfmt-clean.
pub fn main_source(name: &str) -> Result<String> {
    super::source::rustfmt(&MAIN.replace("__MODULE__", name))
}

const MAIN: &str = r#"//! Predicts the class of each image in the files given: `cargo run --release -- FILE...`, where
//! FILE is a PNG, JPEG or BMP of any size, or an IDX image file (raw or gzip, as MNIST ships) of
//! the input's size. Prints one class name per line, one line per image, in file order. The
//! weights are read from beside `Cargo.toml`.

mod __MODULE__;
mod preprocess;

use std::error::Error;
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::VarBuilder;

use __MODULE__::{Net, CLASS_NAMES, INPUT_SHAPE, MEAN, NUM_CLASSES, STD};

/// The trained (or exported) weights, copied into the crate folder by `nas export --crate`.
const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/__MODULE__.safetensors");

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
        return Err("usage: cargo run --release -- FILE... (PNG, JPEG or BMP images of any size; IDX images, raw or .gz)".into());
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
                println!("{}", CLASS_NAMES[class as usize]);
            }
        }
    }
    Ok(())
}

/// The images of a file as bytes, channel planes in `INPUT_SHAPE` order, one after another.
fn read_images(path: &Path) -> Result<Vec<u8>, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut raw)?;
        return read_idx(&raw);
    }
    if bytes.starts_with(&[0, 0, 8]) {
        return read_idx(&bytes);
    }
    let [channels, h, w] = INPUT_SHAPE;
    if channels != 1 && channels != 3 {
        return Err(format!("the net takes {channels} channels; image files give 1 or 3").into());
    }
    let image = preprocess::decode(&bytes)?;
    Ok(preprocess::fit(&image, channels, h, w))
}

/// An IDX file of unsigned bytes: magic `0 0 8 D`, D big-endian u32 sizes, then the data.
fn read_idx(bytes: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    if bytes.len() < 4 || bytes[..3] != [0, 0, 8] || bytes[3] < 2 {
        return Err("not an IDX file of unsigned bytes (nor an image file)".into());
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

#[cfg(test)]
mod tests {
    use super::IMAGE_VERSION;

    #[test]
    fn the_crate_pins_the_image_version_nas_is_built_with() {
        let lock = include_str!("../../Cargo.lock");
        let pinned = format!("name = \"image\"\nversion = \"{IMAGE_VERSION}\"");
        assert!(
            lock.contains(&pinned),
            "update IMAGE_VERSION to the image version in Cargo.lock"
        );
    }
}
