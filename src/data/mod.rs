//! Data sets in their standard formats (IDX, CIFAR-10 binary, image folders of any image size,
//! plus a generated one), split into train, validation and test, normalised and batched for
//! training children.

mod batch;
mod cache;
mod cifar;
mod dataset;
mod files;
mod folder;
mod idx;
mod image_size;
mod images;
pub mod preprocess;
mod spec;
mod stratify;
mod summary;
mod synthetic;

pub use batch::Batcher;
pub use cache::LOCAL_DIR as CACHE_DIR_NAME;
pub use dataset::{load, Dataset, LoadOptions, Split, SplitKind};
pub use image_size::{default_size, ImageSize, SizeChoice, DEFAULT_CAP, DEFAULT_FLOOR};
pub use images::CacheStats;
pub use spec::DatasetSpec;
pub use summary::DataSummary;
