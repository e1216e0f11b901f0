//! Image folders, the format most practitioners already have: one sub-folder per class, under
//! `train/` and `test/` or directly in the folder (then a test split of 1/6 is carved from the
//! seed). Classes are the sub-folder names sorted, so label numbers never depend on the order the
//! file system lists them. Images are not resized: a size that differs from the first image's is
//! an error naming the file, because silently resampling would change what the search sees.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::dataset::{SourceData, Split};
use super::files::data_error;
use crate::error::{Error, Result};
use crate::graph::MAX_INPUT_SIDE;

/// ChaCha stream for the test carve of a folder without `train/` and `test/`.
const STREAM_TEST_CARVE: u64 = 4;
/// File extensions read as images (compared case-insensitively).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// One decoded image in CHW order with 1 (grey) or 3 (colour) channels.
struct Decoded {
    pixels: Vec<u8>,
    colour: bool,
}

/// Reads an image folder; `seed` draws the test split when the folder has no `train/`/`test/`.
pub(crate) fn read_dir(dir: &Path, seed: u64) -> Result<SourceData> {
    if !dir.is_dir() {
        return Err(data_error(dir, "image folder not found"));
    }
    let train_dir = dir.join("train");
    if !train_dir.is_dir() {
        return read_unsplit(dir, seed);
    }
    let test_dir = dir.join("test");
    if !test_dir.is_dir() {
        return Err(data_error(
            &test_dir,
            "folder not found: a folder with train/ needs test/ beside it",
        ));
    }
    let classes = class_names(&train_dir)?;
    let train_files = list_files(&train_dir, &classes)?;
    for name in class_names(&test_dir)? {
        if !classes.contains(&name) {
            return Err(data_error(
                &test_dir.join(&name),
                "class folder has no counterpart in train/",
            ));
        }
    }
    let test_files = list_files(&test_dir, &classes)?;
    assemble(classes.len(), &train_files, &test_files)
}

/// Reads `dir/CLASS/*` and carves 1/6 of the images, drawn from `seed`, as the test split.
fn read_unsplit(dir: &Path, seed: u64) -> Result<SourceData> {
    let classes = class_names(dir)?;
    let files = list_files(dir, &classes)?;
    if files.len() < 2 {
        return Err(data_error(dir, "fewer than 2 images: nothing to split"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM_TEST_CARVE);
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.shuffle(&mut rng);
    let (test_idx, train_idx) = order.split_at((files.len() / 6).max(1));
    let pick = |idx: &[usize]| {
        let mut idx = idx.to_vec();
        idx.sort_unstable();
        idx.iter().map(|&i| files[i].clone()).collect::<Vec<_>>()
    };
    assemble(classes.len(), &pick(train_idx), &pick(test_idx))
}

/// The names of the sub-folders of `dir`, sorted.
fn class_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(data_error(
            dir,
            "no class folders (expected one sub-folder per class)",
        ));
    }
    Ok(names)
}

/// Every image file under `dir/CLASS` for each class, sorted by name, with its label.
fn list_files(dir: &Path, classes: &[String]) -> Result<Vec<(PathBuf, u32)>> {
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(&class_dir).map_err(|e| Error::io(&class_dir, e))? {
            let path = entry.map_err(|e| Error::io(&class_dir, e))?.path();
            let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
            if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
                paths.push(path);
            }
        }
        paths.sort();
        files.extend(paths.into_iter().map(|p| (p, label as u32)));
    }
    if files.is_empty() {
        return Err(data_error(
            dir,
            "no .png or .jpg images in the class folders",
        ));
    }
    Ok(files)
}

/// Decodes both splits, checks every size against the first training image and makes the
/// channel count uniform (3 when any image is colour).
fn assemble(
    classes: usize,
    train: &[(PathBuf, u32)],
    test: &[(PathBuf, u32)],
) -> Result<SourceData> {
    let first = &train[0].0;
    let size = image::image_dimensions(first).map_err(|e| data_error(first, e.to_string()))?;
    if size.0 as usize > MAX_INPUT_SIDE || size.1 as usize > MAX_INPUT_SIDE {
        return Err(data_error(
            first,
            format!(
                "image is {}x{}: sides longer than {MAX_INPUT_SIDE} are not supported",
                size.0, size.1
            ),
        ));
    }
    let decode_all = |files: &[(PathBuf, u32)]| {
        files
            .par_iter()
            .map(|(path, _)| decode(path, size, first))
            .collect::<Result<Vec<_>>>()
    };
    let (train_images, test_images) = (decode_all(train)?, decode_all(test)?);
    let colour = train_images.iter().chain(&test_images).any(|d| d.colour);
    let channels = if colour { 3 } else { 1 };
    let split = |files: &[(PathBuf, u32)], images: Vec<Decoded>| {
        let plane = (size.0 * size.1) as usize;
        let mut pixels = Vec::with_capacity(images.len() * plane * channels);
        for image in images {
            if colour && !image.colour {
                (0..3).for_each(|_| pixels.extend_from_slice(&image.pixels));
            } else {
                pixels.extend_from_slice(&image.pixels);
            }
        }
        Split::new(pixels, files.iter().map(|(_, l)| *l).collect())
    };
    Ok(SourceData {
        input: [channels, size.1 as usize, size.0 as usize],
        classes,
        train: split(train, train_images),
        test: split(test, test_images),
    })
}

/// Decodes `path` into CHW bytes, checking that it is `size` (width, height) like `first`.
fn decode(path: &Path, size: (u32, u32), first: &Path) -> Result<Decoded> {
    let image = image::open(path).map_err(|e| data_error(path, format!("cannot decode: {e}")))?;
    if (image.width(), image.height()) != size {
        return Err(data_error(
            path,
            format!(
                "image is {}x{} but {} is {}x{}; all images must have the same size",
                image.width(),
                image.height(),
                first.display(),
                size.0,
                size.1
            ),
        ));
    }
    if !image.color().has_color() {
        return Ok(Decoded {
            pixels: image.to_luma8().into_raw(),
            colour: false,
        });
    }
    let hwc = image.to_rgb8().into_raw();
    let plane = hwc.len() / 3;
    let mut chw = vec![0u8; hwc.len()];
    for (i, px) in hwc.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px[c];
        }
    }
    Ok(Decoded {
        pixels: chw,
        colour: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a `w`x`h` grey PNG whose pixels all equal `value`.
    fn grey(path: &Path, w: u32, h: u32, value: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_pixel(w, h, image::Luma([value]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn reads_train_and_test_folders_with_sorted_classes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (class, value) in [("zebra", 200), ("ant", 10)] {
            for i in 0..3 {
                grey(&root.join(format!("train/{class}/{i}.png")), 5, 4, value);
            }
            grey(&root.join(format!("test/{class}/x.png")), 5, 4, value);
        }
        std::fs::write(root.join("train/ant/notes.txt"), "not an image").unwrap();
        let data = read_dir(root, 0).unwrap();
        assert_eq!((data.input, data.classes), ([1, 4, 5], 2));
        assert_eq!((data.train.len, data.test.len), (6, 2));
        assert_eq!(data.train.labels, vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(data.train.images[0], 10);
        assert_eq!(data.test.images[20], 200);
    }

    #[test]
    fn colour_images_make_three_channel_chw() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        grey(&root.join("a/0.png"), 2, 2, 7);
        let rgb = image::RgbImage::from_pixel(2, 2, image::Rgb([1, 2, 3]));
        std::fs::create_dir_all(root.join("b")).unwrap();
        rgb.save(root.join("b/0.png")).unwrap();
        let data = read_dir(root, 3).unwrap();
        assert_eq!(data.input, [3, 2, 2]);
        let all: Vec<(u32, &[u8])> = [&data.train, &data.test]
            .iter()
            .flat_map(|s| s.labels.iter().copied().zip(s.images.chunks(12)))
            .collect();
        for (label, image) in all {
            let expect: Vec<u8> = if label == 0 {
                vec![7; 12]
            } else {
                [1, 2, 3].iter().flat_map(|&v| [v; 4]).collect()
            };
            assert_eq!(image, expect.as_slice());
        }
    }

    #[test]
    fn unsplit_folder_carves_a_sixth_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..12 {
            grey(
                &dir.path().join(format!("c{}/{i}.png", i % 2)),
                3,
                3,
                i as u8,
            );
        }
        let a = read_dir(dir.path(), 1).unwrap();
        let b = read_dir(dir.path(), 1).unwrap();
        assert_eq!((a.train.len, a.test.len), (10, 2));
        assert_eq!(
            (a.train.images, a.test.images),
            (b.train.images, b.test.images)
        );
        let c = read_dir(dir.path(), 2).unwrap();
        assert_eq!(c.test.len, 2);
    }

    #[test]
    fn a_different_size_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        grey(&dir.path().join("a/0.png"), 4, 4, 0);
        grey(&dir.path().join("a/1.png"), 4, 4, 0);
        grey(&dir.path().join("b/odd.png"), 5, 4, 0);
        let msg = read_dir(dir.path(), 0).unwrap_err().to_string();
        assert!(msg.contains("odd.png: image is 5x4 but"), "{msg}");
        assert!(msg.contains(".png is 4x4"), "{msg}");
    }

    #[test]
    fn train_without_test_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        grey(&dir.path().join("train/a/0.png"), 2, 2, 0);
        let msg = read_dir(dir.path(), 0).unwrap_err().to_string();
        assert!(msg.contains("test"), "{msg}");
    }
}
