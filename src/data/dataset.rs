//! The loaded data set: raw `u8` images split into train, validation and test, with the
//! per-channel statistics that batching normalises by. Images stay `u8` until a batch is built
//! because CIFAR-10 as `f32` would take 600 MB; the validation split is carved from the training
//! files so that the test files are never used to select an architecture.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::image_size::{ImageSize, SizeChoice};
use super::images::CacheStats;
use super::spec::DatasetSpec;
use super::stratify::stratified;
use super::{cifar, folder, idx, synthetic};
use crate::error::{Error, Result};

/// ChaCha stream for the train/validation carve, so it never correlates with other draws.
const STREAM_CARVE: u64 = 1;
/// ChaCha stream for the `train_size` subset.
const STREAM_TRAIN_SUBSET: u64 = 2;
/// ChaCha stream for the `val_size` subset.
const STREAM_VAL_SUBSET: u64 = 3;

/// Training sets at least this large get a fixed validation split of [`LARGE_VAL_SIZE`].
const LARGE_TRAIN: usize = 50_000;
/// The validation size of MNIST- and CIFAR-sized training sets.
const LARGE_VAL_SIZE: usize = 5_000;

/// Images and labels of one split; image `i` is `images[i * C*H*W .. (i + 1) * C*H*W]` in CHW order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// All images, `len * C*H*W` bytes, one CHW image after another.
    pub images: Vec<u8>,
    /// One label per image, each below the data set's `classes`.
    pub labels: Vec<u32>,
    /// The number of images.
    pub len: usize,
}

impl Split {
    /// A split from its images (`labels.len()` images of equal size) and labels.
    pub fn new(images: Vec<u8>, labels: Vec<u32>) -> Self {
        let len = labels.len();
        Split {
            images,
            labels,
            len,
        }
    }

    /// The split made of the images at `indices`, in that order.
    pub(crate) fn select(&self, indices: &[usize], image_len: usize) -> Split {
        let mut images = Vec::with_capacity(indices.len() * image_len);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(&self.images[i * image_len..(i + 1) * image_len]);
            labels.push(self.labels[i]);
        }
        Split::new(images, labels)
    }
}

/// Which split to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitKind {
    /// The training images left after the validation carve.
    Train,
    /// The validation images carved from the training files.
    Val,
    /// The test files, for final reporting only.
    Test,
}

/// What a reader hands back before the validation carve.
#[derive(Debug)]
pub(crate) struct SourceData {
    pub input: [usize; 3],
    pub classes: usize,
    pub train: Split,
    pub test: Split,
}

impl SourceData {
    fn empty() -> SourceData {
        SourceData {
            input: [0; 3],
            classes: 0,
            train: Split::default(),
            test: Split::default(),
        }
    }
}

/// How to load a data set; every random choice derives from `seed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Seed of the validation carve, the subsets and generated data.
    pub seed: u64,
    /// Keep only this many training images (a deterministic subset).
    pub train_size: Option<usize>,
    /// Keep only this many validation images (a deterministic subset).
    pub val_size: Option<usize>,
    /// Override the default augmentation (on for 3x32x32 data, off otherwise).
    pub augment: Option<bool>,
    /// Treat `train_size` and `val_size` as caps: larger than available takes everything
    /// instead of being refused (a search's defaults must work on small data sets too).
    pub clamp: bool,
    /// Fit folder images to this size (`--image-size`); only `folder:` data sets take one.
    pub image_size: Option<ImageSize>,
}

/// A labelled image data set, split and ready to batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// A short name for reports (`mnist`, `cifar10`, the folder's name, ...).
    pub name: String,
    /// Image shape as channels, height, width.
    pub input: [usize; 3],
    /// The number of classes; every label is below it.
    pub classes: usize,
    /// Training images (what is left after the validation carve).
    pub train: Split,
    /// Validation images, carved from the training files.
    pub val: Split,
    /// Test images, never used for selection.
    pub test: Split,
    /// Per-channel mean of the training split, on the 0..1 scale.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the training split, on the 0..1 scale.
    pub std: Vec<f32>,
    /// Whether training should augment (random crop with padding 4 and horizontal flip).
    pub augment: bool,
    /// One name per class, in label order (folder names, CIFAR-10's names, else the numbers).
    pub class_names: Vec<String>,
    /// The size folder images were fitted to; `None` for the fixed-size formats.
    pub image_size: Option<ImageSize>,
    /// Set when the folder's images differ in size and the size was picked by the default rule.
    pub size_choice: Option<SizeChoice>,
    /// What the decoded-image cache did, for folders.
    pub cache: Option<CacheStats>,
}

/// Loads the data set `spec` names, carves its validation split and computes its statistics.
pub fn load(spec: &DatasetSpec, opts: &LoadOptions) -> Result<Dataset> {
    if let (Some(size), false) = (opts.image_size, matches!(spec, DatasetSpec::Folder(_))) {
        return Err(Error::invalid(
            "--image-size",
            format!("{size} given for {spec}, but only folder:DIR data sets are resized (the other formats have one fixed size)"),
        ));
    }
    let (source, folder) = match spec {
        DatasetSpec::Mnist => (idx::read_dir(&super::spec::mnist_dir()?)?, None),
        DatasetSpec::Idx(dir) => (idx::read_dir(dir)?, None),
        DatasetSpec::Cifar10(dir) => (cifar::read_dir(dir)?, None),
        DatasetSpec::Folder(dir) => {
            let mut folder = folder::read_dir(dir, opts.seed, opts.image_size)?;
            let source = std::mem::replace(&mut folder.source, SourceData::empty());
            (source, Some(folder))
        }
        DatasetSpec::Synthetic => (synthetic::generate(opts.seed), None),
    };
    check_source(spec, &source)?;
    let mut data = Dataset::from_source(spec.name(), source, opts)?;
    if matches!(spec, DatasetSpec::Cifar10(_)) {
        data.class_names = cifar::CLASS_NAMES.iter().map(|n| n.to_string()).collect();
    }
    if let Some(folder) = folder {
        data.class_names = folder.class_names;
        data.image_size = Some(folder.size);
        data.size_choice = folder.choice;
        data.cache = Some(folder.cache);
    }
    Ok(data)
}

/// Refuses a data set that reads but cannot train a classifier: fewer than two training
/// images or classes, or no test images.
fn check_source(spec: &DatasetSpec, source: &SourceData) -> Result<()> {
    let msg = if source.train.len < 2 {
        format!(
            "{} training image(s): at least 2 are needed to carve a validation split",
            source.train.len
        )
    } else if source.classes < 2 {
        format!(
            "the labels name {} class(es): a classifier needs at least 2",
            source.classes
        )
    } else if source.test.len == 0 {
        "the test split holds no images".to_string()
    } else {
        return Ok(());
    };
    let path = match spec {
        DatasetSpec::Idx(dir) | DatasetSpec::Cifar10(dir) | DatasetSpec::Folder(dir) => dir.clone(),
        DatasetSpec::Mnist | DatasetSpec::Synthetic => spec.to_string().into(),
    };
    Err(Error::Data { path, msg })
}

impl Dataset {
    /// Carves validation from training, applies the size options and computes the statistics.
    pub(crate) fn from_source(
        name: String,
        source: SourceData,
        opts: &LoadOptions,
    ) -> Result<Self> {
        let image_len = source.input.iter().product::<usize>();
        let (train, val) = carve(&source.train, image_len, opts.seed)?;
        let cap = |size: Option<usize>, len: usize| match size {
            Some(s) if opts.clamp => Some(s.min(len)),
            other => other,
        };
        let train_size = cap(opts.train_size, train.len);
        let val_size = cap(opts.val_size, val.len);
        let train = subset(train, image_len, train_size, opts.seed, SplitKind::Train)?;
        let val = subset(val, image_len, val_size, opts.seed, SplitKind::Val)?;
        let (mean, std) = channel_stats(&train, source.input[0]);
        Ok(Dataset {
            name,
            input: source.input,
            classes: source.classes,
            augment: opts.augment.unwrap_or(source.input == [3, 32, 32]),
            train,
            val,
            class_names: (0..source.classes).map(|c| c.to_string()).collect(),
            test: source.test,
            mean,
            std,
            image_size: None,
            size_choice: None,
            cache: None,
        })
    }

    /// The number of images of each class in split `kind`.
    pub fn class_counts(&self, kind: SplitKind) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &label in &self.split(kind).labels {
            counts[label as usize] += 1;
        }
        counts
    }

    /// The number of bytes (and of values) in one image: C*H*W.
    pub fn image_len(&self) -> usize {
        self.input.iter().product()
    }

    /// The split `kind` names.
    pub fn split(&self, kind: SplitKind) -> &Split {
        match kind {
            SplitKind::Train => &self.train,
            SplitKind::Val => &self.val,
            SplitKind::Test => &self.test,
        }
    }
}

/// The default validation size for a training set of `n` images.
fn default_val_size(n: usize) -> usize {
    if n >= LARGE_TRAIN {
        LARGE_VAL_SIZE
    } else {
        (n / 10).max(1)
    }
}

/// A generator on its own ChaCha stream of `seed`.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Splits the training files into (train, validation), stratified by class, deterministically
/// from `seed`.
fn carve(all: &Split, image_len: usize, seed: u64) -> Result<(Split, Split)> {
    if all.len < 2 {
        return Err(Error::invalid(
            "data set",
            format!(
                "{} training image(s): at least 2 are needed to carve a validation split",
                all.len
            ),
        ));
    }
    let mut rng = stream(seed, STREAM_CARVE);
    let (val_idx, train_idx) = stratified(&all.labels, default_val_size(all.len), &mut rng);
    Ok((
        all.select(&train_idx, image_len),
        all.select(&val_idx, image_len),
    ))
}

/// A deterministic subset of `size` images of `split`, stratified by class, or the split itself
/// when `size` is `None`.
fn subset(
    split: Split,
    image_len: usize,
    size: Option<usize>,
    seed: u64,
    kind: SplitKind,
) -> Result<Split> {
    let Some(size) = size else { return Ok(split) };
    let (what, stream_id) = match kind {
        SplitKind::Val => ("--val-size", STREAM_VAL_SUBSET),
        _ => ("--train-size", STREAM_TRAIN_SUBSET),
    };
    if size == 0 || size > split.len {
        return Err(Error::invalid(
            what,
            format!(
                "{size} is out of range: 1 to {} images are available",
                split.len
            ),
        ));
    }
    if size == split.len {
        return Ok(split);
    }
    let (chosen, _) = stratified(&split.labels, size, &mut stream(seed, stream_id));
    Ok(split.select(&chosen, image_len))
}

/// Per-channel mean and standard deviation on the 0..1 scale; a constant channel gets std 1.
fn channel_stats(split: &Split, channels: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sums = vec![(0u64, 0u64, 0u64); channels];
    let plane = split.images.len() / (split.len.max(1) * channels.max(1));
    for (i, chunk) in split.images.chunks(plane.max(1)).enumerate() {
        let entry = &mut sums[i % channels];
        for &v in chunk {
            let v = v as u64;
            entry.0 += v;
            entry.1 += v * v;
            entry.2 += 1;
        }
    }
    sums.iter()
        .map(|&(sum, sum_sq, count)| {
            let count = count.max(1) as f64;
            let mean = sum as f64 / count / 255.0;
            let var = (sum_sq as f64 / count / (255.0 * 255.0) - mean * mean).max(0.0);
            let std = if var > 1e-12 { var.sqrt() } else { 1.0 };
            (mean as f32, std as f32)
        })
        .unzip()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` images of 1x2x2 whose first two bytes encode their index, labels `i % classes`.
    pub(crate) fn numbered(n: usize, classes: usize) -> SourceData {
        let images = (0..n)
            .flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 0, 255])
            .collect();
        let labels = (0..n).map(|i| (i % classes) as u32).collect();
        SourceData {
            input: [1, 2, 2],
            classes,
            train: Split::new(images, labels),
            test: Split::new(vec![1, 2, 3, 4], vec![0]),
        }
    }

    /// The index each image of `split` encodes.
    fn ids(split: &Split) -> Vec<usize> {
        split
            .images
            .chunks(4)
            .map(|b| b[0] as usize + 256 * b[1] as usize)
            .collect()
    }

    fn opts(seed: u64) -> LoadOptions {
        LoadOptions {
            seed,
            ..LoadOptions::default()
        }
    }

    #[test]
    fn validation_carve_is_deterministic_disjoint_and_complete() {
        let a = Dataset::from_source("t".into(), numbered(300, 3), &opts(5)).unwrap();
        let b = Dataset::from_source("t".into(), numbered(300, 3), &opts(5)).unwrap();
        let c = Dataset::from_source("t".into(), numbered(300, 3), &opts(6)).unwrap();
        assert_eq!((a.train.len, a.val.len), (270, 30));
        assert_eq!((ids(&a.train), ids(&a.val)), (ids(&b.train), ids(&b.val)));
        assert_ne!(ids(&a.val), ids(&c.val));
        let mut all: Vec<usize> = ids(&a.train).into_iter().chain(ids(&a.val)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..300).collect::<Vec<_>>());
        for (id, label) in ids(&a.val).iter().zip(&a.val.labels) {
            assert_eq!(*label as usize, id % 3);
        }
        assert_eq!(a.test.len, 1);
    }

    #[test]
    fn large_training_sets_get_five_thousand_for_validation() {
        assert_eq!(default_val_size(60_000), 5_000);
        assert_eq!(default_val_size(50_000), 5_000);
        assert_eq!(default_val_size(20_000), 2_000);
    }

    #[test]
    fn size_options_take_deterministic_subsets_and_reject_too_many() {
        let mut options = opts(1);
        options.train_size = Some(100);
        options.val_size = Some(10);
        let a = Dataset::from_source("t".into(), numbered(300, 3), &options).unwrap();
        let b = Dataset::from_source("t".into(), numbered(300, 3), &options).unwrap();
        assert_eq!((a.train.len, a.val.len), (100, 10));
        assert_eq!(a.train, b.train);
        let full = Dataset::from_source("t".into(), numbered(300, 3), &opts(1)).unwrap();
        assert!(ids(&a.val).iter().all(|id| ids(&full.val).contains(id)));
        options.train_size = Some(271);
        let err = Dataset::from_source("t".into(), numbered(300, 3), &options).unwrap_err();
        assert!(err.to_string().contains("--train-size"), "{err}");
    }

    #[test]
    fn statistics_are_per_channel_from_training_images() {
        // Channel 0 alternates 0 and 255 (mean 0.5, std 0.5); channel 1 is constant (std 1).
        let n = 40;
        let images = (0..n)
            .flat_map(|_| [0, 255, 0, 255, 51, 51, 51, 51])
            .collect();
        let source = SourceData {
            input: [2, 2, 2],
            classes: 1,
            train: Split::new(images, vec![0; n]),
            test: Split::new(vec![9; 8], vec![0]),
        };
        let data = Dataset::from_source("t".into(), source, &opts(0)).unwrap();
        assert!((data.mean[0] - 0.5).abs() < 1e-6 && (data.std[0] - 0.5).abs() < 1e-6);
        assert!((data.mean[1] - 0.2).abs() < 1e-6 && data.std[1] == 1.0);
        assert!(!data.augment);
    }

    #[test]
    fn augmentation_defaults_on_for_colour_32x32_only() {
        let mut source = numbered(20, 2);
        source.input = [3, 32, 32];
        source.train.images = vec![0; 20 * 3072];
        let data = Dataset::from_source("t".into(), source, &opts(0)).unwrap();
        assert!(data.augment);
        let mut options = opts(0);
        options.augment = Some(true);
        assert!(
            Dataset::from_source("t".into(), numbered(20, 2), &options)
                .unwrap()
                .augment
        );
    }

    #[test]
    fn the_shipped_mnist_loads() {
        let data = load(&DatasetSpec::Mnist, &opts(0)).unwrap();
        assert_eq!(
            (data.name.as_str(), data.input, data.classes),
            ("mnist", [1, 28, 28], 10)
        );
        assert_eq!(
            (data.train.len, data.val.len, data.test.len),
            (55_000, 5_000, 10_000)
        );
        assert_eq!(data.train.images.len(), 55_000 * 784);
        // torchvision's MNIST normalisation is (0.1307,), (0.3081,) over all 60k images.
        assert!((data.mean[0] - 0.1307).abs() < 0.002, "{:?}", data.mean);
        assert!((data.std[0] - 0.3081).abs() < 0.002, "{:?}", data.std);
        assert!(!data.augment);
    }

    #[test]
    fn synthetic_loads_through_the_spec() {
        let data = load(&DatasetSpec::Synthetic, &opts(3)).unwrap();
        assert_eq!((data.input, data.classes), ([1, 16, 16], 10));
        assert_eq!(data.train.len + data.val.len, 5_000);
    }
}
