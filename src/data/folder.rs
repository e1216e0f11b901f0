//! Image folders, the format most practitioners already have: one sub-folder per class, under
//! `train/` and `test/` or directly in the folder (then a test split of 1/6 is carved from the
//! seed, stratified by class). Classes are the sub-folder names sorted, so label numbers never
//! depend on the order the file system lists them; hidden entries (`.nas-cache`, `._x.jpg`) are
//! skipped. Images of any size are fitted to one size (see `images` and `preprocess`), and a
//! folder that mixes grey and colour images is read as colour.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cache::Entry;
use super::dataset::{SourceData, Split};
use super::files::data_error;
use super::image_size::{ImageSize, SizeChoice};
use super::images::{fit_files, CacheStats};
use super::stratify::stratified;
use crate::error::{Error, Result};

/// ChaCha stream for the test carve of a folder without `train/` and `test/`.
const STREAM_TEST_CARVE: u64 = 4;
/// File extensions read as images (compared case-insensitively).
const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// A folder read and fitted, with what the user should hear about it.
pub(crate) struct Folder {
    pub source: SourceData,
    pub class_names: Vec<String>,
    /// The size every image was fitted to.
    pub size: ImageSize,
    /// Set when `size` was picked because the images differ in size and none was given.
    pub choice: Option<SizeChoice>,
    pub cache: CacheStats,
}

/// Labelled files of the two splits.
type Files = Vec<(PathBuf, u32)>;

/// Reads an image folder, fitting its images to `size` (default: their own size when they all
/// share one, else the default rule); `seed` draws the test split when the folder has no
/// `train/`/`test/`.
pub(crate) fn read_dir(dir: &Path, seed: u64, size: Option<ImageSize>) -> Result<Folder> {
    let (classes, train, test) = layout(dir, seed)?;
    let paths: Vec<PathBuf> = train.iter().chain(&test).map(|(p, _)| p.clone()).collect();
    let fitted = fit_files(dir, &paths, size)?;
    let (train_entries, test_entries) = fitted.entries.split_at(train.len());
    let source = assemble(
        classes.len(),
        fitted.size,
        &train,
        train_entries,
        &test,
        test_entries,
    );
    Ok(Folder {
        source,
        class_names: classes,
        size: fitted.size,
        choice: fitted.choice,
        cache: fitted.cache,
    })
}

/// The class names and the labelled files of the training and test splits.
fn layout(dir: &Path, seed: u64) -> Result<(Vec<String>, Files, Files)> {
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
    Ok((classes, train_files, test_files))
}

/// Reads `dir/CLASS/*` and carves 1/6 of the images of each class, drawn from `seed`, as the
/// test split.
fn read_unsplit(dir: &Path, seed: u64) -> Result<(Vec<String>, Files, Files)> {
    let classes = class_names(dir)?;
    let files = list_files(dir, &classes)?;
    if files.len() < 2 {
        return Err(data_error(dir, "fewer than 2 images: nothing to split"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM_TEST_CARVE);
    let labels: Vec<u32> = files.iter().map(|(_, l)| *l).collect();
    let (test_idx, train_idx) = stratified(&labels, (files.len() / 6).max(1), &mut rng);
    let pick = |idx: &[usize]| idx.iter().map(|&i| files[i].clone()).collect::<Vec<_>>();
    Ok((classes, pick(&train_idx), pick(&test_idx)))
}

/// Whether a directory entry's name hides it (`.nas-cache`, `.git`, macOS `._x.jpg`).
fn hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// The names of the sub-folders of `dir`, sorted.
fn class_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.path().is_dir() && !hidden(&entry.file_name()) {
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
fn list_files(dir: &Path, classes: &[String]) -> Result<Files> {
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(&class_dir).map_err(|e| Error::io(&class_dir, e))? {
            let entry = entry.map_err(|e| Error::io(&class_dir, e))?;
            let path = entry.path();
            let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
            let image = ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()));
            if image && path.is_file() && !hidden(&entry.file_name()) {
                paths.push(path);
            }
        }
        paths.sort();
        files.extend(paths.into_iter().map(|p| (p, label as u32)));
    }
    if files.is_empty() {
        return Err(data_error(
            dir,
            "no .png, .jpg or .bmp images in the class folders",
        ));
    }
    Ok(files)
}

/// Both splits as CHW bytes of `size`, with 3 channels when any image is colour.
fn assemble(
    classes: usize,
    size: ImageSize,
    train: &Files,
    train_entries: &[Entry],
    test: &Files,
    test_entries: &[Entry],
) -> SourceData {
    let colour = train_entries.iter().chain(test_entries).any(|e| e.colour);
    let channels = if colour { 3 } else { 1 };
    let split = |files: &Files, entries: &[Entry]| {
        let plane = size.height * size.width;
        let mut pixels = Vec::with_capacity(entries.len() * plane * channels);
        for entry in entries {
            if colour && !entry.colour {
                (0..3).for_each(|_| pixels.extend_from_slice(&entry.pixels));
            } else {
                pixels.extend_from_slice(&entry.pixels);
            }
        }
        Split::new(pixels, files.iter().map(|(_, l)| *l).collect())
    };
    SourceData {
        input: [channels, size.height, size.width],
        classes,
        train: split(train, train_entries),
        test: split(test, test_entries),
    }
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

    fn read(dir: &Path, seed: u64) -> SourceData {
        read_dir(dir, seed, None).unwrap().source
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
        let folder = read_dir(root, 0, None).unwrap();
        assert_eq!(folder.class_names, ["ant", "zebra"]);
        assert!(folder.choice.is_none(), "one size: no default to pick");
        let data = folder.source;
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
        let data = read(root, 3);
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
    fn unsplit_folder_carves_a_sixth_of_each_class_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..12 {
            let path = dir.path().join(format!("c{}/{i}.png", i % 2));
            grey(&path, 3, 3, i as u8);
        }
        let a = read(dir.path(), 1);
        let b = read(dir.path(), 1);
        assert_eq!((a.train.len, a.test.len), (10, 2));
        assert_eq!(a.test.labels, vec![0, 1], "one test image of each class");
        assert_eq!(
            (a.train.images, a.test.images),
            (b.train.images, b.test.images)
        );
        let c = read(dir.path(), 2);
        assert_eq!(c.test.len, 2);
    }

    #[test]
    fn mixed_sizes_are_fitted_to_the_default_and_the_second_read_uses_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        grey(&dir.path().join("a/0.png"), 40, 20, 50);
        grey(&dir.path().join("a/1.png"), 16, 30, 50);
        grey(&dir.path().join("b/odd.png"), 12, 12, 150);
        let first = read_dir(dir.path(), 0, None).unwrap();
        assert_eq!(first.size, ImageSize::square(16));
        let reason = &first.choice.as_ref().unwrap().reason;
        assert!(reason.contains("16x16"), "{reason}");
        assert_eq!(first.source.input, [1, 16, 16]);
        // A constant image stays constant whatever the scaling.
        assert!(first
            .source
            .train
            .images
            .iter()
            .all(|&v| v == 50 || v == 150));
        assert_eq!((first.cache.hits, first.cache.decoded), (0, 3));
        assert!(dir.path().join(".nas-cache").is_dir());
        let second = read_dir(dir.path(), 0, None).unwrap();
        assert_eq!((second.cache.hits, second.cache.decoded), (3, 0));
        assert_eq!(second.source.train, first.source.train);
        assert_eq!(
            second.class_names,
            ["a", "b"],
            "the cache folder is no class"
        );
        let given = read_dir(
            dir.path(),
            0,
            Some(ImageSize {
                height: 6,
                width: 9,
            }),
        )
        .unwrap();
        assert_eq!(given.source.input, [1, 6, 9]);
        assert!(given.choice.is_none());
        assert_eq!(given.cache.decoded, 3, "another size is decoded again");
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        grey(&dir.path().join("a/0.png"), 4, 4, 0);
        grey(&dir.path().join("b/1.png"), 4, 4, 0);
        std::fs::write(dir.path().join("b/broken.jpg"), b"not a jpeg").unwrap();
        std::fs::write(dir.path().join("b/empty.png"), b"").unwrap();
        let msg = read_dir(dir.path(), 0, None).err().unwrap().to_string();
        assert!(msg.contains("broken.jpg: cannot decode"), "{msg}");
        assert!(msg.contains("and 1 more unreadable"), "{msg}");
    }

    #[test]
    fn train_without_test_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        grey(&dir.path().join("train/a/0.png"), 2, 2, 0);
        let msg = read_dir(dir.path(), 0, None).err().unwrap().to_string();
        assert!(msg.contains("test"), "{msg}");
    }
}
